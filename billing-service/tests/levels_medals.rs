//! Levels and medals: experience from coins spent and gifts received,
//! medals granted once in the transaction of the event that earned them
//! (also under concurrent retries of that event), the top gifter of a day,
//! and the signed statement of level and medals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_billing::{
    api::SendGiftRequest,
    client::ClientError,
    config::{Config, MedalReward},
    member,
};
use common::{start, start_with, Backend, TestServer};

fn gift(id: &str, gift: &str, to: &str, room: &str) -> SendGiftRequest {
    SendGiftRequest {
        id: id.into(),
        gift: gift.into(),
        to: to.into(),
        room: room.into(),
    }
}

/// A service whose `first_gift` medal pays 20 coins (by default it is an
/// item only).
async fn paying_first_gift(b: Backend) -> Option<TestServer> {
    start_with(b, |c: &mut Config| {
        c.people.first_gift = MedalReward {
            coins: 20,
            item: None,
        }
    })
    .await
}

async fn first_gift_medal_is_granted_once_with_the_gift(b: Backend) {
    let Some(s) = paying_first_gift(b).await else {
        return;
    };
    let mut alice = s.user().await;
    let mut bob = s.user().await;
    s.fund(&alice.account(), 100).await;
    let to = bob.account().to_hex();
    alice
        .send_gift(&gift("g1", "heart", &to, "r"))
        .await
        .unwrap();
    // 100 - 10 for the heart + 20 for the medal, paid with the gift.
    assert_eq!(alice.wallet().await.unwrap().coins.available, 110);
    // A retry of the earning gift, then more gifts: no second medal.
    let again = alice
        .send_gift(&gift("g1", "heart", &to, "r"))
        .await
        .unwrap();
    assert_eq!(again.status, "replayed");
    alice
        .send_gift(&gift("g2", "heart", &to, "r"))
        .await
        .unwrap();
    assert_eq!(alice.wallet().await.unwrap().coins.available, 100);
    let medals = alice.medals(None, None).await.unwrap();
    assert_eq!(medals.items.len(), 1);
    assert_eq!(medals.items[0].medal, "first_gift");
    assert_eq!(medals.items[0].coins, 20);
    // Experience (once the folder has run): 20 coins spent; bob's: 20
    // coins of gifts received. The retried gift counts once.
    s.svc.fold_aggregates().await.unwrap();
    let l = alice.level().await.unwrap();
    assert_eq!((l.xp, l.level, l.gifts_sent, l.coins_spent), (20, 0, 2, 20));
    assert_eq!(l.next_level_xp, Some(100));
    let lb = bob.level().await.unwrap();
    assert_eq!((lb.xp, lb.gifts_received, lb.coins_received), (20, 2, 20));
    assert!(bob.medals(None, None).await.unwrap().items.is_empty());
    s.invariant_ok().await;
}

