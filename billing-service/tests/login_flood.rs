//! One client flooding logins (fresh keys from one address) or public
//! endpoints is rate-limited per address, cannot fill the ledger's nonce
//! store to lock others out, and one account's logins are limited per key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::net::IpAddr;

use aura_billing::{
    client::{BillingClient, ClientError},
    config::Config,
};
use common::{start_with, Backend};
use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;

fn from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(ip))
        .build()
        .unwrap()
}

/// The shipped per-address and per-key limits (the harness turns them off).
fn shipped_limits(c: &mut Config) {
    let d = Config::default();
    c.public_rate_limit_per_s = d.public_rate_limit_per_s;
    c.public_rate_limit_burst = d.public_rate_limit_burst;
    c.login_rate_per_min = d.login_rate_per_min;
    c.login_burst = d.login_burst;
}

async fn login_from(url: &str, http: &reqwest::Client) -> Result<(), ClientError> {
    let mut c = BillingClient::with_http(url, SigningKey::generate(&mut OsRng), http.clone())?;
    c.login().await
}

async fn flooding_logins_from_one_address_is_limited(b: Backend) {
    let Some(s) = start_with(b, shipped_limits).await else {
        return;
    };
    let flooder = from([127, 0, 0, 2]);
    let mut limited = 0;
    for _ in 0..60 {
        match login_from(&s.url, &flooder).await {
            Ok(()) => {}
            Err(ClientError::Api { status: 429, .. }) => limited += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(limited >= 30, "only {limited} of 60 logins limited");
    login_from(&s.url, &from([127, 0, 0, 3])).await.unwrap();
}

/// With a small nonce store, one address logging in fresh keys as fast as it
/// may holds only its share: others still log in (the old global cap
/// answered 503 to everyone once one client had filled it).
async fn one_address_cannot_fill_the_nonce_store(b: Backend) {
    let Some(s) = start_with(b, |c| {
        shipped_limits(c);
        c.login_nonce_capacity = 4 * (c.login_burst + c.login_rate_per_min) as usize;
    })
    .await
    else {
        return;
    };
    let flooder = from([127, 0, 0, 4]);
    for _ in 0..200 {
        let _ = login_from(&s.url, &flooder).await;
    }
    for i in 0..3u8 {
        login_from(&s.url, &from([127, 0, 1, i])).await.unwrap();
    }
}

/// A public endpoint hammered from one address; another address is served.
async fn flooding_public_endpoints_is_limited_per_address(b: Backend) {
    let Some(s) = start_with(b, shipped_limits).await else {
        return;
    };
    let flooder = from([127, 0, 0, 5]);
    let mut limited = 0;
    for _ in 0..120 {
        let r = flooder
            .get(format!("{}/v1/gifts", s.url))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited += 1;
        }
    }
    // 50 at once, then 20 a second: most of a fast flood is refused.
    assert!(limited >= 20, "only {limited} of 120 limited");
    let r = from([127, 0, 0, 6])
        .get(format!("{}/v1/gifts", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// One key logging in again and again from many addresses is limited per
/// key; a stranger's failed logins naming that key do not spend its budget.
async fn one_key_logging_in_from_many_addresses_is_limited(b: Backend) {
    let Some(s) = start_with(b, shipped_limits).await else {
        return;
    };
    let key = SigningKey::generate(&mut OsRng);
    // A stranger sends bad signatures for the key: refused as 401, not counted.
    let victim = hex::encode(key.verifying_key().to_bytes());
    for i in 0..20u8 {
        let http = from([127, 0, 2, i]);
        let ch: aura_billing::api::ChallengeResponse = http
            .post(format!("{}/v1/auth/challenge", s.url))
            .json(&aura_billing::api::ChallengeRequest {
                account: victim.clone(),
            })
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let r = http
            .post(format!("{}/v1/auth/login", s.url))
            .json(&aura_billing::api::LoginRequest {
                account: victim.clone(),
                challenge: ch.challenge,
                signature: "00".repeat(64),
            })
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let mut limited = 0;
    for i in 0..30u8 {
        let mut c = BillingClient::with_http(&s.url, key.clone(), from([127, 0, 3, i])).unwrap();
        match c.login().await {
            Ok(()) => {}
            Err(ClientError::Api { status: 429, .. }) => limited += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    // The burst passes (plus one per 3 s of test time), the rest is limited.
    let burst = Config::default().login_burst;
    assert!(
        (30 - burst - 3..=30 - burst).contains(&limited),
        "{limited} of 30 logins limited"
    );
}

both_backends!(
    flooding_logins_from_one_address_is_limited,
    one_address_cannot_fill_the_nonce_store,
    flooding_public_endpoints_is_limited_per_address,
    one_key_logging_in_from_many_addresses_is_limited
);
