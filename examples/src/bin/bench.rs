//! `bench SUITE [OPTIONS]`: system benchmarks that print figures (`--json` for one
//! JSON object). Suites: `idle`, `location`, `voice-latency`, `voice-e2e`, `relay`, `room`, `ledger`.
use aura_billing::bench::ledger;
use aura_examples::bench;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Aura system benchmarks")]
struct Cli {
    #[command(subcommand)]
    suite: Suite,
}

#[derive(Subcommand)]
enum Suite {
    /// One phone's footprint in a group: CPU, RSS, bytes and packets, in
    /// the foreground and in background mode.
    Idle(bench::idle::Args),
    /// Location propagation latency and bandwidth in a group mesh on loopback.
    Location(bench::location::Args),
    /// Capture-to-playout voice latency between two nodes on loopback.
    VoiceLatency(bench::voice_latency::Args),
    /// Capture push to mixed playout frame through two whole nodes on loopback.
    VoiceE2e(bench::voice_e2e::Args),
    /// Voice-sized frames through the relay's media forwarder between many pairs on loopback.
    Relay(bench::relay::Args),
    /// One voice room through the relay: speakers, many light listeners.
    Room(bench::room::Args),
    /// Concurrent gift transfers through the real billing HTTP service.
    Ledger(ledger::Args),
}

/// mimalloc, as in the `aura-billing` binary: less CPU per ledger gift than
/// glibc malloc (the other suites' published figures predate it).
#[global_allocator]
static ALLOC: aura_billing::MiMalloc = aura_billing::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Diagnostics on standard error when asked for (`RUST_LOG=aura_node=debug`).
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    match Cli::parse().suite {
        Suite::Idle(args) => bench::idle::run(args).await,
        Suite::Location(args) => bench::location::run(args).await,
        Suite::VoiceLatency(args) => bench::voice_latency::run(args).await,
        Suite::VoiceE2e(args) => bench::voice_e2e::run(args).await,
        Suite::Relay(args) => bench::relay::run(args).await,
        Suite::Room(args) => bench::room::run(args).await,
        Suite::Ledger(args) => {
            let json = args.json;
            let report = ledger::run(args).await?;
            if json {
                println!("{}", report.to_json());
            } else {
                println!("{report}");
            }
            Ok(report.verdict()?)
        }
    }
}
