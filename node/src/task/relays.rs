//! The task's side of [`crate::net::relays`]: reservations on circuit
//! relays (listeners on `/p2p-circuit`), relays learnt from identify, the
//! AutoNAT status that decides whether reservations are wanted, the
//! path of each connection ([`crate::paths::PeerPaths`]), and the relays'
//! media forwarders (the port a relay's identify names,
//! [`aura_media::advert`], at the IP we reached it at), which voice uses
//! for members it has no direct media path to.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{
    autonat, core::transport::ListenerId, core::ConnectedPoint, dcutr, multiaddr::Protocol, relay,
    swarm::ConnectionId, Multiaddr, PeerId, StreamProtocol,
};

use super::{now_ms, Task};
use crate::{
    config::Config,
    events::Event,
    net::relays::{relay_of_circuit, Relays},
    paths::{Path, PeerPaths},
    NodeError,
};

/// The circuit relay v2 hop protocol: a peer that speaks it is a relay.
const HOP_PROTOCOL: StreamProtocol = StreamProtocol::new("/libp2p/circuit/relay/0.2.0/hop");
/// Most outbound connection addresses remembered (one per open connection).
const MAX_DIALED: usize = 1024;

/// Relays, reservations and connection paths.
#[derive(Debug, Default)]
pub(crate) struct RelayState {
    set: Relays,
    /// Circuit listeners (reservations) by the relay they go through.
    listeners: HashMap<ListenerId, PeerId>,
    /// The address each outbound direct connection was dialled at: where a
    /// peer that turns out to be a relay is reserved on.
    dialed: HashMap<ConnectionId, Multiaddr>,
    paths: PeerPaths,
    /// Relays' media forwarders (at most `MAX_KNOWN`).
    media: Vec<(PeerId, SocketAddr)>,
    /// The IP each peer's latest direct connection reaches (its public
    /// address behind a NAT), at most `MAX_DIALED`.
    direct_ip: HashMap<PeerId, IpAddr>,
    /// When each watched relay last answered a probe, unix ms.
    answered: HashMap<PeerId, u64>,
    /// Relays found silent, and when members cut off by them are dialled
    /// through other relays (unix ms).
    silent: HashMap<PeerId, u64>,
    /// Members to dial through relays other than a silent one, when due:
    /// (due, member, silent relay).
    moves: Vec<(u64, PeerId, PeerId)>,
}

/// How long after a silent relay's last answer the members cut off by it
/// are dialled through other relays: by then their end has noticed too
/// (its probes fail within `2 × (INTERVAL + TIMEOUT)` of the silence) and
/// dropped its side of the dead circuit, so the new connection is the
/// first on both ends (gossipsub exchanges subscriptions only on a first
/// connection: a member reconnected while the other end still holds the
/// dead circuit would stay cut off from the group's gossip).
const SETTLE_MS: u64 = 1_400;

impl RelayState {
    /// The relays of the config (each `/.../p2p/<relay id>`).
    pub(crate) fn from_config(config: &Config) -> Result<Self, NodeError> {
        let mut me = Self::default();
        for relay in &config.relays {
            let ma: Multiaddr = relay
                .parse()
                .map_err(|e| NodeError::BadInput(format!("relay address {relay:?}: {e}")))?;
            if !me.set.add(ma) {
                return Err(NodeError::BadInput(format!(
                    "relay address {relay:?}: must end in /p2p/<relay peer id>"
                )));
            }
        }
        Ok(me)
    }
}

impl RelayState {
    /// Relays' media forwarders we know, by the relay's identity, of the
    /// relays `connected` says we are connected to.
    pub(crate) fn media_relays(
        &self,
        connected: impl Fn(&PeerId) -> bool,
    ) -> Vec<(aura_crypto::MemberId, SocketAddr)> {
        self.media
            .iter()
            .filter(|(p, _)| connected(p))
            .filter_map(|(p, a)| aura_crypto::MemberId::from_peer_id(p).map(|m| (m, *a)))
            .collect()
    }

    /// A peer's open connections, oldest first.
    pub(crate) fn connections(&self, peer: &PeerId) -> Vec<libp2p::swarm::ConnectionId> {
        self.paths.connections(peer)
    }

