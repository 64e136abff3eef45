//! Join and sync: an admin answers a join with the roster ops and its key;
//! any member answers a sync with the ops the asker lacks and its key, and
//! syncs back when the asker holds ops it lacks itself.
//!
//! Answers carry at most [`WELCOME_OPS_BYTES`] of ops (a prefix closed under
//! parents); the asker asks again from its new heads while answers bring
//! new ops. Only a member's answer is applied (for a join: a member of the
//! roster it sends), and each op only by its author's own authority.

use aura_crypto::{GroupId, Invite, MemberId, OpHash, Role, Roster, SignedOp};
use rand_core::{CryptoRng, RngCore};

use super::{
    gossip::Accepted,
    limits::{
        MAX_JOIN_ROUNDS, MAX_REQUESTS, MAX_SYNC_HEADS, MAX_WELCOME_PEERS, SYNC_BACK_EVERY_MS,
        WELCOME_OPS_BYTES,
    },
    lock,
    state::{JoinProgress, Pending},
    Action, CoreEvent, CoreStats, GroupCore, RequestId,
};
use crate::wire::{self, ControlMsg, Request, Response};

impl<R: RngCore + CryptoRng> GroupCore<R> {
    pub(crate) fn send_request(&mut self, to: MemberId, req: Request) -> RequestId {
        self.next_request += 1;
        let id = RequestId(self.next_request);
        self.stats.requests_sent += 1;
        self.push(Action::Request { id, to, req });
        id
    }

    /// Asks `peer` for the roster ops we lack and its key.
    pub(crate) fn request_sync(&mut self, gid: GroupId, peer: MemberId) -> Option<RequestId> {
        let g = self.groups.get(&gid)?;
        if self.requests.len() >= MAX_REQUESTS {
            tracing::debug!("too many requests waiting: sync not sent");
            return None;
        }
        let heads = lock(&g.session)
            .roster()
            .heads()
            .iter()
            .take(MAX_SYNC_HEADS)
            .map(|h| h.0)
            .collect();
        let id = self.send_request(
            peer,
            Request::Sync {
                group: gid.0,
                heads,
            },
        );
        self.requests.insert(id, Pending::Sync(gid));
        Some(id)
    }

    /// Answers a request from `from`.
    pub fn handle_request(&mut self, now: u64, from: MemberId, req: Request) -> Response {
        match self.answer(now, from, req) {
            Ok(r) => r,
            Err(e) => Response::Refused(e),
        }
    }

    fn answer(&mut self, now: u64, member: MemberId, req: Request) -> Result<Response, String> {
        match req {
            Request::Join { invite } => {
                let invite =
                    Invite::parse(&invite, now).map_err(|e| format!("invite refused: {e}"))?;
                let gid = invite.body.group;
                let g = self
                    .groups
                    .get(&gid)
                    .ok_or("this peer is not in that group")?;
                if g.removed {
                    return Err("this peer is no longer in that group".into());
                }
                let session = g.session.clone();
                if !lock(&session).roster().is_member(&member) {
                    let op = {
                        let mut s = lock(&session);
                        s.roster()
                            .check_invite(&invite, now)
                            .map_err(|e| format!("invite refused: {e}"))?;
                        s.add_member(member, Role::Member, Some(invite.redemption()), now)
                            .map_err(|e| {
                                format!("this member cannot add you ({e}); try an admin")
                            })?
                    };
                    if let Ok(bytes) = op.encode() {
                        self.send_control(now, gid, &ControlMsg::Op(bytes));
                    }
                    self.emit(CoreEvent::MemberJoined { group: gid, member });
                    self.push(Action::SaveGroup(gid));
                }
                Ok(self.welcome(now, gid, member, None))
            }
            Request::Keys { group, envelopes } => {
                let gid = GroupId(group);
                if !self.groups.contains_key(&gid) {
                    return Err("not in that group".into());
                }
                if envelopes.len() > wire::MAX_DIRECT_ENVELOPES {
                    return Err("too many envelopes".into());
                }
                let me = self.member_id();
                for bytes in &envelopes {
                    // Layout only: accepting it verifies the signature (once).
                    let env = aura_crypto::KeyEnvelope::parse(bytes)
                        .map_err(|e| format!("undecodable key envelope: {e}"))?;
                    if env.group != gid || env.recipient != me || env.sender != member {
                        return Err("key envelope not from you, for me, in this group".into());
                    }
                    if self.accept_envelope(now, gid, env, Some(member)) == Accepted::Forged {
                        return Err("forged key envelope".into());
                    }
                }
                let known = self
                    .session(&gid)
                    .is_some_and(|s| lock(&s).roster().is_member(&member));
                if !known {
                    self.roster_behind(now, gid, None);
                }
                Ok(Response::Ack)
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
                // Anti-entropy both ways: the asker holds ops we lack (when it
                // is not in our roster, perhaps the one that added it: we
                // ask a member then).
                if behind {
                    self.roster_behind(now, gid, Some(member));
                }
                if !is_member {
                    return Err("you are not a member of that group".into());
                }
                Ok(self.welcome(now, gid, member, Some(&heads)))
            }
            // Carrying for background members is the node task's (`task::carry`).
            Request::Carry { .. } => Err("this member does not carry gossip".into()),
            // Profiles are the node task's (`task/people.rs`).
            Request::Avatar { .. } => Err("no such avatar here".into()),
        }
    }

