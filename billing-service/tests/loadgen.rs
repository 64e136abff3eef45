//! `server::spawn_local` and the bench's lean gift client (`loadgen`) against
//! the real service: gifts over HTTP/2 and HTTP/1.1 are committed and their
//! receipts verified; a receipt checked against an impostor's key, a forged
//! session token, a resent id and an oversized answer are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aura_billing::{
    api::SendGiftRequest,
    bench::loadgen::{self, GiftSender, LoadError, Version},
    client::BillingClient,
    config::Config,
    ids::{platform, user_account, Currency, DeviceKey},
    ledger::{Transfer, TransferKind},
    server::{self, LocalServer},
    service::admin::ChainRequest,
    storage::Storage,
};
use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;

async fn funded_user(s: &LocalServer, coins: i64) -> (DeviceKey, String) {
    let key = SigningKey::generate(&mut OsRng);
    let who = DeviceKey(key.verifying_key().to_bytes());
    s.service
        .admin_chain(ChainRequest {
            transfers: vec![Transfer {
                id: format!("fund-{}", who.to_hex()),
                debit_account: platform::COIN_ISSUER.into(),
                credit_account: user_account(&who, Currency::Coins),
                amount: coins,
                currency: Currency::Coins,
                kind: TransferKind::Single,
                code: 4,
                user_data: String::new(),
            }],
        })
        .await
        .unwrap();
    let mut c = BillingClient::new(&s.url, key).unwrap();
    c.login().await.unwrap();
    (who, c.session_token().unwrap().to_string())
}

fn rose_to(receiver: &DeviceKey) -> SendGiftRequest {
    SendGiftRequest {
        id: String::new(),
        gift: "rose".into(),
        to: receiver.to_hex(),
        room: "room-1".into(),
    }
}

fn other() -> DeviceKey {
    DeviceKey(SigningKey::generate(&mut OsRng).verifying_key().to_bytes())
}

async fn started() -> (tempfile::TempDir, LocalServer) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        dev_mode: true,
        // Many devices log in from this one loopback address.
        public_rate_limit_per_s: 0,
        login_rate_per_min: 0,
        ..Config::default()
    };
    let s = server::spawn_local(config).await.unwrap();
    (dir, s)
}

fn addr(s: &LocalServer) -> std::net::SocketAddr {
    s.url.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test]
async fn lean_client_gifts_over_h2_and_h1_are_committed_with_verified_receipts() {
    let (_dir, s) = started().await;
    // The key spawn_local reports is the one the service publishes.
    let mut probe = BillingClient::new(&s.url, SigningKey::from_bytes(&[5; 32])).unwrap();
    let published = hex::encode(probe.service_key().await.unwrap().to_bytes());
    assert_eq!(s.service_key, published);

    let (who, token) = funded_user(&s, 1_000).await;
    let receiver = DeviceKey(SigningKey::generate(&mut OsRng).verifying_key().to_bytes());
    let h2 = loadgen::connect(addr(&s), Version::Http2).await.unwrap();
    let mut senders = Vec::new();
    for (i, conn) in [h2.share().unwrap(), h2.share().unwrap()]
        .into_iter()
        .enumerate()
    {
        let prefix = format!("h2-{i}-");
        senders.push(
            GiftSender::new(
                conn,
                &token,
                &who,
                s.service.verifying_key(),
                rose_to(&receiver),
                &prefix,
                1,
            )
            .unwrap(),
        );
    }
    let h1 = loadgen::connect(addr(&s), Version::Http1).await.unwrap();
    assert!(h1.share().is_none(), "an HTTP/1.1 connection is not shared");
    senders.push(
        GiftSender::new(
            h1,
            &token,
            &who,
            s.service.verifying_key(),
            rose_to(&receiver),
            "h1-",
            1,
        )
        .unwrap(),
    );
    // The two h2 senders run concurrently on one connection.
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|mut g| {
            tokio::spawn(async move {
                for _ in 0..10 {
                    assert!(g.send_next().await.unwrap(), "every receipt verified");
                }
                g.sent()
            })
        })
        .collect();
    let mut sent = 0;
    for t in tasks {
        sent += t.await.unwrap();
    }
    assert_eq!(sent, 30);
    let accounts = s
        .service
        .store
        .accounts(&[user_account(&who, Currency::Coins)])
        .await
        .unwrap();
    assert_eq!(accounts[0].debits_posted, 30, "30 roses of 1 coin each");
    assert!(s.service.invariant().await.unwrap().ok);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn receipts_checked_against_an_impostor_key_are_refused() {
    let (_dir, s) = started().await;
    let (who, token) = funded_user(&s, 100).await;
    let impostor = SigningKey::generate(&mut OsRng).verifying_key();
    let conn = loadgen::connect(addr(&s), Version::Http2).await.unwrap();
    let mut g = GiftSender::new(conn, &token, &who, impostor, rose_to(&other()), "x-", 1).unwrap();
    assert!(matches!(
        g.send_next().await,
        Err(LoadError::BadReceipt("signature"))
    ));
}

#[tokio::test]
async fn forged_session_token_and_replayed_id_are_not_counted_as_gifts() {
    let (_dir, s) = started().await;
    let (who, token) = funded_user(&s, 100).await;
    let key = s.service.verifying_key();
    let conn = loadgen::connect(addr(&s), Version::Http2).await.unwrap();
    let forged = format!("{token}x");
    let mut g = GiftSender::new(
        conn.share().unwrap(),
        &forged,
        &who,
        key,
        rose_to(&other()),
        "f-",
        1,
    )
    .unwrap();
    assert!(matches!(
        g.send_next().await,
        Err(LoadError::Status(st)) if st.as_u16() == 401
    ));
    // A retry of the same id is a replay (answered with the original
    // receipt, status "replayed"), never counted as another gift.
    let mut a = GiftSender::new(conn, &token, &who, key, rose_to(&other()), "r-", 1).unwrap();
    assert!(a.send_next().await.unwrap());
    assert!(matches!(a.resend_last().await, Err(LoadError::Unexpected)));
}

#[tokio::test]
async fn an_oversized_answer_is_refused_over_h2_and_h1() {
    // A server that answers every gift with 100 KB: the client stops
    // reading at its limit instead of buffering whatever it is sent.
    let big = axum::Router::new().route(
        loadgen::SEND_PATH,
        axum::routing::post(|| async { vec![b'x'; 100 * 1024] }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, big).await });
    let key = SigningKey::generate(&mut OsRng).verifying_key();
    for version in [Version::Http2, Version::Http1] {
        let conn = loadgen::connect(at, version).await.unwrap();
        let mut g = GiftSender::new(conn, "t", &other(), key, rose_to(&other()), "o-", 0).unwrap();
        let got = g.send_next().await;
        assert!(
            matches!(got, Err(LoadError::TooLarge)),
            "{version:?}: {got:?}"
        );
    }
}
