//! The group topics each peer announced to us over gossipsub, to notice a
//! peer announcing again without having left in between.
//!
//! libp2p-gossipsub sends a peer our subscriptions on our *first*
//! connection to it only. A peer that lost every connection to us (a dead
//! relay, a restart) dials again while we still hold an older connection
//! that we have not yet found dead: for it the new connection is the first,
//! so it announces its topics; for us it is a second one, so we announce
//! nothing. It then never learns that we are subscribed, and whatever we
//! queue for it may leave on the dead connection. Its second announcement
//! is the sign: every connection to it older than the newest is stale, and
//! our subscriptions must be announced again.

use std::collections::{HashMap, HashSet};

use libp2p::{gossipsub::TopicHash, PeerId};

/// Most peers tracked (beyond: not tracked, so never taken as announcing
/// again).
const MAX_PEERS: usize = 4096;
/// Most topics tracked per peer.
const MAX_TOPICS_PER_PEER: usize = 256;

/// Whether a peer's subscription is news.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announcement {
    /// First heard since the peer connected (or since it unsubscribed).
    First,
    /// Heard again while still subscribed: the peer started afresh.
    Again,
}

/// Topics announced per connected peer, sans-IO.
#[derive(Debug, Default)]
pub struct Announced {
    peers: HashMap<PeerId, HashSet<TopicHash>>,
}

impl Announced {
    /// `peer` announced `topic`.
    pub fn subscribed(&mut self, peer: PeerId, topic: TopicHash) -> Announcement {
        if self.peers.len() >= MAX_PEERS && !self.peers.contains_key(&peer) {
            return Announcement::First;
        }
        let topics = self.peers.entry(peer).or_default();
        if topics.contains(&topic) {
            return Announcement::Again;
        }
        if topics.len() < MAX_TOPICS_PER_PEER {
            topics.insert(topic);
        }
        Announcement::First
    }

    /// `peer` left `topic`.
    pub fn unsubscribed(&mut self, peer: &PeerId, topic: &TopicHash) {
        if let Some(topics) = self.peers.get_mut(peer) {
            topics.remove(topic);
        }
    }

    /// `peer`'s last connection closed: gossipsub forgot its topics too.
    pub fn disconnected(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_announcement_without_leaving_is_taken_as_a_fresh_start() {
        let (p, t) = (PeerId::random(), TopicHash::from_raw("aura/g/1"));
        let mut a = Announced::default();
        assert_eq!(a.subscribed(p, t.clone()), Announcement::First);
        assert_eq!(a.subscribed(p, t.clone()), Announcement::Again);
        // Leaving and coming back is not a fresh start.
        a.unsubscribed(&p, &t);
        assert_eq!(a.subscribed(p, t.clone()), Announcement::First);
        // Nor is announcing on a new first connection after the last closed.
        a.disconnected(&p);
        assert_eq!(a.subscribed(p, t), Announcement::First);
    }

    #[test]
    fn peers_and_topics_tracked_are_bounded() {
        let mut a = Announced::default();
        let p = PeerId::random();
        a.subscribed(p, TopicHash::from_raw("t"));
        for i in 0..MAX_PEERS + 10 {
            a.subscribed(PeerId::random(), TopicHash::from_raw(format!("t{i}")));
        }
        assert_eq!(a.peers.len(), MAX_PEERS);
        for i in 0..MAX_TOPICS_PER_PEER + 10 {
            a.subscribed(p, TopicHash::from_raw(format!("x{i}")));
        }
        assert!(a.peers[&p].len() <= MAX_TOPICS_PER_PEER);
    }
}
