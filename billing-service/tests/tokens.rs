//! Receipts, entitlement tokens and sessions under attack: tampered or
//! expired ones fail; a token for one peer does not work for another; a
//! session of one device cannot act as another; per-identity rate limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_billing::{
    api::{ChallengeRequest, ChallengeResponse, LoginRequest, SendGiftRequest},
    client::verify_receipt,
    ids::DeviceKey,
    login::signed_message,
    signed::{Signed, VerifyError},
};
use common::{start, start_with, Backend};
use ed25519_dalek::{Signer, SigningKey};
use rand::rngs::OsRng;

async fn tampered_receipts_and_tokens_fail(b: Backend) {
    let Some(s) = start(b).await else { return };
    let mut alice = s.user().await;
    let bob = s.user().await;
    s.fund(&alice.account(), 10).await;
    let req = SendGiftRequest {
        id: "t1".into(),
        gift: "rose".into(),
        to: bob.account().to_hex(),
        room: "r".into(),
    };
    let receipt = alice.send_gift(&req).await.unwrap().receipt;
    let sk = alice.service_key().await.unwrap();
    verify_receipt(&receipt, &sk).unwrap();

    // A sender inflates the gift in the receipt it broadcasts.
    let mut inflated = receipt.clone();
    inflated.body.coins = 500;
    assert_eq!(
        verify_receipt(&inflated, &sk),
        Err(VerifyError::BadSignature)
    );
    // A forger signs a receipt with its own key.
    let forger = SigningKey::generate(&mut OsRng);
    let forged = Signed::sign(receipt.body.clone(), &forger).unwrap();
    assert_eq!(verify_receipt(&forged, &sk), Err(VerifyError::BadSignature));
    // A garbage signature.
    let mut junk = receipt.clone();
    junk.signature = "zz".into();
    assert_eq!(verify_receipt(&junk, &sk), Err(VerifyError::BadSignature));

    let token = alice.entitlement().await.unwrap();
    let now = s.clock.now_s();
    token.verify_for(&sk, &alice.account(), now).unwrap();
    // A peer presents alice's token as its own.
    assert_eq!(
        token.verify_for(&sk, &bob.account(), now),
        Err(VerifyError::WrongPeer)
    );
    // A free member upgrades its own token.
    let mut upgraded = token.clone();
    upgraded.body.tier = "svip".into();
    upgraded.body.allows.push("host_large_rooms".into());
    assert_eq!(
        upgraded.verify_for(&sk, &alice.account(), now),
        Err(VerifyError::BadSignature)
    );
    // An old token is replayed after it expired.
    assert_eq!(
        token.verify_for(&sk, &alice.account(), token.body.exp),
        Err(VerifyError::Expired)
    );
    // A receipt signature does not pass as a token (domain separation).
    let cross: Signed<aura_billing::signed::Entitlement> = Signed {
        body: token.body.clone(),
        signature: receipt.signature.clone(),
        batch: None,
    };
    assert!(cross.verify_for(&sk, &alice.account(), now).is_err());
}

async fn session_attacks(b: Backend) {
    let Some(s) = start(b).await else { return };
    let victim = SigningKey::generate(&mut OsRng);
    let victim_hex = hex::encode(victim.verifying_key().to_bytes());
    let post = |path: &str| s.http.post(format!("{}{path}", s.url));
    let ch: ChallengeResponse = post("/v1/auth/challenge")
        .json(&ChallengeRequest {
            account: victim_hex.clone(),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // An impostor signs the victim's challenge with its own key.
    let impostor = SigningKey::generate(&mut OsRng);
    let bad = LoginRequest {
        account: victim_hex.clone(),
        challenge: ch.challenge.clone(),
        signature: hex::encode(impostor.sign(&signed_message(&ch.challenge)).to_bytes()),
    };
    assert_eq!(
        post("/v1/auth/login")
            .json(&bad)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // An impostor invents a challenge.
    let fake = format!("aura-billing-login/v1:{victim_hex}:9999999999:00:00");
    let bad = LoginRequest {
        account: victim_hex.clone(),
        challenge: fake.clone(),
        signature: hex::encode(victim.sign(&signed_message(&fake)).to_bytes()),
    };
    assert_eq!(
        post("/v1/auth/login")
            .json(&bad)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // The genuine login works once; a replayed login message is refused.
    let good = LoginRequest {
        account: victim_hex.clone(),
        challenge: ch.challenge.clone(),
        signature: hex::encode(victim.sign(&signed_message(&ch.challenge)).to_bytes()),
    };
    assert_eq!(
        post("/v1/auth/login")
            .json(&good)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        post("/v1/auth/login")
            .json(&good)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // A session token with a changed account or expiry is refused.
    let attacker = s.user().await;
    let tok = attacker.session_token().unwrap().to_string();
    let parts: Vec<&str> = tok.split('.').collect();
    let swapped = format!("{victim_hex}.{}.{}", parts[1], parts[2]);
    let extended = format!("{}.{}.{}", parts[0], 9_999_999_999i64, parts[2]);
    for t in [swapped, extended, "garbage".to_string()] {
        let r = s
            .http
            .get(format!("{}/v1/wallet", s.url))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = s
        .http
        .get(format!("{}/v1/wallet", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // An expired session is refused.
    s.clock.advance(3600);
    let r = s
        .http
        .get(format!("{}/v1/wallet", s.url))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Admin endpoints refuse ordinary users.
    let mut u = aura_billing::client::BillingClient::with_http(
        &s.url,
        SigningKey::generate(&mut OsRng),
        s.http.clone(),
    )
    .unwrap();
    u.login().await.unwrap();
    let r = s
        .http
        .get(format!("{}/v1/admin/invariant", s.url))
        .bearer_auth(u.session_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let _ = DeviceKey::parse_hex(&victim_hex).unwrap();
}

async fn flooding_identity_is_rate_limited(b: Backend) {
    let Some(s) = start_with(b, |c| {
        c.rate_limit_per_s = 5;
        c.rate_limit_burst = 10;
    })
    .await
    else {
        return;
    };
    let flooder = s.user().await;
    let other = s.user().await;
    let mut limited = 0;
    for _ in 0..40 {
        if let Err(aura_billing::client::ClientError::Api { status: 429, .. }) =
            flooder.wallet().await
        {
            limited += 1;
        }
    }
    assert!(limited >= 25, "only {limited} of 40 limited");
    // Another identity is unaffected.
    other.wallet().await.unwrap();
    assert!(s
        .svc
        .metrics
        .render()
        .contains("aura_billing_rate_limited_total"));
}

async fn oversized_body_is_refused(b: Backend) {
    let Some(s) = start(b).await else { return };
    let big = vec![b'a'; 200 * 1024];
    let r = s
        .http
        .post(format!("{}/v1/webhooks/payments", s.url))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

both_backends!(
    tampered_receipts_and_tokens_fail,
    session_attacks,
    flooding_identity_is_rate_limited,
    oversized_body_is_refused
);
