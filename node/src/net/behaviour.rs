//! The composed libp2p behaviour: QUIC + TCP/Noise/Yamux, Identify, Ping,
//! Kademlia, mDNS, AutoNAT, relay client + DCUtR, gossipsub with manual
//! validation and peer scoring, request-response for join/sync, limits.
// The derive generates `BehaviourEvent` with one undocumented variant per field.
#![allow(missing_docs)]

use std::time::Duration;

use libp2p::{
    autonat, connection_limits, dcutr, gossipsub, identify,
    identity::Keypair,
    kad, mdns, memory_connection_limits,
    metrics::Registry,
    noise, ping, relay, request_response,
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour},
    tcp, yamux, StreamProtocol, Swarm, SwarmBuilder,
};

use crate::{
    config::Config,
    wire::{Request, Response, MAX_GOSSIP_BYTES, MAX_RPC_BYTES},
    NodeError,
};

/// A connection with no stream open is closed after this long.
pub(crate) const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(90);

/// The join/sync protocol name.
pub const GROUP_PROTOCOL: &str = "/aura/group/1";

/// Everything the node speaks.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Connection count limits.
    pub limits: connection_limits::Behaviour,
    /// Refuses connections when memory is short.
    pub memory: memory_connection_limits::Behaviour,
    /// Relay client (reachability behind NAT).
    pub relay: relay::client::Behaviour,
    /// Hole punching upgrade from relayed to direct.
    pub dcutr: dcutr::Behaviour,
    /// Identify.
    pub identify: identify::Behaviour,
    /// Ping, held off towards members that said they are away.
    pub ping: super::member_ping::Behaviour,
    /// Fast pings on the relays that carry a member's connection: a relay
    /// that dies silently is noticed in about a second.
    pub relay_watch: super::relay_watch::Behaviour,
    /// Wakes a connection's handlers on demand (see [`super::wake`]).
    pub wake: super::wake::Behaviour,
    /// Kademlia, on with bootstrap nodes or `dht_server` (see [`Config::dht_server`]).
    pub kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
    /// mDNS on the LAN (off in tests).
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// AutoNAT.
    pub autonat: autonat::Behaviour,
    /// Group traffic.
    pub gossipsub: gossipsub::Behaviour,
    /// Join and sync.
    pub rpc: request_response::cbor::Behaviour<Request, Response>,
}

/// The codec of [`GROUP_PROTOCOL`]: CBOR, each request and response at most
/// [`MAX_RPC_BYTES`].
pub fn rpc_codec() -> request_response::cbor::codec::Codec<Request, Response> {
    request_response::cbor::codec::Codec::default()
        .set_request_size_maximum(MAX_RPC_BYTES)
        .set_response_size_maximum(MAX_RPC_BYTES)
}

/// The gossipsub topic of a group (named after the group id, so the topic
/// reveals nothing a relay would not see in frame headers anyway).
pub fn topic_for(group: &[u8; 32]) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("aura/g/{}", hex::encode(&group[..16])))
}

/// Gossip message id: SHA-256 of the payload, truncated to 16 bytes.
/// Messages are unsigned at the gossipsub layer (see [`gossip_config`]), so
/// the id depends on the bytes only; every frame carries a fresh
/// (sender, epoch, counter) header and every key batch fresh randomness, so
/// honest messages never collide.
fn gossip_message_id(data: &[u8]) -> gossipsub::MessageId {
    use sha2::Digest;
    let d = sha2::Sha256::digest(data);
    gossipsub::MessageId::from(d[..16].to_vec())
}

