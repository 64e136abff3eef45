//! Roster rules and concurrent merges with named scenarios.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_crypto::{Identity, OpKind, Role, Roster, RosterError, SignedOp};
use common::{ident, NOW};

/// Owner (1) with admins (2) and (3), as three replicas in sync.
fn three() -> (Vec<Identity>, Vec<Roster>) {
    let ids: Vec<Identity> = (1..=3).map(ident).collect();
    let (mut r, create) = Roster::create(&ids[0], "trip", NOW).unwrap();
    let mut ops = vec![create];
    for i in &ids[1..] {
        ops.push(
            r.add(&ids[0], i.member_id(), Role::Admin, None, NOW)
                .unwrap(),
        );
    }
    let reps = (0..3)
        .map(|_| Roster::from_ops(ops.clone()).unwrap())
        .collect();
    (ids, reps)
}

fn sync(a: &mut Roster, b: &mut Roster) {
    for op in a.ops_missing_from(&b.heads()) {
        b.apply(op).unwrap();
    }
    for op in b.ops_missing_from(&a.heads()) {
        a.apply(op).unwrap();
    }
}

fn sync_idx(reps: &mut [Roster], i: usize, j: usize) {
    let (lo, hi) = (i.min(j), i.max(j));
    let (left, right) = reps.split_at_mut(hi);
    sync(&mut left[lo], &mut right[0]);
}

fn members(r: &Roster) -> Vec<(aura_crypto::MemberId, Role)> {
    r.members().collect()
}

#[test]
fn roles_and_rules() {
    let (ids, mut reps) = three();
    let r = &mut reps[0];
    let m = ident(9);
    r.add(&ids[1], m.member_id(), Role::Member, None, NOW)
        .unwrap();
    assert_eq!(r.role_of(&m.member_id()), Some(Role::Member));
    // Adding twice conflicts; nobody is added as owner.
    assert!(matches!(
        r.add(&ids[1], m.member_id(), Role::Member, None, NOW),
        Err(RosterError::Conflict(_))
    ));
    assert!(matches!(
        r.add(&ids[0], ident(10).member_id(), Role::Owner, None, NOW),
        Err(RosterError::Unauthorised(_))
    ));
    // The owner cannot leave before transferring; then it can.
    assert!(matches!(
        r.leave(&ids[0], NOW),
        Err(RosterError::Unauthorised(_))
    ));
    r.transfer_ownership(&ids[0], ids[2].member_id(), NOW)
        .unwrap();
    assert_eq!(r.role_of(&ids[2].member_id()), Some(Role::Owner));
    assert_eq!(r.role_of(&ids[0].member_id()), Some(Role::Admin));
    r.leave(&ids[0], NOW).unwrap();
    assert!(!r.is_member(&ids[0].member_id()));
    // A member leaves by itself.
    r.leave(&m, NOW).unwrap();
    assert_eq!(r.len(), 2);
    // Every op names parents and reloads identically.
    let reloaded = Roster::from_ops(r.ops().cloned().collect()).unwrap();
    assert_eq!(reloaded.head_hash(), r.head_hash());
    assert_eq!(members(&reloaded), members(r));
}

#[test]
fn concurrent_adds_by_two_admins_merge() {
    let (ids, mut reps) = three();
    let (x, y) = (ident(20).member_id(), ident(21).member_id());
    reps[1].add(&ids[1], x, Role::Member, None, NOW).unwrap();
    reps[2].add(&ids[2], y, Role::Member, None, NOW).unwrap();
    assert_ne!(reps[1].short_head(), reps[2].short_head());
    sync_idx(&mut reps, 1, 2);
    sync_idx(&mut reps, 0, 2);
    sync_idx(&mut reps, 0, 1);
    for r in &reps {
        assert!(r.is_member(&x) && r.is_member(&y));
        assert_eq!(r.heads().len(), 2, "two concurrent heads");
        assert_eq!(r.short_head(), reps[0].short_head());
    }
    // The next op merges the heads.
    reps[0]
        .add(&ids[0], ident(22).member_id(), Role::Member, None, NOW)
        .unwrap();
    assert_eq!(reps[0].heads().len(), 1);
}

