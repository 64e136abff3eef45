//! The commands behind the [`crate::Node`] methods.

use std::sync::{Arc, Mutex};

use aura_crypto::{FrameKind, GroupId, GroupSession, Hint, Invite, MemberId, OpKind, Role};
use libp2p::{Multiaddr, PeerId};

use super::{drive::node_error, fences::FenceChange, now_ms, Task};
use crate::group_core::lock;
use crate::{
    location::{to_gpx, Fix, Geofence, Position, Precision},
    stats::NodeStats,
    store::ChatRecord,
    wire::{self, ChatMsg, LocationMsg},
    NodeError,
};

impl Task {
    pub(crate) fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.swarm.listeners().cloned().collect()
    }

    pub(crate) fn connected_peers(&self) -> Vec<PeerId> {
        self.swarm.connected_peers().copied().collect()
    }

    pub(crate) fn dial(&mut self, addr: Multiaddr) -> Result<(), NodeError> {
        self.swarm
            .dial(addr)
            .map_err(|e| NodeError::Network(format!("dial failed: {e}")))
    }

    pub(crate) fn peer_score(&self, peer: &PeerId) -> Option<f64> {
        self.swarm.behaviour().gossipsub.peer_score(peer)
    }

    /// Connected members of our groups that gossip does not list on the
    /// group's topic.
    fn members_not_subscribed(&self) -> u64 {
        let gossip = &self.swarm.behaviour().gossipsub;
        let me = self.identity.member_id();
        let mut n = 0;
        for g in self.groups.values() {
            let hash = g.topic.hash();
            let subscribed: std::collections::HashSet<&PeerId> = gossip
                .all_peers()
                .filter(|(_, topics)| topics.contains(&&hash))
                .map(|(p, _)| p)
                .collect();
            let session = crate::group_core::lock(&g.session);
            n += session
                .roster()
                .members()
                .filter(|(m, _)| *m != me)
                .filter_map(|(m, _)| m.peer_id().ok())
                .filter(|p| self.swarm.is_connected(p) && !subscribed.contains(p))
                .count() as u64;
        }
        n
    }

    pub(crate) fn stats(&self) -> NodeStats {
        let core = self.core.stats();
        NodeStats {
            bytes_sent: crate::net::bytes_sent(&self.metrics),
            members_not_subscribed: self.members_not_subscribed(),
            members_away: self.members_away(),
            frames_opened: core.frames_opened,
            frames_unreadable: core.frames_unreadable,
            keys_sent_direct: core.keys_sent_direct,
            roster_ops_dropped: core.roster_ops_dropped,
            answers_from_non_members: core.answers_from_non_members,
            ..self.stats.clone()
        }
    }

    pub(crate) fn create_group(&mut self, name: &str) -> Result<GroupId, NodeError> {
        let gid = self.core.create_group(now_ms(), name).map_err(node_error)?;
        self.drive();
        Ok(gid)
    }

    pub(crate) fn groups(&self) -> Vec<(GroupId, String)> {
        self.groups
            .iter()
            .map(|(g, s)| (*g, lock(&s.session).roster().name().to_owned()))
            .collect()
    }

    pub(crate) fn invite(
        &mut self,
        gid: GroupId,
        max_uses: u32,
        ttl_ms: u64,
    ) -> Result<String, NodeError> {
        let g = self.group(&gid)?;
        // Hints: us, then other members we know addresses of (admins first), so
        // the invite works while we are offline.
        let mut hints = vec![Hint {
            peer: self.swarm.local_peer_id().to_string(),
            addrs: self.addrs_for_others(),
        }];
        let s = lock(&g.session);
        let mut others: Vec<(MemberId, Role)> = s
            .roster()
            .members()
            .filter(|(m, _)| *m != self.identity.member_id())
            .collect();
        others.sort_by_key(|(_, r)| std::cmp::Reverse(*r));
        for (m, _) in others {
            if hints.len() >= 6 {
                break;
            }
            let Ok(p) = m.peer_id() else { continue };
            let addrs = self
                .peer_addrs
                .get(&p)
                .map(|a| a.iter().take(3).map(|a| a.to_string()).collect());
            hints.push(Hint {
                peer: p.to_string(),
                addrs: addrs.unwrap_or_default(),
            });
        }
        // Circuit addresses are long: drop the last addresses (other
        // members' first, ours last) until the invite fits what a joiner parses.
        loop {
            let inv = Invite::create(
                s.roster(),
                s.identity(),
                now_ms().saturating_add(ttl_ms),
                max_uses,
                hints.clone(),
                &mut rand::rngs::OsRng,
            )?;
            let text = inv.to_text()?;
            if text.len() <= aura_crypto::invite::MAX_INVITE_TEXT {
                return Ok(text);
            }
            match hints.iter_mut().rev().find(|h| h.addrs.len() > 1) {
                Some(h) => {
                    h.addrs.pop();
                }
                None => return Ok(text),
            }
        }
    }

    pub(crate) fn members(&self, gid: GroupId) -> Result<Vec<(MemberId, Role)>, NodeError> {
        Ok(lock(&self.group(&gid)?.session)
            .roster()
            .members()
            .collect())
    }

    fn propose(&mut self, gid: GroupId, kind: OpKind) -> Result<(), NodeError> {
        self.group(&gid)?;
        // The op goes out under our current key (everyone, including a removed
        // member, can read that it happened); the rotation follows.
        let r = self.core.propose(now_ms(), gid, kind);
        self.drive();
        r.map_err(node_error)
    }

    pub(crate) fn remove_member(
        &mut self,
        gid: GroupId,
        member: MemberId,
    ) -> Result<(), NodeError> {
        if !lock(&self.group(&gid)?.session).roster().is_member(&member) {
            return Err(NodeError::UnknownMember(member.to_string()));
        }
        self.propose(gid, OpKind::Remove { member })
    }

    pub(crate) fn set_role(
        &mut self,
        gid: GroupId,
        member: MemberId,
        role: Role,
    ) -> Result<(), NodeError> {
        self.propose(gid, OpKind::SetRole { member, role })
    }

    pub(crate) fn leave(&mut self, gid: GroupId) -> Result<(), NodeError> {
        self.propose(gid, OpKind::Leave)?;
        self.core.remove_group(&gid);
        if let Some(g) = self.groups.remove(&gid) {
            let _ = self.swarm.behaviour_mut().gossipsub.unsubscribe(&g.topic);
            self.topics.remove(&g.topic.hash());
        }
        self.history.retain(|(g, _, _)| *g != gid);
        self.store.delete_group(&gid.0)?;
        Ok(())
    }

    pub(crate) fn share_location(&mut self, gid: GroupId, on: bool) -> Result<(), NodeError> {
        self.group_mut(&gid)?.sharing = on;
        self.save_group(&gid);
        if on {
            if let Some(p) = self.my_pos {
                self.publish_position(gid, p)?;
            }
        }
        Ok(())
    }

    pub(crate) fn set_precision(
        &mut self,
        gid: GroupId,
        precision: Precision,
    ) -> Result<(), NodeError> {
        self.group_mut(&gid)?.publisher.set_precision(precision);
        self.save_group(&gid);
        Ok(())
    }

    fn publish_position(&mut self, gid: GroupId, pos: Position) -> Result<(), NodeError> {
        let g = self.group_mut(&gid)?;
        if !g.sharing || g.removed {
            return Ok(());
        }
        let Some(fix) = g.publisher.on_fix(pos, now_ms()) else {
            return Ok(());
        };
        self.seal_publish(
            &gid,
            FrameKind::Location,
            &wire::encode(&LocationMsg::from_fix(&fix)),
        )?;
        self.stats.locations_published += 1;
        Ok(())
    }

    pub(crate) fn update_position(&mut self, pos: Position) -> Result<(), NodeError> {
        self.my_pos = Some(pos);
        let me = self.identity.member_id();
        let now = now_ms();
        let gids: Vec<GroupId> = self.groups.keys().copied().collect();
        for gid in gids {
            // Our own fences (exact position: it is ours) and proximity to everyone.
            let (fence_events, prox) = {
                let Some(g) = self.groups.get_mut(&gid) else {
                    continue;
                };
                let fe = g.fence_tracker.update(g.fences.as_slice(), &me, &pos);
                let prox: Vec<_> = g
                    .last
                    .iter()
                    .filter_map(|(m, fix)| g.proximity.update(&pos, m, fix))
                    .collect();
                (fe, prox)
            };
            self.emit_fences(gid, fence_events);
            for p in prox {
                self.emit_proximity(gid, p);
            }
            let own = Fix {
                pos,
                at_ms: now,
                precision: Precision::Exact,
            };
            self.record_history(gid, me.0, own);
            if let Err(e) = self.publish_position(gid, pos) {
                tracing::debug!(error = %e, "location not published");
            }
        }
        Ok(())
    }

    pub(crate) fn add_geofence(&mut self, gid: GroupId, fence: Geofence) -> Result<(), NodeError> {
        self.change_fences(gid, FenceChange::Set(fence))
    }

    pub(crate) fn remove_geofence(&mut self, gid: GroupId, name: &str) -> Result<(), NodeError> {
        self.change_fences(gid, FenceChange::Remove(name.to_owned()))
    }

    pub(crate) fn send_chat(&mut self, gid: GroupId, text: &str) -> Result<(), NodeError> {
        if text.is_empty() || text.len() > wire::MAX_CHAT_BYTES {
            return Err(NodeError::BadInput(format!(
                "chat message must be 1..={} bytes",
                wire::MAX_CHAT_BYTES
            )));
        }
        let msg = ChatMsg {
            at_ms: now_ms(),
            text: text.to_owned(),
        };
        self.seal_publish(&gid, FrameKind::Chat, &wire::encode(&msg))?;
        let rec = ChatRecord {
            from: self.identity.member_id().0,
            at_ms: msg.at_ms,
            text: msg.text,
        };
        self.store.append_chat(&gid.0, &rec)?;
        Ok(())
    }

    pub(crate) fn chat_history(&self, gid: GroupId) -> Result<Vec<ChatRecord>, NodeError> {
        self.group(&gid)?;
        Ok(self.store.chat(&gid.0)?)
    }

    pub(crate) fn last_positions(&self, gid: GroupId) -> Result<Vec<(MemberId, Fix)>, NodeError> {
        Ok(self
            .group(&gid)?
            .last
            .iter()
            .map(|(m, f)| (*m, *f))
            .collect())
    }

    pub(crate) fn history_gpx(&mut self, gid: GroupId) -> Result<String, NodeError> {
        self.group(&gid)?;
        self.flush_history();
        let mut tracks: std::collections::BTreeMap<[u8; 32], Vec<Fix>> = Default::default();
        for (m, f) in self.store.locations(&gid.0)? {
            tracks.entry(m).or_default().push(f);
        }
        let tracks: Vec<(String, Vec<Fix>)> = tracks
            .into_iter()
            .map(|(m, f)| (MemberId(m).to_string(), f))
            .collect();
        Ok(to_gpx(&tracks))
    }

    pub(crate) fn group_session(
        &self,
        gid: GroupId,
    ) -> Result<Arc<Mutex<GroupSession>>, NodeError> {
        Ok(self.group(&gid)?.session.clone())
    }

    #[cfg(feature = "test-hooks")]
    pub(crate) fn observe_group(&mut self, gid: GroupId) {
        let topic = crate::net::topic_for(&gid.0);
        let _ = self.swarm.behaviour_mut().gossipsub.subscribe(&topic);
        self.observed.insert(topic.hash(), gid);
    }

    #[cfg(feature = "test-hooks")]
    pub(crate) fn publish_raw(&mut self, gid: GroupId, data: Vec<u8>) -> Result<(), NodeError> {
        let topic = crate::net::topic_for(&gid.0);
        self.swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic, data)
            .map(|_| ())
            .map_err(|e| NodeError::Network(format!("publish: {e}")))
    }
}
