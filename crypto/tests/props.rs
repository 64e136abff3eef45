//! Property tests: roundtrip, bit flips, replay, reordering, roster merge.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_crypto::{
    FrameKind, GroupSession, Identity, KeyEnvelope, OpenError, Role, Roster, RosterError, SignedOp,
    ENVELOPE_LEN,
};
use common::{group, ident, TestRng, NOW};
use proptest::prelude::*;
use rand_core::RngCore;

fn kind_strategy() -> impl Strategy<Value = FrameKind> {
    prop_oneof![
        Just(FrameKind::Voice),
        Just(FrameKind::Chat),
        Just(FrameKind::Location),
        Just(FrameKind::Control),
    ]
}

fn seal(s: &mut GroupSession, kind: FrameKind, payload: &[u8]) -> Vec<u8> {
    match kind {
        FrameKind::Voice => s.seal_voice(payload, NOW).unwrap().frame,
        k => s.seal(k, payload, NOW).unwrap(),
    }
}

/// `n` voice frames with the batch signatures the sender emits among them.
fn voice_stream(s: &mut GroupSession, n: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0..n {
        let sv = s.seal_voice(&(i as u32).to_be_bytes(), NOW).unwrap();
        out.push(sv.frame);
        out.extend(sv.sig_frame);
    }
    out.extend(s.flush_voice_sig().unwrap());
    out
}

fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut rng = TestRng(seed);
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn seal_open_roundtrip(kind in kind_strategy(), payload in proptest::collection::vec(any::<u8>(), 0..1200), seed in any::<u64>()) {
        let mut g = group(2, &mut TestRng(seed));
        let f = seal(&mut g[0], kind, &payload);
        let o = g[1].open(&f, NOW).unwrap();
        prop_assert_eq!(o.payload, payload);
        prop_assert_eq!(o.kind, kind);
        prop_assert_eq!(o.sender, g[0].member_id());
    }

    #[test]
    fn any_bit_flip_in_frame_rejected(kind in kind_strategy(), payload in proptest::collection::vec(any::<u8>(), 0..200), bit in any::<usize>(), seed in any::<u64>()) {
        let mut g = group(2, &mut TestRng(seed));
        let mut f = seal(&mut g[0], kind, &payload);
        let bit = bit % (f.len() * 8);
        f[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(g[1].open(&f, NOW).is_err(), "flip of bit {} accepted", bit);
    }

    #[test]
    fn any_bit_flip_in_envelope_rejected(bit in 0..ENVELOPE_LEN * 8, seed in any::<u64>()) {
        let mut rng = TestRng(seed);
        let mut g = group(2, &mut rng);
        let bob = g[1].member_id();
        let mut b = g[0].envelope_for(bob, &mut rng).unwrap().encode();
        b[bit / 8] ^= 1 << (bit % 8);
        let accepted = KeyEnvelope::decode(&b).map(|e| g[1].accept_envelope(&e));
        prop_assert!(!matches!(accepted, Ok(Ok(_))), "flip of bit {} accepted", bit);
    }

    #[test]
    fn replays_rejected(n in 1usize..200, dups in proptest::collection::vec(any::<prop::sample::Index>(), 1..50), seed in any::<u64>()) {
        let mut g = group(2, &mut TestRng(seed));
        let frames = voice_stream(&mut g[0], n);
        for f in &frames {
            g[1].open(f, NOW).unwrap();
        }
        for d in dups {
            let f = &frames[d.index(frames.len())];
            prop_assert_eq!(g[1].open(f, NOW), Err(OpenError::Replay));
        }
    }

    #[test]
    fn reordering_inside_window_accepted(n in 2usize..400, max_shift in 1usize..900, seed in any::<u64>()) {
        let mut g = group(2, &mut TestRng(seed));
        let frames: Vec<Vec<u8>> = (0..n).map(|i| seal(&mut g[0], FrameKind::Chat, &(i as u32).to_be_bytes())).collect();
        // Each frame is delayed by up to `max_shift` positions (< window).
        let mut rng = TestRng(seed ^ 0xabc);
        let mut keyed: Vec<(usize, usize)> = (0..n).map(|i| (i + (rng.next_u64() as usize % (max_shift + 1)), i)).collect();
        keyed.sort();
        for (_, i) in keyed {
            let o = g[1].open(&frames[i], NOW).unwrap();
            prop_assert_eq!(o.payload, (i as u32).to_be_bytes().to_vec());
        }
    }

    #[test]
    fn voice_reordering_accepted(n in 2usize..400, max_shift in 1usize..40, seed in any::<u64>()) {
        // Voice with its batch signatures, reordered by up to 40 frames (0.8 s).
        let mut g = group(2, &mut TestRng(seed));
        let frames = voice_stream(&mut g[0], n);
        let mut rng = TestRng(seed ^ 0xabc);
        let mut keyed: Vec<(usize, usize)> = (0..frames.len()).map(|i| (i + (rng.next_u64() as usize % (max_shift + 1)), i)).collect();
        keyed.sort();
        for (_, i) in keyed {
            g[1].open(&frames[i], NOW).unwrap();
        }
    }

    #[test]
    fn roster_merge_order_independent(actions in proptest::collection::vec((0usize..3, 0u8..6, 0usize..8, 0usize..5), 1..30), seeds in proptest::collection::vec(any::<u64>(), 3)) {
        let ops = concurrent_history(&actions);
        let reference = Roster::from_ops(ops.clone()).unwrap();
        for seed in seeds {
            let mut shuffled = ops.clone();
            shuffle(&mut shuffled, seed);
            // Whole-log load in any order.
            let r = Roster::from_ops(shuffled.clone()).unwrap();
            prop_assert_eq!(r.head_hash(), reference.head_hash());
            prop_assert_eq!(r.members().collect::<Vec<_>>(), reference.members().collect::<Vec<_>>());
            // Incremental delivery with a buffer for ops whose parents are missing.
            let create = shuffled.iter().position(|o| o.op.parents.is_empty()).unwrap();
            let first = shuffled.remove(create);
            let mut inc = Roster::from_ops(vec![first]).unwrap();
            let mut pending = shuffled;
            while !pending.is_empty() {
                let before = pending.len();
                pending.retain(|op| matches!(inc.apply(op.clone()), Err(RosterError::MissingParents(_))));
                prop_assert!(pending.len() < before, "no progress");
            }
            prop_assert_eq!(inc.head_hash(), reference.head_hash());
            prop_assert_eq!(inc.members().collect::<Vec<_>>(), reference.members().collect::<Vec<_>>());
        }
    }
}

