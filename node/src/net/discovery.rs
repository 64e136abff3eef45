//! Group discovery on the Kademlia DHT: every member provides a key derived
//! from its group, and a member connected to no other member looks the key
//! up and dials the providers.
//!
//! The DHT key is `SHA-256("aura/group-provider/v1" || group id)`. DHT nodes
//! (bootstrap nodes, anyone storing or routing the record) see only this
//! hash: they cannot recover the group id from it, and the gossip topic
//! (`aura/g/<first 16 bytes of the id>`) does not let them compute it
//! either. What they do learn is which peer ids provide the same key, i.e.
//! that those peers share some group; membership itself is still proven by
//! the signed roster once connected.
//!
//! This module is sans-IO: [`Discovery::poll`] says what to do at `now_ms`,
//! the node task does it with `kad::Behaviour` and reports results back.

use std::collections::HashMap;

use aura_crypto::GroupId;
use libp2p::kad;
use sha2::Digest;

/// Domain label of the provider key derivation.
const PROVIDER_DOMAIN: &[u8] = b"aura/group-provider/v1";
/// Re-announce a group this often once an announcement reached the DHT, ms.
pub const REPROVIDE_MS: u64 = 10 * 60 * 1000;
/// Retry an announcement that reached no DHT node after this long, ms.
pub const PROVIDE_RETRY_MS: u64 = 3_000;
/// Look providers up at most this often per group while isolated, ms.
pub const LOOKUP_EVERY_MS: u64 = 5_000;

/// The DHT key members of `group` provide.
pub fn provider_key(group: &GroupId) -> kad::RecordKey {
    let mut h = sha2::Sha256::new();
    h.update(PROVIDER_DOMAIN);
    h.update(group.0);
    kad::RecordKey::new(&h.finalize().as_slice())
}

/// What the node task should do for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `kad.start_providing(key)`, then [`Discovery::provide_started`].
    Provide(GroupId, kad::RecordKey),
    /// `kad.get_providers(key)`, then [`Discovery::lookup_started`].
    Lookup(GroupId, kad::RecordKey),
}

#[derive(Debug, Default)]
struct GroupTimers {
    next_provide_ms: u64,
    next_lookup_ms: u64,
}

/// Provider announcements and lookups of all groups of this node, keyed
/// by query id `Q` (`kad::QueryId` in the node).
#[derive(Debug)]
pub struct Discovery<Q = kad::QueryId> {
    groups: HashMap<GroupId, GroupTimers>,
    provides: HashMap<Q, GroupId>,
    lookups: HashMap<Q, GroupId>,
}

impl<Q> Default for Discovery<Q> {
    fn default() -> Self {
        Self {
            groups: HashMap::new(),
            provides: HashMap::new(),
            lookups: HashMap::new(),
        }
    }
}

impl<Q: std::hash::Hash + Eq + Copy> Discovery<Q> {
    /// What to do now. `isolated(g)` tells whether we are connected to no
    /// other member of `g`.
    pub fn poll(
        &mut self,
        now_ms: u64,
        groups: &[GroupId],
        isolated: impl Fn(&GroupId) -> bool,
    ) -> Vec<Action> {
        self.groups.retain(|g, _| groups.contains(g));
        let mut out = Vec::new();
        for g in groups {
            let t = self.groups.entry(*g).or_default();
            if now_ms >= t.next_provide_ms {
                // Until the query reports, do not start another.
                t.next_provide_ms = now_ms + REPROVIDE_MS;
                out.push(Action::Provide(*g, provider_key(g)));
            }
            if isolated(g) && now_ms >= t.next_lookup_ms {
                t.next_lookup_ms = now_ms + LOOKUP_EVERY_MS;
                out.push(Action::Lookup(*g, provider_key(g)));
            }
        }
        out
    }

    /// A provide query was started for `group`.
    pub fn provide_started(&mut self, id: Q, group: GroupId) {
        self.provides.insert(id, group);
    }

    /// A lookup query was started for `group`.
    pub fn lookup_started(&mut self, id: Q, group: GroupId) {
        self.lookups.insert(id, group);
    }

    /// A provide query finished; `stored` = it reached at least one DHT node.
    /// A failed one is retried soon.
    pub fn provide_finished(&mut self, id: Q, now_ms: u64, stored: bool) {
        let Some(g) = self.provides.remove(&id) else {
            return;
        };
        if let Some(t) = self.groups.get_mut(&g) {
            t.next_provide_ms = now_ms
                + if stored {
                    REPROVIDE_MS
                } else {
                    PROVIDE_RETRY_MS
                };
        }
    }

    /// The group a lookup query is for (`None` once `last` was reported).
    pub fn lookup_group(&mut self, id: Q, last: bool) -> Option<GroupId> {
        if last {
            self.lookups.remove(&id)
        } else {
            self.lookups.get(&id).copied()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hides_the_group_id_and_differs_per_group() {
        let (a, b) = (GroupId([1; 32]), GroupId([2; 32]));
        let ka = provider_key(&a);
        assert_ne!(ka, provider_key(&b));
        assert_eq!(ka, provider_key(&a));
        let bytes = ka.to_vec();
        assert_eq!(bytes.len(), 32);
        assert!(!bytes.windows(8).any(|w| w == &a.0[..8]));
    }

    #[test]
    fn provides_once_then_after_the_interval_and_looks_up_only_when_isolated() {
        let g = GroupId([7; 32]);
        let mut d = Discovery::<u32>::default();
        let acts = d.poll(0, &[g], |_| false);
        assert_eq!(acts, vec![Action::Provide(g, provider_key(&g))]);
        let id = 1;
        d.provide_started(id, g);
        assert!(d.poll(1_000, &[g], |_| false).is_empty());
        d.provide_finished(id, 1_000, false);
        assert!(d.poll(2_000, &[g], |_| false).is_empty());
        assert_eq!(d.poll(1_000 + PROVIDE_RETRY_MS, &[g], |_| false).len(), 1);
        let acts = d.poll(1_000 + PROVIDE_RETRY_MS + 1, &[g], |_| true);
        assert_eq!(acts, vec![Action::Lookup(g, provider_key(&g))]);
        assert!(d
            .poll(1_000 + PROVIDE_RETRY_MS + 2, &[g], |_| true)
            .is_empty());
    }
}
