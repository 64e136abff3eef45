//! The node-facing voice API: [`Node::join_voice`] starts a group's voice
//! engine and returns a [`VoiceHandle`] for push-to-talk, mute, volumes,
//! capture, playout and music sharing.
//!
//! The node holds one media endpoint ([`aura_media::MediaEndpoint`],
//! bound with the node's identity by the first call and shared by every
//! group's voice, each group's datagrams routed to its own engine). The
//! engine opens its group's room on it and the node task announces the
//! endpoint's address to the group over the control plane (again when a
//! member joins, or announces an address we did not know: no timer); the
//! task feeds the engine members' addresses, positions and roster changes
//! on a typed channel of its own (`media::feed`). The engine dials members
//! as their addresses arrive, drops a removed member's stream (and its
//! connection, unless another of our groups' voice uses it), and reports
//! per-stream quality as [`Event::VoiceQuality`] on the node's event stream.
//!
//! Every stats tick each listener sends each talker a small receiver
//! report (loss and jitter over the tick), signed with the listener's
//! identity so that it stays authentic through a relay; the talker
//! verifies it and adapts its Opus bitrate (12–40 kb/s) and FEC to the worst recent
//! report ([`VoiceStats::send_bitrate`], [`VoiceStats::feedback`]). With
//! [`VoiceHandle::set_positional`] and our position set, members' voices
//! are attenuated by distance and (stereo) panned by bearing, from the
//! positions their location events carry.
//!
//! ```no_run
//! # async fn demo(node: aura_node::Node, group: aura_crypto::GroupId) -> Result<(), aura_node::NodeError> {
//! use aura_node::voice_api::VoiceConfig;
//! let voice = node.join_voice(group, VoiceConfig::default()).await?;
//! let mut speaker = voice.take_playout().ok_or(aura_node::NodeError::Closed)?;
//! voice.set_ptt(true).await?;
//! voice.capture(vec![0i16; 960])?; // one 20 ms frame from the microphone
//! while let Some(frame) = speaker.recv().await {
//!     let _ = frame; // 20 ms of mixed 48 kHz audio for the sound card
//! }
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aura_crypto::{GroupId, MemberId};
use tokio::sync::{mpsc, oneshot, Mutex};

use aura_media::{MediaEndpoint, RoomConfig};

use crate::location::Position;
use crate::media::engine::{self, Command, Engine};
use crate::media::feed::FEED_QUEUE;
pub use crate::media::settings::{VoiceConfig, VoiceStats};
use crate::voice::TalkMode;
use crate::{relay_pass, Node, NodeError};

/// Bound of the capture queue (frames); a stalled engine drops, never blocks
/// the audio callback.
pub const CAPTURE_QUEUE: usize = 16;
/// Bound of the playout queue (mixed frames).
pub const PLAYOUT_QUEUE: usize = 64;

/// Why a voice call failed.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// The voice engine has stopped.
    #[error("the voice engine has stopped")]
    Stopped,
    /// The capture queue is full (the engine is behind); the frame was dropped.
    #[error("capture queue full; frame dropped")]
    Busy,
    /// A frame of the wrong length.
    #[error("frame of {got} samples, expected {want}")]
    FrameLength {
        /// Samples given.
        got: usize,
        /// Samples per frame.
        want: usize,
    },
}

impl From<VoiceError> for NodeError {
    fn from(e: VoiceError) -> Self {
        match e {
            VoiceError::Stopped => NodeError::Closed,
            e => NodeError::BadInput(e.to_string()),
        }
    }
}

