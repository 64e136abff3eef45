//! The SQLite ledger writer keeps the accounts it last used in memory. That
//! must never let it decide on a stale balance: when anything else commits to
//! the database file (a second process, a repair by hand), the next batch
//! reads the accounts again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_billing::{
    ids::{platform, user_account, Currency, DeviceKey},
    ledger::{ChainOutcome, TransferError, TransferKind},
    storage::{AnyStore, Storage},
};
use common::tr;
use sqlx::{Connection, SqliteConnection};

#[tokio::test]
async fn a_balance_changed_by_another_connection_is_seen_by_the_next_batch() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("l.db").display());
    let store = AnyStore::open(&url, None, 2).await.unwrap();
    let user = user_account(&DeviceKey([7; 32]), Currency::Coins);
    let fund = tr(
        "fund",
        platform::COIN_ISSUER,
        &user,
        100,
        TransferKind::Single,
    );
    let spend = |id: &str, n| tr(id, &user, platform::GIFT_REVENUE, n, TransferKind::Single);
    let out = store.apply_batch(&[vec![fund]], 1, false).await.unwrap();
    assert!(matches!(out[0], ChainOutcome::Created(_)), "{out:?}");
    // The writer now holds the wallet at 100 coins in memory.
    let out = store
        .apply_batch(&[vec![spend("a", 10)]], 2, false)
        .await
        .unwrap();
    assert!(matches!(out[0], ChainOutcome::Created(_)), "{out:?}");

    // Another connection takes 80 of the remaining 90 coins away.
    let mut other = SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE accounts SET debits_posted = debits_posted + 80 WHERE id = ?1")
        .bind(&user)
        .execute(&mut other)
        .await
        .unwrap();
    other.close().await.unwrap();

    // 50 coins would fit the cached balance (90) but not the real one (10).
    let out = store
        .apply_batch(&[vec![spend("b", 50)]], 3, false)
        .await
        .unwrap();
    assert!(
        matches!(
            out[0],
            ChainOutcome::Failed {
                error: TransferError::InsufficientFunds,
                ..
            }
        ),
        "a stale cached balance let an overdraft through: {out:?}"
    );
    let out = store
        .apply_batch(&[vec![spend("c", 10)]], 4, false)
        .await
        .unwrap();
    assert!(matches!(out[0], ChainOutcome::Created(_)), "{out:?}");
    let a = store.accounts(std::slice::from_ref(&user)).await.unwrap();
    assert_eq!(a[0].credits_posted, 100);
    assert_eq!(
        a[0].debits_posted, 100,
        "10 + 80 (outside) + 10, nothing more"
    );
}

#[tokio::test]
async fn balances_stay_exact_over_many_cached_batches() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("l.db").display());
    let store = AnyStore::open(&url, None, 2).await.unwrap();
    let users: Vec<String> = (0..8u8)
        .map(|i| user_account(&DeviceKey([i + 1; 32]), Currency::Coins))
        .collect();
    let funds: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            vec![tr(
                &format!("f{i}"),
                platform::COIN_ISSUER,
                u,
                50,
                TransferKind::Single,
            )]
        })
        .collect();
    store.apply_batch(&funds, 1, false).await.unwrap();
    // 20 batches in which every user sends 3 coins to the next one around a
    // ring: balances end where they started, which a cache that missed an
    // update (or applied one twice) would not show.
    let mut created = 0;
    for round in 0..20 {
        let chains: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let to = &users[(i + 1) % users.len()];
                vec![tr(&format!("r{round}u{i}"), u, to, 3, TransferKind::Single)]
            })
            .collect();
        let out = store.apply_batch(&chains, 2 + round, false).await.unwrap();
        created += out
            .iter()
            .filter(|o| matches!(o, ChainOutcome::Created(_)))
            .count();
    }
    assert_eq!(
        created,
        20 * users.len(),
        "a ring of equal transfers never runs dry"
    );
    for a in store.accounts(&users).await.unwrap() {
        assert_eq!(a.credits_posted - a.debits_posted, 50, "{a:?}");
    }
    let report = store.check_invariant().await.unwrap();
    assert!(report.ok, "{report:?}");
}
