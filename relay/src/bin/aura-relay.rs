//! The `aura-relay` binary: `init` writes an identity and a commented
//! config, `run` serves until SIGTERM or Ctrl-C.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use aura_crypto::Identity;
use aura_relay::config::{Config, TEMPLATE};
use aura_relay::keyfile;
use aura_relay::server::Server;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "aura-relay", version, about = "Aura community relay")]
struct Cli {
    /// Log as JSON lines (for log collectors).
    #[arg(long, global = true, env = "AURA_RELAY_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Writes DIR/identity.key (mode 0600) and DIR/relay.toml (commented defaults).
    Init {
        /// Where to write them.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Replace an existing identity (the relay's peer id changes).
        #[arg(long)]
        force: bool,
    },
    /// Runs the relay.
    Run {
        /// The config file.
        #[arg(long, short, default_value = "relay.toml", env = "AURA_RELAY_CONFIG")]
        config: PathBuf,
    },
}

fn init(dir: &Path, force: bool) -> anyhow::Result<()> {
    let key = dir.join("identity.key");
    let cfg = dir.join("relay.toml");
    if keyfile::read_secret(&key)?.is_some() && !force {
        bail!(
            "{} exists; pass --force to replace it (the relay's peer id changes)",
            key.display()
        );
    }
    let id = Identity::generate(&mut rand::rngs::OsRng);
    keyfile::write_secret(&key, &id.to_secret_bytes())?;
    if !cfg.exists() {
        std::fs::write(&cfg, TEMPLATE).with_context(|| format!("writing {}", cfg.display()))?;
    }
    println!("peer id: {}", id.peer_id());
    println!("identity: {}", key.display());
    println!("config: {}", cfg.display());
    Ok(())
}

async fn run(path: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut cfg = Config::parse(&text)?;
    if cfg.identity_file.is_relative() {
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.identity_file = base.join(&cfg.identity_file);
    }
    let secret = keyfile::read_secret(&cfg.identity_file)?.with_context(|| {
        format!(
            "{} missing; run `aura-relay init` first",
            cfg.identity_file.display()
        )
    })?;
    let relay = Server::spawn(Identity::from_secret_bytes(&secret), cfg).await?;
    println!("peer id: {}", relay.peer_id());
    for a in relay.listen_addrs() {
        println!("listening: {a}/p2p/{}", relay.peer_id());
    }
    println!("media: {}", relay.media_addr());
    if let Some(m) = relay.metrics_addr() {
        println!("metrics: http://{m}/metrics");
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt"),
    }
    relay.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    match cli.cmd {
        Cmd::Init { dir, force } => init(&dir, force),
        Cmd::Run { config } => run(&config).await,
    }
}