    /// Asks `peer` back, at most once per [`SYNC_BACK_EVERY_MS`] per peer.
    pub(crate) fn sync_back(
        &mut self,
        now: u64,
        gid: GroupId,
        peer: MemberId,
    ) -> Option<RequestId> {
        if !self.may_sync_back(now, &peer) {
            return None;
        }
        if self.sync_back_at.len() >= 1024 {
            self.sync_back_at.clear();
        }
        self.sync_back_at.insert(peer, now);
        self.request_sync(gid, peer)
    }

    /// Whether [`Self::sync_back`] would ask `peer` now.
    pub(crate) fn may_sync_back(&self, now: u64, peer: &MemberId) -> bool {
        self.sync_back_at
            .get(peer)
            .is_none_or(|t| now.saturating_sub(*t) >= SYNC_BACK_EVERY_MS)
    }

    fn welcome(
        &mut self,
        now: u64,
        gid: GroupId,
        member: MemberId,
        from_heads: Option<&[OpHash]>,
    ) -> Response {
        let Some(session) = self.session(&gid) else {
            return Response::Refused("not in that group".into());
        };
        let (ops, members) = {
            let s = lock(&session);
            let r = s.roster();
            let ops = r
                .ops_missing_within(from_heads.unwrap_or_default(), WELCOME_OPS_BYTES)
                .0;
            let ops = ops.iter().filter_map(|o| o.encode().ok()).collect();
            (ops, r.members().map(|(m, _)| m).collect::<Vec<_>>())
        };
        // Rate-limited per member: a sync flood gets the same envelope.
        let env = self.key_grant(now, gid, member);
        // Where members listen (us first): a joiner dials them all, a sync
        // asker those it is not connected to.
        let mut peers = Vec::new();
        if let Some(p) = self.names.name(self.member_id()) {
            peers.push((p, self.listen.clone()));
        }
        for m in members {
            if peers.len() >= MAX_WELCOME_PEERS {
                break;
            }
            let Some(a) = self.addrs.get(&m) else {
                continue;
            };
            let a = a.iter().take(4).cloned().collect();
            if let Some(p) = self.names.name(m) {
                peers.push((p, a));
            }
        }
        Response::Welcome {
            ops,
            envelopes: env.into_iter().collect(),
            peers,
        }
    }

    /// Addresses of members of `gid` listed in an answer: kept, and the
    /// members we are not connected to are dialled (only roster members,
    /// at most [`MAX_WELCOME_PEERS`]).
    pub(crate) fn learn_peers(&mut self, gid: GroupId, peers: Vec<(String, Vec<String>)>) {
        let Some(session) = self.session(&gid) else {
            return;
        };
        let me = self.member_id();
        for (p, addrs) in peers.into_iter().take(MAX_WELCOME_PEERS) {
            let Some(member) = self.names.member(&p) else {
                continue;
            };
            if member == me || !lock(&session).roster().is_member(&member) {
                continue;
            }
            let addrs = crate::net::addrs::keep_best_strings(addrs);
            if !self.addrs.contains_key(&member) && !addrs.is_empty() {
                self.peer_addrs(member, addrs.clone());
            }
            if !self.connected.contains(&member) {
                self.push(Action::Dial { member, addrs });
            }
        }
    }

    /// The answer to request `id`, from `peer`.
    pub fn handle_response(&mut self, now: u64, id: RequestId, peer: MemberId, resp: Response) {
        if let Response::Welcome { ops, .. } = &resp {
            self.stats.ops_received += ops.len() as u64;
        }
        match self.requests.remove(&id) {
            Some(Pending::Join(mut a)) => match resp {
                Response::Welcome {
                    ops,
                    envelopes,
                    peers,
                } => match Roster::from_ops(decode_ops(&ops, None, &mut self.stats)) {
                    Ok(roster) => {
                        let jp = JoinProgress {
                            attempt: a,
                            peer,
                            roster,
                            envelopes,
                            peers,
                            rounds: 0,
                        };
                        self.continue_join(now, jp);
                    }
                    Err(e) => {
                        a.errors
                            .push(format!("{peer}: roster does not verify ({e})"));
                        self.next_join_attempt(a);
                    }
                },
                Response::Refused(why) => {
                    a.errors.push(format!("{peer}: {why}"));
                    self.next_join_attempt(a);
                }
                Response::Ack | Response::Carried { .. } | Response::Avatar(_) => {
                    a.errors.push(format!("{peer}: unexpected answer"));
                    self.next_join_attempt(a);
                }
            },
            Some(Pending::JoinSync(mut jp)) => match resp {
                Response::Welcome { ops, envelopes, .. } => {
                    let ops = decode_ops(&ops, Some(&jp.roster), &mut self.stats);
                    let out = jp.roster.apply_batch(ops);
                    jp.envelopes.extend(envelopes.into_iter().take(4));
                    jp.rounds = if out.new == 0 {
                        MAX_JOIN_ROUNDS
                    } else {
                        jp.rounds + 1
                    };
                    self.continue_join(now, *jp);
                }
                _ => {
                    let mut a = jp.attempt;
                    a.errors
                        .push(format!("{peer}: refused to send the rest of the roster"));
                    self.next_join_attempt(a);
                }
            },
            Some(Pending::Sync(gid)) => {
                if let Response::Welcome {
                    ops,
                    envelopes,
                    peers,
                } = resp
                {
                    self.on_sync_answer(now, id, gid, peer, ops, envelopes);
                    self.learn_peers(gid, peers);
                }
            }
            None => {}
        }
    }

