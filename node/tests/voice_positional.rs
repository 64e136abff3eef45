//! Positional audio through real `Node`s: members share their locations
//! over the group (libp2p gossip), and the listener's stereo mix places
//! each talker by distance and bearing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use crate::media_support::nodes;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aura_node::voice::signal::{rms, speech_like};
use aura_node::voice_api::VoiceConfig;
use aura_node::{location::Precision, Event};
use common::base;
use nodes::{finish, record_shared, trio, warm_up};

/// Left and right RMS of interleaved stereo.
fn channel_rms(stereo: &[i16]) -> (f64, f64) {
    let l: Vec<i16> = stereo.iter().step_by(2).copied().collect();
    let r: Vec<i16> = stereo.iter().skip(1).step_by(2).copied().collect();
    (rms(&l), rms(&r))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_to_our_east_is_right_and_a_far_member_is_quieter() {
    let (mut nodes, gid, h) = trio(|_| VoiceConfig {
        stereo: true,
        ..VoiceConfig::default()
    })
    .await;
    let (b, c) = (nodes[1].node.member_id(), nodes[2].node.member_id());
    // b is 20 m east of us, c 400 m north; both share their location. They
    // step 12 m back and forth (north) so each step passes the publish
    // policy, until our node has seen both.
    for n in &nodes[1..] {
        n.node.set_precision(gid, Precision::Exact).await.unwrap();
        n.node.share_location(gid, true).await.unwrap();
    }
    let started = Instant::now();
    let mut seen = HashSet::new();
    let mut k = 0;
    while seen.len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(20), "no locations");
        let north = if k % 2 == 0 { 0.0 } else { 12.0 };
        k += 1;
        nodes[1]
            .node
            .update_position(base().offset_m(north, 20.0))
            .await
            .unwrap();
        nodes[2]
            .node
            .update_position(base().offset_m(400.0 + north, 0.0))
            .await
            .unwrap();
        let until = Instant::now() + Duration::from_millis(1_100);
        while let Ok(Some(e)) = tokio::time::timeout_at(until.into(), nodes[0].events.next()).await
        {
            if let Event::Location { member, .. } = e {
                seen.insert(member);
            }
        }
    }
    assert!(seen.contains(&b) && seen.contains(&c));
    h[0].set_listener(Some((base(), 0.0))).await.unwrap();
    h[0].set_positional(true).await.unwrap();

    let heard = record_shared(&h[0]);
    let mut segments = Vec::new();
    for (i, talker) in [&h[1], &h[2]].into_iter().enumerate() {
        warm_up(talker, &[h[0].clone()]).await;
        let from = heard.lock().unwrap().len();
        talker
            .talk_samples(speech_like(2.0, 11 + i as u32))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        talker.set_ptt(false).await.unwrap();
        segments.push(heard.lock().unwrap()[from..].to_vec());
    }
    let (bl, br) = channel_rms(&segments[0]);
    let (cl, cr) = channel_rms(&segments[1]);
    eprintln!("b (20 m east): L {bl:.0} R {br:.0}; c (400 m north): L {cl:.0} R {cr:.0}");
    // East: all in the right channel.
    assert!(br > 200.0 && br > 5.0 * bl, "b: L {bl:.0} R {br:.0}");
    // Ahead: centred, and much quieter than the near member.
    assert!((cl / cr - 1.0).abs() < 0.2, "c: L {cl:.0} R {cr:.0}");
    assert!(
        cl.hypot(cr) < 0.4 * bl.hypot(br),
        "b {br:.0} vs c {cl:.0}/{cr:.0}"
    );

    // Positional off: b is centred again.
    h[0].set_positional(false).await.unwrap();
    let from = heard.lock().unwrap().len();
    h[1].set_ptt(true).await.unwrap();
    h[1].talk_samples(speech_like(1.5, 13)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (l, r) = channel_rms(&heard.lock().unwrap()[from..]);
    assert!((l / r - 1.0).abs() < 0.1, "unplaced: L {l:.0} R {r:.0}");
    finish(nodes, &h).await;
}