    /// Peers whose path goes through a relay, and that relay.
    pub(crate) fn relayed_paths(&self) -> Vec<(PeerId, PeerId)> {
        self.paths.relayed()
    }

    /// The IP of each peer's latest direct connection.
    pub(crate) fn direct_ips(&self) -> Vec<(PeerId, IpAddr)> {
        self.direct_ip.iter().map(|(p, ip)| (*p, *ip)).collect()
    }
}

/// The IP a (direct) libp2p address reaches.
fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

/// The path a connection gives.
fn path_of(peer: PeerId, endpoint: &ConnectedPoint) -> Path {
    let addr = match endpoint {
        ConnectedPoint::Dialer { address, .. } => address,
        // An inbound circuit arrives on `<relay address>/p2p-circuit`.
        ConnectedPoint::Listener { local_addr, .. } => local_addr,
    };
    if !endpoint.is_relayed() {
        return Path::Direct;
    }
    // Circuit addresses name their relay; were one not to, it is still
    // relayed (named after the peer itself).
    Path::Relayed {
        relay: relay_of_circuit(addr).unwrap_or(peer),
    }
}

impl Task {
    /// Listens through the relays whose turn it is (from the tick).
    pub(crate) fn relay_tick(&mut self) {
        let now = now_ms();
        self.relay_moves_due(now);
        for addr in self.relay.set.poll(now) {
            let Some(peer) = crate::net::relays::relay_peer(&addr) else {
                continue;
            };
            // Listening on the circuit address dials the relay itself; a
            // separate dial first would make the relay client's own dial a
            // no-op and close the circuit listener before its reservation.
            match self
                .swarm
                .listen_on(addr.clone().with(Protocol::P2pCircuit))
            {
                Ok(id) => {
                    tracing::debug!(relay = %peer, "reserving on relay");
                    self.relay.listeners.insert(id, peer);
                }
                Err(e) => {
                    tracing::info!(relay = %addr, error = %e, "cannot reserve on relay");
                    self.relay.set.ended(&peer, now);
                }
            }
        }
    }

    /// Our listen addresses, at most 8, in the order to hand them out
    /// (see [`crate::net::relays::rank_for_others`]).
    pub(crate) fn addrs_for_others(&self) -> Vec<String> {
        let all: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
        crate::net::relays::rank_for_others(&all)
            .iter()
            .take(8)
            .map(|a| a.to_string())
            .collect()
    }

    /// A fresh transport: no reservation and no connection is left (the
    /// old swarm closes its connections on its own, telling nobody: each
    /// peer that was connected is reported disconnected here).
    pub(crate) fn relays_restarted(&mut self) {
        self.relay.listeners.clear();
        self.relay.dialed.clear();
        self.relay.direct_ip.clear();
        for peer in self.relay.paths.clear() {
            self.emit(Event::PeerDisconnected { peer });
            self.voice_path(peer, None);
        }
        self.relay.set.reset();
        self.relay_tick();
    }

    /// A connection opened: its path, and the address of a direct dial.
    pub(crate) fn relay_connection_opened(
        &mut self,
        peer: PeerId,
        conn: ConnectionId,
        endpoint: &ConnectedPoint,
    ) {
        let path = path_of(peer, endpoint);
        if let (ConnectedPoint::Dialer { address, .. }, Path::Direct) = (endpoint, path) {
            if self.relay.dialed.len() < MAX_DIALED {
                self.relay.dialed.insert(conn, address.clone());
            }
        }
        if let (Some(ip), Path::Direct) = (ip_of(endpoint.get_remote_address()), path) {
            let known = &mut self.relay.direct_ip;
            if known.len() < MAX_DIALED || known.contains_key(&peer) {
                known.insert(peer, ip);
                self.voice_direct_ip(peer, ip);
            }
        }
        if let Some(path) = self.relay.paths.opened(peer, conn, path) {
            tracing::debug!(%peer, ?path, "path");
            self.emit(Event::PathChanged { peer, path });
            self.voice_path(peer, path.relay());
        }
        self.watch_relays_in_use();
    }

    /// Probes the relays that members' connections go through
    /// ([`crate::net::relay_watch`]).
    fn watch_relays_in_use(&mut self) {
        let relays = self.relay.paths.relayed().into_iter().map(|(_, r)| r);
        let relays = relays.collect();
        self.swarm.behaviour_mut().relay_watch.watch(relays);
    }

