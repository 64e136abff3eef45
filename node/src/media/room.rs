//! A voice room, sans-IO: seals our voice payloads with the group's sender
//! keys, routes incoming sealed frames by their key-free header, opens them,
//! and feeds one [`VoiceReceiver`] per talking member.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use aura_crypto::{
    AuthReport, FrameHeader, FrameKind, GroupSession, MemberId, OpenError, SealError, ShortId,
    Verdict,
};
use thiserror::Error;

use crate::voice::payload::{PayloadError, VoicePayload};
use crate::voice::{QualityReport, Slot, VoiceReceiver};

/// Most incoming streams held at once (one per talking member).
pub const MAX_STREAMS: usize = 64;
/// Most authenticity alerts queued for the app; older ones are dropped.
pub const MAX_ALERTS: usize = 256;

/// Why an incoming frame was dropped.
#[derive(Debug, Error)]
pub enum RoomError {
    /// The header does not parse.
    #[error("bad header: {0}")]
    Header(#[from] aura_crypto::FrameError),
    /// The frame is for another room.
    #[error("frame for another room")]
    OtherRoom,
    /// Not a media frame (voice or voice signature).
    #[error("not a media frame: {0:?}")]
    WrongKind(FrameKind),
    /// The sender is not a current member.
    #[error("sender is not a member")]
    NonMember,
    /// The frame does not open (wrong key, removed member's epoch, replay…).
    #[error("frame does not open: {0}")]
    Open(#[from] OpenError),
    /// Opened, but the voice payload is malformed.
    #[error("bad voice payload: {0}")]
    Payload(#[from] PayloadError),
    /// Too many concurrent streams.
    #[error("too many streams")]
    TooManyStreams,
    /// On a direct connection: the header names another sender than the
    /// connection's authenticated peer.
    #[error("frame claims another sender than the connection's peer")]
    WrongSender,
    /// The sender is blocked on this device.
    #[error("sender is blocked")]
    Blocked,
}

/// Counters of a room.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomStats {
    /// Voice frames opened and queued.
    pub voice_in: u64,
    /// Batch signatures verified.
    pub sigs_in: u64,
    /// Frames from non-members dropped.
    pub non_member: u64,
    /// Frames that did not open (keys, replay, forgery).
    pub unopenable: u64,
    /// Other drops (header, kind, payload, limits).
    pub malformed: u64,
    /// Voice frames a batch signature proved forged.
    pub forged: u64,
    /// Voice frames no batch signature covered in time.
    pub unverified: u64,
    /// Frames on a direct connection whose header named another sender.
    pub wrong_sender: u64,
    /// Frames sealed by us.
    pub sealed: u64,
    /// Frames of blocked members, dropped before opening or decoding.
    pub blocked: u64,
}

/// One group's voice room.
pub struct MediaRoom {
    session: Arc<Mutex<GroupSession>>,
    room: [u8; 8],
    /// One stream per member and kind (voice, music).
    receivers: HashMap<(MemberId, bool), VoiceReceiver>,
    stats: RoomStats,
    /// Short ids of connection peers (one SHA-256 each, not one per frame).
    shorts: HashMap<MemberId, ShortId>,
    /// Forged/unverified verdicts for the app, oldest first.
    alerts: VecDeque<AuthReport>,
    /// Short ids of members blocked on this device.
    blocked: HashSet<ShortId>,
    /// Period of the playout clock that polls this room (0: polled at due
    /// times); see [`crate::voice::jitter::Config::tick_us`].
    tick_us: u64,
}

impl std::fmt::Debug for MediaRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaRoom")
            .field("room", &hex::encode(self.room))
            .field("streams", &self.receivers.len())
            .finish()
    }
}

impl MediaRoom {
    /// A room over the group's session (shared with the node).
    pub fn new(session: Arc<Mutex<GroupSession>>) -> Self {
        let room = lock(&session).group_id().room();
        Self {
            session,
            room,
            receivers: HashMap::new(),
            stats: RoomStats::default(),
            shorts: HashMap::new(),
            alerts: VecDeque::new(),
            blocked: HashSet::new(),
            tick_us: 0,
        }
    }

