//! Many clients at once: one wallet is never overdrawn, totals reconcile
//! exactly, and a retry storm of the same ids moves money once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::HashSet;

use aura_billing::{api::SendGiftRequest, client::ClientError};
use common::{start, Backend};
use futures::future::join_all;

/// 16 tasks of one device race 208 one-coin gifts against 120 coins.
async fn shared_wallet_never_overdrawn(b: Backend) {
    let Some(s) = start(b).await else { return };
    let spender = s.user().await;
    let receiver = s.user().await;
    s.fund(&spender.account(), 120).await;
    let to = receiver.account().to_hex();
    let tasks = (0..16).map(|w| {
        let mut c = spender.clone();
        let to = to.clone();
        tokio::spawn(async move {
            let (mut ok, mut refused) = (0i64, 0i64);
            for i in 0..13 {
                let n = w * 13 + i;
                let req = SendGiftRequest {
                    id: format!("x{n}"),
                    gift: "rose".into(),
                    to: to.clone(),
                    room: "r".into(),
                };
                match c.send_gift(&req).await {
                    Ok(_) => ok += 1,
                    Err(ClientError::Api {
                        status: 409, error, ..
                    }) if error == "insufficient_funds" => refused += 1,
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            (ok, refused)
        })
    });
    let results: Vec<(i64, i64)> = join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let ok: i64 = results.iter().map(|r| r.0).sum();
    let refused: i64 = results.iter().map(|r| r.1).sum();
    assert_eq!(ok, 120, "exactly the funded amount is spent");
    assert_eq!(refused, 208 - 120);
    let w = spender.wallet().await.unwrap();
    assert_eq!(w.coins.available, 0);
    assert_eq!(w.coins.posted, 0);
    // rose: 1 diamond, 30% share rounds down to 0, so 1 diamond each.
    assert_eq!(receiver.wallet().await.unwrap().diamonds.available, 120);
    s.invariant_ok().await;
}

/// A lost response makes clients retry: 8 clients fire the same 30 ids 8
/// times each, concurrently. Each id moves money once.
async fn retry_storm_moves_money_once(b: Backend) {
    let Some(s) = start(b).await else { return };
    let spender = s.user().await;
    let receiver = s.user().await;
    s.fund(&spender.account(), 1000).await;
    let to = receiver.account().to_hex();
    let tasks = (0..8).map(|_| {
        let mut c = spender.clone();
        let to = to.clone();
        tokio::spawn(async move {
            let mut receipts = Vec::new();
            for round in 0..8 {
                for i in 0..30 {
                    let id = format!("storm-{}", (i + round * 7) % 30);
                    let req = SendGiftRequest {
                        id,
                        gift: "heart".into(),
                        to: to.clone(),
                        room: "r".into(),
                    };
                    receipts.push(c.send_gift(&req).await.unwrap());
                }
            }
            receipts
        })
    });
    let all: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    let created = all.iter().filter(|r| r.status == "created").count();
    assert_eq!(created, 30, "each id is created exactly once");
    // A retry gets the original receipt body (same commit time); its batch
    // signature and proof are fresh, and must verify.
    let sk = s.svc.verifying_key();
    for r in &all {
        r.receipt.verify_signature(&sk).unwrap();
    }
    let distinct: HashSet<String> = all
        .iter()
        .map(|r| serde_json::to_string(&r.receipt.body).unwrap())
        .collect();
    assert_eq!(
        distinct.len(),
        30,
        "every retry returns the original receipt"
    );
    assert_eq!(
        spender.wallet().await.unwrap().coins.available,
        1000 - 30 * 10
    );
    assert_eq!(receiver.wallet().await.unwrap().diamonds.available, 30 * 7);
    s.invariant_ok().await;
}

both_backends!(shared_wallet_never_overdrawn, retry_storm_moves_money_once);
