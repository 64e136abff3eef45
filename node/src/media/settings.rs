//! A voice engine's settings and counters: what the app gives
//! [`crate::Node::join_voice`] and reads back from
//! [`crate::voice_api::VoiceHandle::stats`] (re-exported by
//! [`crate::voice_api`]).

use std::net::SocketAddr;
use std::time::Duration;

use aura_crypto::MemberId;

use crate::media::RoomStats;
use crate::voice::sender::SenderStats;
use crate::voice::{FrameDuration, QualityReport, ReceiverReport, TalkMode};

/// Settings of a group's voice engine.
#[derive(Clone, Debug)]
pub struct VoiceConfig {
    /// Where the node's media endpoint binds (port 0 picks one). Used by
    /// the call that creates the endpoint; later calls share it.
    pub bind: SocketAddr,
    /// The address announced to members (default: `bind` with the port
    /// actually bound; set it when binding a wildcard address).
    pub advertise: Option<SocketAddr>,
    /// Push-to-talk or open mic.
    pub mode: TalkMode,
    /// Frame duration (20 ms default).
    pub frame: FrameDuration,
    /// Stereo playout (positional audio, music).
    pub stereo: bool,
    /// How often quality events are emitted.
    pub stats_every: Duration,
    /// Accept QUIC datagrams (off forces the per-frame stream fallback).
    /// Like `bind`, used by the call that creates the endpoint.
    pub datagrams: bool,
    /// Test/lab facility: drop each received media frame with this
    /// probability (0..1) before processing, seeded by `loss_seed`. 0 in
    /// real use; see [`crate::voice_api::VoiceHandle::set_inbound_loss`].
    pub inbound_loss: f64,
    /// Seed of the inbound-loss impairment.
    pub loss_seed: u64,
}

impl Default for VoiceConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise: None,
            mode: TalkMode::PushToTalk,
            frame: FrameDuration::Ms20,
            stereo: false,
            stats_every: Duration::from_secs(1),
            datagrams: true,
            inbound_loss: 0.0,
            loss_seed: 0,
        }
    }
}

/// Counters and quality of a voice engine.
#[derive(Clone, Debug, Default)]
pub struct VoiceStats {
    /// Our voice sender.
    pub sender: SenderStats,
    /// Our music sender, if sharing.
    pub music_sender: Option<SenderStats>,
    /// Frames in/out of the room (opened, dropped, non-members...).
    pub room: RoomStats,
    /// Quality per incoming voice stream.
    pub voice: Vec<(MemberId, QualityReport)>,
    /// Quality per incoming music stream.
    pub music: Vec<(MemberId, QualityReport)>,
    /// Members with a live media connection.
    pub connected: Vec<MemberId>,
    /// Mixed frames produced for playout.
    pub frames_out: u64,
    /// Mixed frames dropped because nobody took them.
    pub playout_dropped: u64,
    /// Our current voice send bitrate (bits/s), adapted to receiver reports.
    pub send_bitrate: i32,
    /// The receiver reports our bitrate was last adapted to, per listener.
    pub feedback: Vec<(MemberId, ReceiverReport)>,
    /// Receiver reports refused (malformed, other room or talker, not a
    /// member, bad signature, replayed, inconsistent).
    pub feedback_refused: u64,
    /// Frames dropped by the inbound-loss impairment (test/lab).
    pub impaired: u64,
    /// Relays our voice goes through now (for members with no direct
    /// media connection).
    pub relays: Vec<MemberId>,
    /// Datagrams (frames and reports) that came through a relay.
    pub via_relay: u64,
    /// Per stream `(member, music, media ts, when)`: the media timestamp
    /// of the frame last mixed for playout and when (for sync checks).
    pub positions: Vec<(MemberId, bool, u64, std::time::Instant)>,
}
