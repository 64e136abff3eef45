//! Interop: standard rust-libp2p clients (relay client v2, identify, ping;
//! no Aura code) use the relay: one reserves a slot, the other reaches it
//! through the relay, and identify names the relay `aura-relay/<version> media-udp/<port>`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use futures::StreamExt;
use libp2p::{
    identify, multiaddr::Protocol, noise, ping, relay, swarm::NetworkBehaviour, swarm::SwarmEvent,
    tcp, yamux, Multiaddr, PeerId, Swarm,
};
use support::*;

#[derive(NetworkBehaviour)]
struct Client {
    relay: relay::client::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

fn client() -> Swarm<Client> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|key, relay| Client {
            relay,
            identify: identify::Behaviour::new(identify::Config::new(
                "/ipfs/id/1.0.0".into(),
                key.public(),
            )),
            ping: ping::Behaviour::default(),
        })
        .unwrap()
        .build()
}

fn circuit_of(relay_addr: &Multiaddr, relay: PeerId) -> Multiaddr {
    relay_addr
        .clone()
        .with(Protocol::P2p(relay))
        .with(Protocol::P2pCircuit)
}

#[tokio::test]
async fn standard_client_reserves_and_is_reached_through_the_relay() {
    let (server, _) = relay(loopback_config()).await;
    let relay_addr = server.listen_addrs()[0].clone();
    let relay_id = server.peer_id();

    // A: reachable only through its reservation.
    let mut a = client();
    let a_id = *a.local_peer_id();
    a.listen_on(circuit_of(&relay_addr, relay_id)).unwrap();
    let mut relay_agent = None;
    within(20, async {
        loop {
            match a.select_next_some().await {
                SwarmEvent::Behaviour(ClientEvent::Relay(
                    relay::client::Event::ReservationReqAccepted { .. },
                )) => break,
                SwarmEvent::Behaviour(ClientEvent::Identify(identify::Event::Received {
                    peer_id,
                    info,
                    ..
                })) if peer_id == relay_id => relay_agent = Some(info.agent_version),
                _ => {}
            }
        }
    })
    .await;
    tokio::spawn(async move {
        loop {
            a.select_next_some().await;
        }
    });

    // B dials A's circuit address and pings it through the relay.
    let mut b = client();
    b.dial(circuit_of(&relay_addr, relay_id).with(Protocol::P2p(a_id)))
        .unwrap();
    let mut relayed = false;
    within(20, async {
        loop {
            match b.select_next_some().await {
                SwarmEvent::ConnectionEstablished {
                    peer_id, endpoint, ..
                } if peer_id == a_id => {
                    relayed = endpoint
                        .get_remote_address()
                        .iter()
                        .any(|p| p == Protocol::P2pCircuit);
                }
                SwarmEvent::Behaviour(ClientEvent::Ping(ping::Event {
                    peer,
                    result: Ok(_),
                    ..
                })) if peer == a_id => break,
                SwarmEvent::Behaviour(ClientEvent::Identify(identify::Event::Received {
                    peer_id,
                    info,
                    ..
                })) if peer_id == relay_id => relay_agent = Some(info.agent_version),
                _ => {}
            }
        }
    })
    .await;
    assert!(relayed, "B reached A directly, not through the relay");
    assert_eq!(
        relay_agent.as_deref(),
        Some(
            format!(
                "aura-relay/{} media-udp/{}",
                env!("CARGO_PKG_VERSION"),
                server.media_addr().port()
            )
            .as_str()
        )
    );
    let m = server.metrics();
    assert!(m.reservations_accepted.get() >= 1);
    assert_eq!(m.circuits_accepted.get(), 1);
    let text = server.metrics_text();
    assert!(text.contains("aura_relay_circuits 1"), "{text}");
    server.shutdown().await;
}
