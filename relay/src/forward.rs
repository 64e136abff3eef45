//! The media forwarder's table (sans-IO): who is connected, which rooms each
//! member joined, and where each datagram goes.
//!
//! The server hands it every datagram with the member its connection
//! authenticated (TLS, ed25519) and the time; it answers with the members
//! to forward to, or why it drops the datagram. It reads the key-free
//! header only (the sealed-frame header from `aura-crypto`, the report
//! header from `aura-media`) and holds no key: it stores member ids, room
//! ids and token buckets, nothing that opens a frame.
//!
//! - A sealed frame goes to every other member joined to its room, if its
//!   header's sender is the connection's member (else [`DropReason::WrongSender`]).
//! - A leveled room frame ([`aura_media::level`]) goes, without its level,
//!   to every other member, if its speaker is among the room's loudest few
//!   ([`crate::selection`]; else [`DropReason::NotSelected`]).
//! - A receiver report goes to the talker it is about, if its author is
//!   the connection's member.
//! - A join, leave or token ([`aura_media::RelayControl`]) changes the table.
//!
//! Every map is bounded by [`Limits`]; each session has a token bucket of
//! bytes (off when `bytes_per_s` is 0).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aura_billing::signed::VerifyError;
use aura_crypto::{FrameHeader, MemberId, ShortId};
use aura_media::framing::{classify, Carried};
use aura_media::level::{split_level, LEVEL_PREFIX};
use aura_media::{control, RelayControl, ReportHeader, RoomId};

use crate::access::{Access, AccessError, Admission};
use crate::selection::{Selection, Selector};

mod reasons;
pub use reasons::{DropReason, Refusal};

/// Bounds of the forwarder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Media connections at once.
    pub max_sessions: usize,
    /// Rooms one member may join (media sessions per member).
    pub rooms_per_member: usize,
    /// Members joined to one room.
    pub members_per_room: usize,
    /// Rooms at once.
    pub max_rooms: usize,
    /// Bytes a second one connection may send (0: no limit).
    pub bytes_per_s: u64,
    /// Bytes a connection may send in a burst above the rate.
    pub burst_bytes: u64,
    /// Which seats of a room are forwarded (the loudest few).
    pub selection: Selection,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_sessions: 4_096,
            rooms_per_member: 8,
            members_per_room: 1_024,
            max_rooms: 4_096,
            // Opus voice is 2-8 KB/s; room for music and reports.
            bytes_per_s: 64_000,
            burst_bytes: 32_000,
            selection: Selection::default(),
        }
    }
}

/// What a datagram did.
#[derive(Debug)]
pub enum Outcome<'a, T> {
    /// Send the datagram, unchanged, to each of these.
    Forward(Fanout<'a, T>),
    /// The member joined the room (or renewed its join).
    Joined(RoomId),
    /// The member left the room.
    Left(RoomId),
    /// The member's token verified; admitted until then (unix seconds).
    Admitted(i64),
    /// A token to a relay that takes none: nothing to do (a node presents
    /// its token to every relay; it grants nothing more here).
    Unused,
    /// A control message was refused.
    Refused(Refusal),
}

/// The targets a datagram goes to.
#[derive(Debug)]
pub struct Fanout<'a, T> {
    members: std::slice::Iter<'a, MemberId>,
    sessions: &'a HashMap<MemberId, Session<T>>,
    from: MemberId,
    only: Option<ShortId>,
    start: usize,
}

impl<T> Fanout<'_, T> {
    /// Where the bytes to send start in the datagram (after a level prefix).
    pub fn payload_start(&self) -> usize {
        self.start
    }
}

impl<'a, T> Iterator for Fanout<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        for m in self.members.by_ref() {
            if *m == self.from || self.only.is_some_and(|s| m.short_id() != s) {
                continue;
            }
            if let Some(s) = self.sessions.get(m) {
                return Some(&s.target);
            }
        }
        None
    }
}

/// Token bucket of bytes.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
enum Admitted {
    Yes,
    Until(Instant),
    No,
}

/// One member's media connection.
#[derive(Debug)]
pub struct Session<T> {
    target: T,
    rooms: Vec<RoomId>,
    bucket: Bucket,
    admitted: Admitted,
    /// The last token that verified on this connection and its expiry
    /// (unix seconds): the same bytes presented again (members repeat
    /// their token with each join) skip the signature check.
    token: Option<(Box<[u8]>, i64)>,
}

