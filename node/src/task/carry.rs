//! Carried gossip in background mode (see `net::carry`): the phone's
//! requests to its carrier, and the carrier's answers.

use std::collections::HashMap;

use aura_crypto::{FrameHeader, FrameKind, GroupId, KeyEnvelope, MemberId};
use libp2p::{request_response::OutboundRequestId, PeerId};

use super::{now_ms, Task};
use crate::group_core::lock;
use crate::net::carry::{Latest, Mailboxes, Outbox, MAX_CARRIED};
use crate::wire::{self, GossipMsg, Request, Response};

/// After entering background mode, a node that finds no carrier waits this
/// long (for its connections to come back) before it subscribes to the
/// group's topic itself and carries for others, ms.
const LAST_RESORT_AFTER_MS: u64 = 2_000;

/// Both sides of carried gossip.
#[derive(Debug, Default)]
pub(crate) struct CarryState {
    pub(crate) outboxes: HashMap<GroupId, Outbox>,
    pub(crate) mailboxes: Mailboxes,
    in_flight: HashMap<OutboundRequestId, (GroupId, Vec<Vec<u8>>)>,
    /// When background mode began, unix ms.
    pub(crate) background_since_ms: u64,
    /// The last message handed to the carrier, per group (see `away`).
    pub(crate) last_pushed: HashMap<GroupId, Vec<u8>>,
    /// Away notices and the connections kept while away.
    pub(crate) away: super::away::AwayState,
}

impl Task {
    /// Whether our gossip in `gid` goes through a carrier: background mode,
    /// and not subscribed to the group's topic (not the carrier of last resort).
    pub(crate) fn carrying(&self, gid: &GroupId) -> bool {
        self.net.background && !self.subscribed(gid)
    }

    fn subscribed(&self, gid: &GroupId) -> bool {
        let Some(g) = self.groups.get(gid) else {
            return false;
        };
        let hash = g.topic.hash();
        self.swarm
            .behaviour()
            .gossipsub
            .topics()
            .any(|t| *t == hash)
    }

    /// Connected members that gossip lists as subscribed to `gid`'s topic,
    /// lowest peer id first.
    fn subscribed_members(&self, gid: &GroupId) -> Vec<PeerId> {
        let Some(g) = self.groups.get(gid) else {
            return Vec::new();
        };
        let hash = g.topic.hash();
        let session = lock(&g.session);
        let mut peers: Vec<PeerId> = self
            .swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .filter(|(p, topics)| topics.contains(&&hash) && self.swarm.is_connected(p))
            .filter(|(p, _)| {
                MemberId::from_peer_id(p).is_some_and(|m| session.roster().is_member(&m))
            })
            .map(|(p, _)| *p)
            .collect();
        peers.sort();
        peers
    }

    /// Whether a gossip message is ours (a carrier takes no other).
    pub(crate) fn is_own(&self, bytes: &[u8]) -> bool {
        authored_by(bytes, &self.identity.member_id())
    }

    /// Hands a gossip message to the carrier (sent now or with the next request).
    pub(crate) fn carry_publish(&mut self, gid: GroupId, bytes: Vec<u8>) {
        self.carry.last_pushed.insert(gid, bytes.clone());
        self.carry.outboxes.entry(gid).or_default().push(bytes);
        self.carry_flush(gid);
    }

    /// Sends the next carry request of `gid` when one is due, choosing a
    /// carrier first; with none for too long, subscribes and publishes
    /// itself.
    pub(crate) fn carry_flush(&mut self, gid: GroupId) {
        let candidates = self.subscribed_members(&gid);
        let now = now_ms();
        let outbox = self.carry.outboxes.entry(gid).or_default();
        if !outbox.carrier.is_some_and(|c| candidates.contains(&c)) {
            outbox.carrier = candidates.first().copied();
        }
        let Some(carrier) = outbox.carrier else {
            let waited = now.saturating_sub(self.carry.background_since_ms);
            if waited >= LAST_RESORT_AFTER_MS && self.swarm.connected_peers().next().is_some() {
                self.carry_last_resort(gid);
            }
            return;
        };
        let Some(messages) = outbox.due(now) else {
            return;
        };
        self.send_carry(gid, carrier, messages);
    }

    /// Sends a carry request and remembers what it carries.
    fn send_carry(&mut self, gid: GroupId, carrier: PeerId, messages: Vec<Vec<u8>>) {
        let confirmed = self
            .carry
            .outboxes
            .get(&gid)
            .map_or(0, |o| o.confirmed_for(carrier));
        let id = self.swarm.behaviour_mut().rpc.send_request(
            &carrier,
            Request::Carry {
                group: gid.0,
                messages: messages.clone(),
                confirmed,
            },
        );
        self.stats.carry_requests += 1;
        self.carry.in_flight.insert(id, (gid, messages));
    }

