//! Group gossip: validate, open, keep frames that arrived before their key,
//! accept key envelopes, and act on the control messages the core owns.

use std::collections::VecDeque;

use aura_crypto::{
    EnvelopeError, FrameHeader, FrameKind, GroupId, KeyEnvelope, MemberId, OpenError, Role,
    ShortId, SignedOp,
};
use rand_core::{CryptoRng, RngCore};

use super::{
    keys::{screen_keys, Screened},
    lock,
    state::{push_bounded, PENDING_ENVELOPES_MAX, PENDING_FRAMES_MAX},
    Action, CoreEvent, GroupCore, Reject, Verdict,
};
use crate::wire::{self, ControlMsg, GossipMsg};

/// What became of an envelope addressed to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// Installed, known already, or waiting for its sender's add op.
    Kept,
    /// Its signature or encryption does not hold: forged.
    Forged,
}

impl<R: RngCore + CryptoRng> GroupCore<R> {
    /// Validates and handles one gossip message of group `gid`, handed to
    /// us by `origin` (the transport-authenticated peer, `None` when it is
    /// not an aura identity).
    pub fn handle_gossip(
        &mut self,
        now: u64,
        gid: GroupId,
        origin: Option<MemberId>,
        data: &[u8],
    ) -> Verdict {
        if data.len() > wire::MAX_GOSSIP_BYTES {
            return Verdict::Reject(Reject::Oversized, "oversized".into());
        }
        let Some(msg) = wire::decode::<GossipMsg>(data) else {
            return Verdict::Reject(Reject::Undecodable, "undecodable gossip".into());
        };
        match msg {
            GossipMsg::Frame(frame) => self.on_frame(now, gid, origin, &frame, true),
            GossipMsg::Keys(list) => self.on_keys(now, gid, origin, &list),
        }
    }

    fn on_keys(
        &mut self,
        now: u64,
        gid: GroupId,
        origin: Option<MemberId>,
        list: &[Vec<u8>],
    ) -> Verdict {
        let me = self.member_id();
        let Some(g) = self.groups.get(&gid) else {
            return Verdict::Ignore;
        };
        let screened = screen_keys(gid, me, lock(&g.session).roster(), list);
        match screened {
            Err((why, text)) => Verdict::Reject(why, text),
            Ok(None) => Verdict::Ignore,
            Ok(Some(Screened::FromMember { sender, mine })) => {
                for env in mine {
                    if self.accept_envelope(now, gid, env, origin) == Accepted::Forged {
                        return Verdict::Reject(Reject::Forged, "forged key envelope".into());
                    }
                }
                // The envelopes for others were not checked: the message is
                // passed on (kept for gossip repair) only when its sender
                // handed it over on its own connection, so a forgery costs
                // the peer that made it, not us.
                if origin == Some(sender) {
                    Verdict::Accept
                } else {
                    Verdict::Ignore
                }
            }
            Ok(Some(Screened::FromUnknown(mine))) => {
                if let Some(env) = mine {
                    self.accept_envelope(now, gid, *env, origin);
                    self.roster_behind(now, gid, origin);
                }
                Verdict::Ignore
            }
        }
    }

    /// Accepts an envelope addressed to us, handed over by `via` (see
    /// `GroupSession::accept_envelope_from`); one from a sender our roster
    /// does not list yet waits (bounded) for its add op.
    pub(crate) fn accept_envelope(
        &mut self,
        now: u64,
        gid: GroupId,
        env: KeyEnvelope,
        via: Option<MemberId>,
    ) -> Accepted {
        let (new, outcome) = self.take_envelope(gid, env, via);
        if let Some(sender) = new {
            self.push(Action::SaveGroup(gid));
            self.retry_pending(now, gid, vec![sender]);
        }
        outcome
    }

