//! The rules: which op each role may make, checked by
//! [`RoomState::apply`]. A refused op changes nothing.

use super::error::RoomError;
use super::op::{Access, RoomOpKind, SignedRoomOp};
use super::state::{Admission, Presence, RoomChange, RoomState, FRESH_MS, MAX_BANS};
use crate::identity::MemberId;

impl RoomState {
    /// Applies a signed op at `now_ms` (the applier's clock; for a log being
    /// replayed, the time its sequencer accepted the op). Checks the room,
    /// freshness, replay, bans and the author's role, then changes the state.
    pub fn apply(
        &mut self,
        op: &SignedRoomOp,
        now_ms: u64,
        admission: &dyn Admission,
    ) -> Result<RoomChange, RoomError> {
        let o = op.op();
        if o.room != self.id {
            return Err(RoomError::WrongRoom);
        }
        if self.closed {
            return Err(RoomError::Closed);
        }
        if o.at_ms.saturating_add(FRESH_MS) < now_ms || o.at_ms > now_ms.saturating_add(FRESH_MS) {
            return Err(RoomError::Stale);
        }
        if self.last_at.get(&o.author).is_some_and(|t| o.at_ms <= *t) {
            return Err(RoomError::Replay);
        }
        if self.banned.contains(&o.author) {
            return Err(RoomError::Banned);
        }
        let author = o.author;
        let change = match &o.kind {
            RoomOpKind::Join {
                ticket,
                entitlement,
            } => self.join(
                author,
                ticket.as_ref(),
                entitlement.as_deref(),
                now_ms,
                admission,
            )?,
            _ if !self.present.contains_key(&author) => return Err(RoomError::NotPresent),
            kind => self.act(author, kind)?,
        };
        self.last_at.insert(author, o.at_ms);
        self.forget_stale_authors(now_ms);
        Ok(change)
    }

    fn join(
        &mut self,
        author: MemberId,
        ticket: Option<&super::ticket::RoomTicket>,
        token: Option<&[u8]>,
        now_ms: u64,
        admission: &dyn Admission,
    ) -> Result<RoomChange, RoomError> {
        if self.present.contains_key(&author) {
            return Err(RoomError::AlreadyPresent);
        }
        if self.present.len() >= self.max_members {
            return Err(RoomError::Full);
        }
        if author != self.host {
            match self.access {
                Access::Ticket => {
                    let ok = ticket.is_some_and(|t| {
                        self.is_moderator(&t.issuer) && t.is_valid_for(&self.id, now_ms)
                    });
                    if !ok {
                        return Err(RoomError::Ticket);
                    }
                }
                Access::Group(g) => {
                    if !admission.in_group(&g, &author) {
                        return Err(RoomError::NotInGroup);
                    }
                }
            }
        }
        let vip = token.is_some_and(|t| admission.is_vip(&author, t, now_ms));
        if self.vip_only && !vip && author != self.host {
            return Err(RoomError::VipRequired);
        }
        self.present.insert(author, Presence { vip, hand: false });
        Ok(RoomChange::Joined(author))
    }

    fn act(&mut self, author: MemberId, kind: &RoomOpKind) -> Result<RoomChange, RoomError> {
        let moderator = self.is_moderator(&author);
        Ok(match kind {
            RoomOpKind::Create { .. } | RoomOpKind::Join { .. } => {
                return Err(RoomError::Malformed("create or join in act"))
            }
            RoomOpKind::Leave => {
                self.depart(&author);
                RoomChange::Departed {
                    member: author,
                    removed: false,
                }
            }
            RoomOpKind::RaiseHand { up } => {
                if self.seat_of(&author).is_some() {
                    return Err(RoomError::NotAllowed("already seated"));
                }
                if let Some(p) = self.present.get_mut(&author) {
                    p.hand = *up;
                }
                RoomChange::Hand(author, *up)
            }
            RoomOpKind::InviteToSeat { member, seat } => {
                require(moderator, "only host or moderators invite to seats")?;
                if !self.present.contains_key(member) || self.seat_of(member).is_some() {
                    return Err(RoomError::NotPresent);
                }
                let s = self.empty_seat(*seat)?;
                s.invited = Some(*member);
                RoomChange::SeatInvited(*member, *seat)
            }
            RoomOpKind::TakeSeat { seat } => self.take_seat(author, moderator, *seat)?,
            RoomOpKind::LeaveSeat => {
                let seat = self.seat_of(&author).ok_or(RoomError::Seat)?;
                self.free_seat(seat);
                RoomChange::Seated(seat, None)
            }
            RoomOpKind::ClearSeat { seat } => {
                require(moderator, "only host or moderators clear seats")?;
                let occupant = self.occupant(*seat)?;
                require(
                    author == self.host || !self.is_moderator(&occupant),
                    "a moderator cannot unseat the host or a moderator",
                )?;
                self.free_seat(*seat);
                RoomChange::Seated(*seat, None)
            }
            RoomOpKind::MuteSeat { seat, muted } => self.mute(author, moderator, *seat, *muted)?,
            RoomOpKind::SetModerator { member, on } => {
                require(author == self.host, "only the host names moderators")?;
                require(*member != self.host, "the host is not a moderator")?;
                if *on {
                    self.moderators.insert(*member);
                } else {
                    self.moderators.remove(member);
                }
                RoomChange::Moderator(*member, *on)
            }
            RoomOpKind::Kick { member } | RoomOpKind::Ban { member } => {
                require(moderator, "only host or moderators remove members")?;
                require(
                    *member != self.host
                        && (author == self.host || !self.moderators.contains(member)),
                    "a moderator cannot remove the host or a moderator",
                )?;
                let ban = matches!(kind, RoomOpKind::Ban { .. });
                if ban {
                    if self.banned.len() >= MAX_BANS {
                        return Err(RoomError::NotAllowed("ban list full"));
                    }
                    self.banned.insert(*member);
                    self.moderators.remove(member);
                } else if !self.present.contains_key(member) {
                    return Err(RoomError::NotPresent);
                }
                self.depart(member);
                RoomChange::Departed {
                    member: *member,
                    removed: true,
                }
            }
            RoomOpKind::Unban { member } => {
                require(moderator, "only host or moderators lift bans")?;
                self.banned.remove(member);
                RoomChange::Unbanned(*member)
            }
            RoomOpKind::Close => {
                require(author == self.host, "only the host closes the room")?;
                self.closed = true;
                RoomChange::Closed
            }
        })
    }

