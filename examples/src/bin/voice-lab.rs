//! `voice-lab`: runs a WAV file through Aura's real voice pipeline under network
//! impairment and writes what a listener would hear.
fn main() -> anyhow::Result<()> {
    anyhow::bail!("the voice lab is not built yet")
}
