//! Noticing a relay that died silently (power cut, cable pulled: no close,
//! no reset), in about a second instead of at the transport's idle timeout.
//!
//! Every connection gets a fast libp2p Ping ([`INTERVAL`], [`TIMEOUT`]),
//! paused: it sends nothing until the task watches the connection's peer,
//! which it does for the relays that carry a group member's connection
//! (a circuit through them): 5 pings a second each way on those
//! connections only. libp2p Ping reports a failure after two pings in a
//! row went unanswered (a new probe stream's negotiation gets the same
//! timeout), so a dead relay is reported at most `2 × (INTERVAL + TIMEOUT)`
//! (1.1 s) after its last answer; the task then closes
//! the connection, and the circuits on it with it, which moves members to
//! the other relay as a closed connection would.

use std::collections::HashSet;
use std::task::{Context, Poll};
use std::time::Duration;

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::{
    handler::ConnectionEvent, ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent,
    ConnectionId, FromSwarm, NetworkBehaviour, SubstreamProtocol, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{ping, Multiaddr, PeerId};

use super::peer_gate::PeerGate;

/// Time between two probes of a watched connection.
pub const INTERVAL: Duration = Duration::from_millis(200);
/// A probe unanswered this long failed.
pub const TIMEOUT: Duration = Duration::from_millis(350);
/// Most connections tracked (beyond: not probed).
const MAX_CONNECTIONS: usize = 1024;

type Inner = <ping::Behaviour as NetworkBehaviour>::ConnectionHandler;

/// The behaviour: paused fast pings on every connection, run on the
/// connections of watched peers.
pub struct Behaviour {
    ping: ping::Behaviour,
    watched: PeerGate,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            ping: ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(INTERVAL)
                    .with_timeout(TIMEOUT),
            ),
            watched: PeerGate::new(MAX_CONNECTIONS),
        }
    }
}

impl Behaviour {
    /// Probes the connections of `peers` from now on, and no others.
    pub fn watch(&mut self, peers: HashSet<PeerId>) {
        self.watched.set_only(peers);
    }

    /// The peers watched now.
    pub fn watched(&self) -> &HashSet<PeerId> {
        self.watched.peers()
    }

    fn handler(&mut self, conn: ConnectionId, peer: PeerId, inner: Inner) -> Handler {
        let on = self.watched.opened(conn, peer);
        Handler { inner, on }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = ping::Event;

    fn handle_established_inbound_connection(
        &mut self,
        conn: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let inner = self
            .ping
            .handle_established_inbound_connection(conn, peer, local, remote)?;
        Ok(self.handler(conn, peer, inner))
    }

    fn handle_established_outbound_connection(
        &mut self,
        conn: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let inner = self
            .ping
            .handle_established_outbound_connection(conn, peer, addr, role, port_use)?;
        Ok(self.handler(conn, peer, inner))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionClosed(c) = &event {
            self.watched.closed(c.connection_id);
        }
        self.ping.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        conn: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.ping.on_connection_handler_event(peer, conn, event);
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<ping::Event, THandlerInEvent<Self>>> {
        if let Some(tell) = self.watched.poll() {
            return Poll::Ready(tell);
        }
        match self.ping.poll(cx) {
            Poll::Ready(ToSwarm::GenerateEvent(e)) => Poll::Ready(ToSwarm::GenerateEvent(e)),
            // Ping asks nothing else of the swarm.
            Poll::Ready(_) | Poll::Pending => Poll::Pending,
        }
    }
}

/// Ping's handler, paused unless its peer is watched.
pub struct Handler {
    inner: Inner,
    on: bool,
}

impl ConnectionHandler for Handler {
    type FromBehaviour = bool;
    type ToBehaviour = <Inner as ConnectionHandler>::ToBehaviour;
    type InboundProtocol = <Inner as ConnectionHandler>::InboundProtocol;
    type OutboundProtocol = <Inner as ConnectionHandler>::OutboundProtocol;
    type InboundOpenInfo = <Inner as ConnectionHandler>::InboundOpenInfo;
    type OutboundOpenInfo = <Inner as ConnectionHandler>::OutboundOpenInfo;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, Self::InboundOpenInfo> {
        self.inner.listen_protocol()
    }

    fn on_behaviour_event(&mut self, on: bool) {
        self.on = on;
    }

    fn connection_keep_alive(&self) -> bool {
        false
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<
        ConnectionHandlerEvent<Self::OutboundProtocol, Self::OutboundOpenInfo, Self::ToBehaviour>,
    > {
        if !self.on {
            return Poll::Pending;
        }
        match self.inner.poll(cx) {
            // A new probe stream: its negotiation gets the probe's timeout
            // too (libp2p's 10 s would hide a dead relay that long).
            Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest { protocol }) => {
                Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                    protocol: protocol.with_timeout(TIMEOUT),
                })
            }
            other => other,
        }
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            Self::InboundProtocol,
            Self::OutboundProtocol,
            Self::InboundOpenInfo,
            Self::OutboundOpenInfo,
        >,
    ) {
        self.inner.on_connection_event(event);
    }
}
