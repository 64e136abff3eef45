//! Members whose connection to the relay closed (sans-IO). A relay cannot
//! sign a departure in a member's name, so a member that never comes back
//! would stay present for good: counted against the room's size, sealed
//! every new room key. A member away longer than the grace period is
//! reported, once, to the host of each room it is in, which removes it
//! with a signed kick (it may join again later).

use std::collections::HashMap;

use aura_crypto::MemberId;

/// Since when each member has been away.
#[derive(Debug, Default)]
pub(super) struct Absence {
    since: HashMap<MemberId, u64>,
}

impl Absence {
    /// `member`'s connection closed at `now_ms` (the first close counts).
    pub(super) fn away(&mut self, member: MemberId, now_ms: u64) {
        self.since.entry(member).or_insert(now_ms);
    }

    /// `member` is back (it sent something).
    pub(super) fn back(&mut self, member: &MemberId) {
        self.since.remove(member);
    }

    /// Members away for at least `grace_ms` at `now_ms`, forgotten here.
    pub(super) fn due(&mut self, now_ms: u64, grace_ms: u64) -> Vec<MemberId> {
        let due: Vec<MemberId> = self
            .since
            .iter()
            .filter(|(_, t)| now_ms.saturating_sub(**t) >= grace_ms)
            .map(|(m, _)| *m)
            .collect();
        for m in &due {
            self.since.remove(m);
        }
        due
    }

    /// Members away now.
    pub(super) fn len(&self) -> usize {
        self.since.len()
    }
}
