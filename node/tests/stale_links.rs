//! A member killed and restarted (no clean shutdown: its QUIC connections
//! die without a word) while the others still hold its dead connection.
//! For them its new connection is a second one, for it the first: without
//! care, gossipsub never tells it that they are subscribed, and what they
//! queue for it leaves on the dead connection until the idle timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::{Duration, Instant};

use aura_node::{config::Config, Node, NodeStats};
use common::*;

/// A loopback node on QUIC only: a killed node's connections then die
/// without a word (on TCP the kernel would reset them).
async fn start_quic(dir: tempfile::TempDir) -> (Node, tempfile::TempDir) {
    let mut config = Config::loopback(dir.path().to_path_buf());
    config.listen = vec!["/ip4/127.0.0.1/udp/0/quic-v1".into()];
    let node = Node::builder().config(config).start().await.unwrap();
    within(10, async {
        while node.listen_addrs().await.unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    (node, dir)
}

/// Gossip messages that reached the node's validation.
fn handled(s: &NodeStats) -> u64 {
    s.gossip_accepted + s.gossip_ignored + s.gossip_rejected
}

/// Waits until `node`'s gossip knows every connected member subscribed and
/// `from` has published something that reached `node`, `from` chatting
/// every 100 ms meanwhile.
async fn gossip_flows(from: &Node, to: &Node, gid: aura_crypto::GroupId, secs: u64) {
    let before = handled(&to.stats().await.unwrap());
    within(secs, async {
        loop {
            let _ = from.send_chat(gid, "are you there").await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let s = to.stats().await.unwrap();
            if s.members_not_subscribed == 0 && handled(&s) > before {
                return;
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_restarted_while_the_other_holds_its_dead_connection_gossips_both_ways_within_5_s()
{
    let (a, _a_dir) = start_quic(tempfile::tempdir().unwrap()).await;
    // B runs on a runtime of its own, so it can be killed: its task is
    // dropped without closing its connections.
    let rt_b = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (b, b_dir) = rt_b
        .spawn(start_quic(tempfile::tempdir().unwrap()))
        .await
        .unwrap();
    let gid = a.create_group("g").await.unwrap();
    b.join(&a.invite(gid, 1, 600_000).await.unwrap())
        .await
        .unwrap();
    gossip_flows(&a, &b, gid, 20).await;
    gossip_flows(&b, &a, gid, 20).await;

    rt_b.shutdown_background();
    drop(b);
    let restarted = Instant::now();
    let (b, _b_dir) = start_quic(b_dir).await;
    // The QUIC idle timeout alone would take 10 s, and even then gossipsub
    // would not announce A's subscriptions on the connection left.
    gossip_flows(&a, &b, gid, 5).await;
    gossip_flows(&b, &a, gid, 5).await;
    eprintln!(
        "gossip both ways {} ms after the restart",
        restarted.elapsed().as_millis()
    );
    assert!(
        a.stats().await.unwrap().stale_connections_closed >= 1,
        "A did not close the dead connection it held"
    );
}
