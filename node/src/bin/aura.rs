//! The `aura` command-line node.
fn main() -> anyhow::Result<()> {
    Ok(())
}
