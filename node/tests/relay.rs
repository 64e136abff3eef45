//! Reachability through a circuit relay: a libp2p relay (v2) runs in-process;
//! node A has no direct listener at all and is reachable only through its
//! `/p2p-circuit` reservation; node B reaches A through the relay, joins A's
//! group by invite and exchanges chat with it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use aura_node::{config::Config, Event, Node};
use common::*;
use futures::StreamExt;
use libp2p::{
    identify, multiaddr::Protocol, noise, relay, swarm::NetworkBehaviour, swarm::SwarmEvent, tcp,
    yamux, Multiaddr,
};

#[derive(NetworkBehaviour)]
struct RelayServer {
    relay: relay::Behaviour,
    identify: identify::Behaviour,
}

/// Starts a relay on loopback TCP; returns its address (with `/p2p/<id>`)
/// and a counter of circuits it accepted.
async fn spawn_relay() -> (Multiaddr, Arc<AtomicUsize>) {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| {
            let cfg = relay::Config {
                max_circuit_bytes: 1 << 24,
                max_circuit_duration: Duration::from_secs(600),
                ..Default::default()
            };
            RelayServer {
                relay: relay::Behaviour::new(key.public().to_peer_id(), cfg),
                identify: identify::Behaviour::new(identify::Config::new(
                    "/aura/id/1".into(),
                    key.public(),
                )),
            }
        })
        .unwrap()
        .build();
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let addr = within(10, async {
        loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                return address;
            }
        }
    })
    .await;
    // Reservations carry the relay's external addresses.
    swarm.add_external_address(addr.clone());
    let id = *swarm.local_peer_id();
    let circuits = Arc::new(AtomicUsize::new(0));
    let counter = circuits.clone();
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(RelayServerEvent::Relay(
                relay::Event::CircuitReqAccepted { .. },
            )) = swarm.select_next_some().await
            {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    (addr.with(Protocol::P2p(id)), circuits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_behind_relay_is_reached_through_its_circuit_and_joins_work() {
    let (relay_addr, circuits) = spawn_relay().await;

    // A: no listener of its own, only a reservation on the relay.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::loopback(dir.path().to_path_buf());
    cfg.listen = vec![];
    cfg.relays = vec![relay_addr.to_string()];
    let a = Node::builder().config(cfg).start().await.unwrap();
    let mut a_events = a.events();
    let circuit_addr = within(20, async {
        loop {
            let addrs = a.listen_addrs().await.unwrap();
            if let Some(c) = addrs
                .iter()
                .find(|a| a.iter().any(|p| p == Protocol::P2pCircuit))
            {
                return c.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        circuit_addr
            .to_string()
            .starts_with(&relay_addr.to_string()),
        "A listens at {circuit_addr}, not behind {relay_addr}"
    );
    assert!(
        a.listen_addrs()
            .await
            .unwrap()
            .iter()
            .all(|l| l.iter().any(|p| p == Protocol::P2pCircuit)),
        "A must have no direct listener"
    );

    // B joins A's group using only the invite, which names A's circuit address.
    let gid = a.create_group("behind nat").await.unwrap();
    let invite = a.invite(gid, 1, 600_000).await.unwrap();
    let mut b = start().await;
    within(20, b.node.join(&invite)).await.unwrap();
    let relayed = wait_for(&mut b.events, 10, |e| match e {
        Event::PeerConnected { peer, relayed } if *peer == a.peer_id() => Some(*relayed),
        _ => None,
    })
    .await;
    assert!(relayed, "B reached A directly, not through the relay");
    assert!(
        circuits.load(Ordering::Relaxed) >= 1,
        "relay saw no circuit"
    );

    // Messages flow both ways over the relayed connection.
    let mut round = 0;
    loop {
        round += 1;
        assert!(round < 100, "chat from A never reached B");
        a.send_chat(gid, "hello through the relay").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut got = false;
        while let Some(e) = b.events.try_next() {
            got |= matches!(e, Event::Chat { ref text, .. } if text == "hello through the relay");
        }
        if got {
            break;
        }
    }
    b.node.send_chat(gid, "and back").await.unwrap();
    wait_for(&mut a_events, 10, |e| match e {
        Event::Chat { text, .. } if text == "and back" => Some(()),
        _ => None,
    })
    .await;
    a.shutdown().await;
}
