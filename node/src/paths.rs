//! The path to each connected peer (direct, or through which circuit
//! relay): [`PeerPaths`] (sans-IO, in the node task) turns connections
//! opening and closing into [`crate::Event::PathChanged`], and [`Paths`]
//! keeps the latest of those for [`crate::Node::connections`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use libp2p::{swarm::ConnectionId, PeerId};
use tokio::sync::broadcast;

use crate::Event;

/// How we are connected to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    /// At least one direct connection (after hole punching, or reachable).
    Direct,
    /// Only through a circuit relay.
    Relayed {
        /// The relay's peer id.
        relay: PeerId,
    },
}

impl Path {
    /// Through a relay.
    pub fn is_relayed(&self) -> bool {
        matches!(self, Path::Relayed { .. })
    }

    /// The relay, if relayed.
    pub fn relay(&self) -> Option<PeerId> {
        match self {
            Path::Relayed { relay } => Some(*relay),
            Path::Direct => None,
        }
    }
}

/// Most connections tracked per peer (libp2p allows 4).
const MAX_PER_PEER: usize = 8;

/// Open connections per peer and the path they give, sans-IO.
#[derive(Debug, Default)]
pub(crate) struct PeerPaths {
    peers: HashMap<PeerId, Vec<(ConnectionId, Path)>>,
}

/// The best of a peer's connections: any direct one, else the oldest relayed.
fn best(conns: &[(ConnectionId, Path)]) -> Option<Path> {
    conns
        .iter()
        .find(|(_, p)| *p == Path::Direct)
        .or_else(|| conns.first())
        .map(|(_, p)| *p)
}

impl PeerPaths {
    /// A connection opened; returns the peer's new path if it changed.
    pub(crate) fn opened(&mut self, peer: PeerId, conn: ConnectionId, path: Path) -> Option<Path> {
        let conns = self.peers.entry(peer).or_default();
        let before = best(conns);
        if conns.len() < MAX_PER_PEER {
            conns.push((conn, path));
        }
        let after = best(conns);
        (after != before).then_some(after).flatten()
    }

    /// A peer's open connections, oldest first.
    pub(crate) fn connections(&self, peer: &PeerId) -> Vec<ConnectionId> {
        self.peers
            .get(peer)
            .map(|conns| conns.iter().map(|(c, _)| *c).collect())
            .unwrap_or_default()
    }

    /// The path of one open connection.
    pub(crate) fn of_connection(&self, peer: &PeerId, conn: ConnectionId) -> Option<Path> {
        self.peers
            .get(peer)?
            .iter()
            .find(|(c, _)| *c == conn)
            .map(|(_, p)| *p)
    }

    /// A connection closed; returns the peer's new path if it changed
    /// (`Some(None)`: no connection left).
    pub(crate) fn closed(&mut self, peer: PeerId, conn: ConnectionId) -> Option<Option<Path>> {
        let conns = self.peers.get_mut(&peer)?;
        let before = best(conns);
        conns.retain(|(c, _)| *c != conn);
        let after = best(conns);
        if conns.is_empty() {
            self.peers.remove(&peer);
        }
        (after != before).then_some(after)
    }

    /// Each peer whose best path goes through a relay, and that relay.
    pub(crate) fn relayed(&self) -> Vec<(PeerId, PeerId)> {
        self.peers
            .iter()
            .filter_map(|(p, conns)| best(conns).and_then(|b| b.relay()).map(|r| (*p, r)))
            .collect()
    }

    /// Forgets every connection (the transport was replaced); returns the
    /// peers that were connected.
    pub(crate) fn clear(&mut self) -> Vec<PeerId> {
        self.peers.drain().map(|(p, _)| p).collect()
    }
}

/// Connected peers and their paths, as the node's events tell them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Paths {
    peers: Arc<Mutex<HashMap<PeerId, Path>>>,
}

impl Paths {
    /// Follows `events` (subscribed before the node task starts, so no
    /// connection is missed) until the node stops.
    pub(crate) fn follow(mut events: broadcast::Receiver<Event>) -> Self {
        let me = Self::default();
        let peers = me.peers.clone();
        tokio::spawn(async move {
            loop {
                let e = match events.recv().await {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(missed = n, "connection paths missed events");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                let mut map = match peers.lock() {
                    Ok(m) => m,
                    Err(poisoned) => poisoned.into_inner(),
                };
                match e {
                    Event::PathChanged { peer, path } => {
                        map.insert(peer, path);
                    }
                    Event::PeerDisconnected { peer } => {
                        map.remove(&peer);
                    }
                    _ => {}
                }
            }
        });
        me
    }

    /// Each connected peer and its path.
    pub(crate) fn list(&self) -> Vec<(PeerId, Path)> {
        match self.peers.lock() {
            Ok(m) => m.iter().map(|(p, r)| (*p, *r)).collect(),
            Err(poisoned) => poisoned
                .into_inner()
                .iter()
                .map(|(p, r)| (*p, *r))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_wins_over_relayed_and_losing_it_falls_back_to_the_relay() {
        let (peer, relay) = (PeerId::random(), PeerId::random());
        let via = Path::Relayed { relay };
        let (c1, c2) = (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
        );
        let mut p = PeerPaths::default();
        assert_eq!(p.opened(peer, c1, via), Some(via));
        assert_eq!(p.opened(peer, c2, Path::Direct), Some(Path::Direct));
        assert_eq!(p.closed(peer, c2), Some(Some(via)));
        assert_eq!(p.closed(peer, c1), Some(None));
        assert_eq!(p.closed(peer, c1), None);
    }

    #[test]
    fn a_second_relayed_connection_through_another_relay_takes_over_when_the_first_closes() {
        let peer = PeerId::random();
        let (r1, r2) = (PeerId::random(), PeerId::random());
        let (c1, c2) = (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
        );
        let mut p = PeerPaths::default();
        p.opened(peer, c1, Path::Relayed { relay: r1 });
        assert_eq!(p.opened(peer, c2, Path::Relayed { relay: r2 }), None);
        assert_eq!(p.closed(peer, c1), Some(Some(Path::Relayed { relay: r2 })));
    }
}