/// A running voice engine of one group. Dropping it stops the engine.
#[derive(Debug)]
pub struct VoiceHandle {
    group: GroupId,
    local_addr: SocketAddr,
    frame_len: usize,
    cmd: mpsc::Sender<Command>,
    capture: mpsc::Sender<Vec<i16>>,
    playout: std::sync::Mutex<Option<mpsc::Receiver<Vec<i16>>>>,
    playout_taken: Arc<AtomicBool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl VoiceHandle {
    /// The group.
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// Our media endpoint's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Samples per captured frame (960 at 20 ms).
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    async fn send(&self, c: Command) -> Result<(), VoiceError> {
        self.cmd.send(c).await.map_err(|_| VoiceError::Stopped)
    }

    /// Holds (true) or releases the push-to-talk key.
    pub async fn set_ptt(&self, down: bool) -> Result<(), VoiceError> {
        self.send(Command::Ptt(down)).await
    }

    /// Switches between push-to-talk and open mic.
    pub async fn set_mode(&self, mode: TalkMode) -> Result<(), VoiceError> {
        self.send(Command::Mode(mode)).await
    }

    /// Mutes (nothing is sent whatever the key or voice activity).
    pub async fn mute(&self, muted: bool) -> Result<(), VoiceError> {
        self.send(Command::Mute(muted)).await
    }

    /// Sets a member's playout volume (0 silent, 1 normal, up to 4).
    pub async fn set_volume(&self, member: MemberId, volume: f32) -> Result<(), VoiceError> {
        self.send(Command::Volume(member, volume)).await
    }

    /// Positional audio: with our position set ([`Self::set_listener`]) and
    /// a member's position known (the node's location events), that
    /// member's voice is attenuated by distance and, with stereo output,
    /// panned by bearing. Off by default.
    pub async fn set_positional(&self, on: bool) -> Result<(), VoiceError> {
        self.send(Command::Positional(on)).await
    }

    /// Our own position and heading (degrees clockwise from north) for
    /// positional audio; call it alongside [`Node::update_position`].
    /// `None` forgets it (voices are then unplaced).
    pub async fn set_listener(&self, at: Option<(Position, f64)>) -> Result<(), VoiceError> {
        self.send(Command::Listener(at)).await
    }

    /// Test/lab facility: drops received media frames with probability
    /// `loss` (0..1) before processing, as a lossy path would.
    pub async fn set_inbound_loss(&self, loss: f64) -> Result<(), VoiceError> {
        self.send(Command::InboundLoss(loss)).await
    }

    /// Hands one captured frame (48 kHz mono, [`Self::frame_len`] samples)
    /// to the engine. Never blocks: call it from the audio callback.
    pub fn capture(&self, pcm: Vec<i16>) -> Result<(), VoiceError> {
        if pcm.len() != self.frame_len {
            return Err(VoiceError::FrameLength {
                got: pcm.len(),
                want: self.frame_len,
            });
        }
        self.capture.try_send(pcm).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => VoiceError::Busy,
            mpsc::error::TrySendError::Closed(_) => VoiceError::Stopped,
        })
    }

    /// Feeds `samples` (48 kHz mono) as if captured live, one frame per
    /// frame period, from a background task (files, generated speech).
    pub fn talk_samples(self: &Arc<Self>, samples: Vec<i16>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(
                (me.frame_len as u64 * 1_000) / u64::from(crate::voice::SAMPLE_RATE),
            ));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for chunk in samples.chunks(me.frame_len) {
                tick.tick().await;
                let mut f = chunk.to_vec();
                f.resize(me.frame_len, 0);
                if let Err(VoiceError::Stopped) = me.capture(f) {
                    return;
                }
            }
        })
    }

    /// Streams music into the group: 48 kHz stereo interleaved samples,
    /// at music bitrate, mixed under the voices at every listener. Replaces
    /// any music already playing.
    pub async fn share_music(&self, stereo: Vec<i16>) -> Result<(), VoiceError> {
        self.send(Command::Music(Some(stereo))).await
    }

    /// Stops sharing music.
    pub async fn stop_music(&self) -> Result<(), VoiceError> {
        self.send(Command::Music(None)).await
    }

    /// The mixed playout (one frame every frame period, mono or stereo as
    /// configured); the first call takes it, later calls get `None`.
    pub fn take_playout(&self) -> Option<mpsc::Receiver<Vec<i16>>> {
        let rx = self.playout.lock().ok().and_then(|mut p| p.take());
        // Only from now on is playout queued (nothing stale piles up before).
        self.playout_taken.store(true, Ordering::Relaxed);
        rx
    }

    /// Counters and per-stream quality.
    pub async fn stats(&self) -> Result<VoiceStats, VoiceError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Stats(tx)).await?;
        rx.await.map_err(|_| VoiceError::Stopped)
    }

    /// Stops the engine and closes the group's room on the media endpoint.
    pub async fn leave(&self) {
        let _ = self.cmd.send(Command::Stop).await;
        if let Some(h) = self.task.lock().await.take() {
            let _ = h.await;
        }
    }
}

impl Drop for VoiceHandle {
    fn drop(&mut self) {
        let _ = self.cmd.try_send(Command::Stop);
    }
}

impl Node {
    /// The node's media endpoint, bound on the first call with `config`'s
    /// address and datagram setting.
    fn media_endpoint(
        &self,
        identity: &aura_crypto::Identity,
        config: &VoiceConfig,
    ) -> Result<MediaEndpoint, NodeError> {
        let mut slot = self
            .media_slot()
            .lock()
            .map_err(|_| NodeError::BadInput("media endpoint poisoned".into()))?;
        if let Some(ep) = slot.as_ref().filter(|ep| !ep.is_closed()) {
            return Ok(ep.clone());
        }
        let cfg = aura_media::Config {
            datagrams: config.datagrams,
        };
        let ep = MediaEndpoint::bind(identity, config.bind, cfg)
            .map_err(|e| NodeError::Network(format!("media endpoint: {e}")))?;
        *slot = Some(ep.clone());
        Ok(ep)
    }

