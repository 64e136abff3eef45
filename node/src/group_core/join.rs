//! Joining with an invite: ask the peers it names in turn; a welcome
//! whose roster lists us, sent by a member of that roster, makes us a
//! member; a roster too long for one answer is fetched in rounds.

use std::collections::VecDeque;

use aura_crypto::{GroupId, GroupSession, Invite, MemberId, Roster};
use rand_core::{CryptoRng, RngCore};

use super::{
    limits::{MAX_JOIN_ROUNDS, MAX_SYNC_HEADS},
    state::{CoreGroup, JoinAttempt, JoinProgress, Pending},
    Action, CoreError, CoreEvent, GroupCore, JoinStarted,
};
use crate::wire::{self, Request};

impl<R: RngCore + CryptoRng> GroupCore<R> {
    /// Starts joining with invite `text`, asking the peers it names in turn.
    pub fn join(&mut self, now: u64, text: &str) -> Result<JoinStarted, CoreError> {
        let invite = Invite::parse(text, now)?;
        let gid = invite.body.group;
        if self.groups.get(&gid).is_some_and(|g| !g.removed) {
            return Ok(JoinStarted::Already(gid));
        }
        let mut remaining = VecDeque::new();
        for (peer, addrs) in wire::invite_peers(&invite) {
            let Some(member) = MemberId::from_peer_id(&peer) else {
                continue;
            };
            let addrs = addrs.iter().map(|a| a.to_string()).collect();
            self.push(Action::Dial { member, addrs });
            remaining.push_back(member);
        }
        if remaining.is_empty() {
            return Err(aura_crypto::InviteError::Malformed.into());
        }
        let attempt = JoinAttempt {
            invite: text.trim().to_owned(),
            group: gid,
            remaining,
            errors: Vec::new(),
        };
        self.next_join_attempt(attempt);
        Ok(JoinStarted::Asking(gid))
    }

    pub(crate) fn next_join_attempt(&mut self, mut a: JoinAttempt) {
        let Some(peer) = a.remaining.pop_front() else {
            let reason = if a.errors.is_empty() {
                "no peer answered".into()
            } else {
                a.errors.join("; ")
            };
            return self.emit(CoreEvent::JoinFailed {
                group: a.group,
                reason,
            });
        };
        let req = Request::Join {
            invite: a.invite.clone(),
        };
        let id = self.send_request(peer, req);
        self.requests.insert(id, Pending::Join(a));
    }

    /// Finishes a join once we are in the roster, or asks the same peer for
    /// the rest of a roster too long for one answer.
    pub(crate) fn continue_join(&mut self, now: u64, jp: JoinProgress) {
        let me = self.member_id();
        if !jp.roster.is_member(&me) && jp.rounds < MAX_JOIN_ROUNDS {
            let heads = jp
                .roster
                .heads()
                .iter()
                .take(MAX_SYNC_HEADS)
                .map(|h| h.0)
                .collect();
            let req = Request::Sync {
                group: jp.attempt.group.0,
                heads,
            };
            let id = self.send_request(jp.peer, req);
            self.requests.insert(id, Pending::JoinSync(Box::new(jp)));
            return;
        }
        let JoinProgress {
            mut attempt,
            peer,
            roster,
            envelopes,
            peers,
            ..
        } = jp;
        if let Err(e) = self.finish_join(now, attempt.group, peer, roster, envelopes, peers) {
            attempt.errors.push(format!("{peer}: {e}"));
            self.next_join_attempt(attempt);
        }
    }

    /// Accepts the envelopes of an answer from `peer`.
    pub(crate) fn accept_encoded(
        &mut self,
        now: u64,
        gid: GroupId,
        envelopes: &[Vec<u8>],
        peer: MemberId,
    ) {
        for e in envelopes {
            // Layout only: accepting it verifies the signature (once).
            if let Ok(env) = aura_crypto::KeyEnvelope::parse(e) {
                self.accept_envelope(now, gid, env, Some(peer));
            }
        }
    }

    fn finish_join(
        &mut self,
        now: u64,
        gid: GroupId,
        peer: MemberId,
        roster: Roster,
        envelopes: Vec<Vec<u8>>,
        peers: Vec<(String, Vec<String>)>,
    ) -> Result<(), String> {
        if roster.group_id() != gid {
            return Err("the peer answered with another group".into());
        }
        if !roster.is_member(&self.member_id()) {
            return Err("the peer did not add us to the roster".into());
        }
        if !roster.is_member(&peer) {
            self.stats.answers_from_non_members += 1;
            return Err("the answering peer is not a member of the roster it sent".into());
        }
        let name = roster.name().to_owned();
        let mut session =
            GroupSession::from_roster(self.identity.clone(), roster, now, &mut self.rng);
        // A fresh epoch for our own key, so nothing is reused across re-joins;
        // sealed to each member as we announce (not all at once here).
        let _ = session.start_epoch(now, &mut self.rng);
        let members: Vec<MemberId> = session.roster().members().map(|(m, _)| m).collect();
        self.groups.insert(gid, CoreGroup::new(session, true));
        self.accept_encoded(now, gid, &envelopes, peer);
        self.learn_peers(gid, peers);
        self.push(Action::SaveGroup(gid));
        self.emit(CoreEvent::Joined { group: gid, name });
        for member in members {
            self.emit(CoreEvent::MemberJoined { group: gid, member });
        }
        self.announce(now, gid);
        Ok(())
    }
}
