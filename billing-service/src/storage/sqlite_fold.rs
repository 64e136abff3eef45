//! SQLite's side of folding the aggregate journal into the derived tables
//! (see [`super::derived`]): run on the ledger writer's connection, so a
//! fold and a ledger batch never contend for SQLite's write lock.
use rusqlite::{params, Transaction};

use super::{derived, StoreError};

/// Folds up to [`derived::FOLD_ROWS`] journal rows inside `tx`; returns how many.
pub(crate) fn fold_in_tx(tx: &Transaction<'_>) -> Result<usize, StoreError> {
    let mut d = derived::Derived::default();
    let mut last = None;
    let mut rows = 0;
    {
        let mut q =
            tx.prepare_cached("SELECT id, facts FROM aggregate_journal ORDER BY id LIMIT ?1")?;
        let mut it = q.query([derived::FOLD_ROWS])?;
        while let Some(r) = it.next()? {
            let (id, json): (i64, String) = (r.get(0)?, r.get(1)?);
            let facts: Vec<derived::GiftFact> = serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("journal row {id}: {e}")))?;
            d.add(&facts);
            last = Some(id);
            rows += 1;
        }
    }
    let Some(last) = last else { return Ok(0) };
    write_derived(tx, &d)?;
    tx.prepare_cached("DELETE FROM aggregate_journal WHERE id <= ?1")?
        .execute([last])?;
    Ok(rows)
}

/// Adds `d` to the derived tables (member statistics, leaderboards), rows
/// in key order.
fn write_derived(tx: &Transaction<'_>, d: &derived::Derived) -> Result<(), StoreError> {
    let mut stats = tx.prepare_cached(derived::STATS_UPSERT_SQL)?;
    for (account, s) in &d.stats {
        stats.execute(params![
            account,
            s.coins_spent,
            s.coins_received,
            s.gifts_sent,
            s.gifts_received
        ])?;
    }
    let mut boards = tx.prepare_cached(derived::BOARD_UPSERT_SQL)?;
    for ((board, account), score) in &d.boards {
        boards.execute(params![board, account, score])?;
    }
    Ok(())
}
