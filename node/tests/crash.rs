//! Crash proof for the store: SIGKILL the real `aura` binary while it writes
//! (`aura debug store-stress`: location batches, chat, group records and a
//! cross-tree transaction per round), reopen the store with the library API,
//! and check that every record decodes and every invariant holds. Repeated,
//! each run resuming from what the last one left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use aura_node::store::Store;

/// Must match `stress.rs` in the binary.
const GROUP: [u8; 32] = [0xA5; 32];
const MEMBERS: usize = 8;

fn be(v: &[u8]) -> u64 {
    u64::from_be_bytes(v.try_into().expect("8-byte key"))
}

/// Checks the store and returns the last complete round (the counter).
fn check(store_dir: &Path) -> Option<u64> {
    let store = Store::open(store_dir).expect("store reopens after SIGKILL");
    // Cross-tree transaction: both trees hold the same contiguous keys, and
    // the counter is the largest of them.
    let a = store.raw_tree("stress_a").unwrap();
    let b = store.raw_tree("stress_b").unwrap();
    let counter = a.get("counter").unwrap().map(|v| be(&v));
    let keys = |t: &sled::Tree| -> Vec<u64> {
        t.iter()
            .map(|kv| kv.unwrap().0)
            .filter(|k| k.as_ref() != b"counter")
            .map(|k| be(&k))
            .collect()
    };
    let (ka, kb) = (keys(&a), keys(&b));
    assert_eq!(ka, kb, "a transaction was torn across trees");
    assert!(
        ka.iter().copied().eq(0..ka.len() as u64),
        "hole in transaction keys"
    );
    assert_eq!(
        counter,
        ka.last().copied(),
        "counter differs from the last key"
    );

    // Location batches: all members of a round or none, rounds contiguous.
    let mut rounds: BTreeMap<u64, BTreeSet<u8>> = BTreeMap::new();
    for (member, fix) in store.locations(&GROUP).expect("every location decodes") {
        assert!(
            member.iter().all(|&x| x == member[0]),
            "member key mixed up"
        );
        let want = aura_node::location::Position::new(45.9, 6.8)
            .unwrap()
            .offset_m(fix.at_ms as f64, f64::from(member[0]));
        assert!(
            fix.pos.distance_m(&want) < 0.01,
            "fix does not match its key"
        );
        rounds.entry(fix.at_ms).or_default().insert(member[0]);
    }
    for (r, members) in &rounds {
        assert_eq!(
            members.len(),
            MEMBERS,
            "location batch of round {r} is torn"
        );
    }
    let loc_max = rounds.keys().last().copied();
    assert!(
        rounds.keys().copied().eq(0..rounds.len() as u64),
        "hole in location rounds"
    );

    // Chat: every record decodes, rounds never go back or skip (a round cut
    // before its counter is written is redone, so a repeat is allowed).
    let chat = store.chat(&GROUP).expect("every chat record decodes");
    let mut prev: Option<u64> = None;
    for c in &chat {
        assert_eq!(c.text, format!("round {}", c.at_ms), "chat record mixed up");
        if let Some(p) = prev {
            assert!(
                c.at_ms == p || c.at_ms == p + 1,
                "chat skipped from {p} to {}",
                c.at_ms
            );
        } else {
            assert_eq!(c.at_ms, 0);
        }
        prev = Some(c.at_ms);
    }

    // Group record: decodes and is from one round (not half of two).
    let group = store.group(&GROUP).expect("the group record decodes");
    let group_round = group.map(|g| {
        let r = be(&g.session[..8]);
        assert!(g.session.chunks(8).all(|c| be(c) == r), "group record torn");
        assert_eq!(g.fences[0].name, format!("fence {r}"));
        r
    });

    // Writes within a round go locations, chat, group, transaction; what
    // survives is a prefix, so each earlier write is at the counter or one
    // round ahead.
    if let Some(c) = counter {
        for (what, v) in [
            ("locations", loc_max),
            ("chat", prev),
            ("group", group_round),
        ] {
            let v = v.unwrap_or_else(|| panic!("{what} missing below counter {c}"));
            assert!(v == c || v == c + 1, "{what} at round {v}, counter {c}");
        }
    }
    counter
}

#[test]
fn sigkill_while_writing_leaves_a_readable_consistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let started = Instant::now();
    let mut last: Option<u64> = None;
    for run in 0..4u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_aura"))
            .args(["debug", "store-stress", "--data-dir"])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let start_line = lines.next().unwrap().unwrap();
        let resumed: u64 = start_line.strip_prefix("start ").unwrap().parse().unwrap();
        assert_eq!(
            Some(resumed),
            last.map(|c| c + 1).or(Some(0)),
            "did not resume after the counter"
        );
        // Wait until it has made a few rounds durable, then kill it mid-write
        // at a different point each run.
        let mut durable = 0;
        for _ in 0..(2 + run) {
            let l = lines.next().unwrap().unwrap();
            durable = l.strip_prefix("durable ").unwrap().parse().unwrap();
        }
        std::thread::sleep(Duration::from_millis(7 * run));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let counter = check(&store_dir).expect("something was written");
        eprintln!("run {run}: resumed at {resumed}, flushed {durable}, recovered {counter}");
        assert!(
            counter >= durable,
            "round {durable} was flushed but lost (counter {counter})"
        );
        assert!(last.is_none_or(|l| counter >= l), "counter went back");
        last = Some(counter);
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "crash test too slow"
    );
}
