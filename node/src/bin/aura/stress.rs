//! `aura debug store-stress`: writes to the node store in a loop, the way the
//! node does (location batches, chat, group records) plus a cross-tree
//! transaction, so the crash test can SIGKILL it mid-write and check what is left.
//!
//! Round `r` writes, in this order:
//! 1. `append_locations`: one atomic batch of [`MEMBERS`] fixes at `at_ms = r`;
//! 2. `append_chat`: text `round r`, `at_ms = r`;
//! 3. `put_group`: a record whose session bytes are `r` repeated (256 bytes) and
//!    whose fence list names `r`;
//! 4. one transaction over trees `stress_a` and `stress_b`: key `r` in both and
//!    `stress_a["counter"] = r`.
//!
//! Every [`FLUSH_EVERY`] rounds it flushes and prints `durable R` on stdout:
//! everything up to round R must survive any crash after that line.

use std::io::Write;

use anyhow::{Context, Result};
use aura_node::{
    location::{Fix, Geofence, Position, Precision, Shape},
    store::{ChatRecord, GroupRecord, Store},
};
use sled::Transactional;

/// Fixes per location batch.
pub(crate) const MEMBERS: u8 = 8;
/// Rounds between explicit flushes.
const FLUSH_EVERY: u64 = 25;
/// The group id the stress writes under.
pub(crate) const GROUP: [u8; 32] = [0xA5; 32];

/// Runs rounds from the last recovered counter + 1, forever or `rounds` times.
pub(crate) fn store_stress(store_dir: &std::path::Path, rounds: Option<u64>) -> Result<()> {
    let store = Store::open(store_dir).context("cannot open the store")?;
    let a = store.raw_tree("stress_a")?;
    let b = store.raw_tree("stress_b")?;
    let start = match a.get("counter")? {
        Some(v) => u64::from_be_bytes(v.as_ref().try_into().context("counter is not 8 bytes")?) + 1,
        None => 0,
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "start {start}")?;
    out.flush()?;
    let base = Position::new(45.9, 6.8).context("base position")?;
    let end = rounds.map(|n| start + n).unwrap_or(u64::MAX);
    for r in start..end {
        let fixes: Vec<([u8; 32], Fix)> = (0..MEMBERS)
            .map(|m| {
                let fix = Fix {
                    pos: base.offset_m(r as f64, f64::from(m)),
                    at_ms: r,
                    precision: Precision::Exact,
                };
                ([m; 32], fix)
            })
            .collect();
        store.append_locations(&GROUP, &fixes)?;
        store.append_chat(
            &GROUP,
            &ChatRecord {
                from: [1; 32],
                at_ms: r,
                text: format!("round {r}"),
            },
        )?;
        let rec = GroupRecord {
            session: r.to_be_bytes().repeat(32),
            sharing: r % 2 == 0,
            precision: Precision::Approx100m,
            fences: vec![Geofence {
                name: format!("fence {r}"),
                shape: Shape::Circle {
                    center: base,
                    radius_m: 100.0,
                },
            }],
        };
        store.put_group(&GROUP, &rec)?;
        let key = r.to_be_bytes();
        (&a, &b)
            .transaction(|(ta, tb)| {
                ta.insert(&key, &key)?;
                tb.insert(&key, &key)?;
                ta.insert("counter", &key)?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| anyhow::anyhow!("transaction failed: {e:?}"))?;
        if r % FLUSH_EVERY == FLUSH_EVERY - 1 {
            store.flush()?;
            writeln!(out, "durable {r}")?;
            out.flush()?;
        }
    }
    store.flush()?;
    Ok(())
}