/// The same first gift retried many times at once (lost responses, a
/// client that resends): one gift, one medal.
async fn concurrent_retries_of_the_first_gift_grant_one_medal(b: Backend) {
    let Some(s) = paying_first_gift(b).await else {
        return;
    };
    let alice = s.user().await;
    let bob = s.user().await;
    s.fund(&alice.account(), 50).await;
    let to = bob.account().to_hex();
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let mut c = alice.clone();
        let req = gift("same", "heart", &to, "r");
        tasks.push(tokio::spawn(async move { c.send_gift(&req).await }));
    }
    let mut created = 0;
    for t in tasks {
        if t.await.unwrap().unwrap().status == "created" {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(alice.wallet().await.unwrap().coins.available, 50 - 10 + 20);
    assert_eq!(alice.medals(None, None).await.unwrap().items.len(), 1);
    s.invariant_ok().await;
}

async fn levels_follow_configured_thresholds(b: Backend) {
    let Some(s) = start_with(b, |c| {
        c.people.level_thresholds = vec![5, 15, 1000];
        c.people.xp_per_coin_received = 2;
    })
    .await
    else {
        return;
    };
    let mut alice = s.user().await;
    let mut bob = s.user().await;
    s.fund(&alice.account(), 100).await;
    let to = bob.account().to_hex();
    alice
        .send_gift(&gift("a", "heart", &to, "r"))
        .await
        .unwrap();
    s.svc.fold_aggregates().await.unwrap();
    assert_eq!(s.svc.fold_aggregates().await.unwrap(), 0, "all folded");
    let l = alice.level().await.unwrap();
    assert_eq!((l.xp, l.level, l.next_level_xp), (10, 1, Some(15)));
    let l = bob.level().await.unwrap();
    assert_eq!((l.xp, l.level, l.next_level_xp), (20, 2, Some(1000)));
    assert_eq!(l.statement.body.level, 2);
}

async fn a_seven_day_streak_earns_its_medal_once(b: Backend) {
    let Some(s) = start(b).await else { return };
    let mut u = s.paying_user().await;
    let mut paid = 0;
    for _ in 0..14 {
        paid += u.claim_daily_reward().await.unwrap().coins;
        s.clock.advance(86_400);
        u.login().await.unwrap();
    }
    // Two full cycles of rewards; the streak medal (50) once.
    assert_eq!(paid, 2 * (10 + 20 + 30 + 40 + 50 + 60 + 100));
    assert_eq!(u.wallet().await.unwrap().coins.available, 100 + paid + 50);
    let m = u.medals(None, None).await.unwrap();
    assert_eq!(m.items.len(), 1);
    assert_eq!(m.items[0].medal, "streak_7");
    assert_eq!(m.items[0].item.as_deref(), Some("frame.week"));
    s.invariant_ok().await;
}

async fn the_top_gifter_of_a_day_is_settled_once(b: Backend) {
    let Some(s) = start(b).await else { return };
    let mut small = s.user().await;
    let mut big = s.user().await;
    let mut host = s.user().await;
    s.fund(&small.account(), 100).await;
    s.fund(&big.account(), 100).await;
    let to = host.account().to_hex();
    let day = s.clock.now_s().div_euclid(86_400);
    small
        .send_gift(&gift("s1", "heart", &to, "r"))
        .await
        .unwrap();
    big.send_gift(&gift("b1", "heart", &to, "r")).await.unwrap();
    big.send_gift(&gift("b2", "heart", &to, "q")).await.unwrap();
    let e = s.svc.settle_top_gifter(day).await.unwrap_err();
    assert!(e.to_string().contains("day_not_over"), "{e}");
    // Past the next day's settling grace too, whatever the time of day now.
    s.clock.advance(3 * 86_400);
    let holder = s.svc.settle_top_gifter(day).await.unwrap();
    assert_eq!(holder, Some(big.account()));
    // Settling again (a retry, another instance) grants nothing more.
    assert_eq!(
        s.svc.settle_top_gifter(day).await.unwrap(),
        Some(big.account())
    );
    assert_eq!(s.svc.settle_top_gifter(day + 1).await.unwrap(), None);
    big.login().await.unwrap();
    let medals = big.medals(None, None).await.unwrap();
    let top: Vec<_> = medals
        .items
        .iter()
        .filter(|m| m.medal == "top_gifter_day")
        .collect();
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].day, Some(day));
    // 100 - 20 spent + 100 top gifter (first_gift is an item by default).
    assert_eq!(big.wallet().await.unwrap().coins.available, 180);
    small.login().await.unwrap();
    assert_eq!(small.wallet().await.unwrap().coins.available, 90);
    let m = small.medals(None, None).await.unwrap().items;
    assert_eq!((m.len(), m[0].coins), (1, 0));
    assert_eq!(m[0].item.as_deref(), Some("badge.first_gift"));
    let st = big.level().await.unwrap().statement;
    let names: Vec<_> = st.body.medals.iter().map(|m| m.medal.as_str()).collect();
    assert_eq!(names, vec!["first_gift", "top_gifter_day"]);
    host.login().await.unwrap();
    assert!(host.medals(None, None).await.unwrap().items.is_empty());
    s.invariant_ok().await;
}

