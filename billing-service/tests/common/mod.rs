//! Test harness: an in-process service on port 0 over a real database
//! (a temp SQLite file, or a fresh schema of the PostgreSQL server named by
//! `AURA_TEST_POSTGRES_URL`), plus logged-in clients.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

use std::sync::Arc;

use aura_billing::{
    client::BillingClient,
    clock::Clock,
    config::{Config, Secret},
    ids::{platform, user_account, Currency, DeviceKey},
    ledger::{Transfer, TransferKind},
    server,
    service::{admin::ChainRequest, Service},
};
use ed25519_dalek::SigningKey;
use rand::{rngs::OsRng, RngCore};

pub const SECRET: &str = "whsec_test_current";
pub const OLD_SECRET: &str = "whsec_test_previous";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL URL, or None after printing why the test is skipped.
pub fn pg_url() -> Option<String> {
    match std::env::var("AURA_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!("note: AURA_TEST_POSTGRES_URL is unset; skipping the PostgreSQL variant");
            None
        }
    }
}

pub fn random_schema() -> String {
    let mut b = [0u8; 6];
    OsRng.fill_bytes(&mut b);
    format!("t_{}", hex::encode(b))
}

pub struct TestServer {
    pub url: String,
    pub svc: Arc<Service>,
    pub admin: SigningKey,
    pub clock: Clock,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn base_config(backend: Backend, dir: &std::path::Path) -> Option<Config> {
    let mut c = Config {
        data_dir: dir.to_path_buf(),
        webhook_secrets: vec![Secret(SECRET.into()), Secret(OLD_SECRET.into())],
        rate_limit_per_s: 100_000,
        rate_limit_burst: 100_000,
        // Tests log many devices in from one loopback address; the attack
        // tests turn the per-address limits back on.
        public_rate_limit_per_s: 0,
        login_rate_per_min: 0,
        ..Config::default()
    };
    if backend == Backend::Postgres {
        c.database_url = Some(Secret(pg_url()?));
        c.database_schema = Some(random_schema());
        c.database_max_connections = 8;
    }
    Some(c)
}

/// Starts a server; None when the backend is unavailable (skipped).
pub async fn start(backend: Backend) -> Option<TestServer> {
    start_with(backend, |_| {}).await
}

pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestServer> {
    let dir = tempfile::tempdir().unwrap();
    let mut c = base_config(backend, dir.path())?;
    let admin = SigningKey::generate(&mut OsRng);
    c.admins = vec![hex::encode(admin.verifying_key().to_bytes())];
    tweak(&mut c);
    let clock = Clock::system();
    let svc = server::start(c, clock.clone()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(listener, svc.clone(), async move {
        let _ = rx.await;
    }));
    Some(TestServer {
        url,
        svc,
        admin,
        clock,
        http: reqwest::Client::new(),
        _dir: dir,
        stop: Some(tx),
    })
}

impl TestServer {
    /// A new device, logged in.
    pub async fn user(&self) -> BillingClient {
        let mut c = BillingClient::with_http(
            &self.url,
            SigningKey::generate(&mut OsRng),
            self.http.clone(),
        )
        .unwrap();
        c.login().await.unwrap();
        c
    }

    /// A new device, logged in, that has bought coins once (a paying
    /// account: it may claim daily rewards).
    pub async fn paying_user(&self) -> BillingClient {
        let c = self.user().await;
        let ev = aura_billing::test_provider::checkout_completed(
            &c.account().to_hex(),
            "coins_100",
            None,
        );
        aura_billing::test_provider::deliver(&self.url, SECRET, &ev)
            .await
            .unwrap();
        c
    }

    /// The admin device, logged in.
    pub async fn admin_client(&self) -> BillingClient {
        let mut c =
            BillingClient::with_http(&self.url, self.admin.clone(), self.http.clone()).unwrap();
        c.login().await.unwrap();
        c
    }

    /// Moves `coins` from the coin issuer into `who`'s wallet (admin chain).
    pub async fn fund(&self, who: &DeviceKey, coins: i64) {
        let t = Transfer {
            id: format!("fund-{}", random_schema()),
            debit_account: platform::COIN_ISSUER.into(),
            credit_account: user_account(who, Currency::Coins),
            amount: coins,
            currency: Currency::Coins,
            kind: TransferKind::Single,
            code: 4,
            user_data: String::new(),
        };
        let r = self
            .svc
            .admin_chain(ChainRequest { transfers: vec![t] })
            .await
            .unwrap();
        assert_eq!(r.status, "created");
    }

    pub async fn invariant_ok(&self) {
        let r = self.svc.invariant().await.unwrap();
        assert!(r.ok, "invariant violated: {r:?}");
    }
}

/// Declares `sqlite::NAME` and `postgres::NAME` tests running `NAME(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A coin transfer between two accounts, as an admin would post it.
pub fn tr(id: &str, dr: &str, cr: &str, amount: i64, kind: TransferKind) -> Transfer {
    Transfer {
        id: id.into(),
        debit_account: dr.into(),
        credit_account: cr.into(),
        amount,
        currency: Currency::Coins,
        kind,
        code: aura_billing::ledger::code::ADMIN,
        user_data: String::new(),
    }
}
