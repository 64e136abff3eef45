//! The `aura` command-line node: `aura --help` lists the commands.
//!
//! Commands other than `init`, `run` and `debug` go to a running `aura run` for
//! the same data dir through its control socket when there is one; otherwise
//! the node is started for the duration of the command and shut down cleanly.

mod cli;
mod control;
mod exec;
mod gifts;
mod people;
mod resolve;
mod room;
mod run;
mod stress;
mod voice;

use std::{io::Write, path::PathBuf, process::ExitCode};

use anyhow::{Context, Result};
use aura_crypto::Identity;
use aura_node::{config::Config, keyfile, Node, NodeError};
use clap::Parser;

use crate::cli::{Cli, Cmd, DebugCmd, InitArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,libp2p_kad=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(main_async(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, skipping causes already quoted by their parent.
pub(crate) fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    if let Some(tip) = e.downcast_ref::<NodeError>().and_then(advice) {
        out.push_str("; ");
        out.push_str(tip);
    }
    out
}

/// What a CLI user can do about a node error (the library only says what
/// went wrong).
fn advice(e: &NodeError) -> Option<&'static str> {
    Some(match e {
        NodeError::Closed => "start it again",
        NodeError::UnknownGroup(_) => "list your groups with `aura groups`",
        NodeError::UnknownMember(_) => "check `aura members GROUP`",
        NodeError::NotMember => "ask an admin for a new invite",
        NodeError::JoinRefused(_) => "ask for a new invite from an online admin",
        NodeError::BillingNotConfigured => "set billing_url (and billing_service_key) in aura.toml",
        NodeError::LedgerKeyMismatch { .. } => {
            "fix billing_url or billing_service_key in aura.toml"
        }
        _ => return None,
    })
}

/// The config file path and the loaded config (with `--data-dir` applied).
fn load_config(cli: &Cli) -> Result<(PathBuf, Config)> {
    let dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(aura_node::config::default_data_dir);
    let path = cli.config.clone().unwrap_or_else(|| dir.join("aura.toml"));
    let mut cfg = Config::load(&path)?;
    if let Some(d) = &cli.data_dir {
        cfg.data_dir = d.clone();
    }
    Ok((path, cfg))
}

async fn main_async(cli: Cli) -> Result<()> {
    let (cfg_path, cfg) = load_config(&cli)?;
    match cli.cmd {
        Cmd::Init(args) => init(&cfg_path, cfg, args),
        Cmd::Debug(DebugCmd::StoreStress { rounds }) => {
            stress::store_stress(&cfg.data_dir.join("store"), rounds)
        }
        Cmd::Voice(v) => {
            require_init(&cfg)?;
            let node = start(cfg).await?;
            let r = voice::run(&node, v).await;
            node.shutdown().await;
            r
        }
        Cmd::Room(r @ (room::RoomCmd::Create { .. } | room::RoomCmd::Join { .. })) => {
            require_init(&cfg)?;
            let data_dir = cfg.data_dir.clone();
            let node = start(cfg).await?;
            let res = room::run(Some(&node), &data_dir, r).await;
            node.shutdown().await;
            res
        }
        Cmd::Room(r) => room::run(None, &cfg.data_dir, r).await,
        Cmd::Run(args) => {
            require_init(&cfg)?;
            let data_dir = cfg.data_dir.clone();
            let node = start(cfg).await?;
            run::run(node, &data_dir, args.web).await
        }
        cmd => {
            require_init(&cfg)?;
            let args = people::forwarded_args(std::env::args().skip(1).collect());
            let output = match control::try_send(&cfg.data_dir, args).await? {
                Some(res) => res?,
                None => {
                    let node = start(cfg).await?;
                    let res = exec::exec(&node, exec::Mode::OneShot, cmd).await;
                    node.shutdown().await;
                    res?
                }
            };
            if let Some((path, contents)) = &output.file {
                std::fs::write(path, contents).with_context(|| {
                    format!(
                        "cannot write {}; check the directory exists and is writable",
                        path.display()
                    )
                })?;
            }
            eprint!("{}", output.stderr);
            let mut o = std::io::stdout().lock();
            o.write_all(output.stdout.as_bytes())?;
            o.flush()?;
            Ok(())
        }
    }
}

fn require_init(cfg: &Config) -> Result<()> {
    if cfg.data_dir.join("identity.key").exists() {
        return Ok(());
    }
    anyhow::bail!(
        "no identity in {}; run `aura init` first (or pass the right --data-dir)",
        cfg.data_dir.display()
    )
}

async fn start(cfg: Config) -> Result<Node> {
    let dir = cfg.data_dir.display().to_string();
    Node::builder()
        .config(cfg)
        .start()
        .await
        .with_context(|| format!("cannot start the node for data dir {dir}"))
}

fn init(cfg_path: &std::path::Path, mut cfg: Config, args: InitArgs) -> Result<()> {
    let dir = cfg.data_dir.clone();
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create data dir {}; check permissions or pass --data-dir",
            dir.display()
        )
    })?;
    let key_path = dir.join("identity.key");
    let secret = match keyfile::read_secret(&key_path)? {
        Some(s) => {
            println!("identity key exists: {}", key_path.display());
            s
        }
        None => {
            let id = Identity::generate(&mut rand::rngs::OsRng);
            let s = id.to_secret_bytes();
            keyfile::write_secret(&key_path, &s)?;
            println!(
                "created identity key {} (mode 0600; back it up)",
                key_path.display()
            );
            s
        }
    };
    let id = Identity::from_secret_bytes(&secret);
    if cfg_path.exists() && !args.force {
        println!(
            "config file exists: {} (use --force to rewrite it)",
            cfg_path.display()
        );
    } else {
        if !args.listen.is_empty() {
            for a in &args.listen {
                a.parse::<libp2p::Multiaddr>().map_err(|e| {
                    anyhow::anyhow!("--listen {a:?} is not a multiaddr ({e}); example: /ip4/0.0.0.0/udp/4001/quic-v1")
                })?;
            }
            cfg.listen = args.listen;
        }
        for b in &args.bootstrap {
            let ma: libp2p::Multiaddr = b.parse().map_err(|e| {
                anyhow::anyhow!("--bootstrap {b:?} is not a multiaddr ({e}); example: /ip4/1.2.3.4/tcp/4001/p2p/12D3Koo...")
            })?;
            if !matches!(ma.iter().last(), Some(libp2p::multiaddr::Protocol::P2p(_))) {
                anyhow::bail!(
                    "--bootstrap {b:?} must end with /p2p/<peer id> of the bootstrap node"
                );
            }
        }
        cfg.bootstrap = args.bootstrap;
        cfg.mdns = !args.no_mdns;
        let body = toml::to_string_pretty(&cfg).context("cannot encode the config")?;
        let text = format!(
            "# Aura node configuration. Delete a key to use its default.\n\
             # listen: multiaddrs (QUIC first, TCP fallback); use fixed ports so invites stay valid.\n\
             # bootstrap: Kademlia bootstrap nodes, /ip4/../tcp/../p2p/<peer id>.\n\n{body}"
        );
        if let Some(parent) = cfg_path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(cfg_path, text)
            .with_context(|| format!("cannot write config file {}", cfg_path.display()))?;
        println!("wrote config {}", cfg_path.display());
    }
    println!("member id {}", hex::encode(id.member_id().0));
    println!("peer id   {}", id.peer_id());
    println!("next: `aura group create NAME`, or `aura join CODE` with an invite");
    Ok(())
}
