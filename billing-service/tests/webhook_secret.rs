//! The payment webhook secret is what stands between anyone on the internet
//! and minting coins: the ledger refuses to start without one of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aura_billing::{
    clock::Clock,
    config::{Config, Secret, DEV_WEBHOOK_SECRET},
    server::{self, ServeError},
    test_provider,
};

fn config(dir: &std::path::Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    }
}

/// A config with no `webhook_secrets` used to fall back to the public
/// `whsec_local_test`: anyone could sign a `checkout.completed`.
#[tokio::test]
async fn ledger_without_webhook_secret_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let e = server::start(config(dir.path()), Clock::system()).await;
    assert!(e.is_err(), "started with no webhook secret");
}

/// The test provider's default secret is in the source tree: refused too.
#[tokio::test]
async fn well_known_webhook_secret_is_refused_outside_dev_mode() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["whsec_local_test", "", "   "] {
        let c = Config {
            webhook_secrets: vec![
                Secret("whsec_a_real_secret_0123456789".into()),
                Secret(bad.into()),
            ],
            ..config(dir.path())
        };
        let e = server::start(c, Clock::system()).await;
        assert!(e.is_err(), "started with webhook secret {bad:?}");
    }
}

/// Explicit dev mode takes the public secret (the demo, `test-provider
/// --dev`) and serves on loopback only.
#[tokio::test]
async fn dev_mode_accepts_the_dev_secret_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config {
        dev_mode: true,
        ..config(dir.path())
    };
    let local = server::spawn_local(c.clone()).await.unwrap();
    let buyer = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let ev = test_provider::checkout_completed(
        &hex::encode(buyer.verifying_key().to_bytes()),
        "coins_100",
        None,
    );
    let ack = test_provider::deliver(&local.url, DEV_WEBHOOK_SECRET, &ev)
        .await
        .unwrap();
    assert_eq!(ack.status, "processed");
    local.shutdown().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let svc = server::start(
        Config {
            data_dir: dir.path().to_path_buf(),
            ..c
        },
        Clock::system(),
    )
    .await
    .unwrap();
    let open = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let e = server::serve(open, svc, async {}).await;
    assert!(matches!(e, Err(ServeError::DevModeNotLoopback(_))), "{e:?}");
}
