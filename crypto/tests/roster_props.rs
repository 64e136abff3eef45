//! Property: honest members making concurrent ops (adds, removals, role
//! changes, transfers, leaves, invite redemptions) and syncing in random
//! pairs, in chunks or one op at a time, converge to one state, equal to a
//! rebuild from all ops in any order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_crypto::{Identity, InviteUse, Role, Roster, SignedOp};
use common::{ident, NOW};
use proptest::prelude::*;

const REPLICAS: usize = 4;

fn sync(a: &mut Roster, b: &mut Roster, chunk: usize) {
    for _ in 0..100 {
        let (ops, complete) = a.ops_missing_within(&b.heads(), chunk);
        if chunk % 2 == 0 {
            b.apply_batch(ops);
        } else {
            for op in ops {
                let _ = b.apply(op);
            }
        }
        if complete {
            break;
        }
    }
}

fn sync_pair(reps: &mut [Roster], i: usize, j: usize, chunk: usize) {
    let (lo, hi) = (i.min(j), i.max(j));
    let (left, right) = reps.split_at_mut(hi);
    sync(&mut left[lo], &mut right[0], chunk);
    sync(&mut right[0], &mut left[lo], chunk);
}

fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn honest_concurrent_ops_converge(
        actions in prop::collection::vec((0..REPLICAS, 0u8..8, 0usize..6, 0..REPLICAS + 2, 300usize..4000), 1..40),
        seed in any::<u64>(),
    ) {
        // Replica i acts as ident(i + 1): owner, two admins, a member.
        let actors: Vec<Identity> = (1..=REPLICAS as u8).map(ident).collect();
        let cands: Vec<Identity> = (20..26).map(ident).collect();
        let (mut r0, _) = Roster::create(&actors[0], "p", NOW).unwrap();
        for (i, a) in actors.iter().enumerate().skip(1) {
            let role = if i < 3 { Role::Admin } else { Role::Member };
            r0.add(&actors[0], a.member_id(), role, None, NOW).unwrap();
        }
        let start: Vec<SignedOp> = r0.ops().cloned().collect();
        let mut reps: Vec<Roster> = (0..REPLICAS).map(|_| Roster::from_ops(start.clone()).unwrap()).collect();
        let invite = InviteUse { id: [5; 16], max_uses: 2 };
        for (t, &(who, what, target, peer, chunk)) in actions.iter().enumerate() {
            let me = &actors[who];
            let c = cands[target].member_id();
            let other = actors[target % REPLICAS].member_id();
            let now = NOW + t as u64;
            let r = &mut reps[who];
            // Honest: each op is proposed against the replica's own state
            // and refused locally when not allowed.
            let _ = match what {
                0 => r.add(me, c, Role::Member, None, now),
                1 => r.add(me, c, Role::Member, Some(invite), now),
                2 => r.remove(me, c, now),
                3 => r.remove(me, other, now),
                4 => r.set_role(me, other, Role::Member, now),
                5 => r.set_role(me, other, Role::Admin, now),
                6 => r.transfer_ownership(me, other, now),
                _ => r.leave(me, now),
            };
            if peer < REPLICAS && peer != who {
                sync_pair(&mut reps, who, peer, chunk);
            }
        }
        // Everyone syncs with everyone.
        for _ in 0..2 {
            for i in 0..REPLICAS {
                for j in 0..REPLICAS {
                    if i != j {
                        sync_pair(&mut reps, i, j, 1 << 20);
                    }
                }
            }
        }
        let first = &reps[0];
        for r in &reps[1..] {
            prop_assert_eq!(r.head_hash(), first.head_hash());
            prop_assert_eq!(r.members().collect::<Vec<_>>(), first.members().collect::<Vec<_>>());
        }
        let mut all: Vec<SignedOp> = first.ops().cloned().collect();
        shuffle(&mut all, seed);
        let rebuilt = Roster::from_ops(all).unwrap();
        prop_assert_eq!(rebuilt.head_hash(), first.head_hash());
        prop_assert_eq!(rebuilt.members().collect::<Vec<_>>(), first.members().collect::<Vec<_>>());
        let owners = first.members().filter(|(_, r)| *r == Role::Owner).count();
        prop_assert!(owners <= 1);
        prop_assert!(first.invite_uses(&invite.id) <= invite.max_uses);
    }
}
