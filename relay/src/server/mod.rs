//! The running relay: the libp2p swarm, the media forwarder and `/metrics`,
//! started on the addresses of a [`Config`] and stopped by
//! [`Server::shutdown`]. Tests start it in-process on port 0:
//!
//! ```no_run
//! # async fn demo() -> Result<(), aura_relay::server::ServerError> {
//! use aura_relay::{config::Config, server::Server};
//! let mut cfg = Config::default();
//! cfg.listen.libp2p = vec!["/ip4/127.0.0.1/tcp/0".into()];
//! cfg.listen.media = "127.0.0.1:0".parse().map_err(|_| aura_relay::server::ServerError::Network("addr".into()))?;
//! cfg.listen.metrics = None;
//! let relay = Server::spawn(aura_crypto::Identity::from_secret_bytes(&[7; 32]), cfg).await?;
//! println!("{} at {:?}, media {}", relay.peer_id(), relay.listen_addrs(), relay.media_addr());
//! relay.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aura_crypto::Identity;
use futures::StreamExt;
use libp2p::{identify, kad, relay, swarm::SwarmEvent, Multiaddr, PeerId, Swarm};
use prometheus_client::registry::Registry;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Config, ConfigError};

mod dht;
pub mod gate;
mod http;
pub mod ip_limit;
mod media;
pub mod metrics;
pub mod swarm;

use gate::Gate;
use metrics::Metrics;
use swarm::{Behaviour, BehaviourEvent};

/// Starting or running the relay.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// libp2p transport or listener.
    #[error("network: {0}")]
    Network(String),
    /// The media endpoint's TLS setup.
    #[error("media: {0}")]
    Media(String),
    /// A socket.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// A running relay.
pub struct Server {
    peer_id: PeerId,
    listen: Vec<Multiaddr>,
    media: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    metrics: Metrics,
    gate: Gate,
    registry: Arc<Registry>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("peer_id", &self.peer_id)
            .field("listen", &self.listen)
            .field("media", &self.media)
            .finish_non_exhaustive()
    }
}

/// DHT requests from the media side queued at once.
const DHT_QUEUE: usize = 64;

/// Longest the listeners may take to come up.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

impl Server {
    /// Starts the relay with `identity` on `cfg`'s addresses; returns once
    /// every listener is up.
    pub async fn spawn(identity: Identity, cfg: Config) -> Result<Self, ServerError> {
        let net = |e: &dyn std::fmt::Display| ServerError::Network(e.to_string());
        let access = cfg.access.to_access()?;
        let gate = Gate::new(access).with_vip_ledger(cfg.access.ledger()?);
        let metrics = Metrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let libp2p_metrics = libp2p::metrics::Metrics::new(&mut registry);
        let key = libp2p::identity::Keypair::ed25519_from_bytes(*identity.to_secret_bytes())
            .map_err(|e| net(&e))?;
        // The media forwarder first: identify names its port.
        let (stop, stop_rx) = watch::channel(false);
        let (dht_tx, dht_rx) = tokio::sync::mpsc::channel(DHT_QUEUE);
        let (media, media_task) = media::spawn(
            &identity,
            cfg.listen.media,
            &cfg.limits,
            gate.clone(),
            metrics.clone(),
            media::Links { dht: dht_tx },
            stop_rx.clone(),
        )?;
        let mut swarm = swarm::build(
            key,
            media.port(),
            &cfg.limits,
            &gate,
            &metrics,
            &mut registry,
        )?;
        for a in &cfg.listen.libp2p {
            let a: Multiaddr = a
                .parse()
                .map_err(|e| ConfigError::Listen(format!("{a}: {e}")))?;
            swarm.listen_on(a).map_err(|e| net(&e))?;
        }
        for a in &cfg.listen.external {
            let a: Multiaddr = a
                .parse()
                .map_err(|e| ConfigError::Listen(format!("{a}: {e}")))?;
            swarm.add_external_address(a);
        }
        let listen = wait_listening(&mut swarm, cfg.listen.libp2p.len()).await?;
        if cfg.listen.external.is_empty() {
            // Reservations carry the relay's external addresses; without
            // configured ones, the listen addresses (right on a LAN or in tests).
            for a in &listen {
                swarm.add_external_address(a.clone());
            }
        }
        let mut bootstrap = Vec::new();
        for a in &cfg.dht.bootstrap {
            let a: Multiaddr = a
                .parse()
                .map_err(|e| ConfigError::Listen(format!("{a}: {e}")))?;
            bootstrap.push(a);
        }
        dht::Dht::bootstrap(&mut swarm, &bootstrap);
        let registry = Arc::new(registry);
        let mut tasks = vec![media_task];
        let metrics_addr = match cfg.listen.metrics {
            Some(a) => {
                let (addr, t) = http::spawn(a, registry.clone(), stop_rx.clone()).await?;
                tasks.push(t);
                Some(addr)
            }
            None => None,
        };
        let peer_id = *swarm.local_peer_id();
        tasks.push(tokio::spawn(run_swarm(
            swarm,
            metrics.clone(),
            libp2p_metrics,
            dht_rx,
            stop_rx,
        )));
        tracing::info!(%peer_id, ?listen, %media, ?metrics_addr, "relay up");
        Ok(Self {
            peer_id,
            listen,
            media,
            metrics_addr,
            metrics,
            gate,
            registry,
            stop,
            tasks,
        })
    }

