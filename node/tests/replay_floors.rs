//! Replay floors in the node store: flushed on every write, read back after
//! reopening, and what one write costs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use aura_crypto::{MemberId, ReplayFloor};
use aura_node::store::Store;

#[test]
fn replay_floors_are_durable_and_cheap_enough() {
    let dir = tempfile::tempdir().unwrap();
    let gid = [7u8; 32];
    // A 20-member group, two epochs each.
    let floors: Vec<ReplayFloor> = (0..40u32)
        .map(|i| ReplayFloor {
            member: MemberId([i as u8 / 2; 32]),
            epoch: (i % 2) as u16,
            floor: 256 * (i + 1),
        })
        .collect();
    {
        let store = Store::open(dir.path()).unwrap();
        assert!(store.replay_floors(&gid).unwrap().is_empty());
        let n = 50;
        let t = Instant::now();
        for _ in 0..n {
            store.put_replay_floors(&gid, &floors).unwrap();
        }
        // One write per 256 counters of a sender: ~5 s of one talker's voice.
        eprintln!(
            "replay floors: {:.2} ms per durable write (40 floors)",
            t.elapsed().as_secs_f64() * 1e3 / f64::from(n)
        );
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.replay_floors(&gid).unwrap(), floors);
    store.delete_group(&gid).unwrap();
    assert!(store.replay_floors(&gid).unwrap().is_empty());
}
