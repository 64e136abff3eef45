//! The Aura demo.
fn main() -> anyhow::Result<()> {
    Ok(())
}
