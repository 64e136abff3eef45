//! The vendored libopus works end to end through the safe API: plain
//! coding, in-band FEC, deep PLC and DRED.
#![allow(clippy::unwrap_used)]

use aura_opus::{packet_has_fec, Application, Decoder, Dred, DredDecoder, Encoder, Error};

const FS: u32 = 48_000;
const FRAME: usize = 960;

/// A voiced, speech-like test signal: harmonics of a gliding pitch under a
/// syllable-rate envelope.
fn voice(samples: usize) -> Vec<i16> {
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
fn corr(a: &[i16], b: &[i16]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa.sqrt() * bb.sqrt()).max(1.0)
}

fn energy(a: &[i16]) -> f64 {
    a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / a.len() as f64
}

fn encoder(fec: bool, dred: i32) -> Encoder {
    let mut enc = Encoder::new(FS, 1, Application::Voip).unwrap();
    enc.set_bitrate(32_000).unwrap();
    enc.set_complexity(10).unwrap();
    enc.set_inband_fec(fec).unwrap();
    enc.set_packet_loss_perc(20).unwrap();
    enc.set_dred_duration(dred).unwrap();
    enc
}

fn packets(enc: &mut Encoder, pcm: &[i16]) -> Vec<Vec<u8>> {
    pcm.chunks_exact(FRAME)
        .map(|f| {
            let mut out = [0u8; 1_500];
            let n = enc.encode(f, &mut out).unwrap();
            out[..n].to_vec()
        })
        .collect()
}

#[test]
fn vendored_libopus_is_1_5_2() {
    assert!(
        aura_opus::version().contains("1.5.2"),
        "{}",
        aura_opus::version()
    );
}

#[test]
fn decoded_speech_matches_the_input() {
    let pcm = voice(FS as usize * 2);
    let mut enc = encoder(false, 0);
    let delay = enc.lookahead().unwrap();
    let mut dec = Decoder::new(FS, 1).unwrap();
    let mut out = Vec::new();
    for p in packets(&mut enc, &pcm) {
        let mut buf = vec![0i16; FRAME];
        assert_eq!(dec.decode(&p, &mut buf, false).unwrap(), FRAME);
        out.extend_from_slice(&buf);
    }
    // Skip the first half second (encoder warm-up), align by the lookahead.
    let c = corr(&pcm[24_000..90_000], &out[24_000 + delay..90_000 + delay]);
    assert!(c > 0.7, "correlation {c}");
}

#[test]
fn inband_fec_rebuilds_the_lost_frame() {
    let pcm = voice(FS as usize);
    let mut enc = encoder(true, 0);
    let ps = packets(&mut enc, &pcm);
    // LBRR is coded for frames SILK's VAD finds active.
    let lost = (20..ps.len() - 1)
        .find(|&i| packet_has_fec(&ps[i + 1]))
        .expect("no LBRR in a 20 % loss stream");
    let mut dec = Decoder::new(FS, 1).unwrap();
    let mut buf = vec![0i16; FRAME];
    let mut reference = Decoder::new(FS, 1).unwrap();
    let mut want = vec![0i16; FRAME];
    for p in &ps[..lost] {
        dec.decode(p, &mut buf, false).unwrap();
        reference.decode(p, &mut want, false).unwrap();
    }
    reference.decode(&ps[lost], &mut want, false).unwrap();
    assert_eq!(dec.decode(&ps[lost + 1], &mut buf, true).unwrap(), FRAME);
    let c = corr(&want, &buf);
    assert!(c > 0.7, "FEC frame correlates {c} with the real one");
}

#[test]
fn deep_plc_is_compiled_in_and_differs_from_classic_concealment() {
    let pcm = voice(FS as usize);
    let mut enc = encoder(false, 0);
    let ps = packets(&mut enc, &pcm);
    let conceal = |complexity: i32| {
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
    };
    let classic = conceal(0);
    let neural = conceal(5);
    assert!(energy(&neural) > 1e4, "deep PLC produced silence");
    assert_ne!(classic, neural, "complexity 5 did not switch to deep PLC");
}

#[test]
fn dred_rebuilds_a_burst_from_a_later_packet() {
    let pcm = voice(FS as usize * 2);
    let mut enc = encoder(false, 50);
    assert_eq!(enc.dred_duration().unwrap(), 50);
    let ps = packets(&mut enc, &pcm);
    // Frames 60..63 are lost; packet 63 carries DRED for them.
    let (first, arrived) = (60, 63);
    let mut dec = Decoder::new(FS, 1).unwrap();
    dec.set_complexity(5).unwrap();
    let mut buf = vec![0i16; FRAME];
    for p in &ps[..first] {
        dec.decode(p, &mut buf, false).unwrap();
    }
    let mut dred_dec = DredDecoder::new().unwrap();
    let mut dred = Dred::new().unwrap();
    let lost = arrived - first;
    let avail = dred_dec
        .parse(&mut dred, &ps[arrived], (lost + 1) * FRAME, FS)
        .unwrap();
    assert!(avail >= lost * FRAME, "DRED covers only {avail} samples");
    assert_eq!(dred.available(), avail);
    let mut rebuilt = Vec::new();
    for k in 0..lost {
        let offset = ((lost - k) * FRAME) as i32;
        assert_eq!(dec.decode_dred(&dred, offset, &mut buf).unwrap(), FRAME);
        rebuilt.extend_from_slice(&buf);
    }
    assert!(energy(&rebuilt) > 0.1 * energy(&pcm[first * FRAME..arrived * FRAME]));
}

#[test]
fn hostile_packets_give_errors_not_crashes() {
    let mut dec = Decoder::new(FS, 1).unwrap();
    let mut buf = vec![0i16; FRAME];
    assert_eq!(dec.decode(&[], &mut buf, false), Err(Error::InvalidPacket));
    // A code-3 packet claiming 63 frames of 20 ms (over 120 ms).
    assert!(dec.decode(&[0b0001_1011, 0x3f], &mut buf, false).is_err());
    let mut dred_dec = DredDecoder::new().unwrap();
    let mut dred = Dred::new().unwrap();
    let mut rng = 0x1234_5678u32;
    for len in 1..200 {
        let p: Vec<u8> = (0..len)
            .map(|_| {
                rng = rng.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (rng >> 24) as u8
            })
            .collect();
        let _ = dec.decode(&p, &mut buf, false);
        let _ = dec.decode(&p, &mut buf, true);
        let _ = dred_dec.parse(&mut dred, &p, 48_000, FS);
    }
    assert!(Encoder::new(44_100, 1, Application::Voip).is_err());
    assert!(Decoder::new(FS, 3).is_err());
}
