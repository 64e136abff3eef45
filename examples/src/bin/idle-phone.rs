//! The measured member of `bench idle`: one node in a process of its own,
//! run the way `aura-ffi` runs one in an app (a two-thread tokio runtime,
//! the platform's allocator), linking the node and none of the other
//! suites, so its CPU, RSS and traffic are that node's alone.
use aura_examples::bench::idle::{run_phone, PhoneArgs};
use clap::Parser;

#[derive(Parser)]
#[command(about = "The measured node of `bench idle` (started by it)")]
struct Cli {
    #[command(flatten)]
    phone: PhoneArgs,
}

fn main() -> anyhow::Result<()> {
    // Diagnostics on standard error when asked for, as `bench` does.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let cli = Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run_phone(cli.phone))
}
