//! The vendored libopus works end to end through the safe API: plain
//! coding, in-band FEC, deep PLC and DRED.
#![allow(clippy::unwrap_used)]

use aura_opus::{packet_has_fec, Application, Decoder, Dred, DredDecoder, Encoder, Error};

mod common;

use common::*;

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
    let classic = conceal(&ps, 0);
    let neural = conceal(&ps, 5);
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
