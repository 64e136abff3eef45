//! Join and sync over request-response: an admin answers a join with the
//! roster ops and its key; any member answers a sync with missing ops and its key.

use aura_crypto::{GroupId, GroupSession, Invite, MemberId, OpHash, Role, Roster, SignedOp};
use libp2p::{
    request_response::{self, OutboundRequestId, ResponseChannel},
    PeerId,
};
use tokio::sync::oneshot;

use super::{group::lock, now_ms, GroupState, PendingJoin, Task};
use crate::{
    api::Event,
    wire::{self, ControlMsg, Request, Response},
    NodeError,
};

type Reply = oneshot::Receiver<Result<GroupId, NodeError>>;

/// Least time between two syncs we start because a peer's sync showed we are
/// behind it, per peer, ms.
const SYNC_BACK_EVERY_MS: u64 = 2_000;

/// Longest a joining member waits for connections to every member before
/// announcing its key (the rest get it by gossip), ms.
pub(crate) const ANNOUNCE_WAIT_MS: u64 = 2_000;

impl Task {
    /// Starts joining with `text`; the receiver resolves when done.
    pub(crate) fn join(&mut self, text: &str) -> Result<Reply, NodeError> {
        let invite = Invite::parse(text, now_ms())?;
        let gid = invite.body.group;
        let (tx, rx) = oneshot::channel();
        if let Some(g) = self.groups.get(&gid) {
            if !g.removed {
                let _ = tx.send(Ok(gid));
                return Ok(rx);
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
            return Err(NodeError::JoinRefused(
                "the invite names no peer to contact; ask for a new invite from an online admin"
                    .into(),
            ));
        }
        let pj = PendingJoin {
            invite: text.trim().to_owned(),
            group: gid,
            remaining,
            errors: vec![],
            reply: tx,
        };
        self.next_join_attempt(pj);
        Ok(rx)
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
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .rpc
                    .send_response(channel_of(channel), resp);
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
                self.syncs.remove(&request_id);
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
            .ok_or("this peer is not in that group; try another member")?;
        let (ops, env) = {
            let mut s = lock(&g.session);
            let ops: Vec<SignedOp> = match from_heads {
                Some(h) => s.roster().ops_missing_from(h),
                None => s.roster().ops().cloned().collect(),
            };
            let ops = ops.iter().filter_map(|o| o.encode().ok()).collect();
            (ops, s.envelope_for(member, &mut rand::rngs::OsRng).ok())
        };
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
            envelopes: env.map(|e| vec![e.encode()]).unwrap_or_default(),
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
                let g = self
                    .groups
                    .get(&gid)
                    .ok_or("this peer is not in that group; try another member")?;
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
                        s.add_member(member, Role::Member, Some(invite.body.invite_id), now_ms())
                            .map_err(|e| {
                                format!("this member cannot add you ({e}); try an admin")
                            })?
                    };
                    if let Ok(bytes) = op.encode() {
                        let _ = self.send_control(&gid, &ControlMsg::Op(bytes));
                    }
                    self.emit(Event::MemberJoined { group: gid, member });
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
                    let env = aura_crypto::KeyEnvelope::decode(bytes)
                        .map_err(|e| format!("undecodable key envelope: {e}"))?;
                    if env.group != gid || env.recipient != me || env.sender != member {
                        return Err("key envelope not from you, for me, in this group".into());
                    }
                    env.verify()
                        .map_err(|e| format!("forged key envelope: {e}"))?;
                    self.accept_envelope(gid, env);
                }
                Ok(Response::Ack)
            }
            Request::Sync { group, heads } => {
                let gid = GroupId(group);
                let g = self.groups.get(&gid).ok_or("not in that group")?;
                let heads: Vec<OpHash> = heads.into_iter().take(64).map(OpHash).collect();
                let (is_member, behind) = {
                    let s = lock(&g.session);
                    let r = s.roster();
                    (r.is_member(&member), heads.iter().any(|h| !r.knows(h)))
                };
                // Anti-entropy both ways: the asker holds ops we lack (perhaps
                // the one that added it), so we ask it in turn.
                if behind {
                    self.sync_back(gid, peer);
                }
                if !is_member {
                    return Err("you are not a member of that group".into());
                }
                self.welcome(gid, member, Some(&heads))
            }
        }
    }

    fn on_response(&mut self, peer: PeerId, id: OutboundRequestId, resp: Response) {
        if let Some(pj) = self.joins.remove(&id) {
            match resp {
                Response::Refused(_) | Response::Ack => {
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
                    let r = self.finish_join(pj.group, ops, envelopes, peers);
                    let _ = pj.reply.send(r);
                }
            }
        } else if let Some(gid) = self.syncs.remove(&id) {
            if let Response::Welcome { ops, envelopes, .. } = resp {
                for bytes in ops {
                    if let Ok(op) = SignedOp::decode(&bytes) {
                        let Some(g) = self.groups.get(&gid) else {
                            return;
                        };
                        let r = lock(&g.session).apply_op(op);
                        if let Ok(change) = r {
                            self.on_membership_change(gid, change);
                        }
                    }
                }
                self.accept_encoded(gid, &envelopes);
            }
        }
    }

    fn accept_encoded(&mut self, gid: GroupId, envelopes: &[Vec<u8>]) {
        for e in envelopes {
            if let Ok(env) = aura_crypto::KeyEnvelope::decode(e) {
                self.accept_envelope(gid, env);
            }
        }
    }

    fn finish_join(
        &mut self,
        gid: GroupId,
        ops: Vec<Vec<u8>>,
        envelopes: Vec<Vec<u8>>,
        peers: Vec<(String, Vec<String>)>,
    ) -> Result<GroupId, NodeError> {
        let ops: Vec<SignedOp> = ops
            .iter()
            .filter_map(|b| SignedOp::decode(b).ok())
            .collect();
        let roster = Roster::from_ops(ops)?;
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
        let name = roster.name().to_owned();
        let mut session = GroupSession::from_roster(
            self.identity.clone(),
            roster,
            now_ms(),
            &mut rand::rngs::OsRng,
        );
        // A fresh epoch for our own key, so nothing is reused across re-joins.
        let _ = session.rotate(now_ms(), &mut rand::rngs::OsRng);
        let members: Vec<MemberId> = session.roster().members().map(|(m, _)| m).collect();
        let state = GroupState::new(self, session, None);
        self.groups.remove(&gid);
        self.install_group(state);
        self.accept_encoded(gid, &envelopes);
        for (p, addrs) in peers.into_iter().take(64) {
            let Ok(peer) = p.parse::<PeerId>() else {
                continue;
            };
            if peer == *self.swarm.local_peer_id() {
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
            });
        }
        self.announce(gid);
        Ok(gid)
    }

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
            self.publish(&gid, &aura_crypto_keys(rest));
        }
        let addrs = self.listen_strings();
        let _ = self.send_control(&gid, &ControlMsg::Addrs(addrs));
        let _ = self.send_control(&gid, &ControlMsg::KeyRequest);
        if let Some(g) = self.groups.get_mut(&gid) {
            g.announce = false;
            g.last_key_request_ms = now_ms();
        }
    }

    pub(crate) fn listen_strings(&self) -> Vec<String> {
        self.swarm
            .listeners()
            .take(8)
            .map(|a| a.to_string())
            .collect()
    }
}

fn aura_crypto_keys(envs: Vec<Vec<u8>>) -> crate::wire::GossipMsg {
    crate::wire::GossipMsg::Keys(envs)
}

fn channel_of(c: ResponseChannel<Response>) -> ResponseChannel<Response> {
    c
}
