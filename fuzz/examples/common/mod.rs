//! What the seed writers share: writing one seed into `corpus/<target>/`.

use std::path::Path;

/// A seed writer's result.
pub type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Writes `bytes` as `corpus/<target>/seed-<name>` (run from `fuzz/`).
pub fn write(target: &str, name: &str, bytes: &[u8]) -> Res<()> {
    let dir = Path::new("corpus").join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
    Ok(())
}