    fn take_seat(
        &mut self,
        author: MemberId,
        moderator: bool,
        seat: u8,
    ) -> Result<RoomChange, RoomError> {
        if self.seat_of(&author).is_some() {
            return Err(RoomError::NotAllowed("already seated"));
        }
        let vip = self.present.get(&author).is_some_and(|p| p.vip);
        let s = self.empty_seat(seat)?;
        require(
            moderator || s.invited == Some(author),
            "a seat needs an invitation",
        )?;
        if s.vip_only && !vip && !moderator {
            return Err(RoomError::VipRequired);
        }
        s.occupant = Some(author);
        s.invited = None;
        if let Some(p) = self.present.get_mut(&author) {
            p.hand = false;
        }
        Ok(RoomChange::Seated(seat, Some(author)))
    }

    fn mute(
        &mut self,
        author: MemberId,
        moderator: bool,
        seat: u8,
        muted: bool,
    ) -> Result<RoomChange, RoomError> {
        let occupant = self.occupant(seat)?;
        let own = occupant == author;
        require(
            moderator || own,
            "only host, moderators or the speaker mute",
        )?;
        let s = self.seat_mut(seat)?;
        if !muted && s.muted_by_moderator && !moderator {
            return Err(RoomError::NotAllowed("muted by a moderator"));
        }
        s.muted = muted;
        s.muted_by_moderator = muted && moderator && !own;
        Ok(RoomChange::Muted(seat, muted))
    }

    fn seat_mut(&mut self, seat: u8) -> Result<&mut super::state::Seat, RoomError> {
        self.seats.get_mut(usize::from(seat)).ok_or(RoomError::Seat)
    }

    fn empty_seat(&mut self, seat: u8) -> Result<&mut super::state::Seat, RoomError> {
        let s = self.seat_mut(seat)?;
        if s.occupant.is_some() {
            return Err(RoomError::Seat);
        }
        Ok(s)
    }

    fn occupant(&self, seat: u8) -> Result<MemberId, RoomError> {
        self.seats
            .get(usize::from(seat))
            .and_then(|s| s.occupant)
            .ok_or(RoomError::Seat)
    }

    fn free_seat(&mut self, seat: u8) {
        if let Some(s) = self.seats.get_mut(usize::from(seat)) {
            s.occupant = None;
            s.muted = false;
            s.muted_by_moderator = false;
        }
    }

    fn depart(&mut self, member: &MemberId) {
        if let Some(seat) = self.seat_of(member) {
            self.free_seat(seat);
        }
        for s in &mut self.seats {
            if s.invited == Some(*member) {
                s.invited = None;
            }
        }
        self.present.remove(member);
    }

    /// Forgets the last op time of departed authors once freshness alone
    /// refuses their old ops, so the map stays bounded by the members
    /// present plus one freshness window of departures.
    fn forget_stale_authors(&mut self, now_ms: u64) {
        if self.last_at.len() <= 2 * self.present.len() + 1024 {
            return;
        }
        let present = &self.present;
        self.last_at
            .retain(|m, t| present.contains_key(m) || t.saturating_add(FRESH_MS) >= now_ms);
    }
}

fn require(ok: bool, why: &'static str) -> Result<(), RoomError> {
    if ok {
        Ok(())
    } else {
        Err(RoomError::NotAllowed(why))
    }
}
