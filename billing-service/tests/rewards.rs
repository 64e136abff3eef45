//! Daily rewards: a 7-day cycle, twice a day refused, a missed day resets the
//! streak, paid from the funded rewards pool through the ledger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aura_billing::client::ClientError;
use common::{start, start_with, Backend};

async fn streak_cycle(b: Backend) {
    let Some(s) = start(b).await else { return };
    let mut u = s.user().await;
    let mut got = Vec::new();
    for day in 0..9 {
        let c = u.claim_daily_reward().await.unwrap();
        got.push((c.streak, c.coins));
        if day == 0 {
            let e = u.claim_daily_reward().await.unwrap_err();
            assert!(
                matches!(e, ClientError::Api { status: 409, ref error, .. } if error == "already_claimed_today"),
                "{e:?}"
            );
        }
        s.clock.advance(86_400);
        u.login().await.unwrap();
    }
    let streaks: Vec<i64> = got.iter().map(|g| g.0).collect();
    assert_eq!(streaks, vec![1, 2, 3, 4, 5, 6, 7, 1, 2]);
    let total: i64 = got.iter().map(|g| g.1).sum();
    assert_eq!(total, 10 + 20 + 30 + 40 + 50 + 60 + 100 + 10 + 20);
    assert_eq!(u.wallet().await.unwrap().coins.available, total);
    // Skip a day: the streak restarts.
    s.clock.advance(86_400);
    u.login().await.unwrap();
    assert_eq!(u.claim_daily_reward().await.unwrap().streak, 1);
    s.invariant_ok().await;
}

async fn empty_pool_pays_nothing(b: Backend) {
    let Some(s) = start_with(b, |c| c.rewards_pool_initial = 15).await else {
        return;
    };
    let u1 = s.user().await;
    let u2 = s.user().await;
    assert_eq!(u1.claim_daily_reward().await.unwrap().coins, 10);
    let e = u2.claim_daily_reward().await.unwrap_err();
    assert!(
        matches!(e, ClientError::Api { status: 409, ref error, .. } if error == "insufficient_funds"),
        "{e:?}"
    );
    assert_eq!(u2.wallet().await.unwrap().coins.available, 0);
    s.invariant_ok().await;
}

both_backends!(streak_cycle, empty_pool_pays_nothing);
