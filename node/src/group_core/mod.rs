//! The sans-IO group core: groups, joins, roster sync both ways, key
//! requests and delivery, frames waiting for their key, rotation on
//! removal, and their timers.
//!
//! Like `quinn-proto` (and [`crate::net::discovery`]), it owns no socket
//! and no clock: inputs are method calls carrying `now` (unix ms), outputs
//! are [`Action`]s taken with [`GroupCore::poll`], and
//! [`GroupCore::poll_timeout`] says when to call
//! [`GroupCore::handle_timeout`]. Randomness comes from the `R` it is given.
//! Peers are named by [`MemberId`]; the driver maps them to connections.
//! The cryptography (sessions, roster merge, sealing) is `aura-crypto`'s.

mod action;
mod gossip;
mod join;
mod keys;
mod limits;
mod membership;
mod names;
mod rpc;
mod state;

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};

use aura_crypto::{
    FrameKind, GroupId, GroupSession, Hint, Identity, Invite, MemberId, OpKind, SignedOp,
};
use rand_core::{CryptoRng, RngCore};

pub use action::JoinStarted;
pub use action::{Action, CoreEvent, Reject, RequestId, Verdict};
pub use keys::KEY_GRANT_EVERY_MS;
pub use limits::*;
pub(crate) use state::lock;

use self::state::{CoreGroup, Pending};
use crate::wire::{self, ControlMsg, GossipMsg};

/// Errors of the core's operations.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// We hold no such group.
    #[error("unknown group {0}")]
    UnknownGroup(String),
    /// We were removed from the group.
    #[error("not a member of this group any more")]
    NotMember,
    /// A roster change was refused.
    #[error(transparent)]
    Roster(#[from] aura_crypto::RosterError),
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] aura_crypto::SealError),
    /// A key could not be made.
    #[error(transparent)]
    Envelope(#[from] aura_crypto::EnvelopeError),
    /// An invite was refused.
    #[error(transparent)]
    Invite(#[from] aura_crypto::InviteError),
}

/// Counters of the core.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CoreStats {
    /// Frames opened.
    pub frames_opened: u64,
    /// Frames that arrived before their key.
    pub frames_unreadable: u64,
    /// Join/sync answers from peers not in the roster, ignored.
    pub answers_from_non_members: u64,
    /// Gossiped roster ops dropped because the merge queue was full.
    pub roster_ops_dropped: u64,
    /// Envelopes sent straight to their recipient.
    pub keys_sent_direct: u64,
    /// Envelopes sealed by us (each costs a signature).
    pub envelopes_sealed: u64,
    /// Roster ops received in join/sync answers (each costs a signature check).
    pub ops_received: u64,
    /// Requests sent.
    pub requests_sent: u64,
    /// Envelopes received again, recognised without a signature check.
    pub envelopes_repeated: u64,
    /// Roster ops in answers that we held already (no signature check).
    pub ops_known: u64,
    /// Actions dropped because the driver did not drain them.
    pub actions_dropped: u64,
    /// Signatures of key envelopes checked (one handed over by its sender
    /// on its own connection costs none).
    pub envelope_checks: u64,
}

/// All groups of one node.
pub struct GroupCore<R> {
    identity: Identity,
    rng: R,
    groups: HashMap<GroupId, CoreGroup>,
    connected: HashSet<MemberId>,
    addrs: HashMap<MemberId, Vec<String>>,
    listen: Vec<String>,
    next_request: u64,
    requests: HashMap<RequestId, Pending>,
    op_queue: Vec<(GroupId, MemberId, SignedOp)>,
    /// When the queued ops are merged, ms.
    ops_due: Option<u64>,
    sync_back_at: HashMap<MemberId, u64>,
    names: names::PeerNames,
    actions: VecDeque<Action>,
    stats: CoreStats,
}

impl<R: RngCore + CryptoRng> GroupCore<R> {
    /// A core for `identity` with no group.
    pub fn new(identity: Identity, rng: R) -> Self {
        Self {
            identity,
            rng,
            groups: HashMap::new(),
            connected: HashSet::new(),
            addrs: HashMap::new(),
            listen: Vec::new(),
            next_request: 0,
            requests: HashMap::new(),
            op_queue: Vec::new(),
            ops_due: None,
            sync_back_at: HashMap::new(),
            names: Default::default(),
            actions: VecDeque::new(),
            stats: CoreStats::default(),
        }
    }

