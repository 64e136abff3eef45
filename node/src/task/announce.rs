//! Announcing ourselves in a group: our key to every member, a request for
//! theirs, where we listen; and, for a roster restored from the store, a sync
//! with members before any key goes out.

use aura_crypto::{GroupId, MemberId};
use libp2p::PeerId;

use super::{now_ms, Task};
use crate::group_core::{lock, ANNOUNCE_WAIT_MS, CONFIRM_SYNC_EVERY_MS};
use crate::wire::{self, ControlMsg};

impl Task {
    /// Sends our key to every member, asks for theirs, and says where we listen.
    /// Retried from the tick (and on each subscription) until a topic peer is
    /// there and we are connected to every member, or [`ANNOUNCE_WAIT_MS`] passed.
    pub(crate) fn announce(&mut self, gid: GroupId) {
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        let hash = g.topic.hash();
        let has_peer = self
            .swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .any(|(_, topics)| topics.contains(&&hash));
        if !has_peer || g.removed {
            return;
        }
        if !lock(&g.session).is_roster_confirmed() {
            self.ask_to_confirm_roster(gid);
            return;
        }
        let me = self.identity.member_id();
        // Keys go straight to each member over its connection; gossip only
        // reaches the members the author is connected to (one hop, see
        // `net::behaviour`), others get it a heartbeat or more later, after
        // our first frames, which they could then never read. So wait (a
        // little) for the connections the welcome's addresses are dialling.
        let now = now_ms();
        let unconnected = lock(&g.session)
            .roster()
            .members()
            .filter(|(m, _)| *m != me)
            .filter_map(|(m, _)| m.peer_id().ok())
            .filter(|p| !self.swarm.is_connected(p))
            .count();
        if unconnected > 0 {
            let Some(g) = self.groups.get_mut(&gid) else {
                return;
            };
            let since = *g.announce_wait_from_ms.get_or_insert(now);
            if now.saturating_sub(since) < ANNOUNCE_WAIT_MS {
                return;
            }
        }
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        let envs: Vec<(MemberId, Vec<u8>)> = {
            let mut s = lock(&g.session);
            let members: Vec<MemberId> = s
                .roster()
                .members()
                .map(|(m, _)| m)
                .filter(|m| *m != me)
                .collect();
            members
                .into_iter()
                .filter_map(|m| s.envelope_for(m, &mut rand::rngs::OsRng).ok())
                .map(|e| (e.recipient, e.encode()))
                .collect()
        };
        // Straight to members we are connected to; one gossip batch for the rest.
        let mut rest = Vec::new();
        for (m, env) in envs {
            if !self.send_keys_direct(gid, m, &env) {
                rest.push(env);
            }
        }
        if !rest.is_empty() {
            self.publish(&gid, &wire::GossipMsg::Keys(rest));
        }
        let addrs = self.listen_strings();
        let _ = self.send_control(&gid, &ControlMsg::Addrs(addrs));
        let _ = self.send_control(&gid, &ControlMsg::KeyRequest);
        self.send_profile(gid);
        if let Some(g) = self.groups.get_mut(&gid) {
            g.announce = false;
            g.last_key_request_ms = now_ms();
        }
    }

    /// A restored roster may miss removals: before any key goes out, merge a
    /// member's roster (sync with connected members). Alone in the roster,
    /// there is nobody a key could leak to.
    fn ask_to_confirm_roster(&mut self, gid: GroupId) {
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        let me = self.identity.member_id();
        let others: Vec<PeerId> = lock(&g.session)
            .roster()
            .members()
            .filter(|(m, _)| *m != me)
            .filter_map(|(m, _)| m.peer_id().ok())
            .collect();
        if others.is_empty() {
            lock(&g.session).confirm_roster();
            return;
        }
        let now = now_ms();
        let last = self.confirm_sync_ms.get(&gid).copied().unwrap_or(0);
        if now.saturating_sub(last) < CONFIRM_SYNC_EVERY_MS {
            return;
        }
        self.confirm_sync_ms.insert(gid, now);
        let connected: Vec<PeerId> = others
            .into_iter()
            .filter(|p| self.swarm.is_connected(p))
            .take(3)
            .collect();
        for peer in connected {
            self.request_sync(gid, peer);
        }
    }
}
