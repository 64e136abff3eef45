//! Join and sync over request-response: an admin answers a join with the
//! roster ops and its key; any member answers a sync with missing ops and its key.
//!
//! Answers carry at most [`WELCOME_OPS_BYTES`] of ops (a prefix closed under
//! parents); the asker asks again from its new heads while answers bring new
//! ops. Only a member's answer is applied (for a join: a member of the
//! roster it sends), and each op only by its author's own authority.

use aura_crypto::{GroupId, GroupSession, Invite, MemberId, OpHash, Role, Roster, SignedOp};
use libp2p::{
    request_response::{self, OutboundRequestId},
    PeerId,
};

use super::{now_ms, GroupState, PendingJoin, Task};
use crate::group_core::{
    lock, MAX_JOIN_ROUNDS, MAX_SYNC_HEADS, MAX_WELCOME_PEERS, SYNC_BACK_EVERY_MS, WELCOME_OPS_BYTES,
};
use crate::{
    command::JoinReply,
    events::Event,
    wire::{self, ControlMsg, Request, Response},
    NodeError,
};

/// A join whose roster arrives over several answers.
pub(crate) struct JoinProgress {
    pub(crate) pj: PendingJoin,
    peer: PeerId,
    roster: Roster,
    envelopes: Vec<Vec<u8>>,
    peers: Vec<(String, Vec<String>)>,
    rounds: u32,
}

