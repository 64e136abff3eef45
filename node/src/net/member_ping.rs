//! libp2p Ping on every connection, held off towards members that said
//! they are away (see [`super::away`]).
//!
//! An away phone keeps one connection, to its carrier, and wants nothing on
//! it but its own requests. A foreground carrier pings each of its
//! connections every `ping_interval_ms` (15 s): each ping is a packet the
//! phone must answer, 4 a minute, as many as the phone's whole background
//! budget. So a connection opened to a member that is away gets a ping
//! handler whose first ping (and so every later one) waits until the member
//! is back; it still answers the member's own pings. The phone opens its
//! carrier's TCP connection after the carrier took its away notice, so that
//! is the connection held off. A connection whose pings already started
//! when its member says it is away (its connection was opened first: the
//! notice itself goes through it) drops its ping stream and starts over
//! with a fresh ping handler, held the same way: once per connection (a
//! phone's mode switch opens new connections).

use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::{
    handler::ConnectionEvent, ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent,
    ConnectionId, FromSwarm, NetworkBehaviour, SubstreamProtocol, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{ping, Multiaddr, PeerId};

use super::peer_gate::PeerGate;

/// Most connections and away members tracked (beyond: pinged as usual).
const MAX_TRACKED: usize = 4096;

type Inner = <ping::Behaviour as NetworkBehaviour>::ConnectionHandler;

/// Ping, held off on the connections of members that are away.
pub struct Behaviour {
    ping: ping::Behaviour,
    away: PeerGate,
}

impl Behaviour {
    /// Ping with `config` on every connection.
    pub fn new(config: ping::Config) -> Self {
        Self {
            ping: ping::Behaviour::new(config),
            away: PeerGate::new(MAX_TRACKED),
        }
    }

    /// `peer` said it is away (`true`) or back. Back: its connections'
    /// held pings start.
    pub fn set_away(&mut self, peer: PeerId, away: bool) {
        self.away.set(peer, away);
    }

    /// Whether pings to `peer` are held off.
    pub fn is_away(&self, peer: &PeerId) -> bool {
        self.away.is_on(peer)
    }

    fn handler(&mut self, conn: ConnectionId, peer: PeerId, inner: Inner, spare: Inner) -> Handler {
        let away = self.away.opened(conn, peer);
        Handler {
            inner,
            spare: Some(spare),
            away,
            held: None,
        }
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
        let mut make = || {
            self.ping
                .handle_established_inbound_connection(conn, peer, local, remote)
        };
        let (inner, spare) = (make()?, make()?);
        Ok(self.handler(conn, peer, inner, spare))
    }

    fn handle_established_outbound_connection(
        &mut self,
        conn: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let mut make = || {
            self.ping
                .handle_established_outbound_connection(conn, peer, addr, role, port_use)
        };
        let (inner, spare) = (make()?, make()?);
        Ok(self.handler(conn, peer, inner, spare))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionClosed(c) = &event {
            self.away.closed(c.connection_id);
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
        if let Some(tell) = self.away.poll() {
            return Poll::Ready(tell);
        }
        match self.ping.poll(cx) {
            Poll::Ready(ToSwarm::GenerateEvent(e)) => Poll::Ready(ToSwarm::GenerateEvent(e)),
            // Ping asks nothing else of the swarm.
            Poll::Ready(_) | Poll::Pending => Poll::Pending,
        }
    }
}

type OutboundRequest = SubstreamProtocol<
    <Inner as ConnectionHandler>::OutboundProtocol,
    <Inner as ConnectionHandler>::OutboundOpenInfo,
>;

/// Ping's handler; while its peer is away, the stream its pings go on is
/// not opened (held until the peer is back). Pings of the peer are answered.
pub struct Handler {
    inner: Inner,
    /// A fresh ping handler, taken when the peer says it is away while
    /// ours pings it (dropping ours drops its ping stream).
    spare: Option<Inner>,
    away: bool,
    held: Option<OutboundRequest>,
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

    fn on_behaviour_event(&mut self, away: bool) {
        if away && !self.away && self.held.is_none() {
            // Pinging (or about to): start over, held.
            if let Some(fresh) = self.spare.take() {
                self.inner = fresh;
            }
        }
        self.away = away;
    }

    fn connection_keep_alive(&self) -> bool {
        self.inner.connection_keep_alive()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<
        ConnectionHandlerEvent<Self::OutboundProtocol, Self::OutboundOpenInfo, Self::ToBehaviour>,
    > {
        if !self.away {
            if let Some(protocol) = self.held.take() {
                return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest { protocol });
            }
        }
        loop {
            match self.inner.poll(cx) {
                // The ping handler asks for its stream once and waits for
                // it: holding the request holds every ping.
                Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest { protocol })
                    if self.away =>
                {
                    self.held = Some(protocol);
                }
                other => return other,
            }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::future::poll_fn;
    use libp2p::swarm::NotifyHandler;

    use super::*;

    fn config() -> ping::Config {
        ping::Config::new().with_interval(Duration::from_secs(15))
    }

    fn connect(b: &mut Behaviour, conn: usize, peer: PeerId) -> Handler {
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        b.handle_established_inbound_connection(
            ConnectionId::new_unchecked(conn),
            peer,
            &addr,
            &addr,
        )
        .unwrap()
    }

    /// Polls `h` until its ping asks for its stream (`Some`) or holds that
    /// request (`None`).
    fn first_request(h: &mut Handler) -> Option<OutboundRequest> {
        futures::executor::block_on(poll_fn(|cx| match h.poll(cx) {
            Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest { protocol }) => {
                Poll::Ready(Some(protocol))
            }
            Poll::Ready(_) => Poll::Pending,
            Poll::Pending if h.held.is_some() => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }))
    }

    #[test]
    fn a_member_that_is_not_away_is_pinged_at_once() {
        let mut b = Behaviour::new(config());
        let mut h = connect(&mut b, 1, PeerId::random());
        assert!(first_request(&mut h).is_some());
    }

    #[test]
    fn an_away_member_is_not_pinged_until_it_is_back() {
        let mut b = Behaviour::new(config());
        let peer = PeerId::random();
        b.set_away(peer, true);
        let mut h = connect(&mut b, 1, peer);
        assert!(first_request(&mut h).is_none(), "held while away");
        // Back: the behaviour tells the connection's handler, whose held
        // request leaves.
        b.set_away(peer, false);
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        match b.poll(&mut cx) {
            Poll::Ready(ToSwarm::NotifyHandler {
                peer_id,
                handler: NotifyHandler::One(conn),
                event,
            }) => {
                assert_eq!(
                    (peer_id, conn, event),
                    (peer, ConnectionId::new_unchecked(1), false)
                );
                h.on_behaviour_event(event);
            }
            _ => panic!("the handler was not told"),
        }
        assert!(matches!(
            h.poll(&mut cx),
            Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest { .. })
        ));
    }

    /// A member that says it is away on a connection whose pings already
    /// started is pinged no more: the handler starts over, held.
    #[test]
    fn a_member_away_after_its_pings_started_is_pinged_no_more() {
        let mut b = Behaviour::new(config());
        let peer = PeerId::random();
        let mut h = connect(&mut b, 1, peer);
        assert!(first_request(&mut h).is_some(), "pinging");
        h.on_behaviour_event(true);
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(h.poll(&mut cx).is_pending());
        assert!(h.held.is_some(), "a fresh ping handler, held once away");
        h.on_behaviour_event(false);
        assert!(matches!(
            h.poll(&mut cx),
            Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest { .. })
        ));
    }

    #[test]
    fn only_the_away_members_connections_are_told_and_once() {
        let mut b = Behaviour::new(config());
        let (away, other) = (PeerId::random(), PeerId::random());
        let _h1 = connect(&mut b, 1, away);
        let _h2 = connect(&mut b, 2, other);
        b.set_away(away, true);
        b.set_away(away, true);
        assert!(b.is_away(&away) && !b.is_away(&other));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut told = Vec::new();
        while let Poll::Ready(ToSwarm::NotifyHandler {
            peer_id,
            handler: NotifyHandler::One(conn),
            event,
        }) = b.poll(&mut cx)
        {
            told.push((peer_id, conn, event));
        }
        assert_eq!(told, vec![(away, ConnectionId::new_unchecked(1), true)]);
    }
}
