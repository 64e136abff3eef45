//! The task drives [`crate::group_core::GroupCore`]: it feeds it inputs
//! with `now` and carries out its actions (gossip, requests, dials, store
//! writes, events). Group protocol decisions are the core's; this file only
//! maps them onto the swarm, the store and the event bus.

use aura_crypto::{GroupId, MemberId};
use libp2p::{swarm::dial_opts::DialOpts, Multiaddr, PeerId};

use super::{now_ms, GroupState, Task};
use crate::{
    events::Event,
    group_core::{Action, CoreError, CoreEvent, RequestId, Verdict},
    media::feed::VoiceFeed,
    wire::{GossipMsg, Request},
    NodeError,
};

/// Most requests of the core waiting for an answer from the swarm (each
/// ends in an answer or a failure; past this, the oldest are forgotten).
const MAX_CORE_REQUESTS: usize = 8192;

impl Task {
    /// Carries out every action the core has queued.
    pub(crate) fn drive(&mut self) {
        while let Some(action) = self.core.poll() {
            match action {
                Action::Publish { group, msg } => self.publish_core(group, &msg),
                Action::Request { id, to, req } => self.send_core_request(id, to, req),
                Action::Dial { member, addrs } => self.dial_member(member, &addrs),
                Action::SaveGroup(gid) => {
                    self.ensure_group(gid);
                    self.save_group(&gid);
                }
                Action::SaveReplayFloors { group, floors } => {
                    if let Err(e) = self.store.put_replay_floors(&group.0, &floors) {
                        tracing::warn!(error = %e, "replay floors not stored");
                    }
                }
                Action::Event(e) => self.on_core_event(e),
            }
        }
    }

    /// Validates and handles one gossip message of `gid` handed over by
    /// `origin` (the transport-authenticated peer; `None` when the message
    /// does not come straight from its author's connection).
    pub(crate) fn on_gossip(
        &mut self,
        gid: GroupId,
        _from: PeerId,
        origin: Option<PeerId>,
        data: &[u8],
    ) -> Verdict {
        let origin = origin.and_then(|p| MemberId::from_peer_id(&p));
        self.frame_verdict = None;
        let verdict = self.core.handle_gossip(now_ms(), gid, origin, data);
        self.drive();
        // The core accepts an authentic frame; its payload is ours to judge.
        match (verdict, self.frame_verdict.take()) {
            (Verdict::Accept, Some(app)) => app,
            (v, _) => v,
        }
    }

    fn publish_core(&mut self, gid: GroupId, msg: &GossipMsg) {
        self.ensure_group(gid);
        self.publish(&gid, msg);
    }

    fn send_core_request(&mut self, id: RequestId, to: MemberId, req: Request) {
        let Ok(peer) = to.peer_id() else {
            self.core.request_failed(id, to, "not a libp2p identity");
            return;
        };
        let out = self.swarm.behaviour_mut().rpc.send_request(&peer, req);
        if self.core_requests.len() >= MAX_CORE_REQUESTS {
            self.core_requests.clear();
        }
        self.core_requests.insert(out, (id, to));
    }

    /// Dials a member at the addresses it or another member gave.
    fn dial_member(&mut self, member: MemberId, addrs: &[String]) {
        let Ok(peer) = member.peer_id() else {
            return;
        };
        if let Err(e) = self.store.put_peer(&peer.to_string(), addrs) {
            tracing::warn!(error = %e, "storing peer addresses failed");
        }
        let addrs: Vec<Multiaddr> = addrs
            .iter()
            .take(8)
            .filter_map(|a| a.parse().ok())
            .collect();
        for a in &addrs {
            self.swarm.add_peer_address(peer, a.clone());
        }
        self.remember_addrs(peer, &addrs);
        // Not a member that said it is away (it keeps one connection).
        if !self.swarm.is_connected(&peer) && self.may_dial(&peer) {
            let _ = self
                .swarm
                .dial(DialOpts::peer_id(peer).addresses(addrs).build());
        }
    }

    /// Makes sure the task's side of a group the core holds exists (and
    /// is the same session: a re-join after a removal makes a new one).
    pub(crate) fn ensure_group(&mut self, gid: GroupId) {
        let Some(session) = self.core.session(&gid) else {
            return;
        };
        if self
            .groups
            .get(&gid)
            .is_some_and(|g| std::sync::Arc::ptr_eq(&g.session, &session))
        {
            return;
        }
        let state = GroupState::new(self, session, None);
        self.install_group(state);
    }

