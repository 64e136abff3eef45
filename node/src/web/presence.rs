//! When each member was last heard from, kept from the node's events (the
//! node's API keeps no such time); who is online, and by which path, from
//! [`Node::connections`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use aura_crypto::MemberId;
use libp2p::PeerId;
use tokio::{sync::watch, task::JoinHandle};

use crate::{Event, Node};

/// Most peers and members remembered (a hostile swarm cannot grow it).
const MAX_ENTRIES: usize = 4096;

/// What the page shows of a member's presence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    /// Connected to us now.
    pub(crate) online: bool,
    /// Through a circuit relay.
    pub(crate) relayed: bool,
    /// Last event from them, unix ms.
    pub(crate) last_seen_ms: Option<u64>,
}

/// Connections and last-seen times.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    inner: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    seen: HashMap<MemberId, u64>,
}

impl Presence {
    /// Watches `node`'s events until `stop` or the node stops.
    pub(crate) fn spawn(
        node: &Node,
        mut stop: watch::Receiver<bool>,
    ) -> (Arc<Self>, JoinHandle<()>) {
        let me = Arc::new(Self::default());
        let mut events = node.events();
        let p = me.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    ev = events.next() => match ev {
                        Some(e) => p.on_event(&e, now_ms()),
                        None => break,
                    },
                }
            }
        });
        (me, task)
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        match self.inner.lock() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Takes one event into account, at `now` (unix ms).
    pub(crate) fn on_event(&self, e: &Event, now: u64) {
        self.with(|s| {
            let heard = match e {
                Event::PeerConnected { peer, .. } | Event::PeerDisconnected { peer } => {
                    MemberId::from_peer_id(peer).map(|m| (m, now))
                }
                Event::Location { member, fix, .. } => Some((*member, fix.at_ms.min(now))),
                Event::Chat { from, at_ms, .. } => Some((*from, (*at_ms).min(now))),
                Event::MemberJoined { member, .. }
                | Event::MediaAddr { member, .. }
                | Event::VoiceQuality { member, .. } => Some((*member, now)),
                Event::KeysReceived { sender, .. } => Some((*sender, now)),
                _ => None,
            };
            if let Some((m, at)) = heard {
                if s.seen.len() < MAX_ENTRIES || s.seen.contains_key(&m) {
                    let t = s.seen.entry(m).or_insert(at);
                    *t = (*t).max(at);
                }
            }
        });
    }

    /// What we know of `member`, given the node's open `connections`.
    pub(crate) fn of(&self, member: &MemberId, connections: &[(PeerId, bool)]) -> Seen {
        let peer = member.peer_id().ok();
        let conn = connections.iter().find(|(p, _)| Some(*p) == peer);
        Seen {
            online: conn.is_some(),
            relayed: conn.is_some_and(|(_, r)| *r),
            last_seen_ms: self.with(|s| s.seen.get(member).copied()),
        }
    }
}

/// Now, unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use aura_crypto::Identity;

    use super::*;

    #[test]
    fn last_seen_follows_the_events_and_paths_the_connections() {
        let id = Identity::generate(&mut rand::rngs::OsRng);
        let (m, peer) = (id.member_id(), id.peer_id());
        let p = Presence::default();
        assert_eq!(p.of(&m, &[]), Seen::default());
        p.on_event(
            &Event::PeerConnected {
                peer,
                relayed: true,
            },
            1_000,
        );
        assert_eq!(
            p.of(&m, &[(peer, true)]),
            Seen {
                online: true,
                relayed: true,
                last_seen_ms: Some(1_000)
            }
        );
        // A fix claiming to come from the future counts as now.
        let fix = crate::location::Fix {
            pos: crate::location::Position { lat: 1.0, lon: 2.0 },
            at_ms: 9_999_999,
            precision: crate::location::Precision::Exact,
        };
        let group = aura_crypto::GroupId([1; 32]);
        p.on_event(
            &Event::Location {
                group,
                member: m,
                label: "Ana".into(),
                fix,
            },
            2_000,
        );
        assert_eq!(p.of(&m, &[]).last_seen_ms, Some(2_000));
        p.on_event(&Event::PeerDisconnected { peer }, 3_000);
        assert_eq!(
            p.of(&m, &[]),
            Seen {
                online: false,
                relayed: false,
                last_seen_ms: Some(3_000)
            }
        );
    }
}
