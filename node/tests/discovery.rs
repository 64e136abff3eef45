//! Group discovery through Kademlia provider records, mDNS off: members know
//! only a bootstrap node; a member restarted where its stored member
//! addresses no longer work finds the others through the DHT.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use aura_node::{config::Config, store::Store, Event, Node};
use common::*;

async fn start_with_bootstrap(dir: tempfile::TempDir, bootstrap: &str) -> TestNode {
    let mut cfg = Config::loopback(dir.path().to_path_buf());
    cfg.bootstrap = vec![bootstrap.to_owned()];
    let node = Node::builder().config(cfg).start().await.unwrap();
    let events = node.events();
    wait_listening(&node).await;
    TestNode { node, events, dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_member_finds_the_group_through_provider_records() {
    // A bootstrap-only node: in no group, serving the DHT.
    let boot = {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::loopback(dir.path().to_path_buf());
        cfg.dht_server = true;
        let node = Node::builder().config(cfg).start().await.unwrap();
        let events = node.events();
        wait_listening(&node).await;
        TestNode { node, events, dir }
    };
    let addr = boot.node.listen_addrs().await.unwrap()[0].clone();
    let boot_addr = format!("{addr}/p2p/{}", boot.node.peer_id());

    let mut alice = start_with_bootstrap(tempfile::tempdir().unwrap(), &boot_addr).await;
    let bob = start_with_bootstrap(tempfile::tempdir().unwrap(), &boot_addr).await;
    let gid = alice.node.create_group("dht").await.unwrap();
    let invite = alice.node.invite(gid, 1, 600_000).await.unwrap();
    bob.node.join(&invite).await.unwrap();
    let bob_id = bob.node.member_id();
    wait_for(&mut alice.events, 15, |e| {
        matches!(e, Event::KeysReceived { sender, .. } if *sender == bob_id).then_some(())
    })
    .await;
    // Let both announce their provider record to the bootstrap node.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Bob restarts "on another network": what he stored about alice no
    // longer works (an unreachable address), he knows only the bootstrap.
    bob.node.shutdown().await;
    let dir = bob.dir;
    {
        let store = Store::open(&dir.path().join("store")).unwrap();
        let alice_peer = alice.node.peer_id().to_string();
        store
            .put_peer(&alice_peer, &["/ip4/127.0.0.1/tcp/9".to_owned()])
            .unwrap();
        store.flush().unwrap();
    }
    let mut bob = start_with_bootstrap(dir, &boot_addr).await;
    assert_eq!(bob.node.groups().await.unwrap()[0].0, gid);
    let alice_peer = alice.node.peer_id();
    wait_for(&mut bob.events, 20, |e| {
        matches!(e, Event::PeerConnected { peer, .. } if *peer == alice_peer).then_some(())
    })
    .await;
    // And group traffic flows again.
    let mut round = 0;
    loop {
        round += 1;
        assert!(round < 100, "no chat from alice after the DHT reconnect");
        alice.node.send_chat(gid, "found you").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut got = false;
        while let Some(e) = bob.events.try_next() {
            got |= matches!(e, Event::Chat { ref text, .. } if text == "found you");
        }
        if got {
            break;
        }
    }
    let alice_id = alice.node.member_id();
    assert!(bob
        .node
        .members(gid)
        .await
        .unwrap()
        .iter()
        .any(|(m, _)| *m == alice_id));
}