    /// Our member id.
    pub fn member_id(&self) -> MemberId {
        self.identity.member_id()
    }

    /// Counters.
    pub fn stats(&self) -> &CoreStats {
        &self.stats
    }

    /// The next action for the driver.
    pub fn poll(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The groups we hold.
    pub fn groups(&self) -> impl Iterator<Item = GroupId> + '_ {
        self.groups.keys().copied()
    }

    /// A group's session (shared with the voice engine).
    pub fn session(&self, gid: &GroupId) -> Option<std::sync::Arc<std::sync::Mutex<GroupSession>>> {
        self.groups.get(gid).map(|g| g.session.clone())
    }

    /// Whether we hold the key of every other member of `gid`.
    pub fn is_keyed(&self, gid: &GroupId) -> bool {
        self.groups
            .get(gid)
            .is_some_and(|g| g.missing_keys().is_empty())
    }

    /// Whether we were removed from `gid`.
    pub fn is_removed(&self, gid: &GroupId) -> bool {
        self.groups.get(gid).is_some_and(|g| g.removed)
    }

    fn push(&mut self, a: Action) {
        if self.actions.len() >= MAX_ACTIONS {
            self.stats.actions_dropped += 1;
            tracing::warn!("group core: action queue full, action dropped");
            return;
        }
        self.actions.push_back(a);
    }

    fn emit(&mut self, e: CoreEvent) {
        self.push(Action::Event(e));
    }

    fn group(&self, gid: &GroupId) -> Result<&CoreGroup, CoreError> {
        self.groups
            .get(gid)
            .ok_or_else(|| CoreError::UnknownGroup(hex::encode(&gid.0[..8])))
    }

    /// Where we listen (multiaddr strings), told to members we join.
    pub fn set_listen_addrs(&mut self, addrs: Vec<String>) {
        self.listen = addrs.into_iter().take(8).collect();
    }

    /// Where `member` listens (learnt from identify), passed on in welcomes.
    pub fn peer_addrs(&mut self, member: MemberId, addrs: Vec<String>) {
        if self.addrs.len() < MAX_ADDRS || self.addrs.contains_key(&member) {
            self.addrs
                .insert(member, crate::net::addrs::keep_best_strings(addrs));
        }
    }

    /// A connection to `member` is up: keys owed to it and announcements
    /// waiting for it go out.
    pub fn peer_connected(&mut self, now: u64, member: MemberId) {
        self.connected.insert(member);
        self.pay_owed_keys(now, member);
        let mut due = Vec::new();
        for (gid, g) in self.groups.iter_mut().filter(|(_, g)| g.announce) {
            let waiting = !g.announce_waits_for.is_empty();
            if waiting {
                // Retried only when the last awaited member connects.
                if g.announce_waits_for.remove(&member) && g.announce_waits_for.is_empty() {
                    due.push(*gid);
                }
            } else if lock(&g.session).roster().is_member(&member) {
                due.push(*gid);
            }
        }
        for gid in due {
            self.announce(now, gid);
        }
    }

    /// The last connection to `member` closed.
    pub fn peer_disconnected(&mut self, member: MemberId) {
        self.connected.remove(&member);
    }

    /// Creates a group owned by us.
    pub fn create_group(&mut self, now: u64, name: &str) -> Result<GroupId, CoreError> {
        let (session, _op) = GroupSession::create(self.identity.clone(), name, now, &mut self.rng)?;
        let gid = session.group_id();
        self.groups.insert(gid, CoreGroup::new(session, false));
        self.push(Action::SaveGroup(gid));
        let name = name.to_owned();
        self.emit(CoreEvent::Joined { group: gid, name });
        Ok(gid)
    }

