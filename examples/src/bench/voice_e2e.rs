//! The `voice-e2e` benchmark suite: voice latency through the whole node.
//! Two real nodes on loopback (libp2p control plane, one group, voice
//! joined, media plane connected) in this process; A's app pushes 20 ms
//! capture frames into its [`VoiceHandle`], B's app pulls mixed frames
//! out of its [`VoiceHandle`] on B's own playout tick.
//!
//! A talks low-level noise (kept above the sender's DTX floor so the stream
//! stays live, as a room's background does) and, every `--every-ms`, a
//! loud 1 kHz tone burst of two frames. Latency of one burst: from the
//! instant its first frame is pushed into A's handle to the instant B's
//! app receives the first playout frame whose RMS crosses a threshold far
//! above the noise (Opus lookahead, sealing, QUIC, the jitter buffer and
//! the wait for B's playout tick, which releases the slot it plays, are
//! all inside it).
//!
//! Capture and playout both tick every 20 ms, so their relative phase would
//! be fixed for a whole run; A's capture clock runs `--drift-ppm` fast
//! (as two devices' clocks do, exaggerated) so the bursts sample every
//! phase of B's playout tick within a run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use aura_node::voice::signal::speech_like;
use aura_node::voice_api::{VoiceConfig, VoiceHandle, VoiceStats};

use crate::demo::start_group;

/// Command-line options of this suite.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object instead of human-readable figures.
    #[arg(long)]
    pub json: bool,
    /// Seconds of measurement.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Period of the tone bursts (ms, a multiple of 20).
    #[arg(long, default_value_t = 200)]
    pub every_ms: u64,
    /// How much faster A's capture clock runs than real time (ppm); 0
    /// keeps capture and playout ticks at a fixed phase for the run.
    #[arg(long, default_value_t = 1_000)]
    pub drift_ppm: u64,
}

/// Samples per 20 ms frame at 48 kHz.
const FRAME: usize = 960;
/// Frames per tone burst.
const BURST_FRAMES: u64 = 2;
/// Peak of the tone burst.
const TONE_PEAK: f64 = 12_000.0;
/// Peak of the background noise (RMS about 115, above the sender's DTX
/// floor of 50).
const NOISE_PEAK: i32 = 200;
/// Playout RMS that marks a burst's onset: ~20x the noise, and crossed by a
/// frame holding only the burst's first millisecond.
const ONSET_RMS: f64 = 1_500.0;

fn rms(f: &[i16]) -> f64 {
    let s: f64 = f.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    (s / f.len().max(1) as f64).sqrt()
}

/// One capture frame: noise, or (frame `k` of a burst) the tone.
fn capture_frame(rng: &mut u64, tone_frame: Option<u64>) -> Vec<i16> {
    (0..FRAME)
        .map(|i| match tone_frame {
            Some(k) => {
                let t = (k as usize * FRAME + i) as f64 / 48_000.0;
                (TONE_PEAK * (std::f64::consts::TAU * 1_000.0 * t).sin()) as i16
            }
            None => {
                // xorshift64: cheap noise, no allocation.
                *rng ^= *rng << 13;
                *rng ^= *rng >> 7;
                *rng ^= *rng << 17;
                ((*rng % (2 * NOISE_PEAK as u64 + 1)) as i32 - NOISE_PEAK) as i16
            }
        })
        .collect()
}

async fn stats(h: &VoiceHandle) -> anyhow::Result<VoiceStats> {
    h.stats().await.context("voice engine stopped")
}

/// Pairs each burst's push instant with the first onset B played after it
/// and before the next burst; latencies in ms, and bursts never heard.
fn match_onsets(pushed: &[Instant], onsets: &[Instant]) -> (Vec<f64>, usize) {
    let mut lat = Vec::new();
    let mut missed = 0;
    for (i, &p) in pushed.iter().enumerate() {
        let next = pushed.get(i + 1).copied();
        match onsets
            .iter()
            .find(|&&o| o > p && next.is_none_or(|n| o < n))
        {
            Some(&o) => lat.push(o.duration_since(p).as_secs_f64() * 1_000.0),
            None => missed += 1,
        }
    }
    (lat, missed)
}

