//! Jitter buffer polled only on the ticks of a free-running playout clock
//! (the node's engine, a sound card): the delay it adapts must be the one
//! heard at the ticks, so clock drift never leaves a slot waiting a tick
//! longer than its target needs.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;

use aura_node::voice::jitter::{Config, JitterBuffer, Playout};

const FRAME: u32 = 960;
const FRAME_US: u64 = 20_000;

#[derive(Default, Debug)]
struct Run {
    /// Per frame played after the first `warm_up_us`: tick − arrival (µs).
    waits: Vec<u64>,
    frames: u32,
    conceal: u32,
    late: u64,
}

/// Frames sent every 20 ms of a sender clock running `rate` times the
/// receiver's, arriving 1 ms after sending; the buffer is polled only at
/// ticks `phase_us + k * 20 ms`.
fn run_on_ticks(tick_us: u64, rate: f64, phase_us: u64, seconds: u64, warm_up_us: u64) -> Run {
    let mut jb = JitterBuffer::new(Config {
        tick_us,
        ..Config::default()
    });
    let n = (seconds * 1_000_000 / FRAME_US) as u32;
    let arrival = |i: u32| (f64::from(i) * FRAME_US as f64 / rate) as u64 + 1_001_000;
    let mut arrivals = HashMap::new();
    let mut run = Run::default();
    let mut next = 0u32;
    let mut tick = 1_000_000 + phase_us;
    while tick < 1_000_000 + seconds * 1_000_000 {
        while next < n && arrival(next) <= tick {
            let ts = next * FRAME;
            arrivals.insert(ts, arrival(next));
            jb.push(next as u16, ts, vec![1; 10], arrival(next));
            next += 1;
        }
        // One tick: everything the buffer releases plays now.
        while let Some(out) = jb.poll(tick) {
            match out {
                Playout::Frame { ts, .. } => {
                    run.frames += 1;
                    let at = arrivals[&((ts & 0xffff_ffff) as u32)];
                    if tick >= 1_000_000 + warm_up_us {
                        run.waits.push(tick - at);
                    }
                }
                Playout::Conceal { .. } => run.conceal += 1,
                Playout::Fec { .. } | Playout::Dred { .. } => {}
            }
        }
        tick += FRAME_US;
    }
    run.late = jb.stats().late;
    run
}

fn max(v: &[u64]) -> u64 {
    v.iter().copied().max().unwrap_or(0)
}

#[test]
fn a_ticked_slot_plays_at_the_first_tick_after_its_arrival_at_every_phase() {
    for phase in [0, 3_000, 10_000, 19_000] {
        let r = run_on_ticks(FRAME_US, 1.0, phase, 10, 1_000_000);
        assert_eq!(r.late, 0);
        assert!(r.frames >= 495, "phase {phase}: {r:?}");
        // Target on a clean path: the 1 ms margin; then the next tick.
        assert!(
            max(&r.waits) <= FRAME_US + 1_000,
            "phase {phase}: waits up to {} µs",
            max(&r.waits)
        );
    }
}

/// A sender clock 1000 ppm fast (the `voice-e2e` bench's): arrivals creep
/// earlier against the ticks. Before this buffer knew its ticks, it shrank
/// only when its due times (not the ticks) were a frame above target, so a
/// slot could wait for nearly a whole frame plus a whole tick (~40 ms).
#[test]
fn fast_sender_drift_never_waits_a_tick_longer_than_the_target_needs() {
    for phase in [0, 5_000, 12_000, 19_500] {
        let r = run_on_ticks(FRAME_US, 1.001, phase, 60, 2_000_000);
        assert_eq!(r.late, 0, "phase {phase}: {r:?}");
        // Target (1 ms margin + drift-block spread) + one tick + the
        // shrink hold (50 slots at 20 µs of drift each).
        assert!(
            max(&r.waits) <= FRAME_US + 4_000,
            "phase {phase}: waits up to {} µs",
            max(&r.waits)
        );
    }
}

#[test]
fn the_same_drift_polled_on_ticks_by_a_buffer_that_ignores_them_waits_longer() {
    let worst = [0, 5_000, 12_000, 19_500]
        .into_iter()
        .map(|phase| max(&run_on_ticks(0, 1.001, phase, 60, 2_000_000).waits))
        .max()
        .unwrap_or(0);
    assert!(worst > FRAME_US + 10_000, "worst wait {worst} µs");
}

/// A sender clock 1000 ppm slow: the buffer grows by concealing one tick
/// (never by letting a slot miss its tick and arrive late).
#[test]
fn slow_sender_drift_grows_by_a_concealed_tick_and_loses_no_frame() {
    let r = run_on_ticks(FRAME_US, 0.999, 7_000, 60, 2_000_000);
    assert_eq!(r.late, 0, "{r:?}");
    // 60 s at 1000 ppm is 60 ms: three ticks of growth, a few more for
    // the jitter estimate settling.
    assert!((2..=6).contains(&r.conceal), "{r:?}");
    assert!(
        max(&r.waits) <= FRAME_US + 4_000,
        "waits up to {}",
        max(&r.waits)
    );
}