/// Gossipsub settings.
///
/// **No gossipsub author signatures** (`Anonymous` authenticity and
/// validation). Every group message is authenticated end to end inside
/// the payload: location, chat and control frames carry the sender's
/// ed25519 signature under the group key, key envelopes are signed, and the
/// node checks both (once per message, after de-duplication). The gossipsub
/// signature duplicated that, and libp2p checks it in the connection codec
/// for *every copy* a peer receives, before duplicates are dropped: about
/// N x (mesh degree + 1) ed25519 verifications per message, 21 % of all CPU
/// of a 30-node group (profiled). Peers stay accountable: a rejected message
/// penalises the (Noise/TLS-authenticated) peer that forwarded it.
///
/// **One hop, no mesh forwarding.** A group is a full mesh of connections
/// (every member dials every other, directly or through a relay circuit, and
/// redials the ones it lost; see `Task::dial_known_members`), so the author
/// delivers each message to every member itself (`flood_publish`), and the
/// gossipsub mesh is empty (degree 0): forwarding through a mesh of degree D
/// would only make every member receive, decrypt the transport of and drop D
/// duplicate copies of every message. Losses and members the author is not
/// connected to are repaired by gossip: every heartbeat each member
/// advertises the ids of the last three heartbeats' messages to 3 random
/// members (`IHAVE`), which fetch what they miss (`IWANT`). A location fix
/// is not advertised by the members that received it (the sender's next
/// replaces it: `Verdict::AcceptLatest`), only by its author: chat and
/// control frames are what gossip repairs.
/// 50 members on one 2-core machine, each moving twice a second: degree 3
/// used ~575 us of CPU per delivered update and overloaded the machine
/// (p99 in seconds), degree 1 ~360 us, degree 0 ~270 us (BENCHMARKS.md).
fn gossip_config(cfg: &Config) -> Result<gossipsub::Config, NodeError> {
    gossipsub::ConfigBuilder::default()
        .gossip_lazy(cfg.link.gossip_lazy)
        .gossip_factor(0.0)
        .history_gossip(3)
        .heartbeat_interval(Duration::from_millis(cfg.heartbeat_ms.max(50)))
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .validate_messages()
        .max_transmit_size(MAX_GOSSIP_BYTES + 1024)
        .message_id_fn(|m: &gossipsub::Message| gossip_message_id(&m.data))
        .flood_publish(true)
        .mesh_n_low(0)
        .mesh_n(0)
        .mesh_n_high(0)
        .mesh_outbound_min(0)
        .build()
        .map_err(|e| NodeError::Network(format!("gossipsub config: {e}")))
}

/// Bytes this node wrote to all its libp2p streams (every protocol, gossip it
/// forwards included; before Noise/QUIC encryption and framing overhead).
pub fn bytes_sent(registry: &Registry) -> u64 {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, registry).is_err() {
        return 0;
    }
    text.lines()
        .filter(|l| {
            l.starts_with("libp2p_bandwidth")
                && l.to_ascii_lowercase().contains("direction=\"outbound\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Score at or below which a peer's gossip is dropped unread (graylisted).
pub const GRAYLIST_THRESHOLD: f64 = -80.0;

/// Peer-level scoring. Members of one group often share an address (a LAN,
/// a carrier NAT, loopback in tests): the IP-colocation penalty would
/// graylist honest peers there, and membership is proven by the roster anyway,
/// so it is off. Everything else keeps the gossipsub defaults.
pub(crate) fn peer_score_params() -> gossipsub::PeerScoreParams {
    gossipsub::PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    }
}

/// Thresholds: stop gossiping to a peer after ~4 invalid messages, stop
/// publishing to it after ~8, drop everything it sends after ~9.
pub(crate) fn peer_score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: GRAYLIST_THRESHOLD,
        ..Default::default()
    }
}

/// Per-topic scoring for a group topic (set with `set_topic_params` when the
/// node subscribes). P4 (invalid messages, squared) is what matters: each
/// rejected message costs `n²`, decaying by 10 % a second. The gossipsub
/// default P1 (time in mesh, 1 ms quantum, capped at 3600) would outweigh any
/// penalty, so honest credit is kept small: at most +1 for time in the mesh.
pub(crate) fn topic_score_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        invalid_message_deliveries_weight: -1.0,
        invalid_message_deliveries_decay: 0.9,
        // Quiet members (location paused) are honest: no delivery quotas.
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        ..Default::default()
    }
}

