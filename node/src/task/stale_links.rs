//! Connections the other end has given up on (see `net::announced`): a
//! member that announces its subscriptions again has no other connection
//! to us, so the older ones we hold are stale. They are closed, our
//! subscriptions announced again, and the connection left is woken so
//! that what gossipsub queued for the member leaves at once.

use libp2p::{gossipsub::TopicHash, PeerId};

use super::Task;
use crate::net::announced::Announcement;

impl Task {
    /// `peer` announced `topic` (gossipsub's `Subscribed`).
    pub(crate) fn on_peer_announced(&mut self, peer: PeerId, topic: &TopicHash) {
        if self.announced.subscribed(peer, topic.clone()) != Announcement::Again {
            return;
        }
        let Some(topic) = self
            .topics
            .get(topic)
            .and_then(|gid| self.groups.get(gid))
            .map(|g| g.topic.clone())
        else {
            return;
        };
        let conns = self.relay.connections(&peer);
        let Some((newest, older)) = conns.split_last() else {
            return;
        };
        tracing::debug!(%peer, stale = older.len(), "peer started afresh: closing its older connections");
        self.stats.stale_connections_closed += older.len() as u64;
        for c in older {
            self.swarm.close_connection(*c);
        }
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        let hash = topic.hash();
        if gossipsub.topics().any(|t| *t == hash) {
            // gossipsub has no way to announce to one peer: leaving and
            // joining again announces to every peer (two small messages).
            gossipsub.unsubscribe(&topic);
            if let Err(e) = gossipsub.subscribe(&topic) {
                tracing::warn!(error = %e, "subscribing again failed");
            }
        }
        self.swarm.behaviour_mut().wake.wake(peer, *newest);
    }

    /// `peer` left `topic`.
    pub(crate) fn on_peer_left_topic(&mut self, peer: &PeerId, topic: &TopicHash) {
        self.announced.unsubscribed(peer, topic);
    }

    /// One of `peer`'s connections closed; `left` is how many remain. What
    /// gossipsub queued for it may wait on a remaining connection whose
    /// handler has no stream open yet: wake them.
    pub(crate) fn on_peer_connection_closed(&mut self, peer: PeerId, left: u32) {
        if left == 0 {
            self.announced.disconnected(&peer);
            return;
        }
        for c in self.relay.connections(&peer) {
            self.swarm.behaviour_mut().wake.wake(peer, c);
        }
    }
}