    fn on_core_event(&mut self, e: CoreEvent) {
        match e {
            CoreEvent::Joined { group, name } => {
                self.ensure_group(group);
                self.emit(Event::Joined { group, name });
                for reply in self.join_replies.remove(&group).unwrap_or_default() {
                    let _ = reply.send(Ok(group));
                }
            }
            CoreEvent::JoinFailed { group, reason } => {
                for reply in self.join_replies.remove(&group).unwrap_or_default() {
                    let _ = reply.send(Err(NodeError::JoinRefused(reason.clone())));
                }
            }
            CoreEvent::MemberJoined { group, member } => self.on_member_joined(group, member),
            CoreEvent::MemberLeft { group, member } => self.on_member_gone(group, member),
            CoreEvent::RemovedFromGroup { group } => {
                self.on_member_gone(group, self.identity.member_id())
            }
            CoreEvent::KeysReceived {
                group,
                sender,
                epoch,
                first,
            } => {
                if let Some(g) = self.groups.get_mut(&group) {
                    // A new epoch may be a restart that forgot our media address.
                    g.media_heard.remove(&sender);
                }
                self.emit(Event::KeysReceived {
                    group,
                    sender,
                    epoch,
                });
                if first {
                    // A member that can read us now: it may have missed our address.
                    self.announce_media(group, false);
                }
            }
            CoreEvent::Frame {
                group,
                opened,
                fresh,
            } => {
                let v = self.on_app_frame(group, opened);
                if fresh {
                    self.frame_verdict = Some(v);
                }
            }
            CoreEvent::Announced { group } => self.send_profile(group),
        }
    }

    fn on_member_joined(&mut self, gid: GroupId, member: MemberId) {
        self.emit(Event::MemberJoined {
            group: gid,
            member,
            label: self.label(&gid, &member),
        });
        if member != self.identity.member_id() {
            self.feed_voice(gid, VoiceFeed::MembersAdded);
            // The newcomer could not read our earlier announcement.
            self.announce_media(gid, false);
            self.profile_due(gid);
        }
    }

    /// A member left or was removed (`member` is us when we were).
    fn on_member_gone(&mut self, gid: GroupId, member: MemberId) {
        if let Some(g) = self.groups.get_mut(&gid) {
            g.last.remove(&member);
            g.history.forget(&member.0);
            g.fence_tracker.forget_member(&member);
            g.proximity.forget(&member);
            g.media_addrs.remove(&member);
            g.media_heard.remove(&member);
        }
        if member == self.identity.member_id() {
            self.feed_voice(gid, VoiceFeed::Removed);
            if let Some(g) = self.groups.get_mut(&gid) {
                g.removed = true;
            }
            self.emit(Event::RemovedFromGroup { group: gid });
        } else {
            self.feed_voice(gid, VoiceFeed::MemberLeft(member));
            self.emit(Event::MemberLeft {
                group: gid,
                member,
                label: self.label(&gid, &member),
            });
        }
    }

    /// Forgets the core's requests in flight (the swarm they went out on
    /// is gone); joins waiting for them fail with `error`.
    pub(crate) fn abort_core_requests(&mut self, error: impl Fn() -> NodeError) {
        for (_, replies) in self.join_replies.drain() {
            for reply in replies {
                let _ = reply.send(Err(error()));
            }
        }
        self.core_requests.clear();
        self.core.abort_requests("the network changed");
        self.drive();
    }

    /// The core's listen addresses follow the swarm's.
    pub(crate) fn refresh_core_listen_addrs(&mut self) {
        let addrs = self.listen_strings();
        self.core.set_listen_addrs(addrs);
    }

    pub(crate) fn listen_strings(&self) -> Vec<String> {
        self.swarm
            .listeners()
            .take(8)
            .map(|a| a.to_string())
            .collect()
    }
}

/// A core error as the node reports it.
pub(crate) fn node_error(e: CoreError) -> NodeError {
    match e {
        CoreError::UnknownGroup(g) => NodeError::UnknownGroup(g),
        CoreError::NotMember => NodeError::NotMember,
        CoreError::Roster(e) => e.into(),
        CoreError::Seal(e) => e.into(),
        CoreError::Envelope(e) => e.into(),
        CoreError::Invite(e) => e.into(),
    }
}