#[test]
fn demotion_concurrent_with_add_converges() {
    // The owner demotes admin 2 while admin 2 adds X. Admin 2's add was valid
    // when made; whether it survives depends only on the deterministic order,
    // so every replica agrees.
    for round in 0..6u8 {
        let (ids, mut reps) = three();
        let x = ident(30 + round).member_id();
        let demote = reps[0]
            .set_role(
                &ids[0],
                ids[1].member_id(),
                Role::Member,
                NOW + u64::from(round),
            )
            .unwrap();
        let add = reps[1].add(&ids[1], x, Role::Member, None, NOW).unwrap();
        // Deliver in opposite orders to the third replica and a fresh one.
        reps[2].apply(add.clone()).unwrap();
        reps[2].apply(demote.clone()).unwrap();
        let mut fresh = Roster::from_ops(vec![
            demote.clone(),
            add.clone(),
            reps[0].ops().next().cloned().unwrap(),
            reps[0].ops().nth(1).cloned().unwrap(),
            reps[0].ops().nth(2).cloned().unwrap(),
        ])
        .unwrap();
        sync_idx(&mut reps, 0, 1);
        for r in reps.iter().chain(std::iter::once(&fresh)) {
            assert_eq!(r.head_hash(), reps[0].head_hash());
            assert_eq!(members(r), members(&reps[0]));
            assert_eq!(r.role_of(&ids[1].member_id()), Some(Role::Member));
            assert_eq!(r.is_member(&x), !r.is_skipped(&add.hash()));
        }
        // Demoted admin 2 can no longer add anyone on top of the merge.
        let late = reps[2].add(&ids[1], ident(99).member_id(), Role::Member, None, NOW);
        assert!(matches!(late, Err(RosterError::Unauthorised(_))));
        fresh.apply(demote).unwrap();
    }
}

#[test]
fn concurrent_removals_of_same_member_converge() {
    let (ids, mut reps) = three();
    let m = ident(40).member_id();
    let add = reps[0].add(&ids[0], m, Role::Member, None, NOW).unwrap();
    for r in &mut reps[1..] {
        r.apply(add.clone()).unwrap();
    }
    let r1 = reps[1].remove(&ids[1], m, NOW).unwrap();
    let r2 = reps[2].remove(&ids[2], m, NOW).unwrap();
    for r in &mut reps {
        let _ = r.apply(r1.clone());
        let _ = r.apply(r2.clone());
        assert!(!r.is_member(&m));
    }
    assert_eq!(reps[0].head_hash(), reps[1].head_hash());
    assert_eq!(reps[1].head_hash(), reps[2].head_hash());
    // Exactly one of the two removals took effect; the other is kept but skipped.
    assert!(reps[0].is_skipped(&r1.hash()) ^ reps[0].is_skipped(&r2.hash()));
}

#[test]
fn missing_parents_reported_then_applied() {
    let (ids, mut reps) = three();
    let a = reps[0]
        .add(&ids[0], ident(50).member_id(), Role::Member, None, NOW)
        .unwrap();
    let b = reps[0]
        .add(&ids[0], ident(51).member_id(), Role::Member, None, NOW)
        .unwrap();
    match reps[1].apply(b.clone()) {
        Err(RosterError::MissingParents(p)) => assert_eq!(p, vec![a.hash()]),
        other => panic!("expected MissingParents, got {other:?}"),
    }
    reps[1].apply(a).unwrap();
    reps[1].apply(b).unwrap();
    assert_eq!(reps[1].head_hash(), reps[0].head_hash());
}

#[test]
fn ops_from_another_group_or_malformed_refused() {
    let (ids, mut reps) = three();
    let (mut other, _) = Roster::create(&ids[0], "other", NOW).unwrap();
    let foreign = other
        .add(&ids[0], ident(60).member_id(), Role::Member, None, NOW)
        .unwrap();
    assert_eq!(reps[0].apply(foreign), Err(RosterError::WrongGroup));
    // Oversized or garbage encodings.
    assert_eq!(SignedOp::decode(&[0u8; 2000]), Err(RosterError::TooLarge));
    assert_eq!(SignedOp::decode(&[1, 2, 3]), Err(RosterError::Decode));
    // Unsorted parents are malformed.
    let mut op = aura_crypto::Op {
        group: reps[0].group_id(),
        parents: vec![],
        author: ids[0].member_id(),
        at_ms: NOW,
        kind: OpKind::Leave,
    };
    let h = reps[0].heads()[0];
    op.parents = vec![h, h];
    let signed = op.clone().sign(&ids[0]).unwrap();
    assert!(matches!(
        SignedOp::decode(&signed.encode().unwrap()),
        Err(RosterError::Malformed(_))
    ));
}

#[test]
fn weak_member_key_refused() {
    let (ids, mut reps) = three();
    // The identity point (small order) is a valid encoding but a weak key.
    let mut weak = [0u8; 32];
    weak[0] = 1;
    let r = reps[0].add(
        &ids[0],
        aura_crypto::MemberId(weak),
        Role::Member,
        None,
        NOW,
    );
    assert!(matches!(r, Err(RosterError::Malformed(_))));
}