    /// No member to carry for us: subscribe, so others can use us, and
    /// publish what waited ourselves.
    fn carry_last_resort(&mut self, gid: GroupId) {
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        let topic = g.topic.clone();
        let gs = &mut self.swarm.behaviour_mut().gossipsub;
        if let Err(e) = gs.subscribe(&topic) {
            tracing::warn!(error = %e, "subscribe failed");
        }
        let _ = gs.set_topic_params(topic, crate::net::topic_score_params());
        tracing::debug!(group = %gid, "no carrier: subscribed to carry for others");
        let waiting = self
            .carry
            .outboxes
            .get_mut(&gid)
            .map(Outbox::drain)
            .unwrap_or_default();
        for bytes in waiting {
            // Subscribed now: published ourselves, and kept for mailboxes.
            self.publish_bytes(&gid, bytes);
        }
    }

    /// In background mode, every tick: requests due, and a carrier of last
    /// resort steps back when a member with a lower peer id carries.
    pub(crate) fn carry_tick(&mut self) {
        if !self.net.background {
            return;
        }
        let me = *self.swarm.local_peer_id();
        let gids: Vec<GroupId> = self.groups.keys().copied().collect();
        for gid in gids {
            if self.carrying(&gid) {
                self.carry_flush(gid);
            } else if self
                .subscribed_members(&gid)
                .first()
                .is_some_and(|p| *p < me)
            {
                if let Some(g) = self.groups.get(&gid) {
                    let topic = g.topic.clone();
                    let _ = self.swarm.behaviour_mut().gossipsub.unsubscribe(&topic);
                    // Open our mailbox at the new carrier now.
                    self.carry_flush(gid);
                }
            }
        }
        self.away_tick();
    }

    /// The answer to a carry request we sent; `false` if it was not one.
    pub(crate) fn on_carried(
        &mut self,
        peer: PeerId,
        id: OutboundRequestId,
        resp: &Response,
    ) -> bool {
        let Some((gid, sent)) = self.carry.in_flight.remove(&id) else {
            return false;
        };
        let Some(outbox) = self.carry.outboxes.get_mut(&gid) else {
            return true;
        };
        match resp {
            Response::Carried { answer, messages } => {
                outbox.answered_by(peer, *answer);
                self.away_notice_answered(gid, &sent);
                let messages: Vec<Vec<u8>> = messages.clone();
                for bytes in messages {
                    // Not fresh from its author: every frame's signature is checked.
                    let _ = self.on_gossip(gid, peer, None, &bytes);
                }
                if self.carrying(&gid) {
                    self.carry_flush(gid);
                }
            }
            other => {
                tracing::debug!(%peer, answer = ?other, "carrier refused");
                self.carry_failed_with(gid, sent);
            }
        }
        true
    }

    /// Back in the foreground: one last request to each group's carrier
    /// fetches what it kept for us (and hands it what still waited).
    pub(crate) fn carry_collect(&mut self) {
        let gids: Vec<GroupId> = self.carry.outboxes.keys().copied().collect();
        for gid in gids {
            let Some(outbox) = self.carry.outboxes.get_mut(&gid) else {
                continue;
            };
            let Some(carrier) = outbox.carrier.take() else {
                continue;
            };
            let messages: Vec<Vec<u8>> = outbox.drain().into_iter().take(MAX_CARRIED).collect();
            self.send_carry(gid, carrier, messages);
        }
    }

    /// A carry request found no answer: its messages wait for another carrier.
    pub(crate) fn carry_failed(&mut self, id: OutboundRequestId) {
        if let Some((gid, sent)) = self.carry.in_flight.remove(&id) {
            self.carry_failed_with(gid, sent);
        }
    }

    /// What a failed request carried waits for another carrier, or, back in
    /// the foreground, is published by us.
    fn carry_failed_with(&mut self, gid: GroupId, sent: Vec<Vec<u8>>) {
        if !self.carrying(&gid) {
            if let Some(outbox) = self.carry.outboxes.get_mut(&gid) {
                outbox.answered();
            }
            for bytes in sent {
                self.publish_bytes(&gid, bytes);
            }
        } else if let Some(outbox) = self.carry.outboxes.get_mut(&gid) {
            outbox.failed(sent, now_ms());
        }
    }

    /// Keeps a gossip message of `gid` for the members we carry for (of a
    /// member's locations, the newest only).
    pub(crate) fn carry_keep(&mut self, gid: &GroupId, bytes: &[u8], author: Option<PeerId>) {
        let now = now_ms();
        if self.carry.mailboxes.any_open(gid.0, now) {
            let latest = location_slot(bytes);
            self.carry
                .mailboxes
                .deliver(gid.0, bytes, author, latest, now);
        }
    }