    /// A room polled only on the ticks of a playout clock of period
    /// `tick_us` (a device pulling a frame every period): each stream's
    /// jitter buffer adapts the delay heard at those ticks.
    pub fn ticking(session: Arc<Mutex<GroupSession>>, tick_us: u64) -> Self {
        Self {
            tick_us,
            ..Self::new(session)
        }
    }

    /// The routing id in frame headers.
    pub fn room_id(&self) -> [u8; 8] {
        self.room
    }

    /// Counters.
    pub fn stats(&self) -> &RoomStats {
        &self.stats
    }

    /// Whether `m` is a current member.
    pub fn is_member(&self, m: &MemberId) -> bool {
        lock(&self.session).roster().is_member(m)
    }

    /// The current members (for the media endpoint's routing table).
    pub fn members(&self) -> Vec<MemberId> {
        lock(&self.session)
            .roster()
            .members()
            .map(|(m, _)| m)
            .collect()
    }

    /// Seals a voice payload: the frame, plus a batch-signature frame when due.
    pub fn seal(&mut self, p: &VoicePayload, now_ms: u64) -> Result<Vec<Vec<u8>>, SealError> {
        let sv = lock(&self.session).seal_voice(&p.to_bytes(), now_ms)?;
        self.stats.sealed += 1;
        let mut out = vec![sv.frame];
        out.extend(sv.sig_frame);
        Ok(out)
    }

    /// At the end of a talk spurt: the batch signature covering the last frames.
    pub fn flush(&mut self) -> Result<Option<Vec<u8>>, SealError> {
        lock(&self.session).flush_voice_sig()
    }

    /// The members blocked on this device (all of them): their frames are
    /// dropped on the header, before any key work or decoding, and their
    /// streams end.
    pub fn set_blocked(&mut self, members: &[MemberId]) {
        self.blocked = members.iter().map(MemberId::short_id).collect();
        self.receivers.retain(|(m, _), _| !members.contains(m));
    }

    /// Takes one incoming sealed frame at `now_us` (playout clock). Returns
    /// the sender when a voice frame was queued.
    pub fn on_frame(
        &mut self,
        bytes: &[u8],
        now_us: u64,
        now_ms: u64,
    ) -> Result<Option<MemberId>, RoomError> {
        let r = self.on_frame_inner(bytes, now_us, now_ms);
        if let Err(e) = &r {
            match e {
                RoomError::NonMember => self.stats.non_member += 1,
                RoomError::Open(_) => self.stats.unopenable += 1,
                RoomError::Blocked => self.stats.blocked += 1,
                _ => self.stats.malformed += 1,
            }
            tracing::debug!(error = %e, "media frame dropped");
        }
        r
    }

    /// As [`Self::on_frame`] for a frame that came on a direct connection
    /// from `peer` (its identity authenticated by TLS): a frame whose header
    /// names any other sender is dropped before any key work.
    pub fn on_frame_from(
        &mut self,
        peer: &MemberId,
        bytes: &[u8],
        now_us: u64,
        now_ms: u64,
    ) -> Result<Option<MemberId>, RoomError> {
        let h = match FrameHeader::parse(bytes) {
            Ok(h) => h,
            Err(e) => {
                self.stats.malformed += 1;
                return Err(e.into());
            }
        };
        if self.shorts.len() >= 1024 {
            self.shorts.clear();
        }
        let short = *self.shorts.entry(*peer).or_insert_with(|| peer.short_id());
        if h.sender != short {
            self.stats.wrong_sender += 1;
            tracing::debug!(%peer, "frame with another sender on a direct connection dropped");
            return Err(RoomError::WrongSender);
        }
        self.on_frame(bytes, now_us, now_ms)
    }

    /// Drains verdicts that voice heard earlier was not authentic: `Forged`
    /// (another holder of the named sender's key made it) or `Unverified`.
    pub fn take_alerts(&mut self) -> Vec<AuthReport> {
        self.alerts.drain(..).collect()
    }

