//! Jitter-buffer state machine under a virtual clock: reordering, burst loss,
//! delay spikes, clock drift, and low delay on a clean path.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use aura_node::voice::jitter::{Config, JitterBuffer, Playout};
use rand::{Rng, SeedableRng};

const FRAME: u32 = 960;
const FRAME_US: u64 = 20_000;

/// One simulated frame on the wire.
struct Pkt {
    seq: u16,
    ts: u32,
    arrival_us: u64,
}

#[derive(Default, Debug)]
struct Run {
    /// (frame index, playout time − arrival time) per frame played.
    waits: Vec<(u32, i64)>,
    frames: u32,
    fec: u32,
    dred: u32,
    conceal: u32,
    last_delay_us: i64,
}

/// Drives the buffer: events are arrivals and due times, in time order.
fn drive(mut pkts: Vec<Pkt>, end_us: u64) -> (Run, JitterBuffer) {
    let mut jb = JitterBuffer::new(Config::default());
    pkts.sort_by_key(|p| p.arrival_us);
    let mut arrivals = std::collections::HashMap::new();
    let mut run = Run::default();
    let mut i = 0;
    let mut now = 0;
    while now <= end_us {
        // Next event: an arrival or the next due slot.
        let next_arrival = pkts.get(i).map(|p| p.arrival_us);
        let next_due = jb.next_due_us();
        now = match (next_arrival, next_due) {
            (Some(a), Some(d)) => a.min(d),
            (Some(a), None) => a,
            (None, Some(d)) => d,
            (None, None) => break,
        }
        .max(now);
        while let Some(p) = pkts.get(i).filter(|p| p.arrival_us <= now) {
            arrivals.insert(p.ts, p.arrival_us);
            jb.push(p.seq, p.ts, vec![p.seq as u8; 10], now);
            i += 1;
        }
        while let Some(out) = jb.poll(now) {
            match out {
                Playout::Frame { ts, .. } => {
                    let ts32 = (ts & 0xffff_ffff) as u32;
                    let wait = now as i64 - arrivals[&ts32] as i64;
                    run.waits.push((ts32 / FRAME, wait));
                    run.frames += 1;
                }
                Playout::Fec { .. } => run.fec += 1,
                Playout::Dred { .. } => run.dred += 1,
                Playout::Conceal { .. } => run.conceal += 1,
            }
            run.last_delay_us = jb.playout_delay_us();
        }
    }
    (run, jb)
}

/// Frames of `n` sent every 20 ms of *sender* clock (`rate` = sender clock
/// speed relative to the receiver's), arriving after `delay(i)`.
fn stream(n: u32, rate: f64, delay: impl Fn(u32) -> Option<u64>) -> Vec<Pkt> {
    (0..n)
        .filter_map(|i| {
            let send = (f64::from(i) * FRAME_US as f64 / rate) as u64 + 1_000_000;
            delay(i).map(|d| Pkt {
                seq: i as u16,
                ts: i * FRAME,
                arrival_us: send + d,
            })
        })
        .collect()
}

#[test]
fn clean_path_plays_every_frame_within_a_frame_of_arrival() {
    let (run, jb) = drive(stream(500, 1.0, |_| Some(30_000)), 20_000_000);
    assert_eq!(run.frames, 500);
    assert_eq!(jb.stats().concealed + jb.stats().fec_recovered, 0);
    let worst = run.waits.iter().map(|w| w.1).max().unwrap();
    assert!(worst <= FRAME_US as i64, "worst wait {worst} us");
    assert!(jb.target_us() <= 2_000, "target {}", jb.target_us());
}

#[test]
fn reordering_within_jitter_is_absorbed() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    // Every other pair swapped: frame i+1 overtakes frame i by 15 ms.
    let jit: Vec<u64> = (0..1000).map(|_| rng.gen_range(0..5_000)).collect();
    let (run, jb) = drive(
        stream(1000, 1.0, |i| {
            Some(20_000 + if i % 4 == 0 { 25_000 } else { jit[i as usize] })
        }),
        30_000_000,
    );
    let s = jb.stats();
    assert!(s.late <= 5, "late {}", s.late);
    assert!(run.frames >= 990, "played {}", run.frames);
    assert_eq!(s.lost, 0, "reordered frames must not count as lost");
    assert!(
        jb.target_us() >= 20_000 && jb.target_us() <= 40_000,
        "{}",
        jb.target_us()
    );
}

#[test]
fn burst_loss_is_concealed_or_recovered_and_later_frames_play() {
    let (run, jb) = drive(
        stream(500, 1.0, |i| {
            if (100..106).contains(&i) {
                None
            } else {
                Some(30_000)
            }
        }),
        20_000_000,
    );
    let s = jb.stats();
    assert_eq!(s.lost, 6);
    assert_eq!(run.frames, 494);
    assert_eq!(s.concealed + s.fec_recovered + s.dred_recovered, 6, "{s:?}");
    // Every frame after the burst still plays.
    assert!(run.waits.iter().any(|w| w.0 == 106));
}

#[test]
fn single_losses_use_fec_once_loss_is_seen() {
    // 5% scattered loss: after the first losses the buffer waits one more
    // frame so the next frame's FEC covers the missing one.
    let (run, _) = drive(
        stream(1000, 1.0, |i| if i % 20 == 7 { None } else { Some(30_000) }),
        30_000_000,
    );
    assert!(run.fec >= 40, "fec {} conceal {}", run.fec, run.conceal);
}

