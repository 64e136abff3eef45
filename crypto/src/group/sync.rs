//! Catching up with the group: many roster ops at once (a sync answer), and
//! confirming a restored roster before any key is sealed to anyone.
//!
//! A member restored from storage may have missed removals while it was
//! away. Until [`GroupSession::confirm_roster`] (called by the node when a
//! member's sync answer has been applied) the session seals no key
//! envelope: `rotate` makes a new key but delivers it to nobody, and
//! `envelope_for` refuses. So a removed member that the restored roster
//! still lists never gets a key made after the restart.

use super::GroupSession;
use crate::roster::{Applied, BatchApplied, SignedOp};
use crate::MembershipChange;

impl GroupSession {
    /// Applies many roster ops with a single merge (a sync answer); ops
    /// refused one by one are counted in the outcome, never fatal.
    pub fn apply_ops(&mut self, ops: Vec<SignedOp>) -> (BatchApplied, MembershipChange) {
        let before = self.member_set();
        let outcome = self.roster.apply_batch(ops);
        let applied = if outcome.new > 0 {
            Applied::New
        } else {
            Applied::Known
        };
        (outcome, self.after_change(before, applied))
    }

    /// Whether keys may be sealed: always, except after a restore until
    /// [`Self::confirm_roster`].
    pub fn is_roster_confirmed(&self) -> bool {
        self.roster_confirmed
    }

    /// A member's view of the roster has been merged into ours since the
    /// restore: keys may be sealed again. The current key was delivered to
    /// nobody, so hand it out now (`envelope_for` each member).
    pub fn confirm_roster(&mut self) {
        self.roster_confirmed = true;
    }
}
