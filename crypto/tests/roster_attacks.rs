//! Attacks on the roster merge: a revoked author back-dating ops (grinding
//! `at_ms` so its op sorts before its revocation), an old owner undoing a
//! transfer, and a member freezing the roster with concurrent ops.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_crypto::roster::MAX_OP_BYTES;
use aura_crypto::{GroupSession, Identity, MemberId, Op, OpHash, OpKind, Role, Roster, SignedOp};
use common::{ident, TestRng, NOW};

/// Owner (1), admins (2) and (3), member (4), in one roster.
fn setup() -> (Vec<Identity>, Roster) {
    let ids: Vec<Identity> = (1..=4).map(ident).collect();
    let (mut r, _) = Roster::create(&ids[0], "trip", NOW).unwrap();
    for (i, id) in ids.iter().enumerate().skip(1) {
        let role = if i < 3 { Role::Admin } else { Role::Member };
        r.add(&ids[0], id.member_id(), role, None, NOW).unwrap();
    }
    (ids, r)
}

/// `author` signs `kind` with the given parents, its `at_ms` ground until the
/// op's hash sorts before (`below`) or after `target`.
fn ground(
    r: &Roster,
    author: &Identity,
    parents: Vec<OpHash>,
    kind: OpKind,
    target: OpHash,
    below: bool,
) -> SignedOp {
    (0..10_000u64)
        .map(|t| {
            Op {
                group: r.group_id(),
                parents: parents.clone(),
                author: author.member_id(),
                at_ms: NOW + t,
                kind: kind.clone(),
            }
            .sign(author)
            .unwrap()
        })
        .find(|op| (op.hash() < target) == below)
        .unwrap()
}

/// Applies `op` to `r` and to a roster rebuilt from all ops in reverse order;
/// the op may be refused or kept without effect.
fn deliver(r: &mut Roster, op: SignedOp) -> Roster {
    let _ = r.apply(op.clone());
    let mut all: Vec<SignedOp> = r.ops().cloned().collect();
    all.reverse();
    Roster::from_ops(all).unwrap()
}

fn check_both<F: Fn(&Roster)>(a: &Roster, b: &Roster, f: F) {
    f(a);
    f(b);
    assert_eq!(a.head_hash(), b.head_hash());
}

#[test]
fn removed_admin_backdated_add_has_no_effect() {
    for below in [true, false] {
        let (ids, mut r) = setup();
        let parents = r.heads();
        let removal = r.remove(&ids[0], ids[1].member_id(), NOW).unwrap();
        let sock = ident(50).member_id();
        let kind = OpKind::Add {
            member: sock,
            role: Role::Member,
            invite: None,
        };
        let forged = ground(&r, &ids[1], parents, kind, removal.hash(), below);
        let rebuilt = deliver(&mut r, forged);
        check_both(&r, &rebuilt, |x| {
            assert!(!x.is_member(&sock), "hash sorts below removal: {below}");
            assert!(!x.is_member(&ids[1].member_id()));
        });
    }
}

#[test]
fn removed_admin_backdated_remove_has_no_effect() {
    for below in [true, false] {
        let (ids, mut r) = setup();
        let parents = r.heads();
        let removal = r.remove(&ids[0], ids[1].member_id(), NOW).unwrap();
        let victim = ids[3].member_id();
        let kind = OpKind::Remove { member: victim };
        let forged = ground(&r, &ids[1], parents, kind, removal.hash(), below);
        let rebuilt = deliver(&mut r, forged);
        check_both(&r, &rebuilt, |x| assert!(x.is_member(&victim)));
    }
}

#[test]
fn demoted_admin_backdated_add_has_no_effect() {
    for below in [true, false] {
        let (ids, mut r) = setup();
        let parents = r.heads();
        let demotion = r
            .set_role(&ids[0], ids[1].member_id(), Role::Member, NOW)
            .unwrap();
        let sock = ident(51).member_id();
        let kind = OpKind::Add {
            member: sock,
            role: Role::Member,
            invite: None,
        };
        let forged = ground(&r, &ids[1], parents, kind, demotion.hash(), below);
        let rebuilt = deliver(&mut r, forged);
        check_both(&r, &rebuilt, |x| {
            assert!(!x.is_member(&sock));
            assert_eq!(x.role_of(&ids[1].member_id()), Some(Role::Member));
        });
    }
}

