//! The relay's libp2p side: circuit relay v2 server with Aura-sized limits,
//! Kademlia in server mode (a bootstrap node), AutoNAT server, identify
//! (`aura-relay/<version> media-udp/<port>`: the media forwarder's port,
//! [`aura_media::advert`]), ping, and connection limits (total, per IP,
//! memory).
// The derive generates `BehaviourEvent` with one undocumented variant per field.
#![allow(missing_docs)]

use std::time::Duration;

use libp2p::{
    autonat, connection_limits, identify, identity::Keypair, kad, memory_connection_limits, noise,
    ping, relay, swarm::NetworkBehaviour, tcp, yamux, Swarm, SwarmBuilder,
};
use prometheus_client::registry::Registry;

use super::gate::Gate;
use super::ip_limit;
use super::metrics::Metrics;
use super::ServerError;
use crate::config::LimitsConfig;

/// Protocol of identify (the node's).
pub const IDENTIFY_PROTOCOL: &str = "/aura/id/1";

/// What the relay names itself in identify: its version and the UDP port
/// of its media forwarder.
pub fn agent_version(media_port: u16) -> String {
    aura_media::advert::relay_agent(env!("CARGO_PKG_VERSION"), media_port)
}

/// Everything the relay speaks over libp2p.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Connection count limits.
    pub limits: connection_limits::Behaviour,
    /// Connections per IP address.
    pub per_ip: ip_limit::Behaviour,
    /// Refuses connections above the memory bound.
    pub memory: memory_connection_limits::Behaviour,
    /// Circuit relay v2 server.
    pub relay: relay::Behaviour,
    /// Kademlia, server mode.
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    /// AutoNAT server (and client).
    pub autonat: autonat::Behaviour,
    /// Identify.
    pub identify: identify::Behaviour,
    /// Ping.
    pub ping: ping::Behaviour,
}

/// The circuit relay settings: Aura-sized limits, access by the gate.
fn relay_config(l: &LimitsConfig, gate: &Gate, metrics: &Metrics) -> relay::Config {
    let mut c = relay::Config {
        max_reservations: l.reservations,
        max_reservations_per_peer: l.reservations_per_peer,
        reservation_duration: l.reservation_duration(),
        max_circuits: l.circuits,
        max_circuits_per_peer: l.circuits_per_peer,
        max_circuit_duration: l.circuit_duration(),
        max_circuit_bytes: l.circuit_bytes,
        ..relay::Config::default()
    };
    let (g, m) = (gate.clone(), metrics.clone());
    c.reservation_rate_limiters
        .push(Box::new(move |peer, _: &libp2p::Multiaddr, _| {
            let ok = g.allows_peer(&peer);
            if !ok {
                m.refuse("libp2p", "reservation_not_allowed");
            }
            ok
        }));
    let (g, m) = (gate.clone(), metrics.clone());
    c.circuit_src_rate_limiters
        .push(Box::new(move |peer, _: &libp2p::Multiaddr, _| {
            let ok = g.allows_peer(&peer);
            if !ok {
                m.refuse("libp2p", "circuit_not_allowed");
            }
            ok
        }));
    c
}

/// Builds the swarm for `key` (TCP/Noise/Yamux and QUIC); identify names
/// `media_port`.
pub fn build(
    key: Keypair,
    media_port: u16,
    limits: &LimitsConfig,
    gate: &Gate,
    metrics: &Metrics,
    registry: &mut Registry,
) -> Result<Swarm<Behaviour>, ServerError> {
    let net = |e: &dyn std::fmt::Display| ServerError::Network(e.to_string());
    let swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| net(&e))?
        .with_quic()
        .with_bandwidth_metrics(registry)
        .with_behaviour(|key| {
            let id = key.public().to_peer_id();
            let mut kad = kad::Behaviour::new(id, kad::store::MemoryStore::new(id));
            kad.set_mode(Some(kad::Mode::Server));
            Behaviour {
                limits: connection_limits::Behaviour::new(
                    connection_limits::ConnectionLimits::default()
                        .with_max_established(Some(limits.max_connections))
                        .with_max_established_per_peer(Some(8))
                        .with_max_pending_incoming(Some(256)),
                ),
                per_ip: ip_limit::Behaviour::new(limits.connections_per_ip, metrics.clone()),
                memory: memory_connection_limits::Behaviour::with_max_bytes(
                    (limits.memory_mb as usize).saturating_mul(1 << 20),
                ),
                relay: relay::Behaviour::new(id, relay_config(limits, gate, metrics)),
                kad,
                autonat: autonat::Behaviour::new(id, autonat::Config::default()),
                identify: identify::Behaviour::new(
                    identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                        .with_agent_version(agent_version(media_port)),
                ),
                ping: ping::Behaviour::default(),
            }
        })
        .map_err(|e| net(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    Ok(swarm)
}
