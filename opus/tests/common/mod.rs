//! A speech-like signal and the encoder settings the codec tests share.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use aura_opus::{Application, Decoder, Encoder};

pub const FS: u32 = 48_000;
pub const FRAME: usize = 960;

/// A voiced, speech-like test signal: harmonics of a gliding pitch under a
/// syllable-rate envelope.
pub fn voice(samples: usize) -> Vec<i16> {
    let mut phase = 0.0f64;
    (0..samples)
        .map(|i| {
            let t = i as f64 / f64::from(FS);
            let f0 = 140.0 + 30.0 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
            phase += 2.0 * std::f64::consts::PI * f0 / f64::from(FS);
            let env = 0.6 + 0.4 * (2.0 * std::f64::consts::PI * 3.0 * t).sin();
            let s: f64 = (1..12).map(|h| (phase * h as f64).sin() / h as f64).sum();
            (s * env * 6_000.0) as i16
        })
        .collect()
}

/// Correlation of two equal-length signals.
pub fn corr(a: &[i16], b: &[i16]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa.sqrt() * bb.sqrt()).max(1.0)
}

pub fn energy(a: &[i16]) -> f64 {
    a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / a.len() as f64
}

pub fn encoder(fec: bool, dred: i32) -> Encoder {
    let mut enc = Encoder::new(FS, 1, Application::Voip).unwrap();
    enc.set_bitrate(32_000).unwrap();
    enc.set_complexity(10).unwrap();
    enc.set_inband_fec(fec).unwrap();
    enc.set_packet_loss_perc(20).unwrap();
    enc.set_dred_duration(dred).unwrap();
    enc
}

pub fn packets(enc: &mut Encoder, pcm: &[i16]) -> Vec<Vec<u8>> {
    pcm.chunks_exact(FRAME)
        .map(|f| {
            let mut out = [0u8; 1_500];
            let n = enc.encode(f, &mut out).unwrap();
            out[..n].to_vec()
        })
        .collect()
}

/// Three frames concealed at `complexity` after the first 30 of `ps`.
pub fn conceal(ps: &[Vec<u8>], complexity: i32) -> Vec<i16> {
    let mut dec = Decoder::new(FS, 1).unwrap();
    dec.set_complexity(complexity).unwrap();
    let mut buf = vec![0i16; FRAME];
    for p in &ps[..30] {
        dec.decode(p, &mut buf, false).unwrap();
    }
    let mut out = vec![0i16; FRAME * 3];
    for f in out.chunks_exact_mut(FRAME) {
        assert_eq!(dec.conceal(f).unwrap(), FRAME);
    }
    out
}
