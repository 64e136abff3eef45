//! A room's voice (sans-IO): our captured PCM encoded, sealed and leveled
//! for the relay while we hold a seat; the speakers' frames decoded, one
//! jitter buffer each, and mixed into one playout frame per tick.

use std::collections::HashMap;

use aura_crypto::MemberId;
use aura_media::level::{level_of, with_level};

use super::client::RoomClient;
use super::error::RoomsError;
use crate::voice::{
    FrameDuration, MixInput, Mixer, SlotKind, TalkMode, VoicePayload, VoiceReceiver, VoiceSender,
};

/// Speakers decoded at once (a room has at most 16 seats).
const MAX_STREAMS: usize = 16;
/// Samples of one 20 ms frame at 48 kHz.
pub const FRAME_SAMPLES: usize = 960;

/// Our voice and the speakers'.
pub struct RoomVoice {
    sender: VoiceSender,
    receivers: HashMap<MemberId, VoiceReceiver>,
    mixer: Mixer<MemberId>,
    speaking: Vec<MemberId>,
    /// Frames played per speaker (decoded or recovered, not concealed).
    played: HashMap<MemberId, u64>,
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
        let level = level_of(pcm);
        frames
            .into_iter()
            .enumerate()
            .map(|(i, f)| if i == 0 { with_level(level, &f) } else { f })
            .collect()
    }

    /// A speaker's opened voice payload, arrived at `now_us`.
    pub fn push(&mut self, from: MemberId, payload: &[u8], now_us: u64) {
        let Ok(p) = VoicePayload::parse(payload) else {
            return;
        };
        if !self.receivers.contains_key(&from) {
            if self.receivers.len() >= MAX_STREAMS {
                return;
            }
            match VoiceReceiver::new(p.flags) {
                Ok(r) => {
                    self.receivers.insert(from, r);
                }
                Err(_) => return,
            }
        }
        if let Some(r) = self.receivers.get_mut(&from) {
            r.push(p, now_us);
        }
    }

    /// Drops the streams of members no longer seated.
    pub fn retain(&mut self, seated: &[MemberId]) {
        self.receivers.retain(|m, _| seated.contains(m));
    }

    /// Frames played per speaker so far.
    pub fn played(&self) -> &HashMap<MemberId, u64> {
        &self.played
    }

    /// One playout tick: the mixed frame (if any stream is playing) and
    /// who is speaking, when that changed.
    pub fn mix(&mut self, now_us: u64) -> (Option<Vec<i16>>, Option<Vec<MemberId>>) {
        let mut slots = Vec::new();
        for (m, r) in &mut self.receivers {
            if let Some(s) = r.poll(now_us) {
                if s.kind != SlotKind::Concealed {
                    *self.played.entry(*m).or_default() += 1;
                }
                slots.push((*m, s));
            }
        }
        let mut speaking: Vec<MemberId> = slots
            .iter()
            .filter(|(_, s)| s.kind != SlotKind::Concealed)
            .map(|(m, _)| *m)
            .collect();
        speaking.sort();
        let changed = (speaking != self.speaking).then(|| {
            self.speaking = speaking.clone();
            speaking
        });
        if slots.is_empty() {
            return (None, changed);
        }
        let inputs: Vec<MixInput<'_, MemberId>> = slots
            .iter()
            .map(|(m, s)| MixInput {
                who: m,
                pcm: &s.pcm,
                channels: s.channels,
            })
            .collect();
        (Some(self.mixer.mix(&inputs, FRAME_SAMPLES)), changed)
    }
}
