//! SQLite schema upgrades keep every transfer: a database written by the
//! first schema (transfers in a rowid table) is reopened by the current
//! service, which clusters transfers by id, and nothing is lost or changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::{path::Path, str::FromStr};

use aura_billing::{
    ids::{platform, user_account, Currency, DeviceKey},
    ledger::{ChainOutcome, PendingState, TransferKind},
    storage::{AnyStore, Storage},
};
use common::tr;
use sqlx::{migrate::Migrator, sqlite::SqliteConnectOptions, ConnectOptions};

#[tokio::test]
async fn upgrading_a_first_schema_database_keeps_every_transfer_and_hold() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    // A database as the first release left it: only migration 0001.
    let first = dir.path().join("first");
    std::fs::create_dir(&first).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite/0001_ledger.sql");
    std::fs::copy(src, first.join("0001_ledger.sql")).unwrap();
    let mut conn = SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    Migrator::new(first.as_path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    let has_rowid: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pragma_index_list('transfers') WHERE origin = 'pk'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        has_rowid, 1,
        "0001 keeps transfers in a rowid table with a pk index"
    );
    drop(conn);
    let user = user_account(&DeviceKey([9; 32]), Currency::Coins);
    let chains = vec![
        vec![tr(
            "fund",
            platform::COIN_ISSUER,
            &user,
            1000,
            TransferKind::Single,
        )],
        vec![tr(
            "hold",
            &user,
            platform::HOLDS,
            300,
            TransferKind::Pending { timeout_s: 0 },
        )],
    ];
    {
        // Rows as the first release wrote them (the current code would
        // migrate the file on open).
        let mut conn = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .connect()
            .await
            .unwrap();
        for (id, dr, cr, amount, kind, state) in [
            ("fund", platform::COIN_ISSUER, user.as_str(), 1000, 0, 0),
            ("hold", user.as_str(), platform::HOLDS, 300, 1, 1),
        ] {
            sqlx::query(
                "INSERT INTO transfers (id, debit_account, credit_account, amount, currency, \
                 kind, code, user_data, ts_us, pending_state) VALUES (?, ?, ?, ?, 'coins', ?, 4, '', 1, ?)",
            )
            .bind(id)
            .bind(dr)
            .bind(cr)
            .bind(amount)
            .bind(kind)
            .bind(state)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        for (id, no_od, dp, dpo, cp, cpo) in [
            (platform::COIN_ISSUER, 0, 0, 1000, 0, 0),
            (user.as_str(), 1, 300, 0, 0, 1000),
            (platform::HOLDS, 0, 0, 0, 300, 0),
        ] {
            sqlx::query(
                "INSERT INTO accounts (id, currency, no_overdraft, debits_pending, debits_posted, \
                 credits_pending, credits_posted) VALUES (?, 'coins', ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(no_od)
            .bind(dp)
            .bind(dpo)
            .bind(cp)
            .bind(cpo)
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }
    let store = AnyStore::open(&url, None, 2).await.unwrap();
    let got = store
        .transfers(&["fund".into(), "hold".into()])
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    let hold = got.iter().find(|t| t.transfer.id == "hold").unwrap();
    assert_eq!(hold.pending_state, PendingState::Pending);
    assert_eq!(hold.transfer.amount, 300);
    let report = store.check_invariant().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.transfers, 2);
    // Retrying the old transfers is recognised; posting the old hold works.
    let out = store.apply_batch(&chains, 2, false).await.unwrap();
    assert!(
        out.iter().all(|o| matches!(o, ChainOutcome::Exists(_))),
        "{out:?}"
    );
    let post = vec![vec![tr(
        "post",
        "",
        "",
        0,
        TransferKind::PostPending {
            pending_id: "hold".into(),
        },
    )]];
    let out = store.apply_batch(&post, 3, false).await.unwrap();
    assert!(matches!(out[0], ChainOutcome::Created(_)), "{out:?}");
    assert!(store.check_invariant().await.unwrap().ok);
    // Transfers now live in one B-tree keyed by id (no rowid table).
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let without_rowid: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'transfers' AND sql LIKE '%WITHOUT ROWID%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(without_rowid, 1);
}
