//! The `ledger` benchmark suite: concurrent gift transfers through the real
//! HTTP service (in-process server on loopback, real database) for a fixed
//! time; reports gifts per second, p50/p99 latency and the invariant check.
//! Each gift is one durable linked chain (sender coins -> revenue, issuer ->
//! receiver diamonds), acknowledged only after commit.
//!
//! Run by `aura-examples`' `bench ledger` and by this crate's `ledger_bench`
//! example; both print the [`Report`] this returns.

use std::{
    fmt,
    time::{Duration, Instant},
};

use ed25519_dalek::SigningKey;
use rand::{rngs::OsRng, RngCore};

use super::{loadgen, process_cpu_s};
use crate::{
    api::SendGiftRequest,
    client::{BillingClient, ClientError},
    config::{Config, Secret},
    ids::{platform, user_account, Currency, DeviceKey},
    ledger::{InvariantReport, Transfer, TransferKind},
    server::{self, ServeError},
    service::{admin::ChainRequest, ServiceError},
    storage::{Storage, StoreError},
    writer::CommitMode,
};

/// Why the suite could not run (a violated invariant is a [`Report`] that
/// [`Report::verdict`] refuses).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The arguments do not make a run.
    #[error("{0}")]
    Args(String),
    /// A temporary directory or the service's address.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The in-process service did not start or stop.
    #[error("service: {0}")]
    Serve(#[from] ServeError),
    /// Funding a sender or reading the catalog failed.
    #[error("setup: {0}")]
    Service(#[from] ServiceError),
    /// Logging a sender in failed.
    #[error("login: {0}")]
    Client(#[from] ClientError),
    /// The setup's HTTP client.
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
    /// Opening a load connection.
    #[error("load: {0}")]
    Load(#[from] loadgen::LoadError),
    /// Reading the revenue account.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A sender's task failed.
    #[error("sender task: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The run ended with a violated invariant or unreconciled revenue.
    #[error("ledger invariant violated: {0:?}")]
    Invariant(Box<InvariantReport>),
}

/// Command-line options of this suite.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `sqlite` (a temp file) or `postgres` (needs --database-url).
    #[arg(long, default_value = "sqlite")]
    pub backend: String,
    /// PostgreSQL URL (a fresh schema is created in it).
    #[arg(long, env = "AURA_TEST_POSTGRES_URL")]
    pub database_url: Option<String>,
    /// Measurement time, seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent clients (each its own device and session, one gift in
    /// flight at a time): a busy service's phones. More clients in flight
    /// fill larger commits, which cost less CPU per gift.
    #[arg(long, default_value_t = 512)]
    pub concurrency: usize,
    /// `batched` (group commit) or `per-request` (one transaction each).
    #[arg(long, default_value = "batched")]
    pub commit_mode: CommitMode,
    /// Print one JSON object instead of human-readable figures.
    #[arg(long)]
    pub json: bool,
    /// HTTP version: `2` (h2c, concurrent requests share a few connections)
    /// or `1` (HTTP/1.1, one connection per client in flight).
    #[arg(long, default_value_t = 2)]
    pub http: u8,
    /// HTTP/2 connections the clients share (round robin).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The writer's commit mode.
    pub commit_mode: CommitMode,
    /// Concurrent clients.
    pub concurrency: usize,
    /// HTTP version of the gifts.
    pub http: u8,
    /// Measured time, seconds.
    pub seconds: f64,
    /// Gifts answered with a fresh receipt.
    pub gifts: i64,
    /// Gifts that failed.
    pub errors: u64,
    /// Gifts per second.
    pub transfers_per_s: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Process CPU (client and server) per gift, µs.
    pub cpu_us_per_gift: f64,
    /// Writer transactions during the run (and its setup).
    pub commits: f64,
    /// Mean chains per writer transaction.
    pub chains_per_commit: f64,
    /// Mean ms per writer transaction.
    pub ms_per_commit: f64,
    /// Share of the run the single writer spent inside transactions.
    pub writer_busy: f64,
    /// Receipts whose signature was verified.
    pub receipts_verified: u64,
    /// The revenue account holds exactly the gifts' price.
    pub revenue_ok: bool,
    /// Invariant, revenue, errors and receipts all as they must be.
    pub invariant_ok: bool,
    /// The ledger's invariant check after the run.
    pub invariant: InvariantReport,
}

impl Report {
    /// The figures as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "suite": "ledger",
            "backend": self.backend,
            "commit_mode": self.commit_mode,
            "concurrency": self.concurrency,
            "http": self.http,
            "seconds": self.seconds,
            "gifts": self.gifts,
            "errors": self.errors,
            "transfers_per_s": self.transfers_per_s,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "cpu_us_per_gift": self.cpu_us_per_gift,
            "chains_per_commit": self.chains_per_commit,
            "writer_busy": self.writer_busy,
            "receipts_verified": self.receipts_verified,
            "invariant_ok": self.invariant_ok,
        })
    }

    /// `Ok` when the ledger came out of the run as it must.
    pub fn verdict(&self) -> Result<(), BenchError> {
        if self.invariant_ok {
            Ok(())
        } else {
            Err(BenchError::Invariant(Box::new(self.invariant.clone())))
        }
    }
}

