//! The media plane end to end: real aura-crypto group sessions, real quinn
//! endpoints on loopback, real Opus. Three members; one talks.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::media_support;

use std::time::Duration;

use aura_media::Config;
use aura_node::media::MediaRoom;
use aura_node::voice::signal::{best_correlation, speech_like};
use media_support::*;

async fn three_members_hear(loss: f64, min_corr: f64) {
    let g = group(3);
    let (ea, _ra) = endpoint(&g[0], Config::default());
    let (eb, mut rb) = endpoint(&g[1], Config::default());
    let (ec, mut rc) = endpoint(&g[2], Config::default());
    ea.connect(member(&g[1]), eb.local_addr().unwrap())
        .await
        .unwrap();
    ea.connect(member(&g[2]), ec.local_addr().unwrap())
        .await
        .unwrap();
    let input = speech_like(2.0, 1);
    let len = input.len() + 48_000;
    let mut room_a = MediaRoom::new(g[0].clone());
    let mut room_b = MediaRoom::new(g[1].clone());
    let mut room_c = MediaRoom::new(g[2].clone());
    let mut sender = open_mic_sender();
    let dur = Duration::from_millis(2_600);
    let (_, hb, hc) = tokio::join!(
        talk(&ea, &mut room_a, &mut sender, &input, loss, 9),
        listen(&mut rb, &mut room_b, dur, len),
        listen(&mut rc, &mut room_c, dur, len),
    );
    let a = member(&g[0]);
    for (name, heard, room) in [("b", &hb, &room_b), ("c", &hc, &room_c)] {
        let (pcm, _) = heard
            .get(&a)
            .unwrap_or_else(|| panic!("{name} heard nothing"));
        let (corr, lag) = best_correlation(&input, pcm, 2_000);
        assert!(
            corr > min_corr,
            "{name}: correlation {corr:.2} at lag {lag} (loss {loss}), {:?}",
            room.reports()
        );
        assert_eq!(room.stats().unopenable + room.stats().non_member, 0);
    }
    assert!(
        ea.stats()
            .datagrams_sent
            .load(std::sync::atomic::Ordering::Relaxed)
            > 50
    );
}

#[tokio::test]
async fn three_members_one_talks_others_hear_it() {
    three_members_hear(0.0, 0.8).await;
}

#[tokio::test]
async fn three_members_hear_under_ten_percent_loss() {
    three_members_hear(0.10, 0.6).await;
}

#[tokio::test]
async fn stream_fallback_carries_voice_when_peer_refuses_datagrams() {
    let g = group(2);
    let (ea, _ra) = endpoint(&g[0], Config::default());
    let (eb, mut rb) = endpoint(&g[1], Config { datagrams: false });
    ea.connect(member(&g[1]), eb.local_addr().unwrap())
        .await
        .unwrap();
    let input = speech_like(1.0, 2);
    let mut room_a = MediaRoom::new(g[0].clone());
    let mut room_b = MediaRoom::new(g[1].clone());
    let mut sender = open_mic_sender();
    let (_, heard) = tokio::join!(
        talk(&ea, &mut room_a, &mut sender, &input, 0.0, 1),
        listen(
            &mut rb,
            &mut room_b,
            Duration::from_millis(1_500),
            input.len() + 48_000
        ),
    );
    let s = ea.stats();
    assert_eq!(
        s.datagrams_sent.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert!(s.streams_sent.load(std::sync::atomic::Ordering::Relaxed) > 30);
    let (pcm, _) = heard.get(&member(&g[0])).unwrap();
    let (corr, _) = best_correlation(&input, pcm, 2_000);
    assert!(corr > 0.7, "correlation {corr}");
}
