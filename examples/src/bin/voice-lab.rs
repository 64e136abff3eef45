//! `voice-lab`: runs a WAV file through Aura's real voice pipeline under network
//! impairment and writes what a listener would hear.
//!
//! encode (Opus, FEC, DRED, DTX) → seal (aura-crypto sender keys) → real UDP
//! datagrams on loopback with random/burst loss and jitter (hence reordering)
//! → open → adaptive jitter buffer → decode/FEC/DRED/deep PLC; the
//! receiver's loss goes back to the sender each second, as in the node. Time is virtual (the
//! datagram carries its simulated arrival time in an 8-byte lab prefix), so a
//! run takes a fraction of the audio's duration and is reproducible by seed.
//! OUT.wav is time-aligned with IN.wav (same length and rate; Opus lookahead
//! removed; missing audio concealed, not dropped).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use aura_crypto::{GroupSession, Identity, Role, Roster};
use aura_node::voice::codec::EncoderConfig;
use aura_node::voice::payload::VoicePayload;
use aura_node::voice::signal::{write_wav, WavSource};
use aura_node::voice::AudioSource;
use aura_node::voice::{
    LossMeter, ReportQuality, SlotKind, TalkGate, TalkMode, VoiceReceiver, VoiceSender,
};
use clap::Parser;
use rand::rngs::OsRng;
use rand::{Rng, SeedableRng};

