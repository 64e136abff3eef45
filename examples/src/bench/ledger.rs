//! The `ledger` benchmark suite: concurrent gift transfers through the real
//! `aura-billing` HTTP service (in-process server on loopback, real database)
//! for a fixed time; prints gifts per second, p50/p99 latency and the
//! invariant check. Each gift is one durable linked chain (sender coins ->
//! revenue, issuer -> receiver diamonds), acknowledged only after commit.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use aura_billing::ed25519_dalek::SigningKey;
use aura_billing::{
    api::SendGiftRequest,
    client::BillingClient,
    clock::Clock,
    config::{Config, Secret},
    ids::{platform, user_account, Currency, DeviceKey},
    ledger::{Transfer, TransferKind},
    server,
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
    /// Concurrent clients (each its own device and session).
    #[arg(long, default_value_t = 128)]
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
    let svc = server::start(config, Clock::system()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_task = tokio::spawn(server::serve(listener, svc.clone(), async move {
        let _ = stop_rx.await;
    }));

    // One reqwest client per HTTP/2 connection; with HTTP/1.1 one client
    // pools a connection per request in flight.
    let conns = if args.http == 2 {
        args.connections.max(1)
    } else {
        1
    };
    let mut clients = Vec::with_capacity(conns);
    for _ in 0..conns {
        let b = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency);
        let b = match args.http {
            1 => b.http1_only(),
            2 => b.http2_prior_knowledge(),
            v => anyhow::bail!("--http {v}: use 1 or 2"),
        };
        clients.push(b.build()?);
    }
    let http = clients[0].clone();
    let funds = 1_000_000_000i64;
    let receivers: Vec<String> = (0..16)
        .map(|_| hex_key(&SigningKey::generate(&mut OsRng)))
        .collect();
    let mut tokens = Vec::with_capacity(args.concurrency);
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
        tokens.push(c.session_token().context("no token")?.to_string());
    }
    let price = svc
        .catalog()
        .iter()
        .find(|g| g.id == "rose")
        .map(|g| g.price_coins)
        .context("rose")?;

    let receivers = Arc::new(receivers);
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let cpu0 = process_cpu_s();
    let mut tasks = Vec::new();
    for (w, token) in tokens.into_iter().enumerate() {
        let http = clients[w % clients.len()].clone();
        let send_url = reqwest::Url::parse(&format!("{url}/v1/gifts/send"))?;
        let receivers = receivers.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let mut errors = 0u64;
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let req = SendGiftRequest {
                    id: format!("b{n}"),
                    gift: "rose".into(),
                    to: receivers[(w + n as usize) % receivers.len()].clone(),
                    room: "bench".into(),
                };
                let t0 = Instant::now();
                let r = http
                    .post(send_url.clone())
                    .bearer_auth(&token)
                    .json(&req)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
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
    let invariant_ok = report.ok && revenue_ok && errors == 0;
    let tps = ok as f64 / elapsed;
    // Client and server share this process: CPU per gift covers both.
    let cpu_us_per_gift = cpu_s * 1e6 / (ok.max(1) as f64);
    let (p50, p99) = (pct(&lat, 0.50), pct(&lat, 0.99));
    let batches = batch_stats(&svc.metrics.render());
    let _ = stop_tx.send(());
    let _ = server_task.await;
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
        println!("  process CPU (client + server): {cpu_us_per_gift:.0} µs per gift");
        println!(
            "  writer: {:.0} transactions, {:.1} chains each, {:.2} ms each",
            batches.0, batches.1, batches.2
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
