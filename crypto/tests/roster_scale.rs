//! A 10,000-op history with a flood of concurrent ops: the merge stays fast
//! and a join fits the RPC limit in chunks.
//!
//! `cargo test -p aura-crypto --test integration roster_scale:: -- --nocapture` prints the
//! figures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::{Duration, Instant};

use aura_crypto::{Identity, Op, OpKind, Role, Roster, SignedOp};
use common::{ident, NOW};

/// The node's RPC answer limit (`aura_node::wire::MAX_RPC_BYTES`).
const MAX_RPC_BYTES: usize = 1024 * 1024;
/// What a welcome may spend on ops (the node's `WELCOME_OPS_BYTES`).
const WELCOME_OPS_BYTES: usize = 768 * 1024;
const _: () = assert!(WELCOME_OPS_BYTES < MAX_RPC_BYTES);
/// A generous bound for a debug build on a shared 2-core machine (release
/// is about ten times faster).
const MERGE_BOUND: Duration = Duration::from_secs(5);

fn identity(i: u32) -> Identity {
    let mut seed = [7u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    Identity::from_secret_bytes(&seed)
}

/// 6,000 linear ops (adds and removes), then a removed admin's 2,000
/// back-dated adds and a member's 2,000 concurrent leaves: 10,000 ops.
fn history() -> (Roster, Vec<SignedOp>) {
    let owner = ident(1);
    let admin = ident(2);
    let flooder = ident(3);
    let (mut r, create) = Roster::create(&owner, "big", NOW).unwrap();
    let mut ops = vec![create];
    ops.push(
        r.add(&owner, admin.member_id(), Role::Admin, None, NOW)
            .unwrap(),
    );
    ops.push(
        r.add(&owner, flooder.member_id(), Role::Member, None, NOW)
            .unwrap(),
    );
    let mut i = 100;
    while ops.len() < 6_000 {
        let m = identity(i).member_id();
        ops.push(r.add(&admin, m, Role::Member, None, NOW).unwrap());
        if i % 3 != 0 {
            ops.push(r.remove(&admin, m, NOW).unwrap());
        }
        i += 1;
    }
    let old = r.heads();
    ops.push(r.remove(&owner, admin.member_id(), NOW).unwrap());
    let mut flood = Vec::new();
    for t in 0..2_000u32 {
        let add = OpKind::Add {
            member: identity(1_000_000 + t).member_id(),
            role: Role::Member,
            invite: None,
        };
        flood.push(sign(&r, &admin, old.clone(), add, t));
        flood.push(sign(&r, &flooder, old.clone(), OpKind::Leave, t));
    }
    ops.extend(flood.iter().cloned());
    ops.truncate(10_000);
    (r, ops)
}

fn sign(
    r: &Roster,
    who: &Identity,
    parents: Vec<aura_crypto::OpHash>,
    kind: OpKind,
    t: u32,
) -> SignedOp {
    Op {
        group: r.group_id(),
        parents,
        author: who.member_id(),
        at_ms: NOW + u64::from(t),
        kind,
    }
    .sign(who)
    .unwrap()
}

#[test]
fn ten_thousand_op_history_merges_fast_and_joins_within_rpc_limit() {
    let (_, ops) = history();
    assert_eq!(ops.len(), 10_000);

    let start = Instant::now();
    let full = Roster::from_ops(ops.clone()).unwrap();
    let load = start.elapsed();
    assert_eq!(full.op_count(), 10_000);
    assert!(!full.is_member(&ident(2).member_id()), "removed admin");
    assert!(!full.is_member(&ident(3).member_id()), "flooder left");
    assert!(
        !full.is_member(&identity(1_000_000).member_id()),
        "back-dated add"
    );

    // One more concurrent op: a full merge.
    let mut r = full.clone();
    let start = Instant::now();
    r.apply(sign(
        &full,
        &ident(3),
        full.ops().nth(5).map(|o| vec![o.hash()]).unwrap(),
        OpKind::Leave,
        9_999,
    ))
    .unwrap();
    let merge = start.elapsed();

    // A join: chunks of the log, each within the RPC limit, applied in batches.
    let mut chunks = 0;
    let mut biggest = 0;
    let mut joiner: Option<Roster> = None;
    loop {
        let heads = joiner.as_ref().map(|j| j.heads()).unwrap_or_default();
        let (chunk, complete) = full.ops_missing_within(&heads, WELCOME_OPS_BYTES);
        let wire: Vec<Vec<u8>> = chunk.iter().map(|o| o.encode().unwrap()).collect();
        let size = postcard::to_allocvec(&wire).unwrap().len();
        biggest = biggest.max(size);
        assert!(size <= WELCOME_OPS_BYTES, "chunk of {size} bytes");
        chunks += 1;
        let decoded: Vec<SignedOp> = wire.iter().map(|b| SignedOp::decode(b).unwrap()).collect();
        match joiner.as_mut() {
            None => joiner = Some(Roster::from_ops(decoded).unwrap()),
            Some(j) => {
                let out = j.apply_batch(decoded);
                assert_eq!(out.missing_parents + out.refused, 0);
            }
        }
        if complete {
            break;
        }
        assert!(chunks < 10);
    }
    let joiner = joiner.unwrap();
    assert_eq!(joiner.head_hash(), full.head_hash());
    assert_eq!(
        joiner.members().collect::<Vec<_>>(),
        full.members().collect::<Vec<_>>()
    );
    let total: usize = ops.iter().map(|o| o.encode().unwrap().len()).sum();
    println!(
        "10,000 ops ({total} bytes encoded): load+merge {load:?}, one concurrent op {merge:?}, \
         join in {chunks} chunks, biggest {biggest} bytes"
    );
    assert!(load < MERGE_BOUND, "load took {load:?}");
    assert!(merge < MERGE_BOUND, "merge took {merge:?}");
}
