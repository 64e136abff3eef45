//! Referrals: one code per account; both sides are rewarded once, in the
//! transaction of the new account's first credited purchase. Fresh keys
//! redeeming a code earn nothing, a retried purchase rewards once, an
//! account cannot refer itself, and an account that already bought cannot
//! attach a referrer afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_billing::{client::ClientError, test_provider};
use common::{start, Backend, TestServer, SECRET};

fn api_error(e: &ClientError) -> (u16, &str) {
    match e {
        ClientError::Api { status, error, .. } => (*status, error.as_str()),
        _ => (0, ""),
    }
}

async fn buy(s: &TestServer, account: &str, checkout: &str) -> String {
    let ev = test_provider::checkout_completed(account, "coins_100", Some(checkout));
    test_provider::deliver(&s.url, SECRET, &ev)
        .await
        .unwrap()
        .status
}

/// Many fresh keys redeem one code and never buy: the referrer earns
/// nothing, and neither do they.
async fn fresh_keys_redeeming_one_code_earn_nothing(b: Backend) {
    let Some(s) = start(b).await else { return };
    let referrer = s.user().await;
    let code = referrer.referral().await.unwrap().code;
    assert_eq!(referrer.referral().await.unwrap().code, code, "stable code");
    let mut farm = Vec::new();
    for _ in 0..10 {
        let f = s.user().await;
        let info = f.redeem_referral(&code).await.unwrap();
        assert_eq!(info.referred_by, Some(referrer.account().to_hex()));
        assert_eq!(f.wallet().await.unwrap().coins.available, 0);
        farm.push(f);
    }
    assert_eq!(referrer.wallet().await.unwrap().coins.available, 0);
    // They are listed, unrewarded, page by page.
    let first = referrer.referrals(None, Some(4)).await.unwrap();
    assert_eq!(first.items.len(), 4);
    let mut seen: Vec<String> = first.items.iter().map(|e| e.account.clone()).collect();
    let mut cursor = first.next_cursor;
    while let Some(c) = cursor {
        let p = referrer.referrals(Some(&c), Some(4)).await.unwrap();
        seen.extend(p.items.iter().map(|e| e.account.clone()));
        assert!(p.items.iter().all(|e| !e.rewarded));
        cursor = p.next_cursor;
    }
    let mut want: Vec<String> = farm.iter().map(|f| f.account().to_hex()).collect();
    want.sort();
    assert_eq!(seen, want);
    s.invariant_ok().await;
}

/// The first purchase pays both rewards; the provider re-sending it (same
/// event, or the same checkout under a new event id) and a later purchase
/// pay nothing more.
async fn a_retried_purchase_rewards_both_sides_once(b: Backend) {
    let Some(s) = start(b).await else { return };
    let referrer = s.user().await;
    let newbie = s.user().await;
    let code = referrer.referral().await.unwrap().code;
    newbie.redeem_referral(&code).await.unwrap();
    // Redeeming the same code again answers as before; another code is refused.
    newbie.redeem_referral(&code).await.unwrap();
    let other = s.user().await.referral().await.unwrap().code;
    let e = newbie.redeem_referral(&other).await.unwrap_err();
    assert_eq!(api_error(&e), (409, "already_referred"));
    let acct = newbie.account().to_hex();
    let ev = test_provider::checkout_completed(&acct, "coins_100", Some("co_first"));
    assert_eq!(
        test_provider::deliver(&s.url, SECRET, &ev)
            .await
            .unwrap()
            .status,
        "processed"
    );
    assert_eq!(
        test_provider::deliver(&s.url, SECRET, &ev)
            .await
            .unwrap()
            .status,
        "duplicate"
    );
    assert_eq!(buy(&s, &acct, "co_first").await, "duplicate");
    assert_eq!(newbie.wallet().await.unwrap().coins.available, 100 + 50);
    assert_eq!(referrer.wallet().await.unwrap().coins.available, 100);
    assert_eq!(buy(&s, &acct, "co_second").await, "processed");
    assert_eq!(newbie.wallet().await.unwrap().coins.available, 200 + 50);
    assert_eq!(referrer.wallet().await.unwrap().coins.available, 100);
    let listed = referrer.referrals(None, None).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.items[0].rewarded);
    assert_eq!(listed.next_cursor, None);
    s.invariant_ok().await;
}

/// The same first purchase delivered many times at once rewards once.
async fn concurrent_deliveries_of_a_purchase_reward_once(b: Backend) {
    let Some(s) = start(b).await else { return };
    let referrer = s.user().await;
    let newbie = s.user().await;
    let code = referrer.referral().await.unwrap().code;
    newbie.redeem_referral(&code).await.unwrap();
    let acct = newbie.account().to_hex();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = s.url.clone();
        let ev = test_provider::checkout_completed(&acct, "coins_100", Some("co_race"));
        tasks.push(tokio::spawn(async move {
            test_provider::deliver(&url, SECRET, &ev).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(newbie.wallet().await.unwrap().coins.available, 150);
    assert_eq!(referrer.wallet().await.unwrap().coins.available, 100);
    s.invariant_ok().await;
}

async fn self_referral_and_late_or_bad_codes_are_refused(b: Backend) {
    let Some(s) = start(b).await else { return };
    let me = s.user().await;
    let code = me.referral().await.unwrap().code;
    let e = me.redeem_referral(&code).await.unwrap_err();
    assert_eq!(api_error(&e).0, 400, "{e:?}");
    // An account that already bought cannot attach a referrer afterwards.
    let buyer = s.paying_user().await;
    let e = buyer.redeem_referral(&code).await.unwrap_err();
    assert_eq!(api_error(&e), (409, "already_purchased"));
    for bad in ["", "XYZ", "0123456789ABCDEF", &"a".repeat(17)] {
        let e = buyer.redeem_referral(bad).await.unwrap_err();
        assert_eq!(api_error(&e).0, 400, "{bad:?}: {e:?}");
    }
    let e = s
        .user()
        .await
        .redeem_referral("0123456789abcdef")
        .await
        .unwrap_err();
    assert_eq!(api_error(&e).0, 404);
    assert_eq!(me.wallet().await.unwrap().coins.available, 0);
    let e = me.referrals(Some("zz"), None).await.unwrap_err();
    assert_eq!(api_error(&e).0, 400);
}

both_backends!(
    fresh_keys_redeeming_one_code_earn_nothing,
    a_retried_purchase_rewards_both_sides_once,
    concurrent_deliveries_of_a_purchase_reward_once,
    self_referral_and_late_or_bad_codes_are_refused,
);
