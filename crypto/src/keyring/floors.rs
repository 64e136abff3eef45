//! Replay floors: a per-(sender, epoch) counter reserved ahead of use, so
//! replay protection survives a crash.
//!
//! Before the effects of a frame at counter `c` are shown, the caller must
//! have stored a floor above `c` durably. Floors are reserved to the end of
//! `c`'s ratchet step, so one durable write covers [`STEP`] counters of a
//! sender. After a restart every counter below its floor counts as seen;
//! the senders then answer our key request by moving to their next step
//! (see [`crate::GroupSession::envelope_for`]), which is where the floor sits.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::identity::MemberId;
use crate::sender_key::STEP;

/// Every counter of `member`'s `epoch` below `floor` has been (or may have
/// been) accepted before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayFloor {
    /// Sender.
    pub member: MemberId,
    /// Sender key epoch.
    pub epoch: u16,
    /// First counter not yet reserved.
    pub floor: u32,
}

/// The floors of one session, and whether they moved since last taken.
#[derive(Debug, Default)]
pub(crate) struct Floors {
    map: HashMap<(MemberId, u16), u32>,
    dirty: bool,
}

impl Floors {
    /// Reserves past `counter` (about to be accepted): to the end of its step.
    pub(crate) fn reserve(&mut self, member: MemberId, epoch: u16, counter: u32) {
        let end = (u64::from(counter / STEP) + 1) * u64::from(STEP);
        let end = u32::try_from(end).unwrap_or(u32::MAX);
        let f = self.map.entry((member, epoch)).or_insert(0);
        if *f <= counter {
            *f = end;
            self.dirty = true;
        }
    }

    /// The floor of a stream, if any.
    pub(crate) fn get(&self, member: &MemberId, epoch: u16) -> Option<u32> {
        self.map.get(&(*member, epoch)).copied()
    }

    /// Raises floors from a stored list (never lowers one).
    pub(crate) fn restore(&mut self, list: &[ReplayFloor]) {
        for f in list {
            let e = self.map.entry((f.member, f.epoch)).or_insert(0);
            *e = (*e).max(f.floor);
        }
    }

    /// Forgets a removed member.
    pub(crate) fn forget_member(&mut self, member: &MemberId) {
        self.map.retain(|(m, _), _| m != member);
    }

    /// Keeps only `member`'s epochs at or after `from` (bounded memory).
    pub(crate) fn keep_epochs_from(&mut self, member: &MemberId, from: u16) {
        self.map.retain(|(m, e), _| m != member || *e >= from);
    }

    /// All floors.
    pub(crate) fn list(&self) -> Vec<ReplayFloor> {
        let mut v: Vec<_> = self
            .map
            .iter()
            .map(|((member, epoch), floor)| ReplayFloor {
                member: *member,
                epoch: *epoch,
                floor: *floor,
            })
            .collect();
        v.sort_by_key(|f| (f.member, f.epoch));
        v
    }

    /// Sets a floor to exactly `top` (a clean shutdown saved the window).
    pub(crate) fn settle(&mut self, member: MemberId, epoch: u16, top: u32) {
        self.map.insert((member, epoch), top);
    }

    /// All floors if one moved since the last call.
    pub(crate) fn take_if_moved(&mut self) -> Option<Vec<ReplayFloor>> {
        std::mem::take(&mut self.dirty).then(|| self.list())
    }
}