/// The figures, human-readable.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ok = self.gifts;
        writeln!(
            f,
            "ledger bench: backend={} commit_mode={:?} concurrency={}",
            self.backend, self.commit_mode, self.concurrency
        )?;
        writeln!(
            f,
            "  {ok} durable gift transfers in {:.1} s = {:.0} /s ({} errors)",
            self.seconds, self.transfers_per_s, self.errors
        )?;
        writeln!(
            f,
            "  latency p50 {:.2} ms, p99 {:.2} ms",
            self.p50_ms, self.p99_ms
        )?;
        writeln!(
            f,
            "  receipts: all {ok} fresh, {} signatures verified (each client's first, then 1 in {VERIFY_EVERY})",
            self.receipts_verified
        )?;
        writeln!(
            f,
            "  process CPU (client + server): {:.0} µs per gift",
            self.cpu_us_per_gift
        )?;
        writeln!(
            f,
            "  writer: {:.0} transactions, {:.1} chains each, {:.2} ms each, busy {:.0}% of the run",
            self.commits,
            self.chains_per_commit,
            self.ms_per_commit,
            self.writer_busy * 100.0
        )?;
        write!(
            f,
            "  invariant: {} ({} transfers in the ledger, revenue reconciles: {})",
            if self.invariant_ok { "ok" } else { "VIOLATED" },
            self.invariant.transfers,
            self.revenue_ok
        )
    }
}

