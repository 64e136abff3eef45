//! The `aura-billing` service binary.
fn main() -> anyhow::Result<()> {
    Ok(())
}