/// The removed admin's socket puppet, added before its removal took effect in
/// the hash order, adds more: none of it stands.
#[test]
fn removed_admin_cascade_through_backdated_puppet_has_no_effect() {
    let (ids, mut r) = setup();
    let parents = r.heads();
    let removal = r.remove(&ids[0], ids[1].member_id(), NOW).unwrap();
    let puppet = ident(52);
    let kind = OpKind::Add {
        member: puppet.member_id(),
        role: Role::Member,
        invite: None,
    };
    let forged = ground(&r, &ids[1], parents, kind, removal.hash(), true);
    let _ = r.apply(forged.clone());
    let leave = Op {
        group: r.group_id(),
        parents: vec![forged.hash()],
        author: puppet.member_id(),
        at_ms: NOW,
        kind: OpKind::Leave,
    }
    .sign(&puppet)
    .unwrap();
    let _ = r.apply(leave.clone());
    assert!(!r.is_member(&puppet.member_id()));
    assert!(r.is_skipped(&forged.hash()));
    assert!(r.is_skipped(&leave.hash()), "the puppet never was a member");
}

#[test]
fn old_owner_cannot_undo_transfer_with_backdated_op() {
    for below in [true, false] {
        let (ids, mut r) = setup();
        let parents = r.heads();
        let new_owner = ids[1].member_id();
        let transfer = r.transfer_ownership(&ids[0], new_owner, NOW).unwrap();
        // Remove the new owner "before" the transfer.
        let kind = OpKind::Remove { member: new_owner };
        let forged = ground(&r, &ids[0], parents.clone(), kind, transfer.hash(), below);
        let rebuilt = deliver(&mut r, forged);
        check_both(&r, &rebuilt, |x| {
            assert_eq!(x.role_of(&new_owner), Some(Role::Owner));
            assert_eq!(x.role_of(&ids[0].member_id()), Some(Role::Admin));
        });
        // Demote the other admin "before" the transfer: needs ownership too.
        let kind = OpKind::SetRole {
            member: ids[2].member_id(),
            role: Role::Member,
        };
        let forged = ground(&r, &ids[0], parents, kind, transfer.hash(), below);
        let rebuilt = deliver(&mut r, forged);
        check_both(&r, &rebuilt, |x| {
            assert_eq!(x.role_of(&ids[2].member_id()), Some(Role::Admin));
        });
    }
}

/// A second, concurrent transfer (to a puppet that would hand ownership
/// back) never gives the old owner ownership again, whichever hash is lower.
#[test]
fn old_owner_cannot_regain_ownership_with_concurrent_transfer() {
    for below in [true, false] {
        let (ids, mut r) = setup();
        let parents = r.heads();
        let transfer = r
            .transfer_ownership(&ids[0], ids[1].member_id(), NOW)
            .unwrap();
        let puppet = ids[2].member_id();
        let kind = OpKind::TransferOwnership { to: puppet };
        let forged = ground(&r, &ids[0], parents, kind, transfer.hash(), below);
        let rebuilt = deliver(&mut r, forged);
        check_both(&r, &rebuilt, |x| {
            assert_eq!(x.role_of(&ids[0].member_id()), Some(Role::Admin));
            assert_ne!(x.role_of(&puppet), Some(Role::Owner));
        });
    }
}

/// The sync or join answer of a member: the ops in order, each encoded and
/// decoded as on the wire.
fn over_the_wire(ops: impl Iterator<Item = SignedOp>) -> Vec<SignedOp> {
    ops.map(|o| {
        let bytes = o.encode().unwrap();
        assert!(bytes.len() <= MAX_OP_BYTES, "op of {} bytes", bytes.len());
        SignedOp::decode(&bytes).unwrap()
    })
    .collect()
}

/// 40 concurrent `Leave`s by one member (about 27 parents already make an op
/// too large for peers): later ops still fit and the state still loads.
#[test]
fn concurrent_leave_flood_does_not_freeze_roster() {
    let mut rng = TestRng(7);
    let ids: Vec<Identity> = (1..=3).map(ident).collect();
    let (mut owner, _) = GroupSession::create(ids[0].clone(), "g", NOW, &mut rng).unwrap();
    owner
        .add_member(ids[1].member_id(), Role::Member, None, NOW)
        .unwrap();
    let parents = owner.roster().heads();
    for t in 0..40 {
        let leave = Op {
            group: owner.group_id(),
            parents: parents.clone(),
            author: ids[1].member_id(),
            at_ms: NOW + t,
            kind: OpKind::Leave,
        }
        .sign(&ids[1])
        .unwrap();
        owner.apply_op(leave).unwrap();
    }
    assert!(!owner.roster().is_member(&ids[1].member_id()));
    let add = owner
        .add_member(ids[2].member_id(), Role::Member, None, NOW)
        .unwrap();
    let peer_ops = over_the_wire(owner.roster().ops().cloned());
    let peer = Roster::from_ops(peer_ops).unwrap();
    assert!(peer.knows(&add.hash()));
    assert!(peer.is_member(&ids[2].member_id()));
    let saved = owner.export_state().unwrap();
    let restored = GroupSession::import_state(&saved).unwrap();
    assert_eq!(restored.roster().head_hash(), owner.roster().head_hash());
}

