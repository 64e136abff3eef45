//! The `voice_latency` benchmark suite.

/// Command-line options of this suite.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object instead of human-readable figures.
    #[arg(long)]
    pub json: bool,
}

/// Runs the suite and prints its figures.
pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("the voice_latency suite is not built yet")
}
