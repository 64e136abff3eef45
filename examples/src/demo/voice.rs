//! The demo's voice part: every member joins the group's voice over the
//! real media plane; alice talks (a generated speech-like signal), the
//! others play what they hear into WAV files; after dave's removal alice
//! talks again and dave decodes nothing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use aura_crypto::GroupId;
use aura_node::voice::signal::{best_correlation, speech_like, write_wav};
use aura_node::voice_api::{VoiceConfig, VoiceHandle, VoiceStats};

use super::MeshNode;

/// Where the demo writes its WAV files: `$AURA_DEMO_OUT`, else
/// `<temp>/aura-demo`.
pub fn out_dir() -> PathBuf {
    std::env::var_os("AURA_DEMO_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("aura-demo"))
}

/// Voice handles of the demo's members and what the listeners heard.
pub struct Voice {
    handles: Vec<Arc<VoiceHandle>>,
    heard: Vec<Arc<Mutex<Vec<i16>>>>,
    input: Vec<i16>,
}

/// Records a handle's mixed playout in the background.
fn record(h: &VoiceHandle) -> Arc<Mutex<Vec<i16>>> {
    let buf: Arc<Mutex<Vec<i16>>> = Arc::default();
    if let Some(mut rx) = h.take_playout() {
        let b = buf.clone();
        tokio::spawn(async move {
            while let Some(f) = rx.recv().await {
                if let Ok(mut b) = b.lock() {
                    b.extend_from_slice(&f);
                }
            }
        });
    }
    buf
}

async fn stats(h: &VoiceHandle) -> anyhow::Result<VoiceStats> {
    h.stats().await.context("voice engine stopped")
}

/// Everyone joins voice; waits until the media mesh is complete and every
/// listener can open alice's frames, then alice talks for `seconds`.
pub async fn talk(nodes: &[MeshNode], gid: GroupId, seconds: f32) -> anyhow::Result<Voice> {
    let mut handles = Vec::new();
    for n in nodes {
        handles.push(n.node.join_voice(gid, VoiceConfig::default()).await?);
    }
    let want = nodes.len() - 1;
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let mut ok = true;
            for h in &handles {
                ok &= stats(h).await?.connected.len() == want;
            }
            if ok {
                return anyhow::Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .context("media mesh incomplete")??;
    let alice = handles.first().context("no members")?.clone();
    alice.set_ptt(true).await?;
    // Warm-up syllables until every listener opens alice's frames.
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            alice.talk_samples(speech_like(0.5, 2)).await?;
            let mut ok = true;
            for h in &handles[1..] {
                ok &= stats(h).await?.room.voice_in > 5;
            }
            if ok {
                return anyhow::Ok(());
            }
        }
    })
    .await
    .context("keys never arrived")??;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let heard = handles.iter().skip(1).map(|h| record(h)).collect();
    let input = speech_like(seconds, 7);
    alice.talk_samples(input.clone()).await?;
    tokio::time::sleep(Duration::from_millis(400)).await;
    alice.set_ptt(false).await?;
    Ok(Voice {
        handles,
        heard,
        input,
    })
}

impl Voice {
    /// Prints each listener's quality and writes what they heard to
    /// `dir/<name>.wav` (plus alice's input as `dir/alice-input.wav`).
    pub async fn report(&mut self, names: &[&str], dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        write_wav(&dir.join("alice-input.wav"), &self.input, 1)?;
        let alice = self.handles.first().context("no members")?.clone();
        let a = stats(&alice).await?;
        println!(
            "alice talked {:.1} s: {} frames sent ({} withheld in silence by DTX)",
            self.input.len() as f64 / 48_000.0,
            a.sender.frames_sent,
            a.sender.dtx
        );
        for (i, h) in self.handles.iter().enumerate().skip(1) {
            let s = stats(h).await?;
            let name = names.get(i).copied().unwrap_or("?");
            if let Some((_, q)) = s.voice.first() {
                println!(
                    "  {name:<5} received {} lost {} late {} concealed {} fec {} jitter {:.1} ms rtt {:.1} ms playout {:.1} ms MOS {:.2}",
                    q.received, q.lost, q.late, q.concealed, q.fec_recovered,
                    q.jitter_ms, q.rtt_ms, q.playout_delay_ms, q.mos
                );
            }
        }
        // Everyone's recording up to the same moment.
        let snapshots: Vec<Vec<i16>> = self
            .heard
            .iter()
            .map(|b| b.lock().map(|b| b.clone()).unwrap_or_default())
            .collect();
        for (i, heard) in snapshots.into_iter().enumerate() {
            let name = names.get(i + 1).copied().unwrap_or("?");
            let path = dir.join(format!("{name}.wav"));
            write_wav(&path, &heard, 1)?;
            let (corr, lag) = median_correlation_per_second(&self.input, &heard);
            println!(
                "  {name:<5} wrote {} ({:.1} s); matches alice's voice: correlation {corr:.2} at {:.0} ms (median second)",
                path.display(),
                heard.len() as f64 / 48_000.0,
                lag as f64 / 48.0
            );
            if corr < 0.5 {
                anyhow::bail!("{name} did not hear alice (correlation {corr:.2})");
            }
        }
        Ok(())
    }
}

impl Voice {
    /// After member `removed` (an index) was removed: alice talks again;
    /// the others still hear her, the removed member (whose engine is still
    /// running) decodes nothing. Returns the voice frames it opened.
    pub async fn after_removal(&self, names: &[&str], removed: usize) -> anyhow::Result<u64> {
        let alice = self.handles.first().context("no members")?.clone();
        let them = self.handles.get(removed).context("no such member")?;
        let other = self.handles.get(1).context("no second member")?;
        let (them0, other0) = (stats(them).await?.room, stats(other).await?.room);
        // Give the new sender keys a moment to reach the remaining members.
        alice.set_ptt(true).await?;
        for _ in 0..3 {
            alice.talk_samples(speech_like(1.0, 8)).await?;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        alice.set_ptt(false).await?;
        let (them1, other1) = (stats(them).await?.room, stats(other).await?.room);
        let heard = other1.voice_in - other0.voice_in;
        let decoded = them1.voice_in - them0.voice_in;
        let refused = (them1.unopenable + them1.non_member) - (them0.unopenable + them0.non_member);
        let (on, rn) = (
            names.get(1).copied().unwrap_or("?"),
            names.get(removed).copied().unwrap_or("?"),
        );
        println!(
            "after removal alice talked 3 s: {on} opened {heard} voice frames; {rn} decoded {decoded} (frames refused: {refused}, media connections: {})",
            stats(them).await?.connected.len()
        );
        if heard == 0 {
            anyhow::bail!("{on} heard nothing after the removal");
        }
        Ok(decoded)
    }

    /// Stops every member's voice engine.
    pub async fn finish(self) {
        for h in &self.handles {
            h.leave().await;
        }
    }
}

/// Correlation of what a listener heard with the input, second by second
/// (each second at its own best lag), and the median second's figure. A late
/// frame on a loaded machine can shift the rest of the playout by a frame,
/// which would blur one whole-signal figure.
fn median_correlation_per_second(input: &[i16], heard: &[i16]) -> (f64, usize) {
    let mut per_second: Vec<(f64, usize)> = input
        .chunks(48_000)
        .enumerate()
        .map(|(k, a)| best_correlation(a, heard.get(k * 48_000..).unwrap_or(&[]), 24_000))
        .collect();
    per_second.sort_by(|x, y| x.0.total_cmp(&y.0));
    per_second
        .get(per_second.len() / 2)
        .copied()
        .unwrap_or((0.0, 0))
}
