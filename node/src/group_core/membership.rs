//! Keys on membership changes (our envelope for a member that joined or
//! asked, rotation when a member is removed), announcing ourselves in a
//! group, asking for missing keys, and roster ops from gossip.
//!
//! A gossiped op that extends our heads applies at once; any other waits
//! in a bounded queue merged once per [`TICK_MS`](super::TICK_MS): a flood of concurrent
//! ops costs one merge per tick, not one per op.

use aura_crypto::{GroupId, MemberId, MembershipChange, RosterError, SignedOp};
use rand_core::{CryptoRng, RngCore};

use super::{
    limits::{
        ANNOUNCE_WAIT_MS, CONFIRM_SYNC_EVERY_MS, KEY_REQUEST_EVERY_MS, OP_QUEUE_MAX,
        SYNCS_PER_ROUND, TICK_MS,
    },
    lock, Action, CoreEvent, GroupCore,
};
use crate::wire::{ControlMsg, GossipMsg, Request};

impl<R: RngCore + CryptoRng> GroupCore<R> {
    /// Reacts to roster changes: keys for new members, rotation after removals.
    pub(crate) fn on_membership_change(
        &mut self,
        now: u64,
        gid: GroupId,
        change: MembershipChange,
    ) {
        let me = self.member_id();
        if let Some(g) = self
            .groups
            .get_mut(&gid)
            .filter(|_| !change.added.is_empty())
        {
            g.keys_complete = false;
        }
        for m in &change.added {
            self.emit(CoreEvent::MemberJoined {
                group: gid,
                member: *m,
            });
            if *m != me {
                self.send_envelope_to(now, gid, *m);
            }
        }
        for m in &change.removed {
            if let Some(g) = self.groups.get_mut(&gid) {
                g.have_keys.remove(m);
                g.key_grants.forget(m);
                g.owed_keys.remove(m);
                g.last_envelope.remove(m);
            }
            if *m == me {
                if let Some(g) = self.groups.get_mut(&gid) {
                    g.removed = true;
                }
                self.emit(CoreEvent::RemovedFromGroup { group: gid });
            } else {
                self.emit(CoreEvent::MemberLeft {
                    group: gid,
                    member: *m,
                });
            }
        }
        if !change.removed.is_empty() && !change.removed.contains(&me) {
            self.rotate_now(now, gid);
        }
        if self
            .groups
            .get(&gid)
            .is_some_and(|g| !g.pending_envelopes.is_empty() || !g.pending_frames.is_empty())
        {
            self.retry_pending(now, gid, Vec::new());
        }
        self.push(Action::SaveGroup(gid));
    }

    /// A new epoch of our key, sealed to every remaining member.
    pub(crate) fn rotate_now(&mut self, now: u64, gid: GroupId) {
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        let r = lock(&g.session).rotate(now, &mut self.rng);
        match r {
            Ok(rot) => {
                self.stats.envelopes_sealed += rot.envelopes.len() as u64;
                let keys = rot.envelopes.iter().map(|e| e.encode()).collect();
                self.push(Action::Publish {
                    group: gid,
                    msg: GossipMsg::Keys(keys),
                });
            }
            Err(e) => tracing::warn!(error = %e, "rotation failed"),
        }
    }

    /// Our key for `member` (a new member, or one that asked), straight to
    /// it when connected; else it is owed and goes out when the member
    /// connects. Rate-limited per member.
    pub(crate) fn send_envelope_to(&mut self, now: u64, gid: GroupId, member: MemberId) {
        if !self.connected.contains(&member) {
            if let Some(g) = self.groups.get_mut(&gid) {
                if lock(&g.session).roster().is_member(&member) {
                    g.owed_keys.insert(member);
                }
            }
            return;
        }
        if let Some(env) = self.key_grant(now, gid, member) {
            self.send_keys_direct(gid, member, env);
        }
    }

