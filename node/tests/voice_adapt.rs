//! Voice under loss through real `Node`s (libp2p control plane, quinn
//! media plane, real Opus): receiver reports drive the talker's bitrate,
//! and speech stays intelligible under 10% random loss at two listeners.
//! Loss is the media endpoint's seeded inbound impairment (a lab knob that
//! drops received datagrams before processing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "media_support/nodes.rs"]
mod nodes;

use std::sync::Arc;
use std::time::Duration;

use aura_node::voice::signal::speech_like;
use aura_node::voice_api::{VoiceConfig, VoiceHandle, VoiceStats};
use common::within;
use nodes::{correlation_per_second, finish, record, trio, warm_up};

/// Polls `h`'s stats until `pred` holds (or `secs` pass); returns them.
async fn until(h: &VoiceHandle, secs: u64, pred: impl Fn(&VoiceStats) -> bool) -> VoiceStats {
    within(secs, async {
        loop {
            let s = h.stats().await.unwrap();
            if pred(&s) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_listener_lowers_the_talkers_bitrate_and_clean_it_climbs_back() {
    let (nodes, _gid, h) = trio(|_| VoiceConfig {
        stats_every: Duration::from_millis(250),
        ..VoiceConfig::default()
    })
    .await;
    let c = nodes[2].node.member_id();
    warm_up(&h[0], &h[1..]).await;
    let start_rate = h[0].stats().await.unwrap().send_bitrate;
    // c's path starts losing 30% of what it receives.
    h[2].set_inbound_loss(0.3).await.unwrap();
    let talk = h[0].talk_samples(speech_like(40.0, 7));
    let low = until(&h[0], 10, |s| s.send_bitrate <= 16_000).await;
    let from_c = low.feedback.iter().find(|(m, _)| *m == c);
    assert!(
        from_c.is_some_and(|(_, r)| r.loss() > 0.1),
        "the worst report is c's: {:?}",
        low.feedback
    );
    assert!(
        low.send_bitrate < start_rate,
        "{start_rate} -> {}",
        low.send_bitrate
    );
    assert!(h[2].stats().await.unwrap().impaired > 0);
    // Clean again: the bitrate climbs back up.
    h[2].set_inbound_loss(0.0).await.unwrap();
    let high = until(&h[0], 15, |s| s.send_bitrate >= 30_000).await;
    assert!(
        high.feedback.iter().all(|(_, r)| r.loss() < 0.03),
        "{:?}",
        high.feedback
    );
    assert_eq!(high.feedback_refused, 0);
    talk.abort();
    finish(nodes, &h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_listeners_understand_speech_under_ten_percent_loss() {
    let (nodes, _gid, h) = trio(|i| VoiceConfig {
        inbound_loss: if i == 0 { 0.0 } else { 0.10 },
        loss_seed: i as u64,
        ..VoiceConfig::default()
    })
    .await;
    let a = nodes[0].node.member_id();
    warm_up(&h[0], &h[1..]).await;
    let recs: Vec<_> = h[1..].iter().map(|l| record(l)).collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let input = speech_like(3.0, 9);
    h[0].talk_samples(input.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let listeners: Vec<Arc<VoiceHandle>> = h[1..].to_vec();
    for l in &listeners {
        let s = l.stats().await.unwrap();
        let q = &s.voice.iter().find(|(m, _)| *m == a).unwrap().1;
        // The impairment really dropped about a tenth of what arrived.
        let dropped = s.impaired as f64 / (s.impaired + q.received + q.late) as f64;
        assert!(
            (0.05..0.16).contains(&dropped),
            "dropped {dropped:.3}: {q:?}"
        );
        assert!(q.fec_recovered + q.concealed > 0, "{q:?}");
        l.leave().await;
    }
    for rec in recs {
        let out = rec.await.unwrap();
        let corr = correlation_per_second(&input, &out);
        eprintln!("correlation per second under 10% loss: {corr:?}");
        // The median second still matches the input closely.
        assert!(
            corr[corr.len() / 2].0 > 0.6,
            "correlation per second {corr:?}"
        );
    }
    finish(nodes, &h).await;
}