#[test]
fn loss_bursts_of_two_wait_two_frames_and_rebuild_both() {
    // Two consecutive frames lost every 25: once such bursts are seen the
    // buffer waits two frames, so the frame after a burst is here when the
    // first lost slot is due (DRED rebuilds it) and FEC covers the second.
    let (run, jb) = drive(
        stream(1000, 1.0, |i| {
            if i % 25 == 7 || i % 25 == 8 {
                None
            } else {
                Some(30_000)
            }
        }),
        30_000_000,
    );
    assert!(
        run.dred >= 35,
        "dred {} fec {} conceal {}",
        run.dred,
        run.fec,
        run.conceal
    );
    assert!(
        run.fec >= 35,
        "dred {} fec {} conceal {}",
        run.dred,
        run.fec,
        run.conceal
    );
    // Only the first bursts, before the wait has grown, are concealed.
    assert!(run.conceal <= 12, "conceal {}", run.conceal);
    // The wait is two frames (plus the jitter margin), not more.
    let delay = jb.playout_delay_us();
    assert!((40_000..=45_000).contains(&delay), "delay {delay} us");
}

#[test]
fn delay_spike_grows_then_shrinks_the_buffer() {
    let (run, jb) = drive(
        stream(1500, 1.0, |i| {
            Some(if (200..215).contains(&i) {
                30_000 + 150_000
            } else {
                30_000
            })
        }),
        40_000_000,
    );
    // During the spike frames came late; afterwards, once the spike leaves
    // the window, the delay returns close to the clean-path floor.
    assert!(jb.stats().late + u64::from(run.conceal) > 0);
    assert!(
        run.last_delay_us < 25_000,
        "delay stuck at {}",
        run.last_delay_us
    );
    let tail_worst = run
        .waits
        .iter()
        .filter(|w| w.0 > 1400)
        .map(|w| w.1)
        .max()
        .unwrap();
    assert!(tail_worst <= 25_000, "tail wait {tail_worst}");
}

#[test]
fn fast_sender_clock_drift_is_absorbed_by_skipping() {
    // Sender clock 0.5% fast: 60 s of audio arrive in 59.7 s.
    let (run, jb) = drive(stream(3000, 1.005, |_| Some(30_000)), 80_000_000);
    // 15 frames too many arrive over the minute: about that many are skipped.
    assert!(run.frames >= 2980, "played {}", run.frames);
    assert!(jb.stats().skipped >= 10, "skipped {}", jb.stats().skipped);
    let tail_worst = run
        .waits
        .iter()
        .filter(|w| w.0 > 2900)
        .map(|w| w.1)
        .max()
        .unwrap();
    assert!(tail_worst <= 30_000, "buffer grew with drift: {tail_worst}");
}

#[test]
fn slow_sender_clock_drift_is_absorbed_by_stretching() {
    let (run, jb) = drive(stream(3000, 0.995, |_| Some(30_000)), 80_000_000);
    let s = jb.stats();
    assert!(run.frames >= 2990, "played {} late {}", run.frames, s.late);
    assert!(s.stretched > 0, "never stretched");
}

#[test]
fn talk_spurt_gap_goes_idle_without_counting_concealment() {
    // Frames 0..100, silence (DTX) until 300, then 300..400: sequence stays
    // contiguous, so nothing was lost.
    let pkts: Vec<Pkt> = (0..100u32)
        .chain(300..400)
        .enumerate()
        .map(|(seq, i)| Pkt {
            seq: seq as u16,
            ts: i * FRAME,
            arrival_us: 1_000_000 + u64::from(i) * FRAME_US + 30_000,
        })
        .collect();
    let (run, jb) = drive(pkts, 20_000_000);
    assert_eq!(run.frames, 200);
    assert_eq!(jb.stats().concealed, 0);
    assert_eq!(jb.stats().lost, 0);
    assert!(!jb.is_playing());
}

#[test]
fn random_jitter_sets_target_to_cover_it() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let jit: Vec<u64> = (0..2000).map(|_| rng.gen_range(0..40_000)).collect();
    let (run, jb) = drive(
        stream(2000, 1.0, |i| Some(10_000 + jit[i as usize])),
        60_000_000,
    );
    let s = jb.stats();
    assert!(s.late < 60, "late {}", s.late);
    assert!(run.frames > 1900);
    assert!(jb.target_us() >= 30_000, "target {}", jb.target_us());
}

#[test]
fn short_dtx_gaps_on_a_clean_path_add_no_frame_of_delay() {
    // Speech with short silences (DTX sends nothing for 2..8 frames, less
    // than the idle limit) over a clean path with scheduling noise of up to
    // 1.5 ms. The jitter estimate creeping up must not be paid for with a
    // whole frame of delay at the first silent slot, and silent slots are
    // not concealment.
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut pkts = Vec::new();
    let mut seq = 0u16;
    let mut i = 0u32;
    while i < 1500 {
        let talk = rng.gen_range(10..40);
        for _ in 0..talk {
            let noise = rng.gen_range(0..1_500);
            pkts.push(Pkt {
                seq,
                ts: i * FRAME,
                arrival_us: 1_000_000 + u64::from(i) * FRAME_US + 300 + noise,
            });
            seq = seq.wrapping_add(1);
            i += 1;
        }
        i += rng.gen_range(2..9);
    }
    let sent = pkts.len() as u32;
    let (run, jb) = drive(pkts, 40_000_000);
    assert_eq!(run.frames, sent, "{:?}", jb.stats());
    assert_eq!(jb.stats().concealed, 0, "silence is not concealment");
    let mut waits: Vec<i64> = run.waits.iter().map(|w| w.1).collect();
    waits.sort_unstable();
    let p99 = waits[(waits.len() - 1) * 99 / 100];
    assert!(p99 <= 4_000, "p99 wait {p99} us, {:?}", jb.stats());
}
