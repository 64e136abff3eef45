//! A listener on the group topic (flood publish reaches non-members) records
//! frames and replays them after a member restarts without a clean shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use aura_node::{
    wire::{self, GossipMsg},
    Event,
};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_replayed_after_unclean_restart_is_refused() {
    let a = start().await;
    // Bob runs on a runtime of its own, so it can be killed mid-flight: its
    // task is dropped without the clean shutdown that saves every group.
    let rt_b = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut b = rt_b
        .spawn(start_in(tempfile::tempdir().unwrap()))
        .await
        .unwrap();
    let mut eve = start().await;
    let gid = a.node.create_group("g").await.unwrap();
    b.node
        .join(&a.node.invite(gid, 1, 600_000).await.unwrap())
        .await
        .unwrap();
    eve.node
        .dial(a.node.listen_addrs().await.unwrap()[0].clone())
        .await
        .unwrap();
    eve.node.observe_group(gid).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Alice chats until Bob has it, then says more; Eve records every frame
    // on the topic. Bob's group record was last saved on a key event.
    let text = "send the money to account 42";
    within(20, async {
        loop {
            a.node.send_chat(gid, "hello").await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut got = false;
            while let Some(e) = b.events.try_next() {
                got |= matches!(&e, Event::Chat { text: t, .. } if t == "hello");
            }
            if got {
                return;
            }
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    a.node.send_chat(gid, text).await.unwrap();
    wait_for(&mut b.events, 10, |e| {
        matches!(e, Event::Chat { text: t, .. } if t == text).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut recorded = Vec::new();
    while let Some(e) = eve.events.try_next() {
        if let Event::Observed { data, .. } = e {
            if matches!(wire::decode::<GossipMsg>(&data), Some(GossipMsg::Frame(_))) {
                recorded.push(data);
            }
        }
    }
    assert!(!recorded.is_empty(), "eve recorded nothing");

    // Kill Bob, then restart him from his data dir.
    // (The runtime goes first: a dropped handle would stop the task cleanly.)
    let dir = b.dir;
    rt_b.shutdown_background();
    drop(b.node);
    let mut b = start_in(dir).await;
    // Eve hands the recording to a fresh node of hers (her own node's
    // gossip cache knows these messages and would not send them again).
    recorded.sort();
    recorded.dedup();
    let eve = start().await;
    eve.node.observe_group(gid).await.unwrap();
    eve.node
        .dial(b.node.listen_addrs().await.unwrap()[0].clone())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    while b.events.try_next().is_some() {}
    let before = b.node.stats().await.unwrap();
    for data in &recorded {
        eve.node.publish_raw(gid, data.clone()).await.unwrap();
    }
    // The replays reach Bob and none is shown again.
    let handled = |s: &aura_node::NodeStats| s.gossip_accepted + s.gossip_ignored;
    let n = recorded.len() as u64;
    within(10, async {
        while handled(&b.node.stats().await.unwrap()) < handled(&before) + n {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Some(e) = b.events.try_next() {
        assert!(
            !matches!(&e, Event::Chat { .. }),
            "replayed chat shown again after the restart: {e:?}"
        );
    }
    // Alice is not silenced: Bob's key request makes her move past his
    // floor (at once, or once her last envelope for him is 10 s old).
    within(25, async {
        loop {
            a.node.send_chat(gid, "still here").await.unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
            while let Some(e) = b.events.try_next() {
                if matches!(&e, Event::Chat { text, .. } if text == "still here") {
                    return;
                }
            }
        }
    })
    .await;
}
