//! A node that knows a relay only as its bootstrap node (no `relays` in its
//! config) learns from identify that it is a relay and reserves on it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aura_crypto::Identity;
use aura_node::{config::Config, Node};
use aura_relay::server::Server;
use libp2p::multiaddr::Protocol;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_node_that_is_a_relay_is_reserved_on() {
    let mut rcfg = aura_relay::config::Config::default();
    rcfg.listen.libp2p = vec!["/ip4/127.0.0.1/tcp/0".into()];
    rcfg.listen.media = "127.0.0.1:0".parse().unwrap();
    rcfg.listen.metrics = None;
    let relay = Server::spawn(Identity::from_secret_bytes(&[7; 32]), rcfg)
        .await
        .unwrap();
    let addr = relay.listen_addrs()[0]
        .clone()
        .with(Protocol::P2p(relay.peer_id()));

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::loopback(dir.path().to_path_buf());
    cfg.bootstrap = vec![addr.to_string()];
    assert!(cfg.relays.is_empty());
    let node = Node::builder().config(cfg).start().await.unwrap();
    let circuit = tokio::time::timeout(Duration::from_secs(20), async {
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
    .expect("no reservation on the bootstrap relay");
    assert!(
        circuit.to_string().starts_with(&addr.to_string()),
        "{circuit} is not through {addr}"
    );
    assert!(relay.metrics().reservations.get() >= 1);
    node.shutdown().await;
    relay.shutdown().await;
}
