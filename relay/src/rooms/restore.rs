//! A room taken over from an origin that stopped (sans-IO). The host holds
//! the room's journal: every op that defines its state (the create op,
//! the joins of members present, seats, roles, mutes, bans, departures),
//! each with the time the old origin accepted it. It hands the journal to
//! a relay of the room, which applies each op again with that time as the
//! clock, exactly as the listeners' views do: signatures, roles, bans and
//! freshness are checked as they were, so the host can restore only what
//! its members signed. Until the host says the journal is complete
//! ([`Hub::end_restore`]), the room takes no one else's messages.
//!
//! The members restored are away until they come back through a relay of
//! the room: one that never does is reported to the host after the
//! absence grace, as any member whose connection closed.

use aura_crypto::room::{RoomError, RoomId, SignedRoomOp, FRESH_MS};
use aura_crypto::MemberId;

use super::error::HubError;
use super::hub::{Effects, ForwardChange, Hub};

impl Hub {
    /// Whether `member` is restoring `room` here (its messages for it are
    /// part of the journal and are not paced as ops).
    pub fn restoring_by(&self, room: &RoomId, member: &MemberId) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|r| r.restoring.is_some() && r.state.host() == *member)
    }

    /// Whether `room` is being restored (messages from others wait).
    pub fn is_restoring(&self, room: &RoomId) -> bool {
        self.rooms.get(room).is_some_and(|r| r.restoring.is_some())
    }

    /// One op of `room`'s journal from `from`, accepted by the old origin
    /// at `accepted_ms`: the first must be the room's create op, signed
    /// by `from` (its host), for a room not here; each next one, from the
    /// same host, no older than the one before. Nothing is sent to anyone:
    /// the members are welcomed again when they rejoin.
    pub fn restore(
        &mut self,
        from: &MemberId,
        room: RoomId,
        accepted_ms: u64,
        bytes: Vec<u8>,
        now_ms: u64,
    ) -> Result<Effects, HubError> {
        if accepted_ms > now_ms.saturating_add(FRESH_MS) {
            return Err(HubError::Room(RoomError::Stale));
        }
        let Some(r) = self.rooms.get(&room) else {
            let op = SignedRoomOp::decode(&bytes)?;
            if op.created_room() != Some(room) {
                return Err(HubError::NotRestoring);
            }
            if op.op().author != *from {
                return Err(HubError::NotAuthor);
            }
            let mut fx = self.create(room, &op, bytes, accepted_ms)?;
            fx.sends.clear();
            if let Some(r) = self.rooms.get_mut(&room) {
                r.restoring = Some((accepted_ms, 1));
            }
            return Ok(fx);
        };
        let (last, ops) = r.restoring.ok_or(HubError::NotRestoring)?;
        if r.state.host() != *from {
            return Err(HubError::NotRestoring);
        }
        if ops >= self.max_journal() {
            // Longer than any room this relay could have held: not a
            // journal (each op costs a signature check, and is not paced).
            // The room is dropped (its forwarding is the caller's to close).
            self.drop_room(&room);
            return Err(HubError::LogFull);
        }
        if accepted_ms < last {
            return Err(HubError::Room(RoomError::Stale));
        }
        // Counted before it is checked: refused ops count too.
        if let Some(r) = self.rooms.get_mut(&room) {
            r.restoring = Some((last, ops + 1));
        }
        let op = SignedRoomOp::decode(&bytes)?;
        if op.op().room != room || op.created_room().is_some() {
            return Err(HubError::NotRestoring);
        }
        let author = op.op().author;
        let mut fx = self.apply_op(&author, &op, bytes, accepted_ms)?;
        fx.sends.clear();
        // Members get the room's frames when they are back, not before.
        fx.forward
            .retain(|c| !matches!(c, ForwardChange::Admit(_, m) if m != from));
        if let Some(r) = self.rooms.get_mut(&room) {
            r.restoring = Some((accepted_ms, ops + 1));
        }
        Ok(fx)
    }

    /// The most ops a journal may hold here: twice a full listener log
    /// and a full audience's joins.
    fn max_journal(&self) -> usize {
        2 * (self.limits.max_log + self.limits.members_per_room)
    }

    fn drop_room(&mut self, room: &RoomId) -> Option<Effects> {
        let r = self.rooms.remove(room)?;
        let header = r.state.id().header_id();
        self.by_header.remove(&header);
        Some(Effects {
            sends: Vec::new(),
            forward: vec![ForwardChange::Close(header)],
        })
    }

    /// `from` (the host) says `room`'s journal is complete: the room takes
    /// everyone's messages again, and each member restored counts as away
    /// from `now_ms` until it comes back.
    pub fn end_restore(
        &mut self,
        from: &MemberId,
        room: &RoomId,
        now_ms: u64,
    ) -> Result<(), HubError> {
        let r = self
            .rooms
            .get_mut(room)
            .filter(|r| r.restoring.is_some() && r.state.host() == *from)
            .ok_or(HubError::NotRestoring)?;
        r.restoring = None;
        let away: Vec<MemberId> = r.present().into_iter().filter(|m| m != from).collect();
        for m in away {
            self.absence.away(m, now_ms);
        }
        Ok(())
    }

    /// `host` left while restoring: its half-restored rooms are dropped
    /// (a room without its journal would welcome members into a partial
    /// state). Their forwarding is closed.
    pub fn abandon_restores_of(&mut self, host: &MemberId) -> Vec<(RoomId, Effects)> {
        let rooms: Vec<RoomId> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.restoring.is_some() && r.state.host() == *host)
            .map(|(id, _)| *id)
            .collect();
        rooms
            .into_iter()
            .filter_map(|id| Some((id, self.drop_room(&id)?)))
            .collect()
    }
}
