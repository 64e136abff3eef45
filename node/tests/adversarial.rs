//! Attackers on the gossip plane: a non-member that listens, and one that
//! sends malformed, oversized and wrong-group messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use aura_crypto::{FrameHeader, FrameKind, GroupSession, Identity};
use aura_node::{
    net::GRAYLIST_THRESHOLD,
    wire::{self, GossipMsg},
    Event,
};
use common::*;

async fn chat_until_received(
    a: &TestNode,
    b: &mut TestNode,
    gid: aura_crypto::GroupId,
    text: &str,
) {
    let mut round = 0;
    loop {
        round += 1;
        assert!(round < 100, "chat never arrived");
        a.node.send_chat(gid, text).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut got = false;
        while let Some(e) = b.events.try_next() {
            got |= matches!(e, Event::Chat { text: t, .. } if t == text);
        }
        if got {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_member_listening_on_the_topic_gets_only_ciphertext() {
    let a = start().await;
    let mut b = start().await;
    let mut eve = start().await;
    let gid = a.node.create_group("private").await.unwrap();
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
    chat_until_received(&a, &mut b, gid, "meet at the secret spot").await;
    let data = wait_for(&mut eve.events, 10, |e| match e {
        Event::Observed { data, .. } => Some(data.clone()),
        _ => None,
    })
    .await;
    let mut frames = vec![data];
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Some(e) = eve.events.try_next() {
        if let Event::Observed { data, .. } = e {
            frames.push(data);
        }
    }
    // Eve sees frames (with a routing header) but no plaintext, and cannot open them.
    let needle = b"secret spot";
    let mut eve_session = GroupSession::create(
        Identity::generate(&mut rand::rngs::OsRng),
        "eve",
        0,
        &mut rand::rngs::OsRng,
    )
    .unwrap()
    .0;
    for d in &frames {
        assert!(
            !d.windows(needle.len()).any(|w| w == needle),
            "plaintext leaked"
        );
        if let Some(GossipMsg::Frame(f)) = wire::decode::<GossipMsg>(d) {
            assert_eq!(FrameHeader::parse(&f).unwrap().room, gid.room());
            assert!(eve_session.open(&f, 0).is_err());
        }
    }
    assert!(
        eve.node.chat_history(gid).await.is_err(),
        "eve has no group state"
    );
}

async fn publish_all(mallory: &TestNode, gid: aura_crypto::GroupId, junk: &[Vec<u8>]) {
    for m in junk {
        within(10, async {
            while mallory.node.publish_raw(gid, m.clone()).await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
    }
}

/// Random bytes that cannot even start a gossip message (bad variant tag).
fn random_junk(n: usize) -> Vec<Vec<u8>> {
    use rand::RngCore;
    (0..n)
        .map(|_| {
            let mut b = vec![0u8; 200];
            rand::rngs::OsRng.fill_bytes(&mut b);
            b[0] = 0x7f;
            b
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_peer_sending_garbage_is_rejected_and_penalised() {
    let mut a = start().await;
    let mut b = start().await;
    let mallory = start().await;
    let gid = a.node.create_group("g").await.unwrap();
    b.node
        .join(&a.node.invite(gid, 1, 600_000).await.unwrap())
        .await
        .unwrap();
    mallory
        .node
        .dial(a.node.listen_addrs().await.unwrap()[0].clone())
        .await
        .unwrap();
    mallory.node.observe_group(gid).await.unwrap();
    chat_until_received(&a, &mut b, gid, "warm up").await;
    let before = a.node.stats().await.unwrap();
    assert_eq!(before.gossip_rejected, 0, "honest traffic was rejected");

    // Random bytes, an oversized message, and a valid frame of another group.
    let mut other = GroupSession::create(
        Identity::generate(&mut rand::rngs::OsRng),
        "other",
        0,
        &mut rand::rngs::OsRng,
    )
    .unwrap()
    .0;
    let wrong_group = wire::encode(&GossipMsg::Frame(
        other.seal(FrameKind::Chat, b"hi", 0).unwrap(),
    ));
    let mut junk = random_junk(5);
    junk.push(vec![0u8; wire::MAX_GOSSIP_BYTES + 10]);
    junk.push(wrong_group);
    publish_all(&mallory, gid, &junk).await;

    // Every message is validated, rejected and counted under its reason; the
    // score is negative but mallory is not graylisted yet.
    let stats = within(10, async {
        loop {
            let s = a.node.stats().await.unwrap();
            if s.gossip_rejected >= 7 {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(stats.gossip_rejected, 7);
    assert_eq!(stats.rejected_undecodable, 5);
    assert_eq!(stats.rejected_oversized, 1);
    assert_eq!(stats.rejected_wrong_group, 1);
    assert_eq!(stats.rejected_forged, 0);
    let score = a
        .node
        .peer_score(mallory.node.peer_id())
        .await
        .unwrap()
        .expect("mallory is scored");
    assert!(score < -10.0, "score after 7 invalid messages: {score}");
    assert!(score > GRAYLIST_THRESHOLD, "graylisted too early: {score}");

    // Mallory keeps going: its score falls below the graylist threshold and
    // from then on its gossip is dropped before it costs us a validation.
    publish_all(&mallory, gid, &random_junk(10)).await;
    let score = within(10, async {
        loop {
            let score = a
                .node
                .peer_score(mallory.node.peer_id())
                .await
                .unwrap()
                .unwrap_or(0.0);
            if score < GRAYLIST_THRESHOLD {
                return score;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let graylisted_at = a.node.stats().await.unwrap().gossip_rejected;
    assert!(
        graylisted_at < 17,
        "a graylisted peer's messages were still validated"
    );
    publish_all(&mallory, gid, &random_junk(5)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        a.node.stats().await.unwrap().gossip_rejected,
        graylisted_at,
        "gossip from a graylisted peer (score {score}) was processed"
    );

    // Honest peers keep a non-negative score and the group keeps working.
    assert!(
        a.node
            .peer_score(b.node.peer_id())
            .await
            .unwrap()
            .unwrap_or(0.0)
            >= 0.0
    );
    chat_until_received(&a, &mut b, gid, "still working").await;
    chat_until_received(&b, &mut a, gid, "and back").await;
    assert_eq!(a.node.stats().await.unwrap().rejected_forged, 0);
}
