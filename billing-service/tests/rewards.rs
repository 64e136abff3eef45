//! Daily rewards: a 7-day cycle, twice a day refused, a missed day resets the
//! streak, paid from the funded rewards pool through the ledger, and only to
//! accounts that paid once (fresh keys cannot farm them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_billing::client::ClientError;
use common::{start, start_with, Backend};

async fn streak_cycle(b: Backend) {
    let Some(s) = start(b).await else { return };
    let mut u = s.paying_user().await;
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
    // Day 7 also earned the streak_7 medal (50 coins), once.
    assert_eq!(u.wallet().await.unwrap().coins.available, 100 + total + 50);
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
    let u1 = s.paying_user().await;
    let u2 = s.paying_user().await;
    assert_eq!(u1.claim_daily_reward().await.unwrap().coins, 10);
    let e = u2.claim_daily_reward().await.unwrap_err();
    assert!(
        matches!(e, ClientError::Api { status: 409, ref error, .. } if error == "insufficient_funds"),
        "{e:?}"
    );
    assert_eq!(u2.wallet().await.unwrap().coins.available, 100);
    s.invariant_ok().await;
}

/// Fresh keys claim a reward each and gift it on to one collector, which
/// would turn free coins into diamonds at the scale of key generation.
async fn fresh_keys_farming_rewards_into_a_collector_get_nothing(b: Backend) {
    let Some(s) = start(b).await else { return };
    let collector = s.user().await;
    let mut refused = 0;
    for i in 0..8 {
        let mut farm = s.user().await;
        if farm.claim_daily_reward().await.is_err() {
            refused += 1;
            continue;
        }
        let req = aura_billing::api::SendGiftRequest {
            id: format!("farm-{i}"),
            gift: "heart".into(),
            to: collector.account().to_hex(),
            room: "r".into(),
        };
        let _ = farm.send_gift(&req).await;
    }
    assert_eq!(refused, 8, "fresh keys claimed rewards");
    assert_eq!(collector.wallet().await.unwrap().diamonds.available, 0);
    s.invariant_ok().await;
}

/// Subscribers count as paying accounts too.
async fn a_subscriber_claims_rewards(b: Backend) {
    let Some(s) = start(b).await else { return };
    let u = s.user().await;
    let e = u.claim_daily_reward().await.unwrap_err();
    assert!(
        matches!(e, ClientError::Api { status: 409, ref error, .. } if error == "purchase_required"),
        "{e:?}"
    );
    let end = s.clock.now_s() + 30 * 86_400;
    let ev = aura_billing::test_provider::subscription_renewed(
        &u.account().to_hex(),
        "vip_monthly",
        end,
    );
    aura_billing::test_provider::deliver(&s.url, common::SECRET, &ev)
        .await
        .unwrap();
    assert_eq!(u.claim_daily_reward().await.unwrap().coins, 10);
}

both_backends!(
    streak_cycle,
    empty_pool_pays_nothing,
    fresh_keys_farming_rewards_into_a_collector_get_nothing,
    a_subscriber_claims_rewards
);
