//! A room's voice (sans-IO): our captured PCM encoded, sealed and leveled
//! for the relay while we hold a seat, and music we play into the room
//! (stereo, at music bitrate, one frame per tick); the speakers' frames
//! decoded, one jitter buffer per speaker and kind (voice, music), and
//! mixed into one playout frame per tick, music under the voices.

use std::collections::HashMap;

use aura_crypto::MemberId;
use aura_media::level::{level_of, with_level};

use super::client::RoomClient;
use super::error::RoomsError;
use crate::voice::payload::FLAG_MUSIC;
use crate::voice::{
    FrameDuration, MixInput, Mixer, SlotKind, TalkMode, VoicePayload, VoiceReceiver, VoiceSender,
};

/// Streams decoded at once (a room has at most 16 seats, each with its
/// voice and its music).
const MAX_STREAMS: usize = 32;
/// Samples of one 20 ms frame at 48 kHz.
pub const FRAME_SAMPLES: usize = 960;

/// Our voice and the speakers'.
pub struct RoomVoice {
    sender: VoiceSender,
    /// Music we play into the room: its encoder, samples and position.
    music: Option<(VoiceSender, Vec<i16>, usize)>,
    /// Incoming streams by speaker and kind (`true`: music).
    receivers: HashMap<(MemberId, bool), VoiceReceiver>,
    mixer: Mixer<(MemberId, bool)>,
    speaking: Vec<MemberId>,
    /// Frames played per speaker and kind (decoded or recovered, not
    /// concealed).
    played: HashMap<(MemberId, bool), u64>,
}

impl std::fmt::Debug for RoomVoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomVoice")
            .field("streams", &self.receivers.len())
            .finish_non_exhaustive()
    }
}

impl RoomVoice {
    /// Open mic at 20 ms frames (the seat is the talk switch: muting it
    /// stops our voice at the relay and here).
    pub fn new() -> Result<Self, RoomsError> {
        let sender = VoiceSender::voice(FrameDuration::Ms20, TalkMode::OpenMic)
            .map_err(|_| RoomsError::BadInput("opus encoder"))?;
        Ok(Self {
            sender,
            music: None,
            receivers: HashMap::new(),
            mixer: Mixer::new(false),
            speaking: Vec::new(),
            played: HashMap::new(),
        })
    }

    /// Encodes and seals one captured frame: the datagrams to send to the
    /// relay (the voice frame with its level outside the encryption, and
    /// now and then a batch signature).
    pub fn capture(&mut self, client: &mut RoomClient, pcm: &[i16]) -> Vec<Vec<u8>> {
        let payload = match self.sender.process(pcm) {
            Ok(Some(p)) => p,
            Ok(None) => return Vec::new(),
            Err(e) => {
                tracing::debug!(error = %e, "room voice not encoded");
                return Vec::new();
            }
        };
        let frames = match client.seal_voice(&payload.to_bytes()) {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(error = %e, "room voice not sealed");
                return Vec::new();
            }
        };
        leveled(frames, level_of(pcm))
    }

    /// Plays `stereo` (48 kHz interleaved) into the room from the next
    /// tick, replacing any music playing; `None` stops it.
    pub fn set_music(&mut self, stereo: Option<Vec<i16>>) {
        self.music = stereo.and_then(|s| match VoiceSender::music() {
            Ok(enc) => Some((enc, s, 0)),
            Err(e) => {
                tracing::warn!(error = %e, "room music encoder");
                None
            }
        });
    }

    /// Whether music of ours is playing.
    pub fn music_playing(&self) -> bool {
        self.music.is_some()
    }

    /// One tick of our music: the datagrams of its next 20 ms frame (none
    /// once it has ended, and then it stops).
    pub fn music_tick(&mut self, client: &mut RoomClient) -> Vec<Vec<u8>> {
        let Some((enc, samples, pos)) = &mut self.music else {
            return Vec::new();
        };
        let n = enc.frame_len();
        if *pos >= samples.len() {
            self.music = None;
            return Vec::new();
        }
        let end = (*pos + n).min(samples.len());
        let mut pcm = samples[*pos..end].to_vec();
        pcm.resize(n, 0);
        *pos = end;
        let payload = match enc.process(&pcm) {
            Ok(Some(p)) => p,
            _ => return Vec::new(),
        };
        match client.seal_voice(&payload.to_bytes()) {
            Ok(frames) => leveled(frames, level_of(&pcm)),
            Err(e) => {
                tracing::debug!(error = %e, "room music not sealed");
                Vec::new()
            }
        }
    }

    /// A speaker's opened voice payload, arrived at `now_us`.
    pub fn push(&mut self, from: MemberId, payload: &[u8], now_us: u64) {
        let Ok(p) = VoicePayload::parse(payload) else {
            return;
        };
        let key = (from, p.flags & FLAG_MUSIC != 0);
        if !self.receivers.contains_key(&key) {
            if self.receivers.len() >= MAX_STREAMS {
                return;
            }
            match VoiceReceiver::new(p.flags) {
                Ok(r) => {
                    self.receivers.insert(key, r);
                }
                Err(_) => return,
            }
        }
        if let Some(r) = self.receivers.get_mut(&key) {
            r.push(p, now_us);
        }
    }

    /// Drops the streams of members no longer seated.
    pub fn retain(&mut self, seated: &[MemberId]) {
        self.receivers.retain(|(m, _), _| seated.contains(m));
    }

    /// Frames played so far per speaker and kind (`true`: music).
    pub fn played(&self) -> &HashMap<(MemberId, bool), u64> {
        &self.played
    }

    /// One playout tick: the mixed frame (if any stream is playing) and
    /// who is speaking (voice, not music), when that changed.
    pub fn mix(&mut self, now_us: u64) -> (Option<Vec<i16>>, Option<Vec<MemberId>>) {
        let mut slots = Vec::new();
        for (key, r) in &mut self.receivers {
            if let Some(s) = r.poll(now_us) {
                if s.kind != SlotKind::Concealed {
                    *self.played.entry(*key).or_default() += 1;
                }
                slots.push((*key, s));
            }
        }
        let mut speaking: Vec<MemberId> = slots
            .iter()
            .filter(|((_, music), s)| s.kind != SlotKind::Concealed && !music)
            .map(|((m, _), _)| *m)
            .collect();
        speaking.sort();
        let changed = (speaking != self.speaking).then(|| {
            self.speaking = speaking.clone();
            speaking
        });
        if slots.is_empty() {
            return (None, changed);
        }
        let inputs: Vec<MixInput<'_, (MemberId, bool)>> = slots
            .iter()
            .map(|(k, s)| MixInput {
                who: k,
                pcm: &s.pcm,
                channels: s.channels,
            })
            .collect();
        (Some(self.mixer.mix(&inputs, FRAME_SAMPLES)), changed)
    }
}

/// The level byte (outside the encryption) on the first of `frames`.
fn leveled(frames: Vec<Vec<u8>>, level: u8) -> Vec<Vec<u8>> {
    frames
        .into_iter()
        .enumerate()
        .map(|(i, f)| if i == 0 { with_level(level, &f) } else { f })
        .collect()
}
