//! Payment webhooks: forged signatures, stale timestamps, replayed events and
//! re-serialized bodies are refused or deduplicated; nothing is credited twice.
//! Subscriptions renew and expire through the same flow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_billing::{
    test_provider::{self, ProviderError},
    webhook_sig,
};
use common::{start, Backend, OLD_SECRET, SECRET};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn purchase_webhooks(b: Backend) {
    let Some(s) = start(b).await else { return };
    let buyer = s.user().await;
    let acct = buyer.account().to_hex();
    let co = buyer.checkout("coins_100").await.unwrap();
    assert_eq!(co.coins, 100);
    let ev = test_provider::checkout_completed(&acct, "coins_100", Some(&co.checkout_id));
    let body = serde_json::to_vec(&ev).unwrap();

    // An attacker without the secret forges a signature.
    let forged = webhook_sig::sign(b"attacker-guess", now(), &body);
    let e = test_provider::deliver_raw(&s.url, body.clone(), &forged)
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Refused(401, _)), "{e:?}");
    // A captured delivery replayed after the tolerance.
    let stale = webhook_sig::sign(SECRET.as_bytes(), now() - 3600, &body);
    let e = test_provider::deliver_raw(&s.url, body.clone(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProviderError::Refused(401, ref m) if m.contains("stale")),
        "{e:?}"
    );
    // A proxy re-serializes the JSON: the signature no longer covers it.
    let good = webhook_sig::sign(SECRET.as_bytes(), now(), &body);
    let reserialized =
        serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(&body).unwrap())
            .unwrap();
    let e = test_provider::deliver_raw(&s.url, reserialized, &good)
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Refused(401, _)), "{e:?}");
    // Missing header.
    let r = s
        .http
        .post(format!("{}/v1/webhooks/payments", s.url))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        buyer.wallet().await.unwrap().coins.available,
        0,
        "nothing credited yet"
    );

    // The genuine delivery credits once; its replay is acknowledged as a duplicate.
    let ack = test_provider::deliver_raw(&s.url, body.clone(), &good)
        .await
        .unwrap();
    assert_eq!(ack.status, "processed");
    let ack = test_provider::deliver_raw(&s.url, body.clone(), &good)
        .await
        .unwrap();
    assert_eq!(ack.status, "duplicate");
    // The provider re-sends the same checkout as a new event id (its retry): still once.
    let mut again = ev.clone();
    again.id = "evt_retry_of_same_checkout".into();
    assert_eq!(
        test_provider::deliver(&s.url, SECRET, &again)
            .await
            .unwrap()
            .status,
        "duplicate"
    );
    assert_eq!(buyer.wallet().await.unwrap().coins.available, 100);

    // During rotation the previous secret still works.
    let ev2 = test_provider::checkout_completed(&acct, "coins_1200", None);
    assert_eq!(
        test_provider::deliver(&s.url, OLD_SECRET, &ev2)
            .await
            .unwrap()
            .status,
        "processed"
    );
    assert_eq!(buyer.wallet().await.unwrap().coins.available, 1300);
    s.invariant_ok().await;
}

async fn subscription_lifecycle(b: Backend) {
    let Some(s) = start(b).await else { return };
    let mut member = s.user().await;
    let acct = member.account().to_hex();
    assert_eq!(member.wallet().await.unwrap().tier, "free");
    let t = member.entitlement().await.unwrap();
    assert_eq!(t.body.tier, "free");
    assert!(!t.allows("host_large_rooms"));

    let renew = test_provider::subscription_renewed(&acct, "vip_monthly", now() + 30 * 86_400);
    assert_eq!(
        test_provider::deliver(&s.url, SECRET, &renew)
            .await
            .unwrap()
            .status,
        "processed"
    );
    assert_eq!(
        test_provider::deliver(&s.url, SECRET, &renew)
            .await
            .unwrap()
            .status,
        "duplicate"
    );
    let t = member.entitlement().await.unwrap();
    assert_eq!(t.body.tier, "vip");
    assert!(t.allows("host_large_rooms"));
    assert_eq!(t.body.peer_id, member.account().peer_id().unwrap());

    // The period ends without renewal: back to free.
    s.clock.advance(31 * 86_400);
    member.login().await.unwrap(); // the old session expired with the clock jump
    assert_eq!(member.entitlement().await.unwrap().body.tier, "free");
    // Renewed again (to another tier), then canceled.
    let mut renew = test_provider::subscription_renewed(&acct, "svip_monthly", now() + 60 * 86_400);
    assert_eq!(deliver_now(&s, &mut renew).await, "processed");
    assert_eq!(member.entitlement().await.unwrap().body.tier, "svip");
    s.clock.advance(1);
    let mut cancel = test_provider::subscription_canceled(&acct);
    assert_eq!(deliver_now(&s, &mut cancel).await, "processed");
    assert_eq!(member.entitlement().await.unwrap().body.tier, "free");
}

/// Delivers `ev` signed at the service's (possibly advanced) clock.
async fn deliver_now(s: &common::TestServer, ev: &mut aura_billing::api::WebhookEvent) -> String {
    ev.created = s.clock.now_s();
    let body = serde_json::to_vec(ev).unwrap();
    let sig = webhook_sig::sign(SECRET.as_bytes(), s.clock.now_s(), &body);
    test_provider::deliver_raw(&s.url, body, &sig)
        .await
        .unwrap()
        .status
}

both_backends!(purchase_webhooks, subscription_lifecycle);