    /// With a ledger configured, keeps the entitlement token voice
    /// presents to relays (`crate::relay_pass`) fresh: fetched now, again
    /// at three quarters of its lifetime, with a backoff after failures;
    /// until the node stops. Started once.
    fn start_relay_pass(&self) {
        if self.config().billing_url.is_none() || !self.relay_pass().claim_refresher() {
            return;
        }
        let weak = self.downgrade();
        tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                let Some(node) = weak.upgrade() else { return };
                let wait = match node.entitlement().await {
                    Ok(t) => match node.relay_pass().set(&t) {
                        Ok(()) => {
                            failures = 0;
                            relay_pass::renew_in(t.body.iat, t.body.exp, relay_pass::unix_now())
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "entitlement token unusable for relays");
                            relay_pass::MAX_BACKOFF
                        }
                    },
                    Err(e) => {
                        tracing::debug!(error = %e, "no entitlement token from the ledger");
                        failures = failures.saturating_add(1);
                        relay_pass::backoff(failures - 1)
                    }
                };
                drop(node);
                tokio::time::sleep(wait).await;
            }
        });
    }

    /// Starts voice in `group`: opens the group's room on the node's media
    /// endpoint (binding it on the first call), announces it, and connects
    /// to members as they announce theirs. One voice engine per group.
    pub async fn join_voice(
        &self,
        group: GroupId,
        config: VoiceConfig,
    ) -> Result<Arc<VoiceHandle>, NodeError> {
        let session = self.session_of(group).await?;
        let (identity, members) = {
            let s = session
                .lock()
                .map_err(|_| NodeError::BadInput("group session poisoned".into()))?;
            let members: Vec<MemberId> = s.roster().members().map(|(m, _)| m).collect();
            (s.identity().clone(), members)
        };
        let endpoint = self.media_endpoint(&identity, &config)?;
        let room_cfg = RoomConfig {
            inbound_loss: config.inbound_loss,
            loss_seed: config.loss_seed,
            ..RoomConfig::default()
        };
        let incoming = endpoint
            .open_room(group.room(), members, room_cfg)
            .map_err(|e| NodeError::BadInput(format!("voice in this group: {e}")))?;
        let local_addr = endpoint
            .local_addr()
            .map_err(|e| NodeError::Network(format!("media endpoint: {e}")))?;
        let advertise = config.advertise.unwrap_or(local_addr);
        // The feed is attached before our address goes out, so no member's
        // answer is missed.
        let (feed_tx, feed) = mpsc::channel(FEED_QUEUE);
        let known = match self
            .attach_voice(group, advertise.to_string(), feed_tx)
            .await
        {
            Ok(k) => k,
            Err(e) => {
                endpoint.close_room(&group.room());
                return Err(e);
            }
        };
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (cap_tx, cap_rx) = mpsc::channel(CAPTURE_QUEUE);
        let (play_tx, play_rx) = mpsc::channel(PLAYOUT_QUEUE);
        let frame_len = config.frame.samples();
        let playout_taken = Arc::new(AtomicBool::new(false));
        self.start_relay_pass();
        let eng = Engine::new(engine::Parts {
            node: self.clone(),
            group,
            identity,
            session,
            endpoint: endpoint.clone(),
            incoming,
            feed,
            known,
            commands: cmd_rx,
            capture: cap_rx,
            playout: play_tx,
            playout_taken: playout_taken.clone(),
            advertise,
            config,
        });
        let eng = match eng {
            Ok(e) => e,
            Err(e) => {
                endpoint.close_room(&group.room());
                return Err(NodeError::BadInput(format!("voice codec: {e}")));
            }
        };
        let task = tokio::spawn(eng.run());
        Ok(Arc::new(VoiceHandle {
            group,
            local_addr,
            frame_len,
            cmd: cmd_tx,
            capture: cap_tx,
            playout: std::sync::Mutex::new(Some(play_rx)),
            playout_taken,
            task: Mutex::new(Some(task)),
        }))
    }
}

/// Hands the voice codec its neural network models (deep PLC and DRED:
/// `aura_opus::models`) for voice joined from now on. A library built with
/// the feature `runtime-models` has none until then (the app ships the
/// blob `opus-models` writes, 3.3 MB, as an asset, or downloads it) and
/// conceals losses the classic way without them; by default they are
/// compiled in, and the blob is checked and not needed.
pub fn load_voice_models(blob: &[u8]) -> Result<(), NodeError> {
    aura_opus::models::load(blob).map_err(|e| NodeError::BadInput(e.to_string()))
}

/// Whether the voice codec has its models: compiled in, or loaded.
pub fn voice_models_available() -> bool {
    aura_opus::models::available()
}