    /// Installs an envelope's key; its sender when the key was new. The same
    /// envelope again (a key request answered by the last grant, a sync
    /// answer) is recognised by its bytes and costs no signature check.
    fn take_envelope(
        &mut self,
        gid: GroupId,
        env: KeyEnvelope,
        via: Option<MemberId>,
    ) -> (Option<MemberId>, Accepted) {
        let Some(g) = self.groups.get_mut(&gid) else {
            return (None, Accepted::Kept);
        };
        let bytes = env.encode();
        if g.last_envelope.get(&env.sender) == Some(&bytes) {
            self.stats.envelopes_repeated += 1;
            return (None, Accepted::Kept);
        }
        let r = lock(&g.session).accept_envelope_from(&env, via);
        // Checked unless its sender handed it over on its own connection
        // (or it was refused before any signature work).
        let screened_out = matches!(
            r,
            Err(EnvelopeError::NotAMember | EnvelopeError::WrongGroup)
        );
        if via != Some(env.sender) && !screened_out {
            self.stats.envelope_checks += 1;
        }
        if r.is_ok() {
            g.last_envelope.insert(env.sender, bytes);
        }
        let new = match r {
            Ok(Some(epoch)) => {
                let first = g.have_keys.insert(env.sender);
                self.emit(CoreEvent::KeysReceived {
                    group: gid,
                    sender: env.sender,
                    epoch,
                    first,
                });
                Some(env.sender)
            }
            Ok(None) => {
                g.have_keys.insert(env.sender);
                None
            }
            Err(EnvelopeError::NotAMember) => {
                push_bounded(&mut g.pending_envelopes, (env, via), PENDING_ENVELOPES_MAX);
                None
            }
            Err(
                e @ (EnvelopeError::BadSignature | EnvelopeError::Decrypt | EnvelopeError::BadKey),
            ) => {
                tracing::debug!(error = %e, "forged envelope refused");
                return (None, Accepted::Forged);
            }
            Err(e) => {
                tracing::debug!(error = %e, "envelope refused");
                None
            }
        };
        (new, Accepted::Kept)
    }

    /// Tries again the envelopes that waited for a roster op, then the
    /// frames of every sender whose key just arrived (`keyed` and those
    /// envelopes' senders); the rest waits on (bounded).
    pub(crate) fn retry_pending(&mut self, now: u64, gid: GroupId, mut keyed: Vec<MemberId>) {
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        let envs: Vec<_> = g.pending_envelopes.drain(..).collect();
        let before = keyed.len();
        for (e, via) in envs {
            keyed.extend(self.take_envelope(gid, e, via).0);
        }
        if keyed.len() > before {
            self.push(Action::SaveGroup(gid));
        }
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        if keyed.is_empty() || g.pending_frames.is_empty() {
            return;
        }
        let ids: Vec<ShortId> = keyed.iter().map(|m| m.short_id()).collect();
        let (ready, wait): (VecDeque<_>, VecDeque<_>) = g
            .pending_frames
            .drain(..)
            .partition(|(sender, _, _)| ids.contains(sender));
        g.pending_frames = wait;
        for (_, origin, f) in ready {
            let _ = self.on_frame(now, gid, origin, &f, false);
        }
    }

