//! The `aura-relay` binary.
fn main() -> anyhow::Result<()> {
    Ok(())
}