    /// A probe of a watched relay: an answer is remembered; two failures
    /// in a row mean the relay is silent (dead, or the path to it), and
    /// its connection is closed, with the circuits on it. Members cut off
    /// are dialled through other relays [`SETTLE_MS`] after its last answer.
    pub(crate) fn on_relay_probe(&mut self, ev: libp2p::ping::Event) {
        if !self
            .swarm
            .behaviour()
            .relay_watch
            .watched()
            .contains(&ev.peer)
        {
            return;
        }
        let now = now_ms();
        match ev.result {
            Ok(_) => {
                if self.relay.answered.len() < MAX_DIALED {
                    self.relay.answered.insert(ev.peer, now);
                }
                return;
            }
            Err(libp2p::ping::Failure::Unsupported) => return,
            Err(_) => {}
        }
        let last = self.relay.answered.remove(&ev.peer).unwrap_or(now);
        self.relay.silent.retain(|_, due| *due + 60_000 > now);
        if self.relay.silent.len() < MAX_DIALED {
            self.relay.silent.insert(ev.peer, last + SETTLE_MS);
        }
        tracing::info!(relay = %ev.peer, "relay silent: closing its connection");
        self.swarm.close_connection(ev.connection);
    }

    /// Dials `member`, whose last connection went through `relay`, through
    /// other relays: at once, or when due if `relay` was found silent.
    fn around_relay(&mut self, member: PeerId, relay: PeerId) {
        match self.relay.silent.get(&relay).copied() {
            Some(due) if due > now_ms() => {
                if self.relay.moves.len() < MAX_DIALED {
                    self.relay.moves.push((due, member, relay));
                }
            }
            _ => self.dial_around(member, relay, PeerCondition::DisconnectedAndNotDialing),
        }
    }