#[derive(Parser, Debug)]
#[command(about = "Run a WAV through Aura's voice pipeline under impairment")]
struct Args {
    /// Input WAV (48 kHz, 16-bit, mono; stereo uses the left channel).
    #[arg(long)]
    input: PathBuf,
    /// Output WAV (what the listener hears).
    #[arg(long)]
    output: PathBuf,
    /// Average packet loss, percent.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Mean loss burst length, packets (1 = independent losses).
    #[arg(long, default_value_t = 1.0)]
    burst: f64,
    /// Jitter: extra one-way delay uniform in 0..=J ms (reorders packets).
    #[arg(long, default_value_t = 0.0)]
    jitter_ms: f64,
    /// Base one-way delay, ms.
    #[arg(long, default_value_t = 5.0)]
    delay_ms: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Voice bitrate, bits/s (the sender's start rate; the lab sends no
    /// receiver reports, so it stays there).
    #[arg(long, default_value_t = 24_000)]
    bitrate: i32,
    /// Also run plain libopus (same bitrate and frame size, no FEC, no DTX,
    /// no jitter buffer, classic concealment) through the same loss model
    /// and seed, and write it beside OUT as OUT.baseline.wav.
    #[arg(long)]
    baseline: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Gilbert-Elliott loss: mean burst length `burst`, average loss `loss_pct`.
struct LossModel {
    p_good_to_bad: f64,
    p_bad_to_good: f64,
    bad: bool,
    rng: rand::rngs::StdRng,
}

impl LossModel {
    fn new(loss_pct: f64, burst: f64, seed: u64) -> Self {
        let p = (loss_pct / 100.0).clamp(0.0, 0.95);
        let p_bad_to_good = 1.0 / burst.max(1.0);
        let p_good_to_bad = if p > 0.0 {
            p * p_bad_to_good / (1.0 - p)
        } else {
            0.0
        };
        Self {
            p_good_to_bad,
            p_bad_to_good,
            bad: false,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        }
    }

    /// Whether the next packet is lost.
    fn lose(&mut self) -> bool {
        self.bad = if self.bad {
            !self.rng.gen_bool(self.p_bad_to_good)
        } else {
            self.rng.gen_bool(self.p_good_to_bad)
        };
        self.bad
    }
}

/// Plain libopus at the lab's settings: every frame encoded and sent, lost
/// frames concealed by the decoder, output aligned with the input.
fn plain_libopus(input: &[i16], args: &Args) -> anyhow::Result<Vec<i16>> {
    use aura_opus::{Application, Decoder, Encoder};
    let frame = 960;
    let mut enc = Encoder::new(48_000, 1, Application::Voip)?;
    enc.set_bitrate(args.bitrate)?;
    let lookahead = enc.lookahead()?;
    let mut dec = Decoder::new(48_000, 1)?;
    let mut loss = LossModel::new(args.loss, args.burst, args.seed);
    let mut out = Vec::with_capacity(input.len() + 2 * frame);
    let mut packet = [0u8; 1_500];
    let mut pcm = vec![0i16; frame];
    let mut k = 0;
    while out.len() < input.len() + lookahead {
        let start = (k * frame).min(input.len());
        let end = (start + frame).min(input.len());
        pcm.fill(0);
        pcm[..end - start].copy_from_slice(&input[start..end]);
        let n = enc.encode(&pcm, &mut packet)?;
        let mut slot = vec![0i16; frame];
        if loss.lose() {
            dec.conceal(&mut slot)?;
        } else {
            dec.decode(&packet[..n], &mut slot, false)?;
        }
        out.extend_from_slice(&slot);
        k += 1;
    }
    Ok(out.into_iter().skip(lookahead).take(input.len()).collect())
}

const NOW: u64 = 1_700_000_000_000;

fn pair() -> anyhow::Result<(GroupSession, GroupSession)> {
    let a = Identity::generate(&mut OsRng);
    let b = Identity::generate(&mut OsRng);
    let (mut sa, _) = GroupSession::create(a, "lab", NOW, &mut OsRng)?;
    sa.add_member(b.member_id(), Role::Member, None, NOW)?;
    let roster = Roster::from_ops(sa.roster().ops().cloned().collect())?;
    let mut sb = GroupSession::from_roster(b, roster, NOW, &mut OsRng);
    let env = sa.envelope_for(sb.member_id(), &mut OsRng)?;
    sb.accept_envelope(&env)?;
    Ok((sa, sb))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let src = WavSource::open(&args.input).context("reading input")?;
    let input: Vec<i16> = src
        .samples()
        .iter()
        .step_by(src.channels())
        .copied()
        .collect();
    let (mut sa, mut sb) = pair()?;
    let tx = UdpSocket::bind("127.0.0.1:0")?;
    let rx = UdpSocket::bind("127.0.0.1:0")?;
    rx.set_read_timeout(Some(Duration::from_millis(200)))?;
    tx.connect(rx.local_addr()?)?;

    let mut gate = TalkGate::new(TalkMode::PushToTalk);
    gate.key_down = true;
    let cfg = EncoderConfig {
        bitrate: args.bitrate,
        ..EncoderConfig::voice()
    };
    let mut sender = VoiceSender::new(cfg, gate)?;
    // Receiver reports each second, as the node sends them: FEC and DRED
    // follow the reported loss; the bitrate stays at --bitrate (its cap)
    // unless the loss looks like congestion.
    sender.cap_bitrate(args.bitrate);
    let mut meter = LossMeter::default();
    let mut bitrates = Vec::new();
    let lookahead = sender.lookahead()?;
    let mut recv = VoiceReceiver::new(0)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed ^ 0x5eed);
    let mut loss = LossModel::new(args.loss, args.burst, args.seed);

    let frame = 960usize;
    let frame_us = 20_000u64;
    let mut out = vec![0i16; input.len() + frame * 4 + lookahead];
    let mut heap: BinaryHeap<Reverse<(u64, Vec<u8>)>> = BinaryHeap::new();
    let mut capture_us: std::collections::HashMap<u64, u64> = Default::default();
    let mut latencies = Vec::new();
    let (mut frames_sent, mut datagrams, mut net_lost) = (0u64, 0u64, 0u64);
    let mut buf = vec![0u8; 2_048];
    let mut base_ts = None;
    let n_frames = input.len().div_ceil(frame) + 10;
    let mut now = 0u64;
    let play = |recv: &mut VoiceReceiver,
                now: u64,
                out: &mut Vec<i16>,
                lat: &mut Vec<f64>,
                capture: &std::collections::HashMap<u64, u64>,
                base: Option<u64>| {
        while let Some(slot) = recv.poll(now) {
            let Some(base) = base else { continue };
            let pos = (slot.ts - base) as usize;
            if pos + slot.pcm.len() <= out.len() {
                out[pos..pos + slot.pcm.len()].copy_from_slice(&slot.pcm);
            }
            if slot.kind != SlotKind::Concealed {
                if let Some(c) = capture.get(&(slot.ts - base)) {
                    // Capture of the frame's first sample → its playout, plus lookahead.
                    lat.push((now - c) as f64 / 1_000.0 + lookahead as f64 / 48.0);
                }
            }
        }
    };
    for k in 0..n_frames {
        // Frame k is captured over [k*20, (k+1)*20) ms and encoded at its end.
        let t_capture = k as u64 * frame_us;
        let t_send = t_capture + frame_us;
        let mut pcm = vec![0i16; frame];
        let start = k * frame;
        if start < input.len() {
            let end = (start + frame).min(input.len());
            pcm[..end - start].copy_from_slice(&input[start..end]);
        }
        // Deliver everything that arrives before this send, with playout in between.
        loop {
            let next_arrival = heap.peek().map(|r| r.0 .0).filter(|a| *a <= t_send);
            let next_due = recv.next_due_us().filter(|d| *d <= t_send);
            let t = match (next_arrival, next_due) {
                (Some(a), Some(d)) => a.min(d),
                (Some(a), None) => a,
                (None, Some(d)) => d,
                (None, None) => break,
            };
            now = now.max(t);
            while let Some(Reverse((a, bytes))) = heap.peek().cloned() {
                if a > now {
                    break;
                }
                heap.pop();
                if let Ok(o) = sb.open(&bytes, NOW) {
                    if let Ok(vp) = VoicePayload::parse(&o.payload) {
                        base_ts.get_or_insert(u64::from(vp.ts) + (1 << 32));
                        recv.push(vp, now);
                    }
                }
            }
            play(
                &mut recv,
                now,
                &mut out,
                &mut latencies,
                &capture_us,
                base_ts,
            );
        }
        now = now.max(t_send);
        if k % 50 == 49 {
            if let Some(rep) = meter.interval(&recv.report()) {
                sender.on_loss_reports(&[rep.loss()])?;
            }
        }
        bitrates.push(f64::from(sender.bitrate()));
        if let Some(vp) = sender.process(&pcm)? {
            capture_us.insert(u64::from(vp.ts), t_capture);
            frames_sent += 1;
            let sv = sa.seal_voice(&vp.to_bytes(), NOW)?;
            for f in std::iter::once(sv.frame).chain(sv.sig_frame) {
                datagrams += 1;
                if loss.lose() {
                    net_lost += 1;
                    continue;
                }
                let delay = args.delay_ms * 1_000.0 + rng.gen::<f64>() * args.jitter_ms * 1_000.0;
                let arrival = t_send + delay as u64;
                let mut d = arrival.to_be_bytes().to_vec();
                d.extend_from_slice(&f);
                tx.send(&d)?;
                let n = rx.recv(&mut buf)?;
                let at = u64::from_be_bytes(buf[..8].try_into()?);
                heap.push(Reverse((at, buf[8..n].to_vec())));
            }
        }
    }
    // Remove the codec lookahead so OUT aligns sample-for-sample with IN.
    let aligned: Vec<i16> = out
        .iter()
        .skip(lookahead)
        .take(input.len())
        .copied()
        .collect();
    write_wav(&args.output, &aligned, 1)?;
    let baseline_output = if args.baseline {
        let path = args.output.with_extension("baseline.wav");
        write_wav(&path, &plain_libopus(&input, &args)?, 1)?;
        Some(path)
    } else {
        None
    };

    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| {
        if latencies.is_empty() {
            0.0
        } else {
            latencies[((latencies.len() - 1) as f64 * q).round() as usize]
        }
    };
    let js = recv.jitter_stats().clone();
    let q = recv.report();
    let report = serde_json::json!({
        "input": args.input, "output": args.output,
        "loss_pct": args.loss, "burst": args.burst, "jitter_ms": args.jitter_ms,
        "frames_sent": frames_sent,
        "datagrams_sent": datagrams,
        "datagrams_lost": net_lost,
        "frames_played": js.played,
        "concealed": js.concealed,
        "fec_recovered": js.fec_recovered,
        "late": js.late,
        "latency_p50_ms": (pct(0.5) * 10.0).round() / 10.0,
        "latency_p99_ms": (pct(0.99) * 10.0).round() / 10.0,
        "mos_estimate": (q.mos * 100.0).round() / 100.0,
        "bitrate_bps": sender.bitrate(),
        "bitrate_mean_bps": (bitrates.iter().sum::<f64>() / bitrates.len().max(1) as f64).round(),
        "dred_recovered": js.dred_recovered,
        "baseline_output": baseline_output,
    });
    if args.json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