fn members(r: &Roster) -> Vec<(MemberId, Role)> {
    r.members().collect()
}

/// Every honest member converges whatever order the flood arrives in.
#[test]
fn concurrent_flood_converges_in_any_order() {
    let (ids, mut r) = setup();
    let parents = r.heads();
    let mut flood = Vec::new();
    for t in 0..30 {
        flood.push(
            Op {
                group: r.group_id(),
                parents: parents.clone(),
                author: ids[3].member_id(),
                at_ms: NOW + t,
                kind: OpKind::Leave,
            }
            .sign(&ids[3])
            .unwrap(),
        );
    }
    let base: Vec<SignedOp> = r.ops().cloned().collect();
    for op in flood.iter().take(15) {
        r.apply(op.clone()).unwrap();
    }
    r.add(&ids[0], ident(60).member_id(), Role::Member, None, NOW)
        .unwrap();
    for op in flood.iter().skip(15) {
        r.apply(op.clone()).unwrap();
    }
    let mut all: Vec<SignedOp> = r.ops().cloned().collect();
    all.reverse();
    let other = Roster::from_ops(all).unwrap();
    assert_eq!(other.head_hash(), r.head_hash());
    assert_eq!(members(&other), members(&r));
    assert!(r.is_member(&ident(60).member_id()));
    assert!(!r.is_member(&ids[3].member_id()));
    assert!(base.iter().all(|o| r.knows(&o.hash())));
}

/// Two admins each redeem the last use of an invite concurrently: after
/// the merge only one of the two newcomers is in, on every replica.
#[test]
fn invite_max_uses_enforced_under_merge() {
    let mut rng = TestRng(9);
    let (ids, base) = setup();
    let ops: Vec<SignedOp> = base.ops().cloned().collect();
    let mut a = Roster::from_ops(ops.clone()).unwrap();
    let mut b = Roster::from_ops(ops).unwrap();
    let invite =
        aura_crypto::Invite::create(&a, &ids[1], NOW + 60_000, 1, vec![], &mut rng).unwrap();
    let (x, y) = (ident(70).member_id(), ident(71).member_id());
    a.check_invite(&invite, NOW).unwrap();
    b.check_invite(&invite, NOW).unwrap();
    let op_a = a
        .add(&ids[1], x, Role::Member, Some(invite.redemption()), NOW)
        .unwrap();
    let op_b = b
        .add(&ids[2], y, Role::Member, Some(invite.redemption()), NOW)
        .unwrap();
    a.apply(op_b).unwrap();
    b.apply(op_a).unwrap();
    for r in [&a, &b] {
        assert_eq!(r.invite_uses(&invite.body.invite_id), 1);
        assert_eq!(u8::from(r.is_member(&x)) + u8::from(r.is_member(&y)), 1);
    }
    assert_eq!(members(&a), members(&b));
}

/// An answer repeats an op we hold with a forged signature, and brings a
/// new op with a forged one: the known op is skipped without a signature
/// check (it changes nothing), the new one is refused.
#[test]
fn forged_signatures_on_known_and_new_ops_in_an_answer() {
    let (ids, r) = setup();
    let known = r.ops().last().unwrap().clone();
    let mut forged_known = known.clone();
    forged_known.signature = ed25519_dalek::Signature::from_bytes(&[7u8; 64]);
    let bytes = forged_known.encode().unwrap();
    let skipped = SignedOp::decode_unless_known(&bytes, |h| r.knows(h)).unwrap();
    assert!(skipped.is_none());
    assert!(SignedOp::decode(&bytes).is_err(), "the forgery verifies");

    let mut r2 = r.clone();
    let mut new_op = r2
        .add(&ids[0], ident(9).member_id(), Role::Member, None, NOW)
        .unwrap();
    new_op.signature = ed25519_dalek::Signature::from_bytes(&[7u8; 64]);
    let bytes = new_op.encode().unwrap();
    let r = SignedOp::decode_unless_known(&bytes, |h| r.knows(h));
    assert!(
        r.is_err(),
        "a new op with a forged signature was taken: {r:?}"
    );
}