/// Counters of the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Sessions.
    pub sessions: usize,
    /// Rooms with at least one member joined.
    pub rooms: usize,
    /// Joins (members summed over rooms).
    pub joins: usize,
}

/// The forwarder's state.
#[derive(Debug)]
pub struct Forwarder<T> {
    limits: Limits,
    access: Access,
    sessions: HashMap<MemberId, Session<T>>,
    rooms: HashMap<RoomId, Vec<MemberId>>,
    selectors: HashMap<RoomId, Selector>,
    /// Rooms of the control plane ([`crate::rooms`]) and their seated,
    /// unmuted speakers: only those are forwarded, only members it admits
    /// receive.
    gated: HashMap<RoomId, Vec<MemberId>>,
}

impl<T> Forwarder<T> {
    /// An empty table.
    pub fn new(limits: Limits, access: Access) -> Self {
        Self {
            limits,
            access,
            sessions: HashMap::new(),
            rooms: HashMap::new(),
            selectors: HashMap::new(),
            gated: HashMap::new(),
        }
    }

    /// Puts `room` under the control plane: no speaker yet, and a member
    /// joins it only through [`Self::admit`].
    pub fn gate_room(&mut self, room: RoomId) {
        self.gated.entry(room).or_default();
    }

    /// Sets the members whose frames into a gated `room` are forwarded.
    pub fn set_speakers(&mut self, room: RoomId, speakers: Vec<MemberId>) {
        if let Some(s) = self.gated.get_mut(&room) {
            *s = speakers;
        }
    }

    /// Joins `member` to a gated `room` (the control plane admitted it).
    pub fn admit(&mut self, room: RoomId, member: &MemberId) -> Result<(), Refusal> {
        self.join(member, room)
    }

    /// Takes `member` out of `room` at once.
    pub fn expel(&mut self, room: RoomId, member: &MemberId) {
        if let Some(s) = self.sessions.get_mut(member) {
            s.rooms.retain(|r| *r != room);
        }
        self.leave_room(&room, member);
    }

    /// Forgets a gated room and every join to it.
    pub fn close_gated(&mut self, room: RoomId) {
        self.gated.remove(&room);
        if let Some(ms) = self.rooms.remove(&room) {
            for m in ms {
                if let Some(s) = self.sessions.get_mut(&m) {
                    s.rooms.retain(|r| *r != room);
                }
            }
        }
        self.selectors.remove(&room);
    }

    /// Sessions and rooms now.
    pub fn counts(&self) -> Counts {
        Counts {
            sessions: self.sessions.len(),
            rooms: self.rooms.len(),
            joins: self.rooms.values().map(Vec::len).sum(),
        }
    }

    /// Whether `member` has joined `room`.
    pub fn is_joined(&self, room: &RoomId, member: &MemberId) -> bool {
        self.rooms.get(room).is_some_and(|r| r.contains(member))
    }

    /// A member's connection is up. A second connection of the same member
    /// replaces the first (returned, to be closed) and keeps its rooms.
    pub fn connect(
        &mut self,
        member: MemberId,
        target: T,
        now: Instant,
    ) -> Result<Option<T>, Refusal> {
        let admitted = match self.access.on_connect(&member) {
            Ok(Admission::Open) => Admitted::Yes,
            Ok(Admission::NeedsToken) => Admitted::No,
            Err(_) => return Err(Refusal::NotAllowed),
        };
        if let Some(s) = self.sessions.get_mut(&member) {
            return Ok(Some(std::mem::replace(&mut s.target, target)));
        }
        if self.sessions.len() >= self.limits.max_sessions {
            return Err(Refusal::Sessions);
        }
        let bucket = Bucket {
            tokens: self.limits.burst_bytes as f64,
            at: now,
        };
        self.sessions.insert(
            member,
            Session {
                target,
                rooms: Vec::new(),
                bucket,
                admitted,
                token: None,
            },
        );
        Ok(None)
    }

