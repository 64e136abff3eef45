//! Crash test: the real `aura-billing` binary is SIGKILLed repeatedly while
//! clients send gifts, then restarted. Every acknowledged gift survives, every
//! in-doubt gift is resolved by retrying its id (committed exactly once), and
//! balances and the debit/credit invariant reconcile exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::{
    collections::HashMap,
    path::Path,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use aura_billing::{
    api::{
        ChallengeRequest, ChallengeResponse, LoginRequest, SendGiftRequest, SendGiftResponse,
        Wallet,
    },
    ids::{platform, user_account, Currency, DeviceKey},
    ledger::{Transfer, TransferKind},
    service::admin::ChainRequest,
};
use common::{pg_url, random_schema, Backend};
use ed25519_dalek::{Signer, SigningKey};
use rand::{rngs::OsRng, Rng};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::Mutex,
};

const SENDERS: usize = 6;
const FUNDS: i64 = 1_000_000;
const ROUNDS: usize = 6;

struct Proc {
    child: Child,
    url: String,
}

fn command(sub: &[&str], dir: &Path, admin: &str, pg: &Option<(String, String)>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aura-billing"));
    c.arg("--data-dir")
        .arg(dir)
        .args(sub)
        .env("AURA_BILLING_ADMINS", admin)
        .env("AURA_BILLING_RATE_LIMIT_PER_S", "1000000")
        .env("AURA_BILLING_PUBLIC_RATE_LIMIT_PER_S", "0")
        .env("AURA_BILLING_LOGIN_RATE_PER_MIN", "0")
        .env("AURA_BILLING_WEBHOOK_SECRETS", "whsec_crash_test_secret")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some((url, schema)) = pg {
        c.env("AURA_BILLING_DATABASE_URL", url)
            .env("AURA_BILLING_DATABASE_SCHEMA", schema);
    }
    c
}

async fn spawn(dir: &Path, admin: &str, pg: &Option<(String, String)>) -> Proc {
    let mut child = command(&["serve", "--listen", "127.0.0.1:0"], dir, admin, pg)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("service did not start")
        .unwrap()
        .expect("service exited");
    let addr = line.strip_prefix("listening on ").expect("address line");
    Proc {
        child,
        url: format!("http://{addr}"),
    }
}