/// Builds the swarm for `key` (the same ed25519 secret as the aura identity).
/// Bytes on every connection are counted in `registry` (see [`bytes_sent`]).
pub fn build_swarm(
    key: Keypair,
    cfg: &Config,
    registry: &mut Registry,
) -> Result<Swarm<Behaviour>, NodeError> {
    let net = |e: &dyn std::fmt::Display| NodeError::Network(e.to_string());
    let gcfg = gossip_config(cfg)?;
    let mdns_on = cfg.mdns;
    let dht_on = cfg.dht_server || !cfg.bootstrap.is_empty();
    let link = cfg.link;
    // Kademlia re-bootstrap and AutoNAT re-check (see `crate::link`).
    let refresh = Duration::from_millis(link.dht_refresh_ms.max(1_000));
    let nat = autonat::Config::default();
    let swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(link.tcp_nodelay),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| net(&e))?
        .with_quic_config(|mut q| {
            // Timing per mode (see `crate::link`): quiet in the background.
            // "No keep-alive" is one a day: quinn keeps a zero interval busy.
            q.keep_alive_interval = Duration::from_millis(match link.quic_keep_alive_ms {
                0 => 86_400_000,
                ms => ms,
            });
            q.max_idle_timeout = u32::try_from(link.quic_idle_timeout_ms).unwrap_or(u32::MAX);
            q
        })
        .with_dns()
        .map_err(|e| net(&e))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| net(&e))?
        .with_bandwidth_metrics(registry)
        .with_behaviour(|key, relay| {
            let id = key.public().to_peer_id();
            let mut gossipsub =
                gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gcfg)?;
            gossipsub.with_peer_score(peer_score_params(), peer_score_thresholds())?;
            let mdns = if mdns_on {
                let every = Duration::from_millis(link.mdns_query_ms.max(1_000));
                let mdns_cfg = mdns::Config {
                    query_interval: every,
                    ttl: every.max(mdns::Config::default().ttl),
                    ..mdns::Config::default()
                };
                Some(mdns::tokio::Behaviour::new(mdns_cfg, id)?)
            } else {
                None
            };
            // The DHT is joined through bootstrap nodes (or served by one);
            // without either (a LAN mesh found by mDNS and invites) Kademlia
            // has no one to ask and its per-connection handler is overhead.
            let kad = dht_on.then(|| {
                let mut kad_cfg = kad::Config::new(kad::PROTOCOL_NAME);
                kad_cfg.set_periodic_bootstrap_interval(Some(refresh));
                let store = kad::store::MemoryStore::new(id);
                let mut kad = kad::Behaviour::with_config(id, store, kad_cfg);
                kad.set_mode(Some(kad::Mode::Server));
                kad
            });
            let rpc = request_response::Behaviour::with_codec(
                rpc_codec(),
                [(
                    StreamProtocol::new(GROUP_PROTOCOL),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(10))
                    .with_max_concurrent_streams(64),
            );
            Ok(Behaviour {
                limits: connection_limits::Behaviour::new(
                    connection_limits::ConnectionLimits::default()
                        .with_max_established_per_peer(Some(4))
                        .with_max_established(Some(256))
                        .with_max_pending_incoming(Some(64)),
                ),
                memory: memory_connection_limits::Behaviour::with_max_percentage(0.9),
                relay,
                dcutr: dcutr::Behaviour::new(id),
                identify: identify::Behaviour::new(
                    identify::Config::new("/aura/id/1".into(), key.public())
                        .with_agent_version(format!("aura/{}", env!("CARGO_PKG_VERSION")))
                        .with_interval(Duration::from_millis(link.identify_interval_ms.max(1_000))),
                ),
                ping: super::member_ping::Behaviour::new(
                    ping::Config::new()
                        .with_interval(Duration::from_millis(link.ping_interval_ms.max(1_000))),
                ),
                relay_watch: super::relay_watch::Behaviour::default(),
                wake: super::wake::Behaviour::default(),
                kad: kad.into(),
                mdns: mdns.into(),
                autonat: autonat::Behaviour::new(
                    id,
                    autonat::Config {
                        retry_interval: nat.retry_interval.max(refresh / 4),
                        refresh_interval: nat.refresh_interval.max(refresh),
                        ..nat
                    },
                ),
                gossipsub,
                rpc,
            })
        })
        .map_err(|e| net(&e))?
        .with_swarm_config(|c| {
            let c = c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT);
            if link.lazy_negotiation {
                c.with_substream_upgrade_protocol_override(libp2p::core::upgrade::Version::V1Lazy)
            } else {
                c
            }
        })
        .build();
    Ok(swarm)
}