    /// A member's connection is gone: if `is_current` says the session's
    /// target is that connection, the session and its joins go.
    pub fn disconnect(&mut self, member: &MemberId, is_current: impl FnOnce(&T) -> bool) {
        let Some(s) = self.sessions.get(member) else {
            return;
        };
        if !is_current(&s.target) {
            return;
        }
        if let Some(s) = self.sessions.remove(member) {
            for r in s.rooms {
                self.leave_room(&r, member);
            }
        }
    }

    fn leave_room(&mut self, room: &RoomId, member: &MemberId) {
        if let Some(ms) = self.rooms.get_mut(room) {
            ms.retain(|m| m != member);
            if ms.is_empty() {
                self.rooms.remove(room);
                self.selectors.remove(room);
            }
        }
    }

    /// Handles a datagram that came on `from`'s connection at `now`
    /// (`unix_s`: the wall clock, for token lifetimes).
    pub fn on_datagram(
        &mut self,
        from: &MemberId,
        d: &[u8],
        now: Instant,
        unix_s: i64,
    ) -> Result<Outcome<'_, T>, DropReason> {
        let limits = &self.limits;
        let s = self.sessions.get_mut(from).ok_or(DropReason::NoSession)?;
        if !take(&mut s.bucket, limits, d.len(), now) {
            return Err(DropReason::RateLimited);
        }
        let first = *d.first().ok_or(DropReason::Malformed)?;
        if control::is_control(first) {
            let c = RelayControl::parse(d).map_err(|_| DropReason::Malformed)?;
            return Ok(self.on_control(from, c, now, unix_s));
        }
        match &s.admitted {
            Admitted::Yes => {}
            Admitted::Until(t) if *t > now => {}
            _ => return Err(DropReason::NotAdmitted),
        }
        let mut level = None;
        let (room, only) = match classify(d).map_err(|_| DropReason::Malformed)? {
            Carried::Sealed => {
                let h = FrameHeader::parse(d).map_err(|_| DropReason::Malformed)?;
                if h.sender != from.short_id() {
                    return Err(DropReason::WrongSender);
                }
                (h.room, None)
            }
            Carried::Leveled => {
                let (l, frame) = split_level(d).map_err(|_| DropReason::Malformed)?;
                let h = FrameHeader::parse(frame).map_err(|_| DropReason::Malformed)?;
                if h.sender != from.short_id() {
                    return Err(DropReason::WrongSender);
                }
                level = Some((l, h.sender));
                (h.room, None)
            }
            Carried::Report => {
                let h = ReportHeader::parse(d).map_err(|_| DropReason::Malformed)?;
                if h.author != *from {
                    return Err(DropReason::WrongSender);
                }
                (h.room, Some(h.about))
            }
        };
        let members = self
            .rooms
            .get(&room)
            .filter(|ms| ms.contains(from))
            .ok_or(DropReason::NotJoined)?;
        if only.is_none() && self.gated.get(&room).is_some_and(|s| !s.contains(from)) {
            return Err(DropReason::NotSpeaker);
        }
        let mut start = 0;
        if let Some((l, sender)) = level {
            let sel = self.selectors.entry(room).or_default();
            if !sel.on_frame(&self.limits.selection, sender, l, now) {
                return Err(DropReason::NotSelected);
            }
            start = LEVEL_PREFIX;
        }
        Ok(Outcome::Forward(Fanout {
            members: members.iter(),
            sessions: &self.sessions,
            from: *from,
            only,
            start,
        }))
    }

    /// A sealed frame that came on the link from the origin of a followed
    /// (gated) room (a cascade, [`crate::rooms::cascade`]): it goes to
    /// every member admitted to the room here. The origin chose it (seated,
    /// unmuted, among the loudest) and took its level off.
    pub fn downstream(&self, origin: &MemberId, d: &[u8]) -> Result<Fanout<'_, T>, DropReason> {
        if !matches!(classify(d), Ok(Carried::Sealed)) {
            return Err(DropReason::Malformed);
        }
        let h = FrameHeader::parse(d).map_err(|_| DropReason::Malformed)?;
        if !self.gated.contains_key(&h.room) {
            return Err(DropReason::NotJoined);
        }
        let members = self.rooms.get(&h.room).ok_or(DropReason::NotJoined)?;
        Ok(Fanout {
            members: members.iter(),
            sessions: &self.sessions,
            from: *origin,
            only: None,
            start: 0,
        })
    }

    fn on_control(
        &mut self,
        from: &MemberId,
        c: RelayControl<'_>,
        now: Instant,
        unix_s: i64,
    ) -> Outcome<'_, T> {
        match c {
            RelayControl::Join(room)
                if self.gated.contains_key(&room) && !self.is_joined(&room, from) =>
            {
                Outcome::Refused(Refusal::NotAllowed)
            }
            RelayControl::Join(room) => match self.join(from, room) {
                Ok(()) => Outcome::Joined(room),
                Err(r) => Outcome::Refused(r),
            },
            RelayControl::Leave(room) => {
                if let Some(s) = self.sessions.get_mut(from) {
                    s.rooms.retain(|r| *r != room);
                }
                self.leave_room(&room, from);
                Outcome::Left(room)
            }
            RelayControl::Token(t) => self.on_token(from, t, now, unix_s),
        }
    }

    /// A token presented on `from`'s connection: checked offline (unless
    /// it is the one that verified last on this connection and has not
    /// expired), then the session is admitted until it expires.
    fn on_token(&mut self, from: &MemberId, t: &[u8], now: Instant, unix_s: i64) -> Outcome<'_, T> {
        let Some(s) = self.sessions.get_mut(from) else {
            return Outcome::Refused(Refusal::NotAllowed);
        };
        let cached = s
            .token
            .as_ref()
            .filter(|(b, exp)| **b == *t && *exp > unix_s)
            .map(|(_, exp)| *exp);
        let exp = match cached {
            Some(exp) => exp,
            None => match self.access.check_token(from, t, unix_s) {
                Ok(exp) => {
                    s.token = Some((t.into(), exp));
                    exp
                }
                Err(AccessError::NoTokens) => return Outcome::Unused,
                Err(e) => return Outcome::Refused(token_refusal(&e)),
            },
        };
        let left = Duration::from_secs(exp.saturating_sub(unix_s).max(0) as u64);
        if !matches!(s.admitted, Admitted::Yes) {
            s.admitted = Admitted::Until(now + left);
        }
        Outcome::Admitted(exp)
    }

    fn join(&mut self, from: &MemberId, room: RoomId) -> Result<(), Refusal> {
        let s = self.sessions.get_mut(from).ok_or(Refusal::NotAllowed)?;
        if matches!(s.admitted, Admitted::No) {
            return Err(Refusal::NotAllowed);
        }
        if s.rooms.contains(&room) {
            return Ok(());
        }
        if s.rooms.len() >= self.limits.rooms_per_member {
            return Err(Refusal::RoomsPerMember);
        }
        if !self.rooms.contains_key(&room) && self.rooms.len() >= self.limits.max_rooms {
            return Err(Refusal::Rooms);
        }
        let members = self.rooms.entry(room).or_default();
        if members.len() >= self.limits.members_per_room {
            return Err(Refusal::RoomFull);
        }
        members.push(*from);
        s.rooms.push(room);
        Ok(())
    }
}

/// The refusal (and metrics label) for a token that did not verify.
fn token_refusal(e: &AccessError) -> Refusal {
    match e {
        AccessError::Token(VerifyError::BadSignature) => Refusal::TokenForged,
        AccessError::Token(VerifyError::Expired) => Refusal::TokenExpired,
        AccessError::Token(VerifyError::WrongPeer) => Refusal::TokenOtherMember,
        AccessError::Token(VerifyError::NotEntitled) => Refusal::TokenNotEntitled,
        AccessError::NotAllowed => Refusal::NotAllowed,
        _ => Refusal::BadToken,
    }
}

/// Takes `n` bytes from the bucket; false if there are not enough.
fn take(b: &mut Bucket, limits: &Limits, n: usize, now: Instant) -> bool {
    if limits.bytes_per_s == 0 {
        return true;
    }
    let dt = now.saturating_duration_since(b.at).as_secs_f64();
    b.at = now;
    let cap = (limits.burst_bytes.max(limits.bytes_per_s / 10)) as f64;
    b.tokens = (b.tokens + dt * limits.bytes_per_s as f64).min(cap);
    if b.tokens < n as f64 {
        return false;
    }
    b.tokens -= n as f64;
    true
}

#[cfg(test)]
mod tests;
