//! A member restored from storage that missed a removal seals no key to the
//! removed member: nothing is sealed until a member's roster is merged in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_crypto::{EnvelopeError, GroupSession};
use common::{group, TestRng, NOW};

#[test]
fn restarted_member_with_stale_roster_seals_no_key_to_removed_member() {
    let mut rng = TestRng(21);
    let mut g = group(4, &mut rng);
    let removed = g[3].member_id();
    // Member 2 saves its state, then goes away; meanwhile the owner removes 3.
    let saved = g[2].export_state().unwrap();
    let removal = g[0].remove_member(removed, NOW + 1).unwrap();
    // Member 2 restarts from the stale state and rotates (as the node does).
    let mut stale = GroupSession::import_state(&saved).unwrap();
    assert!(stale.roster().is_member(&removed), "it missed the removal");
    let rot = stale.rotate(NOW + 2, &mut rng).unwrap();
    assert!(
        rot.envelopes.iter().all(|e| e.recipient != removed),
        "the new key went to the removed member"
    );
    assert_eq!(
        stale.envelope_for(removed, &mut rng).err(),
        Some(EnvelopeError::RosterUnconfirmed)
    );
    // A member's sync answer brings the removal; then keys flow again, to
    // current members only.
    let (_, change) = stale.apply_ops(g[0].roster().ops().cloned().collect());
    assert_eq!(change.removed, vec![removed]);
    assert!(stale.roster().knows(&removal.hash()));
    stale.confirm_roster();
    assert!(stale.needs_rotation(NOW + 3));
    let rot = stale.rotate(NOW + 3, &mut rng).unwrap();
    assert_eq!(rot.envelopes.len(), 2);
    assert!(rot.envelopes.iter().all(|e| e.recipient != removed));
    assert!(stale.envelope_for(g[0].member_id(), &mut rng).is_ok());
}