    /// `member` connected: the keys we owe it in any group go out.
    pub(crate) fn pay_owed_keys(&mut self, now: u64, member: MemberId) {
        let owed: Vec<GroupId> = self
            .groups
            .iter_mut()
            .filter_map(|(gid, g)| g.owed_keys.remove(&member).then_some(*gid))
            .collect();
        for gid in owed {
            self.send_envelope_to(now, gid, member);
        }
    }

    /// Our envelope for `member`, at most one fresh one per
    /// [`super::keys::KEY_GRANT_EVERY_MS`] (the last one again in between).
    pub(crate) fn key_grant(
        &mut self,
        now: u64,
        gid: GroupId,
        member: MemberId,
    ) -> Option<Vec<u8>> {
        let g = self.groups.get_mut(&gid)?;
        let session = g.session.clone();
        let epoch = lock(&session).epoch();
        let rng = &mut self.rng;
        let sealed = &mut self.stats.envelopes_sealed;
        g.key_grants.grant(member, epoch, now, || {
            match lock(&session).envelope_for(member, rng) {
                Ok(env) => {
                    *sealed += 1;
                    Some(env.encode())
                }
                Err(e) => {
                    tracing::debug!(error = %e, "no envelope for member");
                    None
                }
            }
        })
    }

    /// Sends one envelope straight to a connected `member`.
    fn send_keys_direct(&mut self, gid: GroupId, member: MemberId, env: Vec<u8>) {
        let req = Request::Keys {
            group: gid.0,
            envelopes: vec![env],
        };
        self.send_request(member, req);
        self.stats.keys_sent_direct += 1;
    }

    /// Announces or asks for missing keys when due.
    pub(crate) fn group_timers(&mut self, now: u64, gid: GroupId) {
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        if g.removed {
            return;
        }
        if g.announce {
            if now >= g.announce_next {
                self.announce(now, gid);
            }
            return;
        }
        if now.saturating_sub(g.last_key_request) < KEY_REQUEST_EVERY_MS {
            return;
        }
        let missing = g.missing_keys();
        if missing.is_empty() {
            if let Some(g) = self.groups.get_mut(&gid) {
                g.keys_complete = true;
            }
            return;
        }
        // Ask the members we miss keys from directly (a sync answers with
        // their key). Gossip reaches only connected members, so the others
        // are dialled; for those whose address we lack, a connected member's
        // sync answer lists where they listen.
        let (connected, unconnected): (Vec<MemberId>, Vec<MemberId>) = missing
            .into_iter()
            .partition(|m| self.connected.contains(m));
        for m in connected.into_iter().take(SYNCS_PER_ROUND) {
            self.request_sync(gid, m);
        }
        let mut unknown = false;
        for m in unconnected.into_iter().take(SYNCS_PER_ROUND) {
            match self.addrs.get(&m) {
                Some(addrs) => {
                    let addrs = addrs.clone();
                    self.push(Action::Dial { member: m, addrs });
                }
                None => unknown = true,
            }
        }
        if unknown {
            let any = self
                .groups
                .get(&gid)
                .and_then(|g| g.others().into_iter().find(|m| self.connected.contains(m)));
            if let Some(peer) = any {
                self.request_sync(gid, peer);
            }
        }
        if let Some(g) = self.groups.get_mut(&gid) {
            g.last_key_request = now;
        }
    }

