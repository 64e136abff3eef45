//! Voice through the `Node` API: three nodes in a group over libp2p, media
//! addresses learned over the control plane, quinn datagrams on loopback,
//! real Opus. One talks; the others' mixed playout matches the input.
//! Music shared by one member plays in sync at two listeners.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use crate::media_support::nodes;

use std::time::{Duration, Instant};

use aura_crypto::MemberId;
use aura_node::voice::signal::speech_like;
use aura_node::voice_api::VoiceConfig;
use aura_node::Event;
use common::*;
use nodes::{correlation_per_second, record, trio, warm_up};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_one_talks_the_others_hear_it() {
    let (mut nodes, gid, h) = trio(|_| VoiceConfig::default()).await;
    let a: MemberId = nodes[0].node.member_id();

    // Push-to-talk released: captured frames are not sent.
    for _ in 0..10 {
        h[0].capture(vec![3_000; 960]).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let s = h[0].stats().await.unwrap();
    assert_eq!(s.sender.frames_sent, 0, "{:?}", s.sender);
    assert!(s.sender.gated >= 10);

    warm_up(&h[0], &h[1..]).await;
    let recs: Vec<_> = h[1..].iter().map(|l| record(l)).collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let input = speech_like(3.0, 9);
    h[0].talk_samples(input.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    h[0].set_ptt(false).await.unwrap();

    for (i, l) in h[1..].iter().enumerate() {
        let s = l.stats().await.unwrap();
        let q = &s.voice.iter().find(|(m, _)| *m == a).unwrap().1;
        assert!(q.received > 150, "{q:?}");
        assert!(q.mos > 2.5, "{q:?}");
        assert_eq!(s.room.unopenable + s.room.non_member, 0, "{:?}", s.room);
        let _ = i;
    }
    // Quality events reached the listeners' node event streams.
    for n in &mut nodes[1..] {
        let r = wait_for(&mut n.events, 5, |e| match e {
            Event::VoiceQuality {
                group,
                member,
                report,
            } if *group == gid && *member == a => Some(report.clone()),
            _ => None,
        })
        .await;
        assert!(r.received > 0);
    }
    for (l, rec) in h[1..].iter().zip(recs) {
        l.leave().await;
        let out = rec.await.unwrap();
        // The recording started ~100 ms before the talk; the talk reaches
        // playout within a few hundred ms.
        // Per second of speech (a late frame on a loaded machine may shift
        // the rest by a frame, which would blur one whole-signal figure):
        // the median second matches.
        let corr = correlation_per_second(&input, &out);
        assert!(corr[1].0 > 0.6, "correlation per second {corr:?}");
    }
    h[0].leave().await;
    for n in nodes {
        n.node.shutdown().await;
    }
}

/// A stereo chord that changes every 100 ms.
fn music(seconds: f32) -> Vec<i16> {
    let n = (seconds * 48_000.0) as usize;
    let mut out = Vec::with_capacity(n * 2);
    for i in 0..n {
        let t = i as f32 / 48_000.0;
        let f = 220.0 * (1.0 + ((i / 4_800) % 5) as f32 * 0.25);
        let l = (t * f * std::f32::consts::TAU).sin() * 6_000.0;
        let r = (t * f * 1.5 * std::f32::consts::TAU).sin() * 6_000.0;
        out.push(l as i16);
        out.push(r as i16);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_music_plays_in_sync_at_two_listeners_under_a_voice() {
    let cfg = VoiceConfig {
        stereo: true,
        ..VoiceConfig::default()
    };
    let (nodes, _gid, h) = trio(|_| cfg.clone()).await;
    let a = nodes[0].node.member_id();
    warm_up(&h[0], &h[1..]).await;
    h[0].share_music(music(4.0)).await.unwrap();
    // b talks over the music at c.
    h[1].set_ptt(true).await.unwrap();
    let talk = h[1].talk_samples(speech_like(2.0, 4));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // Where each listener is in the music right now.
    let at = Instant::now();
    let mut pos_ms = Vec::new();
    for l in &h[1..] {
        let s = l.stats().await.unwrap();
        let (_, _, ts, when) = *s
            .positions
            .iter()
            .find(|(m, music, _, _)| *m == a && *music)
            .expect("music playing");
        pos_ms.push(ts as f64 / 48.0 + at.duration_since(when).as_secs_f64() * 1_000.0);
        let q = &s.music.iter().find(|(m, _)| *m == a).unwrap().1;
        assert!(q.received > 40, "{q:?}");
    }
    let skew = (pos_ms[0] - pos_ms[1]).abs();
    assert!(skew <= 40.0, "listeners {skew:.1} ms apart in the music");
    talk.await.unwrap();
    // c heard both b's voice and a's music.
    let s = h[2].stats().await.unwrap();
    let b = nodes[1].node.member_id();
    assert!(s.voice.iter().any(|(m, q)| *m == b && q.received > 50));
    for x in &h {
        x.leave().await;
    }
    for n in nodes {
        n.node.shutdown().await;
    }
}