    fn on_frame_inner(
        &mut self,
        bytes: &[u8],
        now_us: u64,
        now_ms: u64,
    ) -> Result<Option<MemberId>, RoomError> {
        let h = FrameHeader::parse(bytes)?;
        if h.room != self.room {
            return Err(RoomError::OtherRoom);
        }
        if !matches!(h.kind, FrameKind::Voice | FrameKind::VoiceSig) {
            return Err(RoomError::WrongKind(h.kind));
        }
        if self.blocked.contains(&h.sender) {
            return Err(RoomError::Blocked);
        }
        let opened = {
            let mut s = lock(&self.session);
            let r = s.open(bytes, now_ms);
            for rep in s.take_auth_reports() {
                match rep.verdict {
                    Verdict::Verified => continue,
                    Verdict::Forged => self.stats.forged += 1,
                    Verdict::Unverified => self.stats.unverified += 1,
                }
                tracing::warn!(sender = %rep.sender, counter = rep.counter, verdict = ?rep.verdict, "voice frame not authentic");
                if self.alerts.len() >= MAX_ALERTS {
                    self.alerts.pop_front();
                }
                self.alerts.push_back(rep);
            }
            match r {
                Err(OpenError::UnknownSender) => return Err(RoomError::NonMember),
                r => r?,
            }
        };
        if opened.kind == FrameKind::VoiceSig {
            self.stats.sigs_in += 1;
            return Ok(None);
        }
        let p = VoicePayload::parse(&opened.payload)?;
        let key = (
            opened.sender,
            p.flags & crate::voice::payload::FLAG_MUSIC != 0,
        );
        if !self.receivers.contains_key(&key) {
            if self.receivers.len() >= MAX_STREAMS {
                return Err(RoomError::TooManyStreams);
            }
            let rx = VoiceReceiver::with_config(
                p.flags & (crate::voice::payload::FLAG_MUSIC | crate::voice::payload::FLAG_10MS),
                crate::voice::jitter::Config {
                    tick_us: self.tick_us,
                    ..Default::default()
                },
            )
            .map_err(|_| RoomError::TooManyStreams)?;
            self.receivers.insert(key, rx);
        }
        if let Some(rx) = self.receivers.get_mut(&key) {
            rx.push(p, now_us);
        }
        self.stats.voice_in += 1;
        Ok(Some(opened.sender))
    }

    /// Decoded slots due at `now_us`, per member (a member's music and
    /// voice are separate streams; [`Slot::channels`] tells them apart).
    pub fn poll(&mut self, now_us: u64) -> Vec<(MemberId, Slot)> {
        let mut out = Vec::new();
        for ((m, _), rx) in &mut self.receivers {
            while let Some(s) = rx.poll(now_us) {
                out.push((*m, s));
            }
        }
        out
    }

    /// Earliest due time of any stream.
    pub fn next_due_us(&self) -> Option<u64> {
        self.receivers
            .values()
            .filter_map(|r| r.next_due_us())
            .min()
    }

    /// Records the RTT to a member.
    pub fn set_rtt_ms(&mut self, m: &MemberId, rtt: f64) {
        for music in [false, true] {
            if let Some(r) = self.receivers.get_mut(&(*m, music)) {
                r.set_rtt_ms(rtt);
            }
        }
    }

    /// Incoming streams as `(member, is_music)`.
    pub fn streams(&self) -> Vec<(MemberId, bool)> {
        self.receivers.keys().copied().collect()
    }

    /// Quality of each incoming voice stream.
    pub fn reports(&self) -> Vec<(MemberId, QualityReport)> {
        self.receivers
            .iter()
            .filter(|((_, music), _)| !music)
            .map(|((m, _), r)| (*m, r.report()))
            .collect()
    }

    /// Quality of each incoming music stream.
    pub fn music_reports(&self) -> Vec<(MemberId, QualityReport)> {
        self.receivers
            .iter()
            .filter(|((_, music), _)| *music)
            .map(|((m, _), r)| (*m, r.report()))
            .collect()
    }

    /// Forgets members who left the roster; returns who was dropped.
    pub fn prune(&mut self) -> Vec<MemberId> {
        let s = lock(&self.session);
        let mut gone = Vec::new();
        self.receivers.retain(|(m, _), _| {
            let keep = s.roster().is_member(m);
            if !keep {
                gone.push(*m);
            }
            keep
        });
        gone
    }
}

fn lock(s: &Arc<Mutex<GroupSession>>) -> MutexGuard<'_, GroupSession> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}
