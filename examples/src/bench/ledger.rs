//! The `ledger` benchmark suite: concurrent gift transfers through the real
//! `aura-billing` HTTP service (in-process server on loopback, real database)
//! for a fixed time; prints gifts per second, p50/p99 latency and the
//! invariant check. Each gift is one durable linked chain (sender coins ->
//! revenue, issuer -> receiver diamonds), acknowledged only after commit.

use std::time::{Duration, Instant};

use anyhow::Context;
use aura_billing::ed25519_dalek::SigningKey;
use aura_billing::{
    api::SendGiftRequest,
    client::BillingClient,
    config::{Config, Secret},
    ids::{platform, user_account, Currency, DeviceKey},
    ledger::{Transfer, TransferKind},
    loadgen, server,
    service::admin::ChainRequest,
    storage::Storage,
    writer::CommitMode,
};
use rand::{rngs::OsRng, RngCore};

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

/// Runs the suite and prints its figures.
pub async fn run(args: Args) -> anyhow::Result<()> {
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
            let url = args
                .database_url
                .clone()
                .context("--backend postgres needs --database-url")?;
            config.database_url = Some(Secret(url));
            config.database_schema = Some(format!("bench_{}", random_hex(6)));
            config.database_max_connections = (args.concurrency as u32).clamp(8, 64);
        }
        other => anyhow::bail!("unknown backend {other:?}: use sqlite or postgres"),
    }
    let server = server::spawn_local(config).await?;
    let (svc, url) = (server.service.clone(), server.url.clone());
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse()?;

    // Setup (funding, login) goes through the regular client; the measured
    // gifts through `loadgen`'s lean connections: HTTP/2 streams shared
    // round robin over `--connections`, or one HTTP/1.1 connection per client.
    let version = match args.http {
        1 => loadgen::Version::Http1,
        2 => loadgen::Version::Http2,
        v => anyhow::bail!("--http {v}: use 1 or 2"),
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
        logins.push((who, c.session_token().context("no token")?.to_string()));
    }
    let price = svc
        .catalog()
        .iter()
        .find(|g| g.id == "rose")
        .map(|g| g.price_coins)
        .context("rose")?;

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
            Some(c) => c.share().context("h2 connection")?,
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
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "suite": "ledger",
                "backend": args.backend,
                "commit_mode": args.commit_mode,
                "concurrency": args.concurrency,
                "http": args.http,
                "seconds": elapsed,
                "gifts": ok,
                "errors": errors,
                "transfers_per_s": tps,
                "p50_ms": p50,
                "p99_ms": p99,
                "cpu_us_per_gift": cpu_us_per_gift,
                "chains_per_commit": batches.1,
                "writer_busy": writer_busy,
                "receipts_verified": verified,
                "invariant_ok": invariant_ok,
            })
        );
    } else {
        println!(
            "ledger bench: backend={} commit_mode={:?} concurrency={}",
            args.backend, args.commit_mode, args.concurrency
        );
        println!("  {ok} durable gift transfers in {elapsed:.1} s = {tps:.0} /s ({errors} errors)");
        println!("  latency p50 {p50:.2} ms, p99 {p99:.2} ms");
        println!(
            "  receipts: all {ok} fresh, {verified} signatures verified (each client's first, then 1 in {VERIFY_EVERY})"
        );
        println!("  process CPU (client + server): {cpu_us_per_gift:.0} µs per gift");
        println!(
            "  writer: {:.0} transactions, {:.1} chains each, {:.2} ms each, busy {:.0}% of the run",
            batches.0,
            batches.1,
            batches.2,
            writer_busy * 100.0
        );
        println!(
            "  invariant: {} ({} transfers in the ledger, revenue reconciles: {revenue_ok})",
            if invariant_ok { "ok" } else { "VIOLATED" },
            report.transfers
        );
    }
    if !invariant_ok {
        anyhow::bail!("ledger invariant violated: {report:?}");
    }
    Ok(())
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

/// CPU seconds (user + system) this process used so far, from `/proc/self/stat`
/// (0 where that file does not exist).
fn process_cpu_s() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at state (3).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime is field 14, stime 15: indices 11 and 12 after the state field.
    (ticks(11) + ticks(12)) / 100.0
}

fn hex_key(k: &SigningKey) -> String {
    DeviceKey(k.verifying_key().to_bytes()).to_hex()
}