    /// The relay's PeerId (its ed25519 key, also its media identity).
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The libp2p addresses it listens on (without `/p2p/`).
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen
    }

    /// The media forwarder's UDP address.
    pub fn media_addr(&self) -> SocketAddr {
        self.media
    }

    /// The `/metrics` HTTP address, if on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The relay's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The access policy and the token holders.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Every metric in Prometheus text format.
    pub fn metrics_text(&self) -> String {
        http::encode(&self.registry)
    }

    /// Stops accepting, closes every connection and waits for the tasks.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        tracing::info!(peer_id = %self.peer_id, "relay stopped");
    }
}

async fn wait_listening(
    swarm: &mut Swarm<Behaviour>,
    n: usize,
) -> Result<Vec<Multiaddr>, ServerError> {
    let mut addrs = Vec::new();
    let mut listeners = std::collections::HashSet::new();
    let wait = async {
        while listeners.len() < n {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                } => {
                    listeners.insert(listener_id);
                    addrs.push(address);
                }
                SwarmEvent::ListenerError { error, .. } => {
                    return Err(ServerError::Network(error.to_string()))
                }
                SwarmEvent::ListenerClosed { reason: Err(e), .. } => {
                    return Err(ServerError::Network(e.to_string()))
                }
                _ => {}
            }
        }
        Ok(())
    };
    tokio::time::timeout(LISTEN_TIMEOUT, wait)
        .await
        .map_err(|_| ServerError::Network("listeners did not come up".into()))??;
    Ok(addrs)
}

async fn run_swarm(
    mut swarm: Swarm<Behaviour>,
    m: Metrics,
    lm: libp2p::metrics::Metrics,
    mut dht_rx: tokio::sync::mpsc::Receiver<dht::DhtCmd>,
    mut stop: watch::Receiver<bool>,
) {
    use libp2p::metrics::Recorder;
    let mut dht = dht::Dht::default();
    loop {
        let ev = tokio::select! {
            ev = swarm.select_next_some() => ev,
            Some(cmd) = dht_rx.recv() => {
                dht.on_cmd(&mut swarm, cmd);
                continue;
            }
            _ = stop.wait_for(|s| *s) => break,
        };
        lm.record(&ev);
        match ev {
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                dht.on_connected(peer_id, endpoint.get_remote_address());
                m.connections.set(swarm.network_info().num_peers() as i64);
            }
            SwarmEvent::ConnectionClosed { .. } => {
                m.connections.set(swarm.network_info().num_peers() as i64);
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!(%error, "libp2p connection refused");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Relay(e)) => {
                lm.record(&e);
                on_relay(&m, &e);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => {
                lm.record(&e);
                if let identify::Event::Received { peer_id, info, .. } = e {
                    dht.on_identify(peer_id, &info);
                    // Peers that serve the DHT become reachable through it.
                    if info.protocols.contains(&kad::PROTOCOL_NAME) {
                        for a in info.listen_addrs.into_iter().take(8) {
                            swarm.behaviour_mut().kad.add_address(&peer_id, a);
                        }
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => {
                lm.record(&e);
                dht.on_kad(&mut swarm, &e);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => lm.record(&e),
            _ => {}
        }
    }
    tracing::debug!("swarm stopped");
}

fn on_relay(m: &Metrics, e: &relay::Event) {
    match e {
        relay::Event::ReservationReqAccepted { renewed, .. } => {
            m.reservations_accepted.inc();
            if !renewed {
                m.reservations.inc();
            }
        }
        relay::Event::ReservationReqDenied { status, .. } => {
            m.refuse("libp2p", reservation_status(status));
        }
        relay::Event::ReservationClosed { .. } | relay::Event::ReservationTimedOut { .. } => {
            m.reservations.dec();
        }
        relay::Event::CircuitReqAccepted { .. } => {
            m.circuits_accepted.inc();
            m.circuits.inc();
        }
        relay::Event::CircuitReqDenied { status, .. } => {
            m.refuse("libp2p", circuit_status(status));
        }
        relay::Event::CircuitClosed { .. } => {
            m.circuits.dec();
        }
        _ => {}
    }
}

fn reservation_status(s: &relay::StatusCode) -> &'static str {
    match s {
        relay::StatusCode::ResourceLimitExceeded => "reservation_limit",
        relay::StatusCode::PermissionDenied => "reservation_denied",
        _ => "reservation_other",
    }
}

fn circuit_status(s: &relay::StatusCode) -> &'static str {
    match s {
        relay::StatusCode::ResourceLimitExceeded => "circuit_limit",
        relay::StatusCode::NoReservation => "circuit_no_reservation",
        relay::StatusCode::PermissionDenied => "circuit_denied",
        _ => "circuit_other",
    }
}