/// Three replicas (owner + two admins) make ops concurrently and sync now and
/// then; returns every op made.
fn concurrent_history(actions: &[(usize, u8, usize, usize)]) -> Vec<SignedOp> {
    let actors: Vec<Identity> = (1..=3).map(ident).collect();
    let cands: Vec<Identity> = (10..18).map(ident).collect();
    let (mut r0, create) = Roster::create(&actors[0], "merge", NOW).unwrap();
    let mut all = vec![create];
    for a in &actors[1..] {
        all.push(
            r0.add(&actors[0], a.member_id(), Role::Admin, None, NOW)
                .unwrap(),
        );
    }
    let mut reps: Vec<Roster> = (0..3)
        .map(|_| Roster::from_ops(all.clone()).unwrap())
        .collect();
    for (t, &(who, what, target, sync)) in actions.iter().enumerate() {
        let me = &actors[who];
        let c = cands[target].member_id();
        let peer = actors[target % 3].member_id();
        let now = NOW + t as u64;
        let r = &mut reps[who];
        let res = match what {
            0 => r.add(me, c, Role::Member, None, now),
            1 => r.remove(me, c, now),
            2 => r.set_role(me, peer, Role::Member, now),
            3 => r.set_role(me, peer, Role::Admin, now),
            4 => r.remove(me, peer, now),
            _ => r.add(me, c, Role::Admin, None, now),
        };
        if let Ok(op) = res {
            all.push(op);
        }
        if sync < 3 && sync != who {
            let (a, b) = (who.min(sync), who.max(sync));
            let (left, right) = reps.split_at_mut(b);
            let (ra, rb) = (&mut left[a], &mut right[0]);
            for op in ra.ops_missing_from(&rb.heads()) {
                let _ = rb.apply(op);
            }
            for op in rb.ops_missing_from(&ra.heads()) {
                let _ = ra.apply(op);
            }
        }
    }
    all
}