impl Task {
    /// Starts joining with `text`; `reply` gets the outcome when done.
    pub(crate) fn join(&mut self, text: &str, reply: JoinReply) {
        let invite = match Invite::parse(text, now_ms()) {
            Ok(i) => i,
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        if self.is_blocked(&invite.body.inviter) {
            let _ = reply.send(Err(NodeError::JoinRefused(
                "the invite comes from a member you blocked; unblock them first".into(),
            )));
            return;
        }
        let gid = invite.body.group;
        if let Some(g) = self.groups.get(&gid) {
            if !g.removed {
                let _ = reply.send(Ok(gid));
                return;
            }
        }
        let mut remaining = std::collections::VecDeque::new();
        for (peer, addrs) in wire::invite_peers(&invite) {
            for ma in addrs {
                self.swarm.add_peer_address(peer, ma);
            }
            remaining.push_back(peer);
        }
        if remaining.is_empty() {
            let _ = reply.send(Err(NodeError::JoinRefused(
                "the invite names no peer to contact".into(),
            )));
            return;
        }
        let pj = PendingJoin {
            invite: text.trim().to_owned(),
            group: gid,
            remaining,
            errors: vec![],
            reply,
        };
        self.next_join_attempt(pj);
    }

    fn next_join_attempt(&mut self, mut pj: PendingJoin) {
        let Some(peer) = pj.remaining.pop_front() else {
            let msg = if pj.errors.is_empty() {
                "no peer answered".into()
            } else {
                pj.errors.join("; ")
            };
            let _ = pj.reply.send(Err(NodeError::JoinRefused(msg)));
            return;
        };
        let id = self.swarm.behaviour_mut().rpc.send_request(
            &peer,
            Request::Join {
                invite: pj.invite.clone(),
            },
        );
        self.joins.insert(id, pj);
    }

    pub(crate) fn request_sync(&mut self, gid: GroupId, peer: PeerId) {
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        let heads = lock(&g.session)
            .roster()
            .heads()
            .iter()
            .take(MAX_SYNC_HEADS)
            .map(|h| h.0)
            .collect();
        let id = self.swarm.behaviour_mut().rpc.send_request(
            &peer,
            Request::Sync {
                group: gid.0,
                heads,
            },
        );
        self.syncs.insert(id, gid);
    }

    /// Asks `peer` for the roster ops it has and we lack, at most once per
    /// [`SYNC_BACK_EVERY_MS`] per peer (an asker cannot make us flood it).
    fn sync_back(&mut self, gid: GroupId, peer: PeerId) {
        let now = now_ms();
        if self
            .sync_back_ms
            .get(&peer)
            .is_some_and(|t| now.saturating_sub(*t) < SYNC_BACK_EVERY_MS)
        {
            return;
        }
        if self.sync_back_ms.len() >= 1024 {
            self.sync_back_ms.clear();
        }
        self.sync_back_ms.insert(peer, now);
        self.request_sync(gid, peer);
    }

    pub(crate) fn on_rpc(&mut self, ev: request_response::Event<Request, Response>) {
        use request_response::{Event as E, Message as M};
        match ev {
            E::Message {
                peer,
                message: M::Request {
                    request, channel, ..
                },
                ..
            } => {
                let resp = self.answer(peer, request);
                let _ = self.swarm.behaviour_mut().rpc.send_response(channel, resp);
            }
            E::Message {
                peer,
                message:
                    M::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.on_response(peer, request_id, response),
            E::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(mut pj) = self.joins.remove(&request_id) {
                    pj.errors.push(format!("{peer}: unreachable ({error})"));
                    self.next_join_attempt(pj);
                }
                if let Some(jp) = self.join_syncs.remove(&request_id) {
                    let mut pj = jp.pj;
                    pj.errors.push(format!("{peer}: unreachable ({error})"));
                    self.next_join_attempt(pj);
                }
                self.syncs.remove(&request_id);
                self.carry_failed(request_id);
                self.on_avatar_failure(request_id);
            }
            _ => {}
        }
    }

    fn answer(&mut self, peer: PeerId, req: Request) -> Response {
        match self.answer_inner(peer, req) {
            Ok(r) => r,
            Err(e) => Response::Refused(e),
        }
    }

    fn welcome(
        &mut self,
        gid: GroupId,
        member: MemberId,
        from_heads: Option<&[OpHash]>,
    ) -> Result<Response, String> {
        let g = self
            .groups
            .get(&gid)
            .ok_or("this peer is not in that group")?;
        let ops = {
            let s = lock(&g.session);
            let ops = s
                .roster()
                .ops_missing_within(from_heads.unwrap_or_default(), WELCOME_OPS_BYTES)
                .0;
            ops.iter().filter_map(|o| o.encode().ok()).collect()
        };
        // Rate-limited per member: a sync flood gets the same envelope.
        let env = self.key_grant(gid, member);
        let g = self
            .groups
            .get(&gid)
            .ok_or("this peer is not in that group")?;
        let mut peers = vec![(
            self.swarm.local_peer_id().to_string(),
            self.listen_strings(),
        )];
        let members: Vec<MemberId> = lock(&g.session)
            .roster()
            .members()
            .map(|(m, _)| m)
            .collect();
        for m in members {
            if let Ok(p) = m.peer_id() {
                if let Some(a) = self.peer_addrs.get(&p) {
                    peers.push((
                        p.to_string(),
                        a.iter().take(4).map(|a| a.to_string()).collect(),
                    ));
                }
            }
        }
        Ok(Response::Welcome {
            ops,
            envelopes: env.map(|e| vec![e]).unwrap_or_default(),
            peers,
        })
    }

    fn answer_inner(&mut self, peer: PeerId, req: Request) -> Result<Response, String> {
        let member =
            MemberId::from_peer_id(&peer).ok_or("your peer id is not an ed25519 aura identity")?;
        match req {
            Request::Join { invite } => {
                let invite =
                    Invite::parse(&invite, now_ms()).map_err(|e| format!("invite refused: {e}"))?;
                let gid = invite.body.group;
                if self.is_blocked(&member) || self.is_blocked(&invite.body.inviter) {
                    self.stats.joins_refused_blocked += 1;
                    return Err("this member does not take you in".into());
                }
                let g = self
                    .groups
                    .get(&gid)
                    .ok_or("this peer is not in that group")?;
                if g.removed {
                    return Err("this peer is no longer in that group".into());
                }
                let already = lock(&g.session).roster().is_member(&member);
                if !already {
                    let session = g.session.clone();
                    let op = {
                        let mut s = lock(&session);
                        s.roster()
                            .check_invite(&invite, now_ms())
                            .map_err(|e| format!("invite refused: {e}"))?;
                        s.add_member(member, Role::Member, Some(invite.redemption()), now_ms())
                            .map_err(|e| {
                                format!("this member cannot add you ({e}); try an admin")
                            })?
                    };
                    if let Ok(bytes) = op.encode() {
                        let _ = self.send_control(&gid, &ControlMsg::Op(bytes));
                    }
                    self.emit(Event::MemberJoined {
                        group: gid,
                        member,
                        label: self.label(&gid, &member),
                    });
                    self.save_group(&gid);
                }
                self.welcome(gid, member, None)
            }
            Request::Keys { group, envelopes } => {
                let gid = GroupId(group);
                if !self.groups.contains_key(&gid) {
                    return Err("not in that group".into());
                }
                if envelopes.len() > wire::MAX_DIRECT_ENVELOPES {
                    return Err("too many envelopes".into());
                }
                let me = self.identity.member_id();
                for bytes in &envelopes {
                    // Layout only: accepting it verifies the signature (once).
                    let env = aura_crypto::KeyEnvelope::parse(bytes)
                        .map_err(|e| format!("undecodable key envelope: {e}"))?;
                    if env.group != gid || env.recipient != me || env.sender != member {
                        return Err("key envelope not from you, for me, in this group".into());
                    }
                    self.accept_envelope(gid, env);
                }
                Ok(Response::Ack)
            }
            Request::Carry { group, messages } => {
                self.answer_carry(peer, member, GroupId(group), messages)
            }
            Request::Sync { group, heads } => {
                let gid = GroupId(group);
                let g = self.groups.get(&gid).ok_or("not in that group")?;
                let heads: Vec<OpHash> =
                    heads.into_iter().take(MAX_SYNC_HEADS).map(OpHash).collect();
                let (is_member, behind) = {
                    let s = lock(&g.session);
                    let r = s.roster();
                    (r.is_member(&member), heads.iter().any(|h| !r.knows(h)))
                };
                if !is_member {
                    return Err("you are not a member of that group".into());
                }
                // Anti-entropy both ways: the asker holds ops we lack (perhaps
                // the one that added it), so we ask it in turn.
                if behind {
                    self.sync_back(gid, peer);
                }
                self.welcome(gid, member, Some(&heads))
            }
            Request::Avatar { group, hash } => self.answer_avatar(member, group, hash),
        }
    }

    fn on_response(&mut self, peer: PeerId, id: OutboundRequestId, resp: Response) {
        if self.on_carried(peer, id, &resp) || self.on_avatar_answer(id, &resp) {
            return;
        }
        if let Some(pj) = self.joins.remove(&id) {
            match resp {
                Response::Refused(_)
                | Response::Ack
                | Response::Carried(_)
                | Response::Avatar(_) => {
                    let why = match resp {
                        Response::Refused(why) => why,
                        _ => "unexpected answer".into(),
                    };
                    let mut pj = pj;
                    pj.errors.push(format!("{peer}: {why}"));
                    self.next_join_attempt(pj);
                }
                Response::Welcome {
                    ops,
                    envelopes,
                    peers,
                } => {
                    let ops = decode_ops(&ops);
                    match Roster::from_ops(ops) {
                        Ok(roster) => self.continue_join(JoinProgress {
                            pj,
                            peer,
                            roster,
                            envelopes,
                            peers,
                            rounds: 0,
                        }),
                        Err(e) => {
                            let mut pj = pj;
                            pj.errors
                                .push(format!("{peer}: roster does not verify ({e})"));
                            self.next_join_attempt(pj);
                        }
                    }
                }
            }
        } else if let Some(mut jp) = self.join_syncs.remove(&id) {
            match resp {
                Response::Welcome { ops, envelopes, .. } => {
                    let out = jp.roster.apply_batch(decode_ops(&ops));
                    jp.envelopes.extend(envelopes.into_iter().take(4));
                    jp.rounds = if out.new == 0 {
                        MAX_JOIN_ROUNDS
                    } else {
                        jp.rounds + 1
                    };
                    self.continue_join(jp);
                }
                _ => {
                    let mut pj = jp.pj;
                    pj.errors
                        .push(format!("{peer}: refused to send the rest of the roster"));
                    self.next_join_attempt(pj);
                }
            }
        } else if let Some(gid) = self.syncs.remove(&id) {
            if let Response::Welcome {
                ops,
                envelopes,
                peers,
            } = resp
            {
                self.learn_peer_addrs(&peers);
                self.on_sync_answer(gid, peer, ops, envelopes);
            }
        }
    }

    /// Applies a sync answer, only when `peer` is a member: the ops in one
    /// merge, each checked against its author's own authority. A restored
    /// roster counts as confirmed once a member's answer is merged in.
    fn on_sync_answer(
        &mut self,
        gid: GroupId,
        peer: PeerId,
        ops: Vec<Vec<u8>>,
        envelopes: Vec<Vec<u8>>,
    ) {
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        let session = g.session.clone();
        let by_member =
            MemberId::from_peer_id(&peer).is_some_and(|m| lock(&session).roster().is_member(&m));
        if !by_member {
            self.stats.answers_from_non_members += 1;
            tracing::debug!(%peer, "sync answer from a non-member ignored");
            return;
        }
        let (outcome, change, confirmed_now) = {
            let mut s = lock(&session);
            let (outcome, change) = s.apply_ops(decode_ops(&ops));
            let confirmed_now = !s.is_roster_confirmed();
            s.confirm_roster();
            (outcome, change, confirmed_now)
        };
        if outcome.new > 0 || confirmed_now {
            self.on_membership_change(gid, change);
        }
        if confirmed_now {
            // The key made at restart went to nobody: hand it out now.
            if let Some(g) = self.groups.get_mut(&gid) {
                g.announce = true;
                g.announce_wait_from_ms = None;
            }
        }
        self.accept_encoded(gid, &envelopes);
        // Answers are bounded: while they bring new ops, ask for more.
        if outcome.new > 0 {
            self.request_sync(gid, peer);
        }
    }

    /// Finishes a join once we are in the roster, or asks the same peer for
    /// the rest of a roster too long for one answer.
    fn continue_join(&mut self, jp: JoinProgress) {
        let me = self.identity.member_id();
        if !jp.roster.is_member(&me) && jp.rounds < MAX_JOIN_ROUNDS {
            let heads = jp
                .roster
                .heads()
                .iter()
                .take(MAX_SYNC_HEADS)
                .map(|h| h.0)
                .collect();
            let req = Request::Sync {
                group: jp.pj.group.0,
                heads,
            };
            let id = self.swarm.behaviour_mut().rpc.send_request(&jp.peer, req);
            self.join_syncs.insert(id, jp);
            return;
        }
        let JoinProgress {
            mut pj,
            peer,
            roster,
            envelopes,
            peers,
            ..
        } = jp;
        match self.finish_join(pj.group, peer, roster, envelopes, peers) {
            Ok(gid) => {
                let _ = pj.reply.send(Ok(gid));
            }
            Err(e) => {
                pj.errors.push(format!("{peer}: {e}"));
                self.next_join_attempt(pj);
            }
        }
    }

    fn accept_encoded(&mut self, gid: GroupId, envelopes: &[Vec<u8>]) {
        for e in envelopes {
            // Layout only: accepting it verifies the signature (once).
            if let Ok(env) = aura_crypto::KeyEnvelope::parse(e) {
                self.accept_envelope(gid, env);
            }
        }
    }

    fn finish_join(
        &mut self,
        gid: GroupId,
        peer: PeerId,
        roster: Roster,
        envelopes: Vec<Vec<u8>>,
        peers: Vec<(String, Vec<String>)>,
    ) -> Result<GroupId, NodeError> {
        if roster.group_id() != gid {
            return Err(NodeError::JoinRefused(
                "the peer answered with another group".into(),
            ));
        }
        if !roster.is_member(&self.identity.member_id()) {
            return Err(NodeError::JoinRefused(
                "the peer did not add us to the roster".into(),
            ));
        }
        if !MemberId::from_peer_id(&peer).is_some_and(|m| roster.is_member(&m)) {
            self.stats.answers_from_non_members += 1;
            return Err(NodeError::JoinRefused(
                "the answering peer is not a member of the roster it sent".into(),
            ));
        }
        let name = roster.name().to_owned();
        let mut session = GroupSession::from_roster(
            self.identity.clone(),
            roster,
            now_ms(),
            &mut rand::rngs::OsRng,
        );
        // A fresh epoch for our own key, so nothing is reused across re-joins;
        // sealed to each member as we announce.
        let _ = session.start_epoch(now_ms(), &mut rand::rngs::OsRng);
        let members: Vec<MemberId> = session.roster().members().map(|(m, _)| m).collect();
        let state = GroupState::new(self, session, None);
        self.groups.remove(&gid);
        self.install_group(state);
        self.accept_encoded(gid, &envelopes);
        // Every member listed (a group larger than 64 would otherwise never
        // be a full mesh); only members, at most MAX_WELCOME_PEERS.
        for (p, addrs) in peers.into_iter().take(MAX_WELCOME_PEERS) {
            let Ok(peer) = p.parse::<PeerId>() else {
                continue;
            };
            if peer == *self.swarm.local_peer_id()
                || !MemberId::from_peer_id(&peer).is_some_and(|m| members.contains(&m))
            {
                continue;
            }
            if let Err(e) = self.store.put_peer(&p, &addrs) {
                tracing::warn!(error = %e, "storing peer addresses failed");
            }
            let addrs: Vec<libp2p::Multiaddr> = addrs
                .iter()
                .take(8)
                .filter_map(|a| a.parse().ok())
                .collect();
            for a in &addrs {
                self.swarm.add_peer_address(peer, a.clone());
            }
            self.remember_addrs(peer, &addrs);
            if !self.swarm.is_connected(&peer) {
                let _ = self.swarm.dial(
                    libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                        .addresses(addrs)
                        .build(),
                );
            }
        }
        self.save_group(&gid);
        self.emit(Event::Joined { group: gid, name });
        for m in members {
            self.emit(Event::MemberJoined {
                group: gid,
                member: m,
                label: self.label(&gid, &m),
            });
        }
        self.announce(gid);
        Ok(gid)
    }

    pub(crate) fn listen_strings(&self) -> Vec<String> {
        self.swarm
            .listeners()
            .take(8)
            .map(|a| a.to_string())
            .collect()
    }
}

/// Decodes (and so verifies) ops of an answer, at most as many as fit in one.
fn decode_ops(ops: &[Vec<u8>]) -> Vec<SignedOp> {
    ops.iter()
        .take(WELCOME_OPS_BYTES / 64)
        .filter_map(|b| SignedOp::decode(b).ok())
        .collect()
}