    /// Carries for `member`: checks each message is its own, handles and
    /// publishes it, and answers with its mailbox.
    pub(crate) fn answer_carry(
        &mut self,
        peer: PeerId,
        member: MemberId,
        gid: GroupId,
        messages: Vec<Vec<u8>>,
        confirmed: u32,
    ) -> Result<Response, String> {
        let g = self.groups.get(&gid).ok_or("not in that group")?;
        if g.removed || !lock(&g.session).roster().is_member(&member) {
            return Err("not a member of that group".into());
        }
        if messages.len() > MAX_CARRIED {
            return Err("too many messages".into());
        }
        for bytes in &messages {
            if !authored_by(bytes, &member) {
                return Err("a carried message is not yours".into());
            }
        }
        let now = now_ms();
        let new = !self.carry.mailboxes.is_open(gid.0, peer, now);
        if !self.carry.mailboxes.open(gid.0, peer, now) {
            return Err("this member carries for too many members".into());
        }
        if new {
            // What we published when no member was subscribed reached nobody.
            let unsent: Vec<Vec<u8>> = g_unsent(self, &gid);
            self.carry.mailboxes.seed(gid.0, peer, &unsent);
        }
        for bytes in messages {
            // From its author on the author's own connection, like gossip.
            if self.on_gossip(gid, peer, Some(peer), &bytes).is_accepted() {
                self.stats.messages_carried += 1;
                self.carry_keep(&gid, &bytes, Some(peer));
                self.publish_raw_bytes(&gid, bytes);
            }
        }
        let (answer, messages) = self.carry.mailboxes.answer(gid.0, peer, confirmed);
        Ok(Response::Carried { answer, messages })
    }
}

/// The group's gossip that waits for a subscribed member.
fn g_unsent(task: &Task, gid: &GroupId) -> Vec<Vec<u8>> {
    task.groups
        .get(gid)
        .map(|g| g.unsent.iter().cloned().collect())
        .unwrap_or_default()
}

/// A location frame's slot (its sender) and order (its sender key epoch
/// and counter, from the header: the frame was accepted, so the header is
/// its sender's).
fn location_slot(bytes: &[u8]) -> Option<Latest> {
    let Some(GossipMsg::Frame(f)) = wire::decode::<GossipMsg>(bytes) else {
        return None;
    };
    let h = FrameHeader::parse(&f).ok()?;
    (h.kind == FrameKind::Location).then(|| Latest {
        slot: u64::from(h.sender.0),
        order: (u64::from(h.epoch) << 32) | u64::from(h.counter),
    })
}

/// Whether a gossip message is `member`'s own: a frame it sealed, or key
/// envelopes it sent (their signatures are checked when handled).
fn authored_by(bytes: &[u8], member: &MemberId) -> bool {
    match wire::decode::<GossipMsg>(bytes) {
        Some(GossipMsg::Frame(f)) => {
            FrameHeader::parse(&f).is_ok_and(|h| h.sender == member.short_id())
        }
        Some(GossipMsg::Keys(list)) => list
            .iter()
            .all(|e| KeyEnvelope::parse(e).is_ok_and(|e| e.sender == *member)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use aura_crypto::{FrameKind, GroupSession, Identity, Role};
    use rand::rngs::OsRng;

    use super::*;

    /// A member cannot have a carrier publish another member's frame or
    /// key envelope under its request (the carrier refuses the request).
    #[test]
    fn a_carrier_takes_only_the_requesters_own_messages() -> Result<(), Box<dyn std::error::Error>>
    {
        let (owner, other) = (
            Identity::generate(&mut OsRng),
            Identity::generate(&mut OsRng),
        );
        let (mut s, _) = GroupSession::create(owner.clone(), "g", 1, &mut OsRng)?;
        s.add_member(other.member_id(), Role::Member, None, 2)?;
        let frame = wire::encode(&GossipMsg::Frame(s.seal(FrameKind::Chat, b"hi", 3)?));
        assert!(authored_by(&frame, &owner.member_id()));
        assert!(
            !authored_by(&frame, &other.member_id()),
            "someone else's frame"
        );
        let env = s.envelope_for(other.member_id(), &mut OsRng)?;
        let keys = wire::encode(&GossipMsg::Keys(vec![env.encode()]));
        assert!(authored_by(&keys, &owner.member_id()));
        assert!(
            !authored_by(&keys, &other.member_id()),
            "someone else's envelope"
        );
        assert!(!authored_by(b"junk", &owner.member_id()));
        Ok(())
    }
}
