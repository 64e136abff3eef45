//! The SQLite writer applies a batch first as if all its ids were new and
//! looks them up only when that fails: retries mixed into batches of fresh
//! transfers still get their original result, and nothing moves twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_billing::{
    ids::{platform, user_account, Currency, DeviceKey},
    ledger::{ChainOutcome, TransferError, TransferKind},
    storage::{AnyStore, Storage},
};
use common::tr;

#[tokio::test]
async fn replaying_attacker_mixes_retries_into_fresh_batches_and_nothing_moves_twice() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("l.db").display());
    let store = AnyStore::open(&url, None, 2).await.unwrap();
    let user = user_account(&DeviceKey([3; 32]), Currency::Coins);
    let fund = vec![tr(
        "fund",
        platform::COIN_ISSUER,
        &user,
        100,
        TransferKind::Single,
    )];
    let hold = vec![tr(
        "hold",
        &user,
        platform::HOLDS,
        40,
        TransferKind::Pending { timeout_s: 0 },
    )];
    let post = vec![tr(
        "post",
        "",
        "",
        0,
        TransferKind::PostPending {
            pending_id: "hold".into(),
        },
    )];
    let out = store
        .apply_batch(&[fund.clone(), hold.clone()], 1, false)
        .await
        .unwrap();
    assert!(out.iter().all(|o| matches!(o, ChainOutcome::Created(_))));
    let out = store
        .apply_batch(std::slice::from_ref(&post), 2, false)
        .await
        .unwrap();
    assert!(matches!(out[0], ChainOutcome::Created(_)));
    // Retries of each (including the post of an already posted hold, which
    // without a lookup looks like a refusal) beside a fresh transfer.
    let spend = vec![tr(
        "spend",
        &user,
        platform::GIFT_REVENUE,
        10,
        TransferKind::Single,
    )];
    let out = store
        .apply_batch(&[fund, spend.clone(), hold, post], 3, false)
        .await
        .unwrap();
    assert!(matches!(out[0], ChainOutcome::Exists(_)), "{out:?}");
    assert!(matches!(out[1], ChainOutcome::Created(_)), "{out:?}");
    assert!(matches!(out[2], ChainOutcome::Exists(_)), "{out:?}");
    assert!(matches!(out[3], ChainOutcome::Exists(_)), "{out:?}");
    // The same id with other content is refused, not applied.
    let forged = vec![tr(
        "spend",
        &user,
        platform::GIFT_REVENUE,
        11,
        TransferKind::Single,
    )];
    let out = store.apply_batch(&[forged], 4, false).await.unwrap();
    assert!(
        matches!(
            out[0],
            ChainOutcome::Failed {
                error: TransferError::ExistsWithDifferentFields,
                ..
            }
        ),
        "{out:?}"
    );
    let a = store.accounts(std::slice::from_ref(&user)).await.unwrap();
    assert_eq!(a[0].credits_posted, 100);
    assert_eq!(
        a[0].debits_posted, 50,
        "40 posted from the hold + 10 spent, once each"
    );
    assert_eq!(a[0].debits_pending, 0);
    let report = store.check_invariant().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.transfers, 4);
}
