//! Which peers a per-connection switch is on for, sans-IO: the peers set,
//! each open connection's peer, and the handlers to tell when a peer's
//! switch flips. `relay_watch` (probes on) and `member_ping` (pings held)
//! keep their per-peer state here.

use std::collections::{HashMap, HashSet, VecDeque};

use libp2p::swarm::{ConnectionId, NotifyHandler, ToSwarm};
use libp2p::PeerId;

/// Peers switched on, and the connections to tell when that changes.
#[derive(Debug)]
pub struct PeerGate {
    on: HashSet<PeerId>,
    connections: HashMap<ConnectionId, PeerId>,
    notify: VecDeque<(PeerId, ConnectionId, bool)>,
    /// Most connections and peers tracked (beyond: left as they start).
    max: usize,
}

impl PeerGate {
    /// Tracks at most `max` connections and `max` peers switched on.
    pub fn new(max: usize) -> Self {
        Self {
            on: HashSet::new(),
            connections: HashMap::new(),
            notify: VecDeque::new(),
            max,
        }
    }

    /// Switches `peer` on or off; its open connections are told if that
    /// changed anything.
    pub fn set(&mut self, peer: PeerId, on: bool) {
        let changed = if on {
            self.on.len() < self.max && self.on.insert(peer)
        } else {
            self.on.remove(&peer)
        };
        if changed {
            self.tell(|p| *p == peer, on);
        }
    }

    /// Switches exactly `peers` on, every other peer off.
    pub fn set_only(&mut self, peers: HashSet<PeerId>) {
        if peers == self.on {
            return;
        }
        let was = std::mem::replace(&mut self.on, peers);
        let now = self.on.clone();
        self.tell(|p| !was.contains(p) && now.contains(p), true);
        self.tell(|p| was.contains(p) && !now.contains(p), false);
    }

    fn tell(&mut self, which: impl Fn(&PeerId) -> bool, on: bool) {
        for (conn, peer) in &self.connections {
            if which(peer) && self.notify.len() < self.max {
                self.notify.push_back((*peer, *conn, on));
            }
        }
    }

    /// Whether `peer` is switched on.
    pub fn is_on(&self, peer: &PeerId) -> bool {
        self.on.contains(peer)
    }

    /// The peers switched on.
    pub fn peers(&self) -> &HashSet<PeerId> {
        &self.on
    }

    /// A connection to `peer` opened; returns whether its switch starts on.
    pub fn opened(&mut self, conn: ConnectionId, peer: PeerId) -> bool {
        if self.connections.len() < self.max {
            self.connections.insert(conn, peer);
        }
        self.on.contains(&peer)
    }

    /// A connection closed.
    pub fn closed(&mut self, conn: ConnectionId) {
        self.connections.remove(&conn);
    }

    /// The next handler to tell, as the swarm wants it.
    pub fn poll<T>(&mut self) -> Option<ToSwarm<T, bool>> {
        let (peer_id, conn, on) = self.notify.pop_front()?;
        Some(ToSwarm::NotifyHandler {
            peer_id,
            handler: NotifyHandler::One(conn),
            event: on,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn told(g: &mut PeerGate) -> Vec<(PeerId, ConnectionId, bool)> {
        std::iter::from_fn(|| match g.poll::<()>()? {
            ToSwarm::NotifyHandler {
                peer_id,
                handler: NotifyHandler::One(c),
                event,
            } => Some((peer_id, c, event)),
            _ => None,
        })
        .collect()
    }

    #[test]
    fn only_the_flipped_peers_connections_are_told_and_once() {
        let mut g = PeerGate::new(16);
        let (a, b) = (PeerId::random(), PeerId::random());
        let (c1, c2) = (
            ConnectionId::new_unchecked(1),
            ConnectionId::new_unchecked(2),
        );
        assert!(!g.opened(c1, a));
        g.opened(c2, b);
        g.set(a, true);
        g.set(a, true);
        assert!(g.is_on(&a) && !g.is_on(&b));
        assert_eq!(told(&mut g), vec![(a, c1, true)]);
        // A connection opened later starts as its peer is.
        assert!(g.opened(ConnectionId::new_unchecked(3), a));
        g.closed(c1);
        g.set(a, false);
        assert_eq!(
            told(&mut g),
            vec![(a, ConnectionId::new_unchecked(3), false)]
        );
    }

    #[test]
    fn set_only_tells_the_peers_that_changed_either_way() {
        let mut g = PeerGate::new(16);
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        for (i, p) in [a, b, c].into_iter().enumerate() {
            g.opened(ConnectionId::new_unchecked(i), p);
        }
        g.set_only([a, b].into());
        told(&mut g);
        g.set_only([b, c].into());
        let mut t = told(&mut g);
        t.sort_by_key(|(_, c, _)| format!("{c:?}"));
        assert_eq!(
            t,
            vec![
                (a, ConnectionId::new_unchecked(0), false),
                (c, ConnectionId::new_unchecked(2), true)
            ]
        );
        assert_eq!(g.peers(), &[b, c].into());
    }
}
