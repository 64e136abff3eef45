//! Access and limits on the libp2p plane, with standard rust-libp2p clients:
//! an allow-list relay grants reservations to listed peers only, and
//! connections beyond the per-IP limit are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use futures::StreamExt;
use libp2p::{
    identity::Keypair, multiaddr::Protocol, noise, ping, relay, swarm::NetworkBehaviour,
    swarm::SwarmEvent, tcp, yamux, Multiaddr, Swarm,
};
use support::*;

#[derive(NetworkBehaviour)]
struct Client {
    relay: relay::client::Behaviour,
    ping: ping::Behaviour,
}

fn client(key: Keypair) -> Swarm<Client> {
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|_, relay| Client {
            relay,
            ping: ping::Behaviour::default(),
        })
        .unwrap()
        .build()
}

/// Asks for a reservation; true if accepted, false if refused.
async fn reserve(key: Keypair, circuit: Multiaddr) -> bool {
    let mut c = client(key);
    c.listen_on(circuit).unwrap();
    within(20, async {
        loop {
            match c.select_next_some().await {
                SwarmEvent::Behaviour(ClientEvent::Relay(
                    relay::client::Event::ReservationReqAccepted { .. },
                )) => return true,
                SwarmEvent::ListenerClosed { .. } | SwarmEvent::ListenerError { .. } => {
                    return false
                }
                _ => {}
            }
        }
    })
    .await
}

#[tokio::test]
async fn allow_list_relay_reserves_for_listed_peers_only() {
    let listed = Keypair::generate_ed25519();
    let mut cfg = loopback_config();
    cfg.access.mode = aura_relay::config::AccessMode::AllowList;
    cfg.access.allow = vec![listed.public().to_peer_id().to_string()];
    let (server, _) = relay(cfg).await;
    let circuit = server.listen_addrs()[0]
        .clone()
        .with(Protocol::P2p(server.peer_id()))
        .with(Protocol::P2pCircuit);
    assert!(reserve(listed, circuit.clone()).await);
    assert!(!reserve(Keypair::generate_ed25519(), circuit).await);
    assert_eq!(
        server
            .metrics()
            .refusals_for("libp2p", "reservation_not_allowed"),
        1
    );
    server.shutdown().await;
}

#[tokio::test]
async fn libp2p_connections_beyond_the_per_ip_limit_are_refused() {
    let mut cfg = loopback_config();
    cfg.limits.connections_per_ip = 2;
    let (server, _) = relay(cfg).await;
    let addr = server.listen_addrs()[0]
        .clone()
        .with(Protocol::P2p(server.peer_id()));
    let mut kept = Vec::new();
    let mut refused = 0;
    for _ in 0..4 {
        let mut c = client(Keypair::generate_ed25519());
        c.dial(addr.clone()).unwrap();
        let ok = within(20, async {
            loop {
                match c.select_next_some().await {
                    // Refused connections are closed by the relay at once;
                    // a kept one answers a ping.
                    SwarmEvent::Behaviour(ClientEvent::Ping(ping::Event {
                        result: Ok(_), ..
                    })) => return true,
                    SwarmEvent::ConnectionClosed { .. }
                    | SwarmEvent::OutgoingConnectionError { .. } => return false,
                    _ => {}
                }
            }
        })
        .await;
        if ok {
            kept.push(c);
        } else {
            refused += 1;
        }
    }
    assert_eq!((kept.len(), refused), (2, 2));
    assert_eq!(
        server
            .metrics()
            .refusals_for("libp2p", "connections_per_ip"),
        2
    );
    server.shutdown().await;
}