    /// Opens and dispatches a frame. `fresh` is false for frames retried
    /// from the pending queue (not counted again, and not forwarded).
    fn on_frame(
        &mut self,
        now: u64,
        gid: GroupId,
        origin: Option<MemberId>,
        frame: &[u8],
        fresh: bool,
    ) -> Verdict {
        let header = match FrameHeader::parse(frame) {
            Ok(h) => h,
            Err(e) => {
                return Verdict::Reject(Reject::Undecodable, format!("bad frame header: {e}"))
            }
        };
        if header.room != gid.room() {
            return Verdict::Reject(Reject::WrongGroup, "frame for another group".into());
        }
        let Some(g) = self.groups.get_mut(&gid) else {
            return Verdict::Ignore;
        };
        // A frame handed over by its author on the author's own connection
        // needs no signature check: the transport authenticated that peer.
        let r = lock(&g.session).open_from(frame, now, origin);
        if let Err(e) = &r {
            tracing::debug!(error = %e, epoch = header.epoch, counter = header.counter, fresh, "frame not opened");
        }
        let opened = match r {
            Ok(o) => o,
            Err(OpenError::UnknownSender | OpenError::UnknownEpoch | OpenError::TooFarAhead) => {
                let pending = (header.sender, origin, frame.to_vec());
                push_bounded(&mut g.pending_frames, pending, PENDING_FRAMES_MAX);
                if !fresh {
                    return Verdict::Ignore;
                }
                self.stats.frames_unreadable += 1;
                let s = lock(&g.session);
                let by_member = origin.is_some_and(|m| s.roster().is_member(&m));
                let unknown = s.roster().member_by_short_id(header.sender).is_none();
                drop(s);
                if unknown {
                    self.roster_behind(now, gid, origin);
                }
                // We lack the key, others may not: forward it when a member
                // handed it to us (else a join storm stalls wherever keys
                // arrive late). Members holding the key check its signature.
                return if by_member {
                    Verdict::Accept
                } else {
                    Verdict::Ignore
                };
            }
            Err(OpenError::Replay | OpenError::TooOld | OpenError::OwnFrame) => {
                return Verdict::Ignore
            }
            Err(e) => return Verdict::Reject(Reject::Forged, format!("frame refused: {e}")),
        };
        // Durable before the frame has any effect, so a crash cannot make
        // us accept it again.
        let floors = lock(&g.session).take_replay_floors();
        if let Some(floors) = floors {
            self.push(Action::SaveReplayFloors { group: gid, floors });
        }
        self.stats.frames_opened += 1;
        if opened.kind == FrameKind::Control {
            match wire::decode::<ControlMsg>(&opened.payload) {
                Some(ControlMsg::Op(bytes)) => {
                    self.on_op(now, gid, origin.unwrap_or(opened.sender), &bytes);
                    return Verdict::Accept;
                }
                Some(ControlMsg::KeyRequest) => {
                    self.send_envelope_to(now, gid, opened.sender);
                    return Verdict::Accept;
                }
                Some(ControlMsg::Addrs(addrs)) => {
                    self.on_addrs(opened.sender, addrs);
                    return Verdict::Accept;
                }
                Some(_) => {}
                None => return Verdict::Reject(Reject::Forged, "bad control payload".into()),
            }
        }
        self.emit(CoreEvent::Frame {
            group: gid,
            opened,
            fresh,
        });
        Verdict::Accept
    }

    /// Someone our roster does not list sent us a frame or a key: our
    /// roster is behind. Sync with `origin` when it is a member, else with
    /// a connected member, the owner or an admin first (only they add
    /// members, and each holds the adds it made); at most once per peer per
    /// [`SYNC_BACK_EVERY_MS`](super::SYNC_BACK_EVERY_MS).
    pub(crate) fn roster_behind(&mut self, now: u64, gid: GroupId, origin: Option<MemberId>) {
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        // One such sync at a time per group: its answer brings every op the
        // peer holds, and asks again while answers bring new ones.
        if g.behind_sync
            .is_some_and(|id| self.requests.contains_key(&id))
        {
            return;
        }
        let mut candidates: Vec<(Role, MemberId)> = {
            let s = lock(&g.session);
            let me = s.member_id();
            match origin.filter(|m| s.roster().is_member(m)) {
                Some(m) => vec![(Role::Owner, m)],
                None => s
                    .roster()
                    .members()
                    .filter(|(m, _)| *m != me && self.connected.contains(m))
                    .map(|(m, r)| (r, m))
                    .collect(),
            }
        };
        candidates.sort_by_key(|(role, _)| std::cmp::Reverse(*role));
        let Some((_, peer)) = candidates
            .into_iter()
            .find(|(_, m)| self.may_sync_back(now, m))
        else {
            return;
        };
        let id = self.sync_back(now, gid, peer);
        if let Some(g) = self.groups.get_mut(&gid) {
            g.behind_sync = id;
        }
    }

    fn on_op(&mut self, now: u64, gid: GroupId, from: MemberId, bytes: &[u8]) {
        match SignedOp::decode(bytes) {
            Ok(op) => self.apply_remote_op(now, gid, from, op),
            Err(e) => tracing::debug!(error = %e, "undecodable op"),
        }
    }

    fn on_addrs(&mut self, member: MemberId, addrs: Vec<String>) {
        if member == self.member_id() || self.connected.contains(&member) {
            return;
        }
        let addrs = crate::net::addrs::keep_best_strings(addrs);
        self.push(Action::Dial { member, addrs });
    }
}