async fn login(http: &reqwest::Client, url: &str, key: &SigningKey) -> String {
    let account = hex::encode(key.verifying_key().to_bytes());
    let ch: ChallengeResponse = http
        .post(format!("{url}/v1/auth/challenge"))
        .json(&ChallengeRequest {
            account: account.clone(),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signature = hex::encode(
        key.sign(&aura_billing::login::signed_message(&ch.challenge))
            .to_bytes(),
    );
    let r: serde_json::Value = http
        .post(format!("{url}/v1/auth/login"))
        .json(&LoginRequest {
            account,
            challenge: ch.challenge,
            signature,
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["token"].as_str().unwrap().to_string()
}

async fn send(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    req: &SendGiftRequest,
) -> Result<SendGiftResponse, String> {
    let r = http
        .post(format!("{url}/v1/gifts/send"))
        .bearer_auth(token)
        .json(req)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("status {}", r.status()));
    }
    r.json().await.map_err(|e| e.to_string())
}

/// The receipt's body: a replay returns the original one (its batch
/// signature and proof are fresh).
fn body_of(r: &SendGiftResponse) -> String {
    serde_json::to_string(&r.receipt.body).unwrap()
}

#[derive(Default)]
struct Sender {
    next: u64,
    acked: HashMap<String, String>,
    in_doubt: Vec<String>,
}

async fn crash_scenario(backend: Backend) {
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match pg_url() {
            Some(u) => Some((u, random_schema())),
            None => return,
        },
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let admin = SigningKey::generate(&mut OsRng);
    let admin_hex = hex::encode(admin.verifying_key().to_bytes());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut p = spawn(dir.path(), &admin_hex, &pg).await;

    let keys: Vec<SigningKey> = (0..SENDERS)
        .map(|_| SigningKey::generate(&mut OsRng))
        .collect();
    let receiver = SigningKey::generate(&mut OsRng);
    let receiver_hex = hex::encode(receiver.verifying_key().to_bytes());
    let admin_token = login(&http, &p.url, &admin).await;
    for (i, k) in keys.iter().enumerate() {
        let t = Transfer {
            id: format!("fund-{i}"),
            debit_account: platform::COIN_ISSUER.into(),
            credit_account: user_account(&DeviceKey(k.verifying_key().to_bytes()), Currency::Coins),
            amount: FUNDS,
            currency: Currency::Coins,
            kind: TransferKind::Single,
            code: 4,
            user_data: String::new(),
        };
        let r = http
            .post(format!("{}/v1/admin/transfers", p.url))
            .bearer_auth(&admin_token)
            .json(&ChainRequest { transfers: vec![t] })
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    // Session tokens survive restarts: they are MACed under a key derived from the persisted service key.
    let mut tokens = Vec::new();
    for k in &keys {
        tokens.push(login(&http, &p.url, k).await);
    }
    let state: Vec<Arc<Mutex<Sender>>> = (0..SENDERS).map(|_| Arc::default()).collect();
    let (mut kills, mut doubted) = (0, 0);
    for round in 0..ROUNDS {
        let mut tasks = Vec::new();
        for (i, st) in state.iter().enumerate() {
            let (http, url, token, st, to) = (
                http.clone(),
                p.url.clone(),
                tokens[i].clone(),
                st.clone(),
                receiver_hex.clone(),
            );
            tasks.push(tokio::spawn(async move {
                loop {
                    let id = {
                        let mut s = st.lock().await;
                        s.next += 1;
                        format!("c{}", s.next)
                    };
                    let req = SendGiftRequest {
                        id: id.clone(),
                        gift: "heart".into(),
                        to: to.clone(),
                        room: "crash".into(),
                    };
                    match send(&http, &url, &token, &req).await {
                        Ok(r) => {
                            assert_eq!(r.status, "created");
                            st.lock().await.acked.insert(id, body_of(&r));
                        }
                        Err(_) => {
                            st.lock().await.in_doubt.push(id);
                            return;
                        }
                    }
                }
            }));
        }
        let ms = rand::thread_rng().gen_range(150..400);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        p.child.start_kill().unwrap(); // SIGKILL on Unix
        p.child.wait().await.unwrap();
        kills += 1;
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(15), t)
                .await
                .unwrap()
                .unwrap();
        }
        p = spawn(dir.path(), &admin_hex, &pg).await;
        // Every in-doubt id is retried now: committed exactly once whatever happened.
        for (i, st) in state.iter().enumerate() {
            let doubts: Vec<String> = std::mem::take(&mut st.lock().await.in_doubt);
            doubted += doubts.len();
            for id in doubts {
                let req = SendGiftRequest {
                    id: id.clone(),
                    gift: "heart".into(),
                    to: receiver_hex.clone(),
                    room: "crash".into(),
                };
                let r = send(&http, &p.url, &tokens[i], &req).await.unwrap();
                st.lock().await.acked.insert(id, body_of(&r));
            }
            // Acknowledged gifts were not lost: their retry is a replay with the same receipt body.
            let sample: Vec<(String, String)> = {
                let s = st.lock().await;
                s.acked
                    .iter()
                    .take(20)
                    .map(|(a, b)| (a.clone(), b.clone()))
                    .collect()
            };
            for (id, sig) in sample {
                let req = SendGiftRequest {
                    id,
                    gift: "heart".into(),
                    to: receiver_hex.clone(),
                    room: "crash".into(),
                };
                let r = send(&http, &p.url, &tokens[i], &req).await.unwrap();
                assert_eq!((r.status.as_str(), body_of(&r)), ("replayed", sig));
            }
        }
        eprintln!("round {round}: restarted after SIGKILL at {ms} ms");
    }
    // Balances reconcile exactly with the set of distinct ids sent.
    let mut total = 0i64;
    for (i, st) in state.iter().enumerate() {
        let n = st.lock().await.acked.len() as i64;
        assert_eq!(n, st.lock().await.next as i64, "every id resolved");
        total += n;
        let w: Wallet = http
            .get(format!("{}/v1/wallet", p.url))
            .bearer_auth(&tokens[i])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            w.coins.available,
            FUNDS - 10 * n,
            "sender {i}: lost or duplicated transfer"
        );
    }
    let recv_token = login(&http, &p.url, &receiver).await;
    let w: Wallet = http
        .get(format!("{}/v1/wallet", p.url))
        .bearer_auth(&recv_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(w.diamonds.available, 7 * total);
    assert!(total > 50, "too little load to mean anything: {total}");
    p.child.start_kill().unwrap();
    p.child.wait().await.unwrap();
    // The offline check of the binary itself.
    let mut check = command(&["check-invariant"], dir.path(), &admin_hex, &pg);
    let out = check.output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "check-invariant failed: {text}");
    assert!(text.contains("\"ok\": true"), "{text}");
    assert!(doubted >= SENDERS, "kills hit no in-flight request");
    eprintln!(
        "{kills} kills, {total} gifts, {doubted} in doubt at a kill, {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_gift_load_sqlite() {
    crash_scenario(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_gift_load_postgres() {
    crash_scenario(Backend::Postgres).await;
}