    /// Takes in a group loaded from the store (its replay floors restored).
    /// It rotates at once (the saved counter may be behind what was sent
    /// before a crash); the new key goes to nobody until a member's sync
    /// answer confirmed the roster.
    pub fn insert_loaded(&mut self, now: u64, mut session: GroupSession) -> GroupId {
        if let Err(e) = session.rotate(now, &mut self.rng) {
            tracing::warn!(error = %e, "rotation after restart failed");
        }
        let gid = session.group_id();
        let name = session.roster().name().to_owned();
        let mut g = CoreGroup::new(session, true);
        g.restored = true;
        self.groups.insert(gid, g);
        self.push(Action::SaveGroup(gid));
        self.emit(CoreEvent::Joined { group: gid, name });
        gid
    }

    /// Forgets a group (after leaving it).
    pub fn remove_group(&mut self, gid: &GroupId) {
        self.groups.remove(gid);
        self.op_queue.retain(|(g, _, _)| g != gid);
    }

    /// An invite to `gid` naming `hints` (us first, then other members).
    pub fn invite(
        &mut self,
        gid: GroupId,
        expires_at_ms: u64,
        max_uses: u32,
        hints: Vec<Hint>,
    ) -> Result<String, CoreError> {
        let session = self.group(&gid)?.session.clone();
        let s = lock(&session);
        let inv = Invite::create(
            s.roster(),
            s.identity(),
            expires_at_ms,
            max_uses,
            hints,
            &mut self.rng,
        )?;
        Ok(inv.to_text()?)
    }

    /// Proposes a roster change signed by us. The op goes out under our
    /// current key (a removed member learns it happened); a rotation follows.
    pub fn propose(&mut self, now: u64, gid: GroupId, kind: OpKind) -> Result<(), CoreError> {
        let g = self.group(&gid)?;
        if g.removed {
            return Err(CoreError::NotMember);
        }
        let session = g.session.clone();
        let (op, change) = lock(&session).propose(kind, now)?;
        let payload = wire::encode(&ControlMsg::Op(op.encode()?));
        self.seal_with(now, gid, FrameKind::Control, &payload, false)?;
        self.on_membership_change(now, gid, change);
        Ok(())
    }

    /// Seals `payload` and publishes it; rotates first when due.
    pub fn seal(
        &mut self,
        now: u64,
        gid: GroupId,
        kind: FrameKind,
        payload: &[u8],
    ) -> Result<(), CoreError> {
        self.seal_with(now, gid, kind, payload, true)
    }

    fn seal_with(
        &mut self,
        now: u64,
        gid: GroupId,
        kind: FrameKind,
        payload: &[u8],
        rotate: bool,
    ) -> Result<(), CoreError> {
        let g = self.group(&gid)?;
        if g.removed {
            return Err(CoreError::NotMember);
        }
        let session = g.session.clone();
        let mut s = lock(&session);
        if rotate && s.needs_rotation(now) {
            let r = s.rotate(now, &mut self.rng)?;
            self.stats.envelopes_sealed += r.envelopes.len() as u64;
            let keys = r.envelopes.iter().map(|e| e.encode()).collect();
            self.push(Action::Publish {
                group: gid,
                msg: GossipMsg::Keys(keys),
            });
            self.push(Action::SaveGroup(gid));
        }
        let frame = s.seal(kind, payload, now)?;
        drop(s);
        self.push(Action::Publish {
            group: gid,
            msg: GossipMsg::Frame(frame),
        });
        Ok(())
    }

    pub(crate) fn send_control(&mut self, now: u64, gid: GroupId, msg: &ControlMsg) {
        if let Err(e) = self.seal(now, gid, FrameKind::Control, &wire::encode(msg)) {
            tracing::debug!(error = %e, "control message not sent");
        }
    }

    /// When [`Self::handle_timeout`] is due next, if any work waits.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.groups
            .values()
            .filter(|g| !g.removed)
            .filter_map(|g| {
                if g.announce {
                    Some(g.announce_next)
                } else if g.keys_complete {
                    None
                } else {
                    Some(g.last_key_request + KEY_REQUEST_EVERY_MS)
                }
            })
            .chain(self.ops_due)
            .min()
    }

    /// Timers: merges queued roster ops, retries announcements, asks again
    /// for missing keys.
    pub fn handle_timeout(&mut self, now: u64) {
        self.apply_queued_ops(now);
        let gids: Vec<GroupId> = self.groups.keys().copied().collect();
        for gid in gids {
            self.group_timers(now, gid);
        }
    }
}
