//! Reservations on a loopback relay: a node that knows a relay only as its
//! bootstrap node (no `relays` in its config) learns from identify that it
//! is a relay and reserves on it; a reservation is renewed before it
//! expires, so the node stays reachable through the relay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aura_crypto::Identity;
use aura_node::{config::Config, Node};
use aura_relay::server::Server;
use libp2p::{multiaddr::Protocol, Multiaddr};

async fn loopback_relay(reservation_s: u64) -> (Server, Multiaddr) {
    let mut rcfg = aura_relay::config::Config::default();
    rcfg.listen.libp2p = vec!["/ip4/127.0.0.1/tcp/0".into()];
    rcfg.listen.media = "127.0.0.1:0".parse().unwrap();
    rcfg.listen.metrics = None;
    rcfg.limits.reservation_duration_s = reservation_s;
    let relay = Server::spawn(Identity::from_secret_bytes(&[7; 32]), rcfg)
        .await
        .unwrap();
    let addr = relay.listen_addrs()[0]
        .clone()
        .with(Protocol::P2p(relay.peer_id()));
    (relay, addr)
}

/// The node's first circuit address.
async fn circuit_addr(node: &Node) -> Multiaddr {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let addrs = node.listen_addrs().await.unwrap();
            if let Some(c) = addrs
                .into_iter()
                .find(|a| a.iter().any(|p| p == Protocol::P2pCircuit))
            {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("no reservation on the relay")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_node_that_is_a_relay_is_reserved_on() {
    let (relay, addr) = loopback_relay(3_600).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::loopback(dir.path().to_path_buf());
    cfg.bootstrap = vec![addr.to_string()];
    assert!(cfg.relays.is_empty());
    let node = Node::builder().config(cfg).start().await.unwrap();
    let circuit = circuit_addr(&node).await;
    assert!(
        circuit.to_string().starts_with(&addr.to_string()),
        "{circuit} is not through {addr}"
    );
    assert!(relay.metrics().reservations.get() >= 1);
    node.shutdown().await;
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservation_is_renewed_before_it_expires() {
    // 4 s reservations: libp2p renews after 3/4 of the lifetime.
    let (relay, addr) = loopback_relay(4).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::loopback(dir.path().to_path_buf());
    cfg.relays = vec![addr.to_string()];
    let node = Node::builder().config(cfg).start().await.unwrap();
    circuit_addr(&node).await;
    let reserved = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), async {
        while relay.metrics().reservations_accepted.get() < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the reservation was not renewed");
    // Past the first reservation's end: still held, still listed.
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(reserved.elapsed())).await;
    assert_eq!(relay.metrics().reservations.get(), 1, "reservation lost");
    circuit_addr(&node).await;
    node.shutdown().await;
    relay.shutdown().await;
}
