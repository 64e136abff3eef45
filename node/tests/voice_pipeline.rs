//! Sans-IO voice pipeline: push-to-talk, DTX, mixing of two speakers,
//! FEC/concealment, positional audio.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use aura_node::voice::mixer::Input;
use aura_node::voice::signal::{best_correlation, rms, sine, speech_like};
use aura_node::voice::{Mixer, Position, TalkMode, VoiceReceiver, VoiceSender};

fn run_sender(s: &mut VoiceSender, pcm: &[i16]) -> usize {
    pcm.chunks(960)
        .filter(|c| c.len() == 960)
        .filter(|c| s.process(c).unwrap().is_some())
        .count()
}

#[test]
fn push_to_talk_sends_nothing_while_released() {
    let mut s = VoiceSender::voice(Default::default(), TalkMode::PushToTalk).unwrap();
    let speech = speech_like(2.0, 1);
    assert_eq!(run_sender(&mut s, &speech), 0);
    assert_eq!(s.stats().gated, 100);
    s.gate.key_down = true;
    assert!(run_sender(&mut s, &speech) > 60);
    s.gate.muted = true;
    assert_eq!(run_sender(&mut s, &speech), 0);
}

#[test]
fn dtx_sends_almost_nothing_in_silence() {
    let mut s = VoiceSender::voice(Default::default(), TalkMode::PushToTalk).unwrap();
    s.gate.key_down = true; // key held, but nobody speaks
                            // Room silence: white noise around -80 dBFS.
    let mut x: u32 = 1;
    let silence: Vec<i16> = (0..48_000 * 5)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((x >> 16) % 7) as i16 - 3
        })
        .collect();
    let sent = run_sender(&mut s, &silence);
    // 250 frames of silence: DTX sends only periodic comfort-noise updates.
    assert!(sent <= 25, "sent {sent} of 250 frames in silence");
}

#[test]
fn quiet_speech_is_not_withheld_as_silence() {
    // Speech at about -50 dBFS, below the energy VAD's floor: with the key
    // held every frame must go out (the old energy-gated DTX withheld 19 of
    // every 20 such frames, clipping quiet onsets and endings).
    let mut s = VoiceSender::voice(Default::default(), TalkMode::PushToTalk).unwrap();
    s.gate.key_down = true;
    let loud = speech_like(2.0, 3);
    let k = 100.0 / rms(&loud);
    let quiet: Vec<i16> = loud.iter().map(|x| (f64::from(*x) * k) as i16).collect();
    assert!(rms(&quiet) > 90.0 && rms(&quiet) < 110.0);
    let (mut voiced, mut withheld) = (0, 0);
    for f in quiet.chunks_exact(960) {
        let sent = s.process(f).unwrap().is_some();
        if rms(f) > 60.0 {
            voiced += 1;
            withheld += usize::from(!sent);
        }
    }
    assert!(voiced > 40, "{voiced}");
    assert_eq!(
        withheld, 0,
        "{withheld} of {voiced} quiet speech frames withheld"
    );
}

#[test]
fn open_mic_vad_sends_speech_not_pauses() {
    let mut s = VoiceSender::voice(Default::default(), TalkMode::OpenMic).unwrap();
    let mut pcm = vec![0i16; 48_000];
    pcm.extend(speech_like(2.0, 4));
    let sent = run_sender(&mut s, &pcm);
    assert!(sent > 40 && sent < 140, "sent {sent}");
}

/// Encodes and decodes `pcm` with every frame delivered at its due time.
fn codec_roundtrip(pcm: &[i16], drop: impl Fn(usize) -> bool) -> (Vec<i16>, VoiceReceiver) {
    let mut s = VoiceSender::voice(Default::default(), TalkMode::PushToTalk).unwrap();
    s.gate.key_down = true;
    let mut r = VoiceReceiver::new(0).unwrap();
    let mut out = Vec::new();
    for (i, c) in pcm.chunks(960).enumerate() {
        let now = 1_000_000 + i as u64 * 20_000;
        if let Some(p) = s.process(c).unwrap() {
            if !drop(i) {
                r.push(p, now + 5_000);
            }
        }
        while let Some(slot) = r.poll(now + 5_000) {
            out.extend(slot.pcm);
        }
    }
    (out, r)
}

#[test]
fn losses_are_concealed_or_recovered_by_fec() {
    let speech = speech_like(4.0, 2);
    let (out, r) = codec_roundtrip(&speech, |i| i % 10 == 5);
    let q = r.report();
    assert!(q.concealed + q.fec_recovered >= 15, "{q:?}");
    assert!(q.fec_recovered > 0, "{q:?}");
    let (c, _) = best_correlation(&speech, &out, 2_000);
    assert!(c > 0.6, "correlation {c}");
    assert!(q.mos > 3.0 && q.mos < 4.5, "{q:?}");
}

#[test]
fn two_speakers_at_once_are_both_heard_in_the_mix() {
    let loud = sine(300.0, 0.6, 48_000);
    let quiet = sine(1_100.0, 0.03, 48_000);
    let mut mixer: Mixer<u8> = Mixer::new(false);
    let mut out = Vec::new();
    for (a, b) in loud.chunks(960).zip(quiet.chunks(960)) {
        out.extend(mixer.mix(
            &[
                Input {
                    who: &1,
                    pcm: a,
                    channels: 1,
                },
                Input {
                    who: &2,
                    pcm: b,
                    channels: 1,
                },
            ],
            960,
        ));
    }
    // Project the mix on each tone: both present at comparable loudness.
    let tail = &out[24_000..];
    let power = |f: f32| {
        let (mut re, mut im) = (0.0f64, 0.0f64);
        for (i, s) in tail.iter().enumerate() {
            let t = (i + 24_000) as f64 / 48_000.0;
            let w = 2.0 * std::f64::consts::PI * f64::from(f) * t;
            re += f64::from(*s) * w.cos();
            im += f64::from(*s) * w.sin();
        }
        (re * re + im * im).sqrt() / tail.len() as f64
    };
    let (p_loud, p_quiet) = (power(300.0), power(1_100.0));
    assert!(
        p_quiet > 0.5 * p_loud,
        "quiet speaker not evened out: {p_loud} vs {p_quiet}"
    );
    assert!(rms(tail) > 1_000.0);
}

#[test]
fn positional_audio_pans_and_attenuates() {
    let left = Position {
        distance_m: 5.0,
        bearing_deg: -90.0,
    };
    let (l, r) = left.gains(10.0);
    assert!(l > 0.9 && r < 0.05, "{l} {r}");
    let far = Position {
        distance_m: 100.0,
        bearing_deg: 0.0,
    };
    let (fl, fr) = far.gains(10.0);
    assert!((fl - fr).abs() < 1e-6 && fl < 0.1, "{fl} {fr}");
    let mut m: Mixer<u8> = Mixer::new(true);
    m.set_position(&1, Some(left));
    let tone = sine(440.0, 0.2, 960);
    let out = m.mix(
        &[Input {
            who: &1,
            pcm: &tone,
            channels: 1,
        }],
        960,
    );
    let l_rms = rms(&out.iter().step_by(2).copied().collect::<Vec<_>>());
    let r_rms = rms(&out.iter().skip(1).step_by(2).copied().collect::<Vec<_>>());
    assert!(l_rms > 10.0 * r_rms.max(1.0), "{l_rms} {r_rms}");
}
