//! Voice: [`AuraNode::join_voice`] gives an [`AuraVoice`]. The app owns the
//! audio device: it pushes 20 ms capture frames (48 kHz mono, 960 samples)
//! and pulls mixed playout frames of the same period.

use std::{net::SocketAddr, sync::Arc};

use aura_node::{
    voice::TalkMode,
    voice_api::{VoiceConfig, VoiceHandle},
    NodeError,
};
use tokio::sync::{mpsc, Mutex};

use crate::{
    error::AuraError,
    node::{on_runtime, AuraNode},
    types::{group_id, member_hex, member_id},
};

/// How to start a group's voice.
#[derive(Debug, Clone, uniffi::Record)]
pub struct VoiceOptions {
    /// Where the node's media endpoint binds, `ip:port` (port 0 picks one;
    /// `0.0.0.0:0` on a phone). Used by the first group's voice only.
    pub bind: String,
    /// The address announced to members, when `bind` is a wildcard.
    pub advertise: Option<String>,
    /// Open mic (send on voice activity) instead of push-to-talk.
    pub open_mic: bool,
    /// Stereo playout (interleaved): positional voices and music.
    pub stereo: bool,
}

/// Counters of a group's voice.
#[derive(Debug, Clone, uniffi::Record)]
pub struct VoiceCounters {
    /// Capture frames handed in.
    pub frames_captured: u64,
    /// Voice frames sent.
    pub frames_sent: u64,
    /// Voice frames received from the room.
    pub frames_received: u64,
    /// Mixed frames produced for playout.
    pub playout_frames: u64,
    /// Mixed frames dropped because the app did not pull them.
    pub playout_dropped: u64,
    /// Members with a live media connection (hex ids).
    pub connected: Vec<String>,
    /// Current send bitrate, bits/s.
    pub send_bitrate: i32,
}

fn socket_addr(what: &str, text: &str) -> Result<SocketAddr, AuraError> {
    text.parse()
        .map_err(|e| AuraError::bad_input(format!("{what} {text:?}: {e} (ip:port)")))
}

fn voice_err(e: aura_node::voice_api::VoiceError) -> AuraError {
    AuraError::from(NodeError::from(e))
}

/// Hands the voice codec its neural network models (deep PLC, DRED): the
/// blob `opus-models` writes, shipped as an asset or downloaded. Needed by
/// a library built with the feature `runtime-models` (what
/// `scripts/build-mobile.sh` builds), before voice is joined; without it
/// voice works with classic loss concealment. A library with the models
/// compiled in checks the blob and does not need it.
#[uniffi::export]
pub fn load_voice_models(blob: Vec<u8>) -> Result<(), AuraError> {
    aura_node::voice_api::load_voice_models(&blob).map_err(AuraError::from)
}

/// Whether the voice codec has its models: compiled in, or loaded.
#[uniffi::export]
pub fn voice_models_available() -> bool {
    aura_node::voice_api::voice_models_available()
}

#[uniffi::export]
impl AuraNode {
    /// Starts voice in `group` (one per group); stop it with
    /// [`AuraVoice::leave`].
    pub async fn join_voice(
        &self,
        group: String,
        options: VoiceOptions,
    ) -> Result<Arc<AuraVoice>, AuraError> {
        let group = group_id(&group)?;
        let config = VoiceConfig {
            bind: socket_addr("bind", &options.bind)?,
            advertise: match &options.advertise {
                Some(a) => Some(socket_addr("advertise", a)?),
                None => None,
            },
            mode: if options.open_mic {
                TalkMode::OpenMic
            } else {
                TalkMode::PushToTalk
            },
            stereo: options.stereo,
            ..VoiceConfig::default()
        };
        let node = self.node().clone();
        let handle = on_runtime(async move { node.join_voice(group, config).await }).await?;
        let playout = handle.take_playout().ok_or(AuraError::Closed)?;
        Ok(Arc::new(AuraVoice {
            handle,
            playout: Mutex::new(playout),
        }))
    }
}

/// A group's running voice. Dropping it stops the engine.
#[derive(Debug, uniffi::Object)]
pub struct AuraVoice {
    handle: Arc<VoiceHandle>,
    playout: Mutex<mpsc::Receiver<Vec<i16>>>,
}

impl AuraVoice {
    /// Runs a voice call on the runtime.
    async fn call<T, F, Fut>(&self, f: F) -> Result<T, AuraError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<VoiceHandle>) -> Fut,
        Fut: std::future::Future<Output = Result<T, aura_node::voice_api::VoiceError>>
            + Send
            + 'static,
    {
        let fut = f(self.handle.clone());
        on_runtime(async move { fut.await.map_err(NodeError::from) }).await
    }
}

#[uniffi::export]
impl AuraVoice {
    /// Samples per capture frame (960: 20 ms at 48 kHz mono).
    pub fn frame_len(&self) -> u32 {
        u32::try_from(self.handle.frame_len()).unwrap_or(u32::MAX)
    }

    /// Our media endpoint's address.
    pub fn local_addr(&self) -> String {
        self.handle.local_addr().to_string()
    }

    /// Hands one captured frame ([`Self::frame_len`] samples) to the
    /// engine. Never blocks: call it from the audio callback. A full queue
    /// (the engine stalled) drops the frame with `BadInput`.
    pub fn capture(&self, pcm: Vec<i16>) -> Result<(), AuraError> {
        self.handle.capture(pcm).map_err(voice_err)
    }

    /// The next mixed playout frame if one is ready, without waiting (for
    /// an audio callback that pulls every period; play silence on `None`).
    pub fn pull_playout(&self) -> Option<Vec<i16>> {
        self.playout.try_lock().ok()?.try_recv().ok()
    }

    /// Push-to-talk key down (true) or up.
    pub async fn set_ptt(&self, down: bool) -> Result<(), AuraError> {
        self.call(|h| async move { h.set_ptt(down).await }).await
    }

    /// Open mic (true) or push-to-talk.
    pub async fn set_open_mic(&self, open: bool) -> Result<(), AuraError> {
        let mode = if open {
            TalkMode::OpenMic
        } else {
            TalkMode::PushToTalk
        };
        self.call(|h| async move { h.set_mode(mode).await }).await
    }

    /// Mutes (true) or unmutes our microphone.
    pub async fn mute(&self, muted: bool) -> Result<(), AuraError> {
        self.call(|h| async move { h.mute(muted).await }).await
    }

    /// Playout volume of one member: 0 silent, 1 normal, up to 4.
    pub async fn set_volume(&self, member: String, volume: f32) -> Result<(), AuraError> {
        let member = member_id(&member)?;
        self.call(|h| async move { h.set_volume(member, volume).await })
            .await
    }

    /// Counters.
    pub async fn counters(&self) -> Result<VoiceCounters, AuraError> {
        let s = self.call(|h| async move { h.stats().await }).await?;
        Ok(VoiceCounters {
            frames_captured: s.sender.frames_in,
            frames_sent: s.sender.frames_sent,
            frames_received: s.room.voice_in,
            playout_frames: s.frames_out,
            playout_dropped: s.playout_dropped,
            connected: s.connected.iter().map(member_hex).collect(),
            send_bitrate: s.send_bitrate,
        })
    }

    /// Stops the engine and leaves the group's voice.
    pub async fn leave(&self) -> Result<(), AuraError> {
        self.call(|h| async move {
            h.leave().await;
            Ok(())
        })
        .await
    }
}
