//! Waking a connection's handlers on demand.
//!
//! libp2p-gossipsub keeps one send queue per peer, shared by the handlers of
//! every connection to it. A handler that has no outbound stream yet looks
//! at that queue only when its connection is polled for another reason: if
//! the connection whose handler carried the peer's traffic closes, what is
//! queued next waits on the other connection until the peer happens to send
//! something on it (its next Ping: up to 15 s). Notifying a connection polls
//! all its handlers, gossipsub's included, which then opens its stream.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::DeniedUpgrade;
use libp2p::core::Endpoint;
use libp2p::swarm::{
    handler::ConnectionEvent, ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent,
    ConnectionId, FromSwarm, NetworkBehaviour, NotifyHandler, SubstreamProtocol, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

/// Most wake-ups waiting to be delivered (more are dropped: the
/// connections they name are polled by the ones before them anyway).
const MAX_PENDING: usize = 256;

/// The behaviour: wakes the connections it is asked to.
#[derive(Default)]
pub struct Behaviour {
    pending: VecDeque<(PeerId, ConnectionId)>,
}

impl Behaviour {
    /// Has `conn` (to `peer`) polled soon.
    pub fn wake(&mut self, peer: PeerId, conn: ConnectionId) {
        if self.pending.len() < MAX_PENDING && !self.pending.contains(&(peer, conn)) {
            self.pending.push_back((peer, conn));
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(Handler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionClosed(c) = event {
            self.pending.retain(|(_, conn)| *conn != c.connection_id);
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        e: THandlerOutEvent<Self>,
    ) {
        match e {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        match self.pending.pop_front() {
            Some((peer_id, conn)) => Poll::Ready(ToSwarm::NotifyHandler {
                peer_id,
                handler: NotifyHandler::One(conn),
                event: (),
            }),
            None => Poll::Pending,
        }
    }
}

/// A handler that speaks no protocol; being notified is all it is for.
pub struct Handler;

impl ConnectionHandler for Handler {
    type FromBehaviour = ();
    type ToBehaviour = Infallible;
    type InboundProtocol = DeniedUpgrade;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<DeniedUpgrade> {
        SubstreamProtocol::new(DeniedUpgrade, ())
    }

    fn on_behaviour_event(&mut self, (): ()) {}

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<DeniedUpgrade, (), Infallible>> {
        Poll::Pending
    }

    fn on_connection_event(&mut self, _: ConnectionEvent<DeniedUpgrade, DeniedUpgrade>) {}
}
