//! The `ledger` suite of `aura-examples`' `bench` ([`aura_billing::bench::ledger`]),
//! built from this crate alone (no `aura-node`):
//! `cargo run --release -p aura-billing --example ledger_bench -- --json`.
use clap::Parser;

#[global_allocator]
static ALLOC: aura_billing::MiMalloc = aura_billing::MiMalloc;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: aura_billing::bench::ledger::Args,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Cli::parse().args;
    let json = args.json;
    let report = aura_billing::bench::ledger::run(args).await?;
    if json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    Ok(report.verdict()?)
}