    /// Sends our key to every member, asks for theirs, says where we listen.
    /// Retried each [`TICK_MS`] (and on each new connection) until a member
    /// is connected and we are connected to every member, or
    /// [`ANNOUNCE_WAIT_MS`] passed.
    pub(crate) fn announce(&mut self, now: u64, gid: GroupId) {
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        g.announce_next = now + TICK_MS;
        let others = g.others();
        let connected = others.iter().filter(|m| self.connected.contains(m)).count();
        if connected == 0 && !others.is_empty() || g.removed {
            return;
        }
        if !lock(&g.session).is_roster_confirmed() {
            return self.ask_to_confirm_roster(now, gid, others);
        }
        // Gossip reaches only the members we are connected to, so wait (a
        // little) for the connections the welcome's addresses are dialling.
        if connected < others.len() {
            let since = *g.announce_wait_from.get_or_insert(now);
            if now.saturating_sub(since) < ANNOUNCE_WAIT_MS {
                g.announce_waits_for = others
                    .into_iter()
                    .filter(|m| !self.connected.contains(m))
                    .collect();
                return;
            }
        }
        g.announce = false;
        g.announce_waits_for.clear();
        g.last_key_request = now;
        // A fresh grant for everyone (a restarted member's floors sit past
        // what it granted before); the unconnected get theirs on connecting.
        for m in &others {
            g.key_grants.forget(m);
        }
        for m in others {
            self.send_envelope_to(now, gid, m);
        }
        let addrs = self.listen.clone();
        self.send_control(now, gid, &ControlMsg::Addrs(addrs));
        // A restarted member needs a fresh envelope from everyone (its
        // restored replay floors may sit past their chains); a joiner gets
        // each member's key as that member learns of it.
        if self.groups.get(&gid).is_some_and(|g| g.restored) {
            self.send_control(now, gid, &ControlMsg::KeyRequest);
        }
        self.emit(CoreEvent::Announced { group: gid });
    }

    /// A restored roster may miss removals: before any key goes out, merge
    /// a member's roster (sync with connected members). Alone in the
    /// roster, there is nobody a key could leak to.
    fn ask_to_confirm_roster(&mut self, now: u64, gid: GroupId, others: Vec<MemberId>) {
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        if others.is_empty() {
            lock(&g.session).confirm_roster();
            return;
        }
        if g.last_confirm_sync
            .is_some_and(|t| now.saturating_sub(t) < CONFIRM_SYNC_EVERY_MS)
        {
            return;
        }
        g.last_confirm_sync = Some(now);
        let connected: Vec<MemberId> = others
            .into_iter()
            .filter(|m| self.connected.contains(m))
            .take(3)
            .collect();
        for m in connected {
            self.request_sync(gid, m);
        }
    }

    /// Applies (or queues) a roster op a member sent over gossip.
    pub(crate) fn apply_remote_op(&mut self, now: u64, gid: GroupId, from: MemberId, op: SignedOp) {
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        let session = g.session.clone();
        let extends = op.op.parents == lock(&session).roster().heads();
        if !extends {
            if self.op_queue.len() >= OP_QUEUE_MAX {
                self.stats.roster_ops_dropped += 1;
            } else {
                self.op_queue.push((gid, from, op));
                self.ops_due.get_or_insert(now + TICK_MS);
            }
            return;
        }
        let r = lock(&session).apply_op(op);
        match r {
            Ok(change) => self.on_membership_change(now, gid, change),
            Err(RosterError::MissingParents(_)) => {
                self.request_sync(gid, from);
            }
            Err(e) => tracing::debug!(error = %e, "roster op refused"),
        }
    }

    /// Merges the queued ops when due, one batch per group.
    pub(crate) fn apply_queued_ops(&mut self, now: u64) {
        if self.ops_due.is_none_or(|t| now < t) {
            return;
        }
        self.ops_due = None;
        let mut by_group: Vec<(GroupId, MemberId, Vec<SignedOp>)> = Vec::new();
        for (gid, from, op) in self.op_queue.drain(..) {
            match by_group.iter_mut().find(|(g, _, _)| *g == gid) {
                Some((_, last, ops)) => {
                    *last = from;
                    ops.push(op);
                }
                None => by_group.push((gid, from, vec![op])),
            }
        }
        for (gid, from, ops) in by_group {
            let Some(g) = self.groups.get(&gid) else {
                continue;
            };
            let (outcome, change) = lock(&g.session).apply_ops(ops);
            if outcome.new > 0 {
                self.on_membership_change(now, gid, change);
            }
            if outcome.missing_parents > 0 {
                self.request_sync(gid, from);
            }
        }
    }
}