/// Runs the suite and prints its figures.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let every = (args.every_ms / 20).max(BURST_FRAMES + 2);
    let (nodes, gid, _) = start_group(
        2,
        "voice-e2e",
        aura_node::config::Config::default().heartbeat_ms,
    )
    .await?;
    let mut handles = Vec::new();
    for n in &nodes {
        handles.push(n.node.join_voice(gid, VoiceConfig::default()).await?);
    }
    let (a, b) = (handles[0].clone(), handles[1].clone());
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if stats(&a).await?.connected.len() == 1 && stats(&b).await?.connected.len() == 1 {
                return anyhow::Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .context("media plane never connected")??;
    a.set_ptt(true).await?;
    // Warm-up until B opens A's frames (sender key delivered).
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            a.talk_samples(speech_like(0.5, 2)).await?;
            if stats(&b).await?.room.voice_in > 5 {
                return anyhow::Ok(());
            }
        }
    })
    .await
    .context("B never opened A's frames")??;

    // B's app: receive each playout frame, note when a burst's onset arrives.
    let mut playout = b.take_playout().context("playout already taken")?;
    let onsets: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let on = onsets.clone();
    let listener = tokio::spawn(async move {
        let mut loud = false;
        while let Some(f) = playout.recv().await {
            let at = Instant::now();
            let now_loud = rms(&f) >= ONSET_RMS;
            if now_loud && !loud {
                if let Ok(mut o) = on.lock() {
                    o.push(at);
                }
            }
            loud = now_loud;
        }
    });

    // A's app: one frame per (slightly fast) capture period.
    let period = Duration::from_nanos(20_000_000 * 1_000_000 / (1_000_000 + args.drift_ppm));
    let frames = args.seconds * 50;
    let start = tokio::time::Instant::now();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut pushed = Vec::new();
    let mut busy = 0u64;
    for k in 0..frames {
        tokio::time::sleep_until(start + period * k as u32).await;
        // The first burst comes after half a period of noise.
        let phase = (k + every / 2) % every;
        let tone = (phase < BURST_FRAMES && k + BURST_FRAMES < frames).then_some(phase);
        let f = capture_frame(&mut rng, tone);
        let at = Instant::now();
        if a.capture(f).is_err() {
            busy += 1;
        } else if tone == Some(0) {
            pushed.push(at);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let q = stats(&b).await?;
    let report = q.voice.first().map(|(_, r)| r.clone()).unwrap_or_default();
    for h in &handles {
        h.leave().await;
    }
    let _ = listener.await;
    for n in nodes {
        n.node.shutdown().await;
    }

    let onsets = onsets.lock().map(|o| o.clone()).unwrap_or_default();
    let (mut lat, missed) = match_onsets(&pushed, &onsets);
    lat.sort_by(|x, y| x.total_cmp(y));
    anyhow::ensure!(!lat.is_empty(), "no burst was heard at B");
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    let (p50, p99, max) = (pct(0.5), pct(0.99), lat[lat.len() - 1]);
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "suite": "voice-e2e",
                "p50_ms": r2(p50),
                "p99_ms": r2(p99),
                "max_ms": r2(max),
                "min_ms": r2(lat[0]),
                "bursts": lat.len(),
                "missed": missed,
                "capture_busy": busy,
                "playout_delay_ms": r2(report.playout_delay_ms),
                "jitter_ms": r2(report.jitter_ms),
                "concealed": report.concealed,
                "late": report.late,
                "playout_dropped": q.playout_dropped,
            })
        );
    } else {
        println!(
            "voice-e2e: {} bursts ({missed} missed), capture push to playout frame p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms (min {:.1}); jitter buffer {:.1} ms above the path, jitter {:.2} ms, {} concealed, {} late, {} playout frames dropped",
            lat.len(),
            lat[0],
            report.playout_delay_ms,
            report.jitter_ms,
            report.concealed,
            report.late,
            q.playout_dropped
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_burst_takes_the_first_onset_before_the_next_burst() {
        let t0 = Instant::now();
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let pushed = [ms(0), ms(200), ms(400)];
        // Burst 0 heard at 30 ms, burst 1 never, burst 2 at 435 ms.
        let onsets = [ms(30), ms(60), ms(435)];
        let (lat, missed) = match_onsets(&pushed, &onsets);
        assert_eq!(missed, 1);
        assert_eq!(lat.len(), 2);
        assert!((lat[0] - 30.0).abs() < 0.5 && (lat[1] - 35.0).abs() < 0.5);
    }

    #[test]
    fn tone_frames_cross_the_onset_threshold_and_noise_does_not() {
        let mut rng = 1;
        assert!(rms(&capture_frame(&mut rng, Some(0))) > 4.0 * ONSET_RMS);
        let noise = capture_frame(&mut rng, None);
        assert!(rms(&noise) > 50.0 && rms(&noise) < ONSET_RMS / 10.0);
    }
}