/// The statement from the ledger verifies offline for its member only,
/// and not once it has expired.
async fn the_signed_statement_verifies_offline(b: Backend) {
    let Some(s) = start(b).await else { return };
    let mut alice = s.user().await;
    let bob = s.user().await;
    let st = alice.member_statement().await.unwrap();
    let key = s.svc.verifying_key();
    let now = s.clock.now_s();
    assert_eq!(
        member::verify(&st, &key, &alice.account(), now)
            .unwrap()
            .level,
        0
    );
    assert!(member::verify(&st, &key, &bob.account(), now).is_err());
    assert!(member::verify(&st, &key, &alice.account(), now + 86_400).is_err());
    let e = alice.medals(None, Some(0)).await.unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 400, .. }), "{e:?}");
}

/// Folding is exactly once: folds running at the same time as gifts and
/// as each other (the folder, settlement, another instance) count every
/// committed gift once, and a retried gift not at all.
async fn concurrent_folds_count_each_gift_once(b: Backend) {
    let Some(s) = start(b).await else { return };
    let mut alice = s.user().await;
    let mut bob = s.user().await;
    s.fund(&alice.account(), 10_000).await;
    let to = bob.account().to_hex();
    let folders: Vec<_> = (0..3)
        .map(|_| {
            let svc = s.svc.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    svc.fold_aggregates().await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for i in 0..40 {
        let g = gift(&format!("f{i}"), "rose", &to, "r");
        alice.send_gift(&g).await.unwrap();
        alice.send_gift(&g).await.unwrap();
    }
    for f in folders {
        f.await.unwrap();
    }
    s.svc.fold_aggregates().await.unwrap();
    let l = bob.level().await.unwrap();
    assert_eq!((l.gifts_received, l.coins_received), (40, 40));
    let l = alice.level().await.unwrap();
    assert_eq!((l.gifts_sent, l.coins_spent), (40, 40));
    let m = s.svc.metrics.render();
    assert!(
        m.contains("aura_billing_aggregate_journal_rows_folded_total"),
        "{m}"
    );
    assert!(
        !m.contains("aura_billing_aggregate_fold_failures_total 1"),
        "{m}"
    );
}

/// Medals page by cursor: a member holding several gets each once.
async fn medals_page_by_cursor(b: Backend) {
    let Some(s) = start(b).await else { return };
    let mut top = s.user().await;
    let host = s.user().await;
    s.fund(&top.account(), 1000).await;
    let to = host.account().to_hex();
    let first_day = s.clock.now_s().div_euclid(86_400);
    for d in 0..3 {
        top.send_gift(&gift(&format!("d{d}"), "heart", &to, "r"))
            .await
            .unwrap();
        s.clock.advance(86_400);
        top.login().await.unwrap();
    }
    s.clock.advance(86_400);
    top.login().await.unwrap();
    for d in 0..3 {
        assert_eq!(
            s.svc.settle_top_gifter(first_day + d).await.unwrap(),
            Some(top.account())
        );
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let p = top.medals(cursor.as_deref(), Some(1)).await.unwrap();
        assert!(p.items.len() <= 1);
        seen.extend(p.items.into_iter().map(|m| (m.medal, m.day)));
        cursor = p.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen.iter().filter(|m| m.0 == "first_gift").count(), 1);
    let days: Vec<_> = seen.iter().filter_map(|m| m.1).collect();
    assert_eq!(days, vec![first_day, first_day + 1, first_day + 2]);
    let st = top.level().await.unwrap().statement.body;
    let counts: Vec<_> = st
        .medals
        .iter()
        .map(|m| (m.medal.as_str(), m.count))
        .collect();
    assert_eq!(counts, vec![("first_gift", 1), ("top_gifter_day", 3)]);
}

both_backends!(
    first_gift_medal_is_granted_once_with_the_gift,
    concurrent_retries_of_the_first_gift_grant_one_medal,
    levels_follow_configured_thresholds,
    a_seven_day_streak_earns_its_medal_once,
    the_top_gifter_of_a_day_is_settled_once,
    the_signed_statement_verifies_offline,
    concurrent_folds_count_each_gift_once,
    medals_page_by_cursor,
);