    /// Request `id` to `peer` got no answer (unreachable, timed out).
    pub fn request_failed(&mut self, id: RequestId, peer: MemberId, error: &str) {
        let a = match self.requests.remove(&id) {
            Some(Pending::Join(a)) => a,
            Some(Pending::JoinSync(jp)) => jp.attempt,
            _ => return,
        };
        let mut a = a;
        a.errors.push(format!("{peer}: unreachable ({error})"));
        self.next_join_attempt(a);
    }

    /// Forgets every request in flight: their connections are gone (a
    /// network restart). A join among them fails with `reason`; syncs are
    /// asked again by the timers that asked them.
    pub fn abort_requests(&mut self, reason: &str) {
        let pending: Vec<Pending> = self.requests.drain().map(|(_, p)| p).collect();
        for p in pending {
            let group = match p {
                Pending::Join(a) => a.group,
                Pending::JoinSync(jp) => jp.attempt.group,
                Pending::Sync(_) => continue,
            };
            let reason = reason.to_owned();
            self.emit(CoreEvent::JoinFailed { group, reason });
        }
        for g in self.groups.values_mut() {
            g.behind_sync = None;
        }
    }

    /// Asks `peer` for the roster ops we lack, its key and where the
    /// members it reaches listen (the driver looks for members it cannot
    /// reach).
    pub fn sync_with(&mut self, gid: GroupId, peer: MemberId) -> Option<RequestId> {
        self.request_sync(gid, peer)
    }

    /// Applies a sync answer, only when `peer` is a member: the ops in one
    /// merge. A restored roster counts as confirmed once it is merged in.
    fn on_sync_answer(
        &mut self,
        now: u64,
        id: RequestId,
        gid: GroupId,
        peer: MemberId,
        ops: Vec<Vec<u8>>,
        envelopes: Vec<Vec<u8>>,
    ) {
        let Some(session) = self.session(&gid) else {
            return;
        };
        if !lock(&session).roster().is_member(&peer) {
            self.stats.answers_from_non_members += 1;
            return tracing::debug!(%peer, "sync answer from a non-member ignored");
        }
        let (outcome, change, confirmed_now) = {
            let mut s = lock(&session);
            let ops = decode_ops(&ops, Some(s.roster()), &mut self.stats);
            let (outcome, change) = s.apply_ops(ops);
            let confirmed_now = !s.is_roster_confirmed();
            s.confirm_roster();
            (outcome, change, confirmed_now)
        };
        if outcome.new > 0 || confirmed_now {
            self.on_membership_change(now, gid, change);
        }
        if confirmed_now {
            // The key made at restart went to nobody: hand it out now.
            if let Some(g) = self.groups.get_mut(&gid) {
                g.announce = true;
                g.announce_wait_from = None;
                g.announce_next = now;
            }
            self.announce(now, gid);
        }
        self.accept_encoded(now, gid, &envelopes, peer);
        // Answers are bounded: while they bring new ops, ask for more.
        if outcome.new > 0 {
            let next = self.request_sync(gid, peer);
            if let Some(g) = self
                .groups
                .get_mut(&gid)
                .filter(|g| g.behind_sync == Some(id))
            {
                g.behind_sync = next;
            }
        }
    }
}

/// Decodes (and so verifies) ops of an answer, at most as many as fit in
/// one; ops `known` already holds are skipped without a signature check.
fn decode_ops(ops: &[Vec<u8>], known: Option<&Roster>, stats: &mut CoreStats) -> Vec<SignedOp> {
    let mut out = Vec::new();
    for b in ops.iter().take(WELCOME_OPS_BYTES / 64) {
        match SignedOp::decode_unless_known(b, |h| known.is_some_and(|r| r.knows(h))) {
            Ok(Some(op)) => out.push(op),
            Ok(None) => stats.ops_known += 1,
            Err(_) => {}
        }
    }
    out
}
