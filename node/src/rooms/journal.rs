//! The host's journal of its room (sans-IO): the signed ops that define
//! the room's state, each with the time its origin accepted it, so that
//! another relay can take the room over when its origin stops
//! ([`ClientMsg::Restore`]). The relay checks each op again with that
//! time as its clock, as every member's view does.
//!
//! Kept: the create op; the join of each member present; every seat,
//! role, mute, ban and unban op, and the departures of members who held a
//! seat or a role. An audience member's join is dropped when it leaves or
//! is kicked (with its departure): a room of listeners coming and going
//! keeps a journal the size of its present audience plus its stage's
//! history. Raised hands are not kept (a member raises its hand again).

use std::collections::HashMap;

use aura_crypto::room::{RoomChange, RoomId, RoomOpKind};
use aura_crypto::MemberId;
use aura_media::room_control::ClientMsg;

/// Ops a journal holds; past it, the room can no longer be restored (its
/// relays' listener logs are smaller: a room reaches their bound first).
pub const MAX_JOURNAL: usize = 16_384;

/// One host's journal of one room.
#[derive(Debug, Default)]
pub struct Journal {
    /// `(accepted_ms, signed op)`, in the order the origin accepted them;
    /// `None`: dropped.
    entries: Vec<Option<(u64, Vec<u8>)>>,
    /// Where the join of each present audience member (never seated,
    /// invited or made moderator since it joined) is.
    audience: HashMap<MemberId, usize>,
    dropped: usize,
    overflowed: bool,
}

impl Journal {
    /// A journal starting with the room's create op.
    pub fn new(accepted_ms: u64, create: Vec<u8>) -> Self {
        Self {
            entries: vec![Some((accepted_ms, create))],
            ..Self::default()
        }
    }

    /// The op `op` (of kind `kind`) was accepted at `accepted_ms` and
    /// made `change`.
    pub fn record(&mut self, change: &RoomChange, kind: &RoomOpKind, accepted_ms: u64, op: &[u8]) {
        match change {
            RoomChange::Hand(..) => return,
            RoomChange::Departed { member, .. } => {
                if let Some(i) = self.audience.remove(member) {
                    self.drop_at(i);
                    if !matches!(kind, RoomOpKind::Ban { .. }) {
                        return;
                    }
                }
            }
            RoomChange::SeatInvited(m, _)
            | RoomChange::Seated(_, Some(m))
            | RoomChange::Moderator(m, true) => {
                self.audience.remove(m);
            }
            _ => {}
        }
        if self.entries.len() - self.dropped >= MAX_JOURNAL {
            self.overflowed = true;
            return;
        }
        if let RoomChange::Joined(m) = change {
            self.audience.insert(*m, self.entries.len());
        }
        self.entries.push(Some((accepted_ms, op.to_vec())));
    }

    fn drop_at(&mut self, i: usize) {
        if let Some(e) = self.entries.get_mut(i) {
            if e.take().is_some() {
                self.dropped += 1;
            }
        }
        if self.dropped > 64 && self.dropped * 2 > self.entries.len() {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let mut moved = HashMap::new();
        let mut kept = Vec::with_capacity(self.entries.len() - self.dropped);
        for (i, e) in self.entries.drain(..).enumerate() {
            if let Some(e) = e {
                moved.insert(i, kept.len());
                kept.push(Some(e));
            }
        }
        self.entries = kept;
        self.dropped = 0;
        for i in self.audience.values_mut() {
            if let Some(j) = moved.get(i) {
                *i = *j;
            }
        }
    }

    /// Ops held.
    pub fn len(&self) -> usize {
        self.entries.len() - self.dropped
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The messages that restore `room` at a relay: each op, then
    /// `restored`. `None` if the journal overflowed (the room cannot be
    /// restored whole).
    pub fn restore(&self, room: RoomId) -> Option<Vec<ClientMsg>> {
        if self.overflowed {
            return None;
        }
        let ops = self
            .entries
            .iter()
            .flatten()
            .map(|(at, op)| ClientMsg::Restore {
                room,
                accepted_ms: *at,
                op: op.clone(),
            });
        Some(
            ops.chain(std::iter::once(ClientMsg::Restored(room)))
                .collect(),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn m(b: u8) -> MemberId {
        MemberId([b; 32])
    }

    fn ops(j: &Journal) -> Vec<u8> {
        j.restore(RoomId([1; 32]))
            .unwrap()
            .into_iter()
            .filter_map(|c| match c {
                ClientMsg::Restore { op, .. } => Some(op[0]),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_audience_coming_and_going_leaves_only_the_members_present_and_the_stage() {
        let mut j = Journal::new(1, vec![0]);
        let join = RoomOpKind::Join {
            ticket: None,
            entitlement: None,
        };
        let leave = RoomOpKind::Leave;
        j.record(&RoomChange::Joined(m(1)), &join, 2, &[1]);
        j.record(&RoomChange::Joined(m(2)), &join, 3, &[2]);
        j.record(&RoomChange::Hand(m(2), true), &join, 4, &[3]);
        j.record(&RoomChange::SeatInvited(m(2), 1), &join, 5, &[4]);
        j.record(&RoomChange::Seated(1, Some(m(2))), &join, 6, &[5]);
        let gone = |b| RoomChange::Departed {
            member: m(b),
            removed: false,
        };
        j.record(&gone(1), &leave, 7, &[6]);
        j.record(&gone(2), &leave, 8, &[7]);
        // 1 came and went unseen; 2's stage history stays.
        assert_eq!(ops(&j), vec![0, 2, 4, 5, 7]);
        j.record(&RoomChange::Joined(m(3)), &join, 9, &[8]);
        let ban = RoomOpKind::Ban { member: m(3) };
        let banned = RoomChange::Departed {
            member: m(3),
            removed: true,
        };
        j.record(&banned, &ban, 10, &[9]);
        assert_eq!(
            ops(&j),
            vec![0, 2, 4, 5, 7, 9],
            "a ban is kept, its join not"
        );
        for i in 0..500u16 {
            let b = [10, (i % 200) as u8];
            j.record(&RoomChange::Joined(m(b[1])), &join, 11, &b);
            j.record(&gone(b[1]), &leave, 12, &b);
        }
        assert_eq!(j.len(), 6, "compacted");
        j.record(&RoomChange::Joined(m(77)), &join, 13, &[11]);
        j.record(&RoomChange::Seated(2, Some(m(77))), &join, 14, &[12]);
        assert_eq!(ops(&j), vec![0, 2, 4, 5, 7, 9, 11, 12]);
    }
}
