//! A libp2p behaviour that refuses an inbound connection when its IP
//! address already holds [`crate::per_ip::IpLimit`]'s share.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use libp2p::core::{transport::PortUse, Endpoint};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    dummy, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, ListenFailure,
    NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

use super::metrics::Metrics;
use crate::per_ip::IpLimit;

/// Refused: too many connections from this address.
#[derive(Debug, thiserror::Error)]
#[error("too many connections from {0}")]
pub struct TooManyFromIp(IpAddr);

/// The behaviour.
pub struct Behaviour {
    limit: IpLimit,
    conns: HashMap<ConnectionId, IpAddr>,
    metrics: Metrics,
}

impl Behaviour {
    /// At most `max` connections per IP address.
    pub fn new(max: u32, metrics: Metrics) -> Self {
        Self {
            limit: IpLimit::new(max),
            conns: HashMap::new(),
            metrics,
        }
    }

    fn release(&mut self, id: ConnectionId) {
        if let Some(ip) = self.conns.remove(&id) {
            self.limit.release(ip);
        }
    }
}

fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(a) => Some(IpAddr::from(a)),
        Protocol::Ip6(a) => Some(IpAddr::from(a)),
        _ => None,
    })
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        // Relayed connections (no IP of their own) are bounded by circuits.
        let Some(ip) = ip_of(remote) else {
            return Ok(());
        };
        if !self.limit.try_acquire(ip) {
            self.metrics.refuse("libp2p", "connections_per_ip");
            return Err(ConnectionDenied::new(TooManyFromIp(ip)));
        }
        self.conns.insert(id, ip);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. })
            | FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.release(connection_id)
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
