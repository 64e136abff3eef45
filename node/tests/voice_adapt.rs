//! Voice under loss through real `Node`s (libp2p control plane, quinn
//! media plane, real Opus): receiver reports drive the talker's bitrate,
//! and speech stays intelligible under 10% random loss at two listeners.
//! Loss is the media endpoint's seeded inbound impairment (a lab knob that
//! drops received datagrams before processing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use crate::media_support::nodes;

use std::sync::Arc;
use std::time::Duration;

use aura_node::voice::signal::speech_like;
use aura_node::voice::ReportQuality;
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

/// A member that speaks raw datagrams on the media plane (its own quinn
/// endpoint with its node's identity) and sends the talker reports that are
/// malformed, about another talker, altered after signing, inconsistent,
/// or replayed: all refused and counted, the bitrate untouched. Reports
/// that name the talker as their author (forged) or another room never
/// reach the engine. A well-formed report signed by that member is taken at
/// its word (the worst listener decides) and attributed to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rogue_member_sending_bad_receiver_reports_is_refused_and_counted() {
    use aura_crypto::{Identity, ShortId};
    use aura_media::{Config, MediaEndpoint, ReceiverReport, RoomConfig, SignedReport};
    use rand::rngs::OsRng;

    let a = common::start().await;
    let id = Identity::generate(&mut OsRng);
    let dir = tempfile::tempdir().unwrap();
    let rogue = aura_node::Node::builder()
        .config(aura_node::config::Config::loopback(
            dir.path().to_path_buf(),
        ))
        .identity_secret(*id.to_secret_bytes())
        .start()
        .await
        .unwrap();
    common::wait_listening(&rogue).await;
    let gid = a.node.create_group("voice").await.unwrap();
    let invite = a.node.invite(gid, 2, 600_000).await.unwrap();
    rogue.join(&invite).await.unwrap();
    let h = a
        .node
        .join_voice(gid, VoiceConfig::default())
        .await
        .unwrap();
    let before = h.stats().await.unwrap().send_bitrate;

    let am = a.node.member_id();
    let room = gid.room();
    let ep = MediaEndpoint::bind(&id, "127.0.0.1:0".parse().unwrap(), Config::default()).unwrap();
    let _rx = ep
        .open_room(room, [am, id.member_id()], RoomConfig::default())
        .unwrap();
    // The talker admits us once our join is in its roster.
    within(10, async {
        while ep.connect(am, h.local_addr()).await.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let to_a = am.short_id();
    let heavy = ReceiverReport {
        expected: 50,
        lost: 25,
        ..Default::default()
    };
    let sign = |about: ShortId, seq: u64, r: &ReceiverReport| {
        SignedReport::sign(&id, room, about, seq, r).to_vec()
    };
    let mut altered = sign(to_a, 2, &ReceiverReport::default());
    altered[56] = 40; // lost 0 -> 40 after signing
    let mut inconsistent = sign(to_a, 3, &heavy);
    inconsistent[53..55].copy_from_slice(&10u16.to_be_bytes()); // expected < lost
    let refused_by_engine: Vec<Vec<u8>> =
        vec![sign(ShortId(to_a.0 ^ 1), 1, &heavy), altered, inconsistent];
    let a_key = Identity::from_secret_bytes(&[9; 32]);
    let mut claims_a = SignedReport::sign(&a_key, room, to_a, 4, &heavy).to_vec();
    claims_a[9..41].copy_from_slice(&am.0);
    let never_routed: Vec<Vec<u8>> = vec![
        vec![aura_media::report::REPORT_TAG; 3],
        SignedReport::sign(&id, [0xee; 8], to_a, 5, &heavy).to_vec(),
        claims_a,
    ];
    for j in never_routed.into_iter().chain(refused_by_engine) {
        ep.send(&am, j.into()).unwrap();
    }
    let s = until(&h, 5, |s| s.feedback_refused >= 3).await;
    assert_eq!(s.feedback_refused, 3);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(h.stats().await.unwrap().send_bitrate, before);

    // A well-formed report of heavy loss lowers the rate, and says whose.
    let genuine = sign(to_a, 10, &heavy);
    ep.send(&am, genuine.clone().into()).unwrap();
    let s = until(&h, 5, |s| s.send_bitrate < before).await;
    assert_eq!(s.feedback.len(), 1);
    assert_eq!(s.feedback[0].0, rogue.member_id());
    // Sent again, it is a replay.
    ep.send(&am, genuine.into()).unwrap();
    let s = until(&h, 5, |s| s.feedback_refused >= 4).await;
    assert_eq!(s.feedback_refused, 4);
    h.leave().await;
    ep.close();
    rogue.shutdown().await;
    a.node.shutdown().await;
}
