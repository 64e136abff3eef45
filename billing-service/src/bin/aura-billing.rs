//! `aura-billing`: the billing and gift ledger service.
//!
//! `aura-billing serve --listen 127.0.0.1:0` prints `listening on ADDR` on
//! stdout once bound. Settings: `--config FILE` (TOML), `AURA_BILLING_*`
//! environment variables, then flags. The `test-provider` command is there
//! only when built with the `test-provider` feature.
use std::{io::Write, path::PathBuf};

use anyhow::Context;
#[cfg(feature = "test-provider")]
use aura_billing::test_provider;
use aura_billing::{clock::Clock, config::Config, server, storage::Storage};
use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOC: aura_billing::MiMalloc = aura_billing::MiMalloc;

#[derive(Parser)]
#[command(about = "Aura's billing and gift ledger service")]
struct Cli {
    /// TOML settings file.
    #[arg(long, global = true, env = "AURA_BILLING_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL (`sqlite://FILE` or `postgres://...`); default: SQLite in the data dir.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Data directory (SQLite file, service key).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Development mode: `serve` accepts webhooks signed with the public dev
    /// secret (loopback only) and `test-provider` signs with it. Never in
    /// production: anyone who can reach the ledger could mint coins.
    #[arg(long, global = true)]
    dev: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs the HTTP service.
    Serve {
        /// Address to listen on (port 0 picks one; the bound address is printed).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// `batched` (group commit) or `per-request`.
        #[arg(long)]
        commit_mode: Option<aura_billing::writer::CommitMode>,
    },
    /// Checks that debits equal credits per currency and balances match transfers.
    CheckInvariant,
    /// A local stand-in for the payment provider that sends signed webhooks.
    #[cfg(feature = "test-provider")]
    TestProvider {
        /// Service base URL.
        #[arg(long, default_value = "http://127.0.0.1:8088")]
        url: String,
        /// Webhook signing secret (one of the service's `webhook_secrets`);
        /// with `--dev`, the public dev secret by default.
        #[arg(long, env = "AURA_BILLING_TEST_PROVIDER_SECRET")]
        secret: Option<String>,
        #[command(subcommand)]
        action: ProviderCmd,
    },
}

#[cfg(feature = "test-provider")]
#[derive(Subcommand)]
enum ProviderCmd {
    /// A completed checkout of a coin pack.
    Checkout {
        /// Buyer's device key (hex).
        #[arg(long)]
        account: String,
        /// Coin pack id.
        #[arg(long, default_value = "coins_100")]
        pack: String,
        /// Checkout id from `POST /v1/purchases/checkout` (random if absent).
        #[arg(long)]
        checkout_id: Option<String>,
    },
    /// A subscription paid for `days` more days.
    Subscribe {
        /// Subscriber's device key (hex).
        #[arg(long)]
        account: String,
        /// Plan id.
        #[arg(long, default_value = "vip_monthly")]
        plan: String,
        /// Length of the paid period.
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
    /// A canceled subscription.
    Cancel {
        /// Subscriber's device key (hex).
        #[arg(long)]
        account: String,
    },
}

fn config(cli: &Cli) -> anyhow::Result<Config> {
    let mut c = Config::load(cli.config.as_deref())?;
    if let Some(u) = &cli.database_url {
        c.database_url = Some(aura_billing::config::Secret(u.clone()));
    }
    if let Some(d) = &cli.data_dir {
        c.data_dir = d.clone();
    }
    c.dev_mode |= cli.dev;
    Ok(c)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match &cli.cmd {
        Cmd::Serve {
            listen,
            commit_mode,
        } => {
            let mut c = config(&cli)?;
            if let Some(l) = listen {
                c.listen = *l;
            }
            if let Some(m) = commit_mode {
                c.commit_mode = *m;
            }
            let listener = tokio::net::TcpListener::bind(c.listen)
                .await
                .context("binding")?;
            let svc = server::start(c, Clock::system()).await?;
            let mut out = std::io::stdout();
            writeln!(out, "listening on {}", listener.local_addr()?)?;
            out.flush()?;
            server::serve(listener, svc, shutdown_signal()).await?;
        }
        Cmd::CheckInvariant => {
            let c = config(&cli)?;
            let store = aura_billing::storage::AnyStore::open(
                &c.database_url(),
                c.database_schema.as_deref(),
                2,
            )
            .await?;
            let r = store.check_invariant().await?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            if !r.ok {
                anyhow::bail!("ledger invariant violated");
            }
        }
        #[cfg(feature = "test-provider")]
        Cmd::TestProvider {
            url,
            secret,
            action,
        } => {
            let ev = match action {
                ProviderCmd::Checkout {
                    account,
                    pack,
                    checkout_id,
                } => test_provider::checkout_completed(account, pack, checkout_id.as_deref()),
                ProviderCmd::Subscribe {
                    account,
                    plan,
                    days,
                } => {
                    let end = Clock::system().now_s() + days * 86_400;
                    test_provider::subscription_renewed(account, plan, end)
                }
                ProviderCmd::Cancel { account } => test_provider::subscription_canceled(account),
            };
            let secret = match (secret, cli.dev) {
                (Some(s), _) => s.as_str(),
                (None, true) => aura_billing::config::DEV_WEBHOOK_SECRET,
                (None, false) => {
                    anyhow::bail!("give --secret (the ledger's webhook secret), or --dev")
                }
            };
            let ack = test_provider::deliver(url, secret, &ev).await?;
            println!("{} {}: {}", ev.kind, ev.id, ack.status);
        }
    }
    Ok(())
}
