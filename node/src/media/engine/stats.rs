//! The engine's counters and quality, read by
//! [`crate::voice_api::VoiceHandle::stats`].

use std::time::Duration;

use super::{Engine, VoiceStats};

impl Engine {
    pub(super) fn stats(&self) -> VoiceStats {
        let positions = self
            .room
            .streams()
            .into_iter()
            .filter_map(|(m, music)| {
                self.mix
                    .position(&(m, music))
                    .map(|p| (m, music, p.ts, self.start + Duration::from_micros(p.at_us)))
            })
            .collect();
        VoiceStats {
            sender: self.sender.stats().clone(),
            music_sender: self.music.as_ref().map(|(s, _, _)| s.stats().clone()),
            room: self.room.stats().clone(),
            voice: self.room.reports(),
            music: self.room.music_reports(),
            connected: self.p.endpoint.peers_in(&self.room_id),
            frames_out: self.mix.frames_out(),
            send_bitrate: self.sender.bitrate(),
            feedback: self.feedback.latest().to_vec(),
            feedback_refused: self.inbox.stats().refused,
            impaired: self
                .p
                .endpoint
                .room_counters(&self.room_id)
                .map_or(0, |c| c.impaired),
            playout_dropped: self.playout_dropped + self.mix.dropped(),
            relays: self.relays.in_use(),
            via_relay: self.via_relay,
            positions,
        }
    }
}