/// One receipt in this many is decoded and its signature verified.
const VERIFY_EVERY: u64 = 64;

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs the suite and returns its figures.
pub async fn run(args: Args) -> Result<Report, BenchError> {
    let dir = tempfile::tempdir()?;
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        commit_mode: args.commit_mode,
        rate_limit_per_s: 10_000_000,
        rate_limit_burst: 10_000_000,
        webhook_secrets: vec![Secret(random_hex(16))],
        // Every simulated phone logs in from this one loopback address.
        public_rate_limit_per_s: 0,
        login_rate_per_min: 0,
        ..Config::default()
    };
    match args.backend.as_str() {
        "sqlite" => {}
        "postgres" => {
            let url = args.database_url.clone().ok_or_else(|| {
                BenchError::Args("--backend postgres needs --database-url".into())
            })?;
            config.database_url = Some(Secret(url));
            config.database_schema = Some(format!("bench_{}", random_hex(6)));
            config.database_max_connections = (args.concurrency as u32).clamp(8, 64);
        }
        other => {
            return Err(BenchError::Args(format!(
                "unknown backend {other:?}: use sqlite or postgres"
            )))
        }
    }
    let server = server::spawn_local(config).await?;
    let (svc, url) = (server.service.clone(), server.url.clone());
    let addr = url
        .trim_start_matches("http://")
        .parse::<std::net::SocketAddr>()
        .map_err(|e| BenchError::Args(format!("service address {url}: {e}")))?;

    // Setup (funding, login) goes through the regular client; the measured
    // gifts through `loadgen`'s lean connections: HTTP/2 streams shared
    // round robin over `--connections`, or one HTTP/1.1 connection per client.
    let version = match args.http {
        1 => loadgen::Version::Http1,
        2 => loadgen::Version::Http2,
        v => return Err(BenchError::Args(format!("--http {v}: use 1 or 2"))),
    };
    let http = reqwest::Client::builder().http2_prior_knowledge().build()?;
    let funds = 1_000_000_000i64;
    let receivers: Vec<String> = (0..16)
        .map(|_| hex_key(&SigningKey::generate(&mut OsRng)))
        .collect();
    let mut logins = Vec::with_capacity(args.concurrency);
    for i in 0..args.concurrency {
        let key = SigningKey::generate(&mut OsRng);
        let who = DeviceKey(key.verifying_key().to_bytes());
        let fund = Transfer {
            id: format!("bench-fund-{i}"),
            debit_account: platform::COIN_ISSUER.into(),
            credit_account: user_account(&who, Currency::Coins),
            amount: funds,
            currency: Currency::Coins,
            kind: TransferKind::Single,
            code: 4,
            user_data: String::new(),
        };
        svc.admin_chain(ChainRequest {
            transfers: vec![fund],
        })
        .await?;
        let mut c = BillingClient::with_http(&url, key, http.clone())?;
        c.login().await?;
        let token = c
            .session_token()
            .ok_or_else(|| BenchError::Args("login gave no session token".into()))?;
        logins.push((who, token.to_string()));
    }
    let price = svc
        .catalog()
        .iter()
        .find(|g| g.id == "rose")
        .map(|g| g.price_coins)
        .ok_or_else(|| BenchError::Args("the catalog has no rose".into()))?;

    let shared = match version {
        loadgen::Version::Http1 => Vec::new(),
        loadgen::Version::Http2 => {
            let mut v = Vec::with_capacity(args.connections.max(1));
            for _ in 0..args.connections.max(1) {
                v.push(loadgen::connect(addr, version).await?);
            }
            v
        }
    };
    let mut senders = Vec::with_capacity(logins.len());
    for (w, (who, token)) in logins.iter().enumerate() {
        let conn = match shared.get(w % shared.len().max(1)) {
            Some(c) => c
                .share()
                .ok_or_else(|| BenchError::Args("an HTTP/1.1 connection is not shared".into()))?,
            None => loadgen::connect(addr, version).await?,
        };
        let template = SendGiftRequest {
            id: String::new(),
            gift: "rose".into(),
            to: receivers[w % receivers.len()].clone(),
            room: "bench".into(),
        };
        senders.push(loadgen::GiftSender::new(
            conn,
            token,
            who,
            svc.verifying_key(),
            template,
            "b",
            VERIFY_EVERY,
        )?);
    }
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let cpu0 = process_cpu_s();
    let mut tasks = Vec::new();
    for mut sender in senders {
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let (mut errors, mut verified) = (0u64, 0u64);
            while Instant::now() < deadline {
                let t0 = Instant::now();
                match sender.send_next().await {
                    Ok(v) => {
                        verified += u64::from(v);
                        lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                    }
                    Err(e) => {
                        if errors == 0 {
                            tracing::warn!(error = %e, "gift failed");
                        }
                        errors += 1;
                    }
                }
            }
            (lat, errors, verified)
        }));
    }
    let mut lat = Vec::new();
    let (mut errors, mut verified) = (0, 0);
    for t in tasks {
        let (l, e, v) = t.await?;
        lat.extend(l);
        errors += e;
        verified += v;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_s = process_cpu_s() - cpu0;
    lat.sort_unstable();
    let ok = lat.len() as i64;
    let report = svc.invariant().await?;
    let spent = ok * price;
    let revenue = svc
        .store
        .accounts(&[platform::GIFT_REVENUE.to_string()])
        .await?;
    let revenue_ok = revenue.first().map_or(0, |a| a.credits_posted) == spent;
    // Every answer was a fresh receipt; each client fully checked its first
    // and 1 in VERIFY_EVERY.
    let receipts_ok = verified as i64 >= (ok / (VERIFY_EVERY as i64)).min(args.concurrency as i64);
    let invariant_ok = report.ok && revenue_ok && errors == 0 && receipts_ok;
    let tps = ok as f64 / elapsed;
    // Client and server share this process: CPU per gift covers both.
    let cpu_us_per_gift = cpu_s * 1e6 / (ok.max(1) as f64);
    let (p50, p99) = (pct(&lat, 0.50), pct(&lat, 0.99));
    let batches = batch_stats(&svc.metrics.render());
    // Share of the run the single writer spent inside transactions (1.0: it
    // is the bottleneck; includes the setup's funding transactions).
    let writer_busy = batches.0 * batches.2 / 1000.0 / elapsed;
    server.shutdown().await?;
    Ok(Report {
        backend: args.backend,
        commit_mode: args.commit_mode,
        concurrency: args.concurrency,
        http: args.http,
        seconds: elapsed,
        gifts: ok,
        errors,
        transfers_per_s: tps,
        p50_ms: p50,
        p99_ms: p99,
        cpu_us_per_gift,
        commits: batches.0,
        chains_per_commit: batches.1,
        ms_per_commit: batches.2,
        writer_busy,
        receipts_verified: verified,
        revenue_ok,
        invariant_ok,
        invariant: report,
    })
}

/// (transactions, mean chains per transaction, mean ms per transaction) from `/metrics`.
fn batch_stats(metrics: &str) -> (f64, f64, f64) {
    let get = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let n = get("aura_billing_commit_batch_size_count");
    let size = get("aura_billing_commit_batch_size_sum");
    let secs = get("aura_billing_commit_batch_seconds_sum");
    (n, size / n.max(1.0), secs * 1000.0 / n.max(1.0))
}

fn hex_key(k: &SigningKey) -> String {
    DeviceKey(k.verifying_key().to_bytes()).to_hex()
}