    /// Dials the members cut off by a silent relay whose turn it is.
    fn relay_moves_due(&mut self, now: u64) {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.relay.moves)
            .into_iter()
            .partition(|(at, _, _)| *at <= now);
        self.relay.moves = later;
        for (_, member, dead) in due {
            // Even while another dial to it is under way (a direct
            // address hanging behind a NAT until its handshake times out).
            self.dial_around(member, dead, PeerCondition::Disconnected);
        }
    }

    /// A connection closed: the peer's path may change. When a member's
    /// last connection went through a relay (which may have died), the
    /// member is dialled at once at its addresses through other relays.
    pub(crate) fn relay_connection_closed(&mut self, peer: PeerId, conn: ConnectionId) {
        self.relay.dialed.remove(&conn);
        if self.relay.media.iter().any(|(p, _)| *p == peer) && !self.swarm.is_connected(&peer) {
            // A relay gone (dead, say): voice stops going through it.
            self.voice_relays();
        }
        let was = self.relay.paths.of_connection(&peer, conn);
        match self.relay.paths.closed(peer, conn) {
            Some(Some(path)) => {
                tracing::debug!(%peer, ?path, "path");
                self.emit(Event::PathChanged { peer, path });
                self.voice_path(peer, path.relay());
            }
            Some(None) => {
                self.relay.direct_ip.remove(&peer);
                self.voice_path(peer, None);
                if let Some(relay) = was.and_then(|p| p.relay()) {
                    self.around_relay(peer, relay);
                }
            }
            None => {}
        }
        self.watch_relays_in_use();
    }

    /// Dials member `peer` at its circuit addresses through relays other
    /// than `dead`, if `condition` holds.
    fn dial_around(&mut self, peer: PeerId, dead: PeerId, condition: PeerCondition) {
        if self.stopping || !self.is_group_member(&peer) {
            return;
        }
        let addrs: Vec<Multiaddr> = self
            .peer_addrs
            .get(&peer)
            .into_iter()
            .flatten()
            .filter(|a| relay_of_circuit(a).is_some_and(|r| r != dead))
            .cloned()
            .collect();
        if addrs.is_empty() {
            return;
        }
        tracing::debug!(%peer, relay = %dead, "relayed path lost: dialling through another relay");
        let opts = DialOpts::peer_id(peer)
            .condition(condition)
            .addresses(addrs)
            .build();
        let _ = self.swarm.dial(opts);
    }

    /// Identify from `peer` on `conn`: a peer we dialled that speaks the
    /// hop protocol (a bootstrap node, a peer found on the DHT) is a relay;
    /// a relay whose agent names a media port serves voice at that port on
    /// the IP we dialled.
    pub(crate) fn relay_identified(
        &mut self,
        peer: PeerId,
        conn: ConnectionId,
        protocols: &[StreamProtocol],
        agent: &str,
    ) {
        if !protocols.contains(&HOP_PROTOCOL) {
            return;
        }
        let Some(addr) = self.relay.dialed.get(&conn) else {
            return;
        };
        let media = aura_media::advert::media_port_of(agent)
            .zip(ip_of(addr))
            .map(|(port, ip)| SocketAddr::new(ip, port));
        if let Some(media) = media {
            self.relay_media(peer, media);
        }
        if self.relay.set.knows(&peer) {
            return;
        }
        let Some(addr) = self.relay.dialed.get(&conn) else {
            return;
        };
        let mut addr = addr.clone();
        if !matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
            addr.push(Protocol::P2p(peer));
        }
        if self.relay.set.add(addr.clone()) {
            tracing::info!(relay = %addr, "relay discovered");
            self.relay_tick();
        }
    }

    /// Remembers `relay`'s media forwarder and tells the voice engines.
    fn relay_media(&mut self, relay: PeerId, addr: SocketAddr) {
        let known = &mut self.relay.media;
        let full = known.len() >= crate::net::relays::MAX_KNOWN;
        match known.iter_mut().find(|(p, _)| *p == relay) {
            Some((_, a)) => *a = addr,
            None if !full => known.push((relay, addr)),
            None => return,
        }
        tracing::debug!(%relay, %addr, "relay media forwarder");
        self.voice_relays();
    }

    /// A listener got an address: a new circuit address is told to the groups.
    pub(crate) fn relay_new_listen_addr(&mut self, listener: ListenerId, addr: &Multiaddr) {
        if self.relay.listeners.contains_key(&listener) {
            tracing::info!(%addr, "reachable through relay");
            self.readvertise_all();
        }
    }

    /// A listener closed: a reservation ended (relay gone, refused).
    pub(crate) fn relay_listener_closed(&mut self, listener: ListenerId) {
        if let Some(relay) = self.relay.listeners.remove(&listener) {
            tracing::info!(%relay, "reservation ended");
            self.relay.set.ended(&relay, now_ms());
            self.relay_tick();
        }
    }

    /// Relay client events: reservations accepted or renewed.
    pub(crate) fn on_relay_client(&mut self, ev: relay::client::Event) {
        if let relay::client::Event::ReservationReqAccepted {
            relay_peer_id,
            renewal,
            ..
        } = ev
        {
            tracing::debug!(relay = %relay_peer_id, renewal, "reservation accepted");
            self.relay.set.accepted(&relay_peer_id);
        }
    }

    /// DCUtR: a relayed connection upgraded to a direct one, or not.
    pub(crate) fn on_dcutr(&mut self, ev: dcutr::Event) {
        match ev.result {
            Ok(_) => {
                tracing::info!(peer = %ev.remote_peer_id, "hole punched: direct connection");
                self.stats.hole_punches += 1;
            }
            Err(e) => {
                tracing::info!(peer = %ev.remote_peer_id, error = %e, "hole punching failed");
                self.stats.hole_punches_failed += 1;
            }
        }
    }

    /// AutoNAT: a node confirmed public holds no reservation; any other
    /// status (unknown, private) reserves.
    pub(crate) fn on_autonat(&mut self, ev: autonat::Event) {
        let autonat::Event::StatusChanged { new, .. } = ev else {
            return;
        };
        let public = matches!(new, autonat::NatStatus::Public(_));
        tracing::info!(?new, "reachability");
        let close = self.relay.set.set_paused(public);
        let ids: Vec<ListenerId> = self
            .relay
            .listeners
            .iter()
            .filter(|(_, r)| close.contains(r))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.relay.listeners.remove(&id);
            self.swarm.remove_listener(id);
        }
        self.relay_tick();
    }
}
