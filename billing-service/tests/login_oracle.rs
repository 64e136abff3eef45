//! A malicious ledger (or anyone on a plain-HTTP path) answers the login
//! challenge request with bytes of its choosing: the device key, which is
//! also the node's libp2p identity, must not sign them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use aura_billing::{
    api::{ChallengeResponse, LoginRequest, LoginResponse},
    client::BillingClient,
};
use axum::{routing::post, Json, Router};
use ed25519_dalek::{Signature, SigningKey};
use rand::rngs::OsRng;

type Seen = Arc<Mutex<Vec<LoginRequest>>>;

/// A fake ledger that hands out `challenge` and records every login body.
async fn fake_ledger(challenge: String) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let rec = seen.clone();
    let app = Router::new()
        .route(
            "/v1/auth/challenge",
            post(move || {
                let challenge = challenge.clone();
                async move {
                    Json(ChallengeResponse {
                        challenge,
                        expires_at: i64::MAX,
                    })
                }
            }),
        )
        .route(
            "/v1/auth/login",
            post(move |Json(r): Json<LoginRequest>| {
                rec.lock().unwrap().push(r);
                async {
                    Json(LoginResponse {
                        token: "t".into(),
                        expires_at: 0,
                    })
                }
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, seen)
}

fn well_shaped(account: &str) -> String {
    format!(
        "aura-billing-login/v1:{account}:4102444800:{}:{}",
        "ab".repeat(16),
        "cd".repeat(32)
    )
}

#[tokio::test]
async fn malicious_ledger_cannot_make_the_device_sign_foreign_bytes() {
    // E.g. a gossipsub message or a roster op the attacker wants signed.
    for foreign in [
        "libp2p-pubsub:\u{8}\u{1}forged".to_string(),
        "aura-billing-login/v1".to_string(),
        format!("{}:extra", well_shaped(&"00".repeat(32))),
        String::new(),
    ] {
        let (url, seen) = fake_ledger(foreign.clone()).await;
        let mut c = BillingClient::new(&url, SigningKey::generate(&mut OsRng)).unwrap();
        assert!(c.login().await.is_err(), "signed {foreign:?}");
        assert!(
            seen.lock().unwrap().is_empty(),
            "a signature over {foreign:?} left the device"
        );
    }
}

#[tokio::test]
async fn challenge_naming_another_account_is_not_signed() {
    let other = SigningKey::generate(&mut OsRng);
    let (url, seen) =
        fake_ledger(well_shaped(&hex::encode(other.verifying_key().to_bytes()))).await;
    let mut c = BillingClient::new(&url, SigningKey::generate(&mut OsRng)).unwrap();
    assert!(c.login().await.is_err());
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn login_signature_never_verifies_over_the_raw_challenge() {
    let key = SigningKey::generate(&mut OsRng);
    let challenge = well_shaped(&hex::encode(key.verifying_key().to_bytes()));
    let (url, seen) = fake_ledger(challenge.clone()).await;
    let mut c = BillingClient::new(&url, key.clone()).unwrap();
    c.login().await.unwrap();
    let r = seen.lock().unwrap().pop().unwrap();
    let mut sig = [0u8; 64];
    hex::decode_to_slice(&r.signature, &mut sig).unwrap();
    let sig = Signature::from_bytes(&sig);
    // The signed bytes are domain-separated by the client, not chosen by the server.
    assert!(key
        .verifying_key()
        .verify_strict(challenge.as_bytes(), &sig)
        .is_err());
    assert!(key
        .verifying_key()
        .verify_strict(&aura_billing::login::signed_message(&challenge), &sig)
        .is_ok());
}
