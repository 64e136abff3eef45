//! `bench SUITE`: system benchmarks that print figures.
fn main() -> anyhow::Result<()> {
    Ok(())
}
