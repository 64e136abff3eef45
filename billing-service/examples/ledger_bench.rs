//! The `ledger` suite of `aura-examples`' `bench`, built from this crate alone
//! (no `aura-node`): `cargo run --release -p aura-billing --example ledger_bench -- --json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../examples/src/bench/ledger.rs"]
#[allow(unreachable_pub)]
mod ledger;

use clap::Parser;

#[global_allocator]
static ALLOC: aura_billing::MiMalloc = aura_billing::MiMalloc;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ledger::Args,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ledger::run(Cli::parse().args).await
}
