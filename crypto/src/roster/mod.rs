//! The roster: a signed, hash-linked DAG of membership ops with a
//! deterministic merge.
//!
//! Every op is signed by its author and names (up to
//! [`MAX_PROPOSE_PARENTS`] of) the DAG heads it saw as parents. A new op is
//! stored when its signature verifies, its parents are known and its author
//! is the creator or named by an add in the log. Its effect is decided by
//! the merge (`merge.rs`): every op applied in one deterministic order, an op
//! having no effect when its author lacked the role for it, or lost it
//! through a revocation the op did not see. Members holding the same op set
//! compute the same state and the same [`Roster::head_hash`], whatever order
//! the ops arrived in.

mod dag;
pub(crate) mod hash;
mod merge;
mod op;
mod state;

use std::collections::HashSet;

use sha2::{Digest, Sha256};

pub use op::{
    GroupId, InviteId, InviteUse, Op, OpHash, OpKind, Role, SignedOp, MAX_NAME_LEN, MAX_OP_BYTES,
    MAX_PARENTS, MAX_PROPOSE_PARENTS,
};
pub(crate) use state::RosterState;
pub use state::MAX_MEMBERS;

use crate::error::RosterError;
use crate::identity::{Identity, MemberId, ShortId};
use dag::Dag;

/// Most ops a roster holds.
pub const MAX_OPS: usize = 200_000;

/// Outcome of [`Roster::apply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The op was already known (idempotent).
    Known,
    /// The op was new and is now part of the log.
    New,
}

/// Outcome of [`Roster::apply_batch`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchApplied {
    /// Ops new to the log.
    pub new: usize,
    /// Ops already known.
    pub known: usize,
    /// Ops refused (wrong group, limit reached, unknown author).
    pub refused: usize,
    /// Ops left out because some parents are still unknown: ask for more.
    pub missing_parents: usize,
}

/// A group's membership log and its current state.
#[derive(Clone, Debug)]
pub struct Roster {
    group: GroupId,
    dag: Dag,
    /// Authors whose ops are stored: the creator and every member an add names.
    named: HashSet<MemberId>,
    /// Op indices in the merge order.
    order: Vec<u32>,
    /// Per op index: kept but without effect.
    skipped: Vec<bool>,
    state: RosterState,
}

impl Roster {
    /// Creates a group owned by `identity`; returns the roster and the create op.
    pub fn create(
        identity: &Identity,
        name: &str,
        now: u64,
    ) -> Result<(Self, SignedOp), RosterError> {
        let op = Op {
            group: GroupId::default(),
            parents: Vec::new(),
            author: identity.member_id(),
            at_ms: now,
            kind: OpKind::Create {
                name: name.to_owned(),
            },
        }
        .sign(identity)?;
        let roster = Self::from_create(op.clone())?;
        Ok((roster, op))
    }

    fn from_create(create: SignedOp) -> Result<Self, RosterError> {
        let mut state = RosterState::default();
        state.apply(&create.op)?;
        let group = GroupId(create.hash().0);
        let named = HashSet::from([create.op.author]);
        let mut dag = Dag::default();
        let i = dag.insert(create);
        Ok(Self {
            group,
            dag,
            named,
            order: vec![i],
            skipped: vec![false],
            state,
        })
    }

    /// Rebuilds a roster from stored or synced ops (any order), verifying
    /// each; fails when an op is refused or its parents are missing.
    pub fn from_ops(ops: Vec<SignedOp>) -> Result<Self, RosterError> {
        let mut pending: Vec<SignedOp> = Vec::new();
        let mut roster = None;
        for op in ops {
            if roster.is_none() && matches!(op.op.kind, OpKind::Create { .. }) {
                roster = Some(Self::from_create(op)?);
            } else {
                pending.push(op);
            }
        }
        let mut roster = roster.ok_or(RosterError::NoCreate)?;
        let left = roster.admit_all(pending, true)?;
        roster.recompute();
        match left.first() {
            None => Ok(roster),
            Some(op) => Err(RosterError::MissingParents(roster.missing_parents(&op.op))),
        }
    }

    /// Applies many ops (a sync answer) with a single merge at the end;
    /// ops refused one by one are counted, never fatal.
    pub fn apply_batch(&mut self, ops: Vec<SignedOp>) -> BatchApplied {
        let mut out = BatchApplied::default();
        let mut fresh = Vec::with_capacity(ops.len());
        for op in ops {
            if self.dag.index_of(&op.hash()).is_some() {
                out.known += 1;
            } else {
                fresh.push(op);
            }
        }
        let before = self.dag.len();
        let total = fresh.len();
        // Never an error when not strict.
        if let Ok(left) = self.admit_all(fresh, false) {
            out.missing_parents = left.len();
        }
        out.new = self.dag.len() - before;
        out.refused = total - out.new - out.missing_parents;
        if out.new > 0 {
            self.recompute();
        }
        out
    }

    /// Inserts ops (without merging) in rounds until no progress; returns
    /// those whose parents are still missing.
    fn admit_all(
        &mut self,
        mut pending: Vec<SignedOp>,
        strict: bool,
    ) -> Result<Vec<SignedOp>, RosterError> {
        loop {
            let before = pending.len();
            let mut still = Vec::new();
            for op in pending {
                match self.admit(&op) {
                    Ok(()) => {
                        self.insert(op, false);
                    }
                    Err(RosterError::MissingParents(_) | RosterError::UnknownAuthor) => {
                        still.push(op)
                    }
                    Err(e) if strict => return Err(e),
                    Err(_) => {}
                }
            }
            pending = still;
            if pending.is_empty() || pending.len() == before {
                return Ok(pending);
            }
        }
    }

    /// The group id (hash of the create op).
    pub fn group_id(&self) -> GroupId {
        self.group
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Applies an op received from a peer (or storage). Idempotent. An op
    /// extending all heads that breaks the rules is refused; one concurrent
    /// with others is stored and the merge decides its effect.
    pub fn apply(&mut self, op: SignedOp) -> Result<Applied, RosterError> {
        if self.dag.index_of(&op.hash()).is_some() {
            return Ok(Applied::Known);
        }
        self.admit(&op)?;
        if self.extends_heads(&op.op) {
            // Its causal history is the whole log: it applies last, to the
            // current state.
            self.state.apply(&op.op)?;
            self.insert(op, true);
        } else {
            self.insert(op, false);
            self.recompute();
        }
        Ok(Applied::New)
    }

    /// Checks that an op may be stored (not whether it has effect).
    fn admit(&self, op: &SignedOp) -> Result<(), RosterError> {
        if matches!(op.op.kind, OpKind::Create { .. }) || op.op.group != self.group {
            return Err(RosterError::WrongGroup);
        }
        let missing = self.missing_parents(&op.op);
        if !missing.is_empty() {
            return Err(RosterError::MissingParents(missing));
        }
        if self.dag.len() >= MAX_OPS {
            return Err(RosterError::LimitReached);
        }
        if !self.named.contains(&op.op.author) {
            return Err(RosterError::UnknownAuthor);
        }
        Ok(())
    }

    fn extends_heads(&self, op: &Op) -> bool {
        op.parents.len() == self.dag.heads().len()
            && op.parents.iter().zip(self.dag.heads()).all(|(a, b)| a == b)
    }

    /// Stores an admitted op; `applied` when it was applied to the state
    /// (otherwise a merge must follow).
    fn insert(&mut self, op: SignedOp, applied: bool) {
        if let OpKind::Add { member, .. } = &op.op.kind {
            self.named.insert(*member);
        }
        let i = self.dag.insert(op);
        self.skipped.push(false);
        if applied {
            self.order.push(i);
        }
    }

    fn missing_parents(&self, op: &Op) -> Vec<OpHash> {
        op.parents
            .iter()
            .filter(|p| self.dag.index_of(p).is_none())
            .copied()
            .collect()
    }

    fn recompute(&mut self) {
        let m = merge::merge(&self.dag);
        self.order = m.order;
        self.skipped = m.skipped;
        self.state = m.state;
    }

    /// The parents a proposal names: every head, or the deepest
    /// [`MAX_PROPOSE_PARENTS`] of them when there are more.
    fn proposal_parents(&self) -> Vec<OpHash> {
        let heads = self.dag.heads();
        if heads.len() <= MAX_PROPOSE_PARENTS {
            return heads.iter().copied().collect();
        }
        let mut by_depth: Vec<(u32, OpHash)> = heads
            .iter()
            .filter_map(|h| self.dag.index_of(h).map(|i| (self.dag.depth(i), *h)))
            .collect();
        by_depth.sort_by(|a, b| b.cmp(a));
        let mut parents: Vec<OpHash> = by_depth
            .into_iter()
            .take(MAX_PROPOSE_PARENTS)
            .map(|(_, h)| h)
            .collect();
        parents.sort();
        parents
    }

    fn propose(
        &mut self,
        identity: &Identity,
        kind: OpKind,
        now: u64,
    ) -> Result<SignedOp, RosterError> {
        let op = Op {
            group: self.group,
            parents: self.proposal_parents(),
            author: identity.member_id(),
            at_ms: now,
            kind,
        }
        .sign(identity)?;
        if self.extends_heads(&op.op) {
            self.apply(op.clone())?;
        } else {
            // Some heads are left out: check the op keeps its effect.
            let mut trial = self.clone();
            trial.state.clone().apply(&op.op)?;
            trial.apply(op.clone())?;
            if trial.is_skipped(&op.hash()) {
                return Err(RosterError::Conflict(
                    "a concurrent op leaves the author without the role for this",
                ));
            }
            *self = trial;
        }
        Ok(op)
    }

    /// Adds `member` with `role`; returns the signed op to broadcast.
    pub fn add(
        &mut self,
        identity: &Identity,
        member: MemberId,
        role: Role,
        invite: Option<InviteUse>,
        now: u64,
    ) -> Result<SignedOp, RosterError> {
        let kind = OpKind::Add {
            member,
            role,
            invite,
        };
        self.propose(identity, kind, now)
    }

    /// Removes `member`.
    pub fn remove(
        &mut self,
        identity: &Identity,
        member: MemberId,
        now: u64,
    ) -> Result<SignedOp, RosterError> {
        self.propose(identity, OpKind::Remove { member }, now)
    }

    /// Changes `member`'s role.
    pub fn set_role(
        &mut self,
        identity: &Identity,
        member: MemberId,
        role: Role,
        now: u64,
    ) -> Result<SignedOp, RosterError> {
        self.propose(identity, OpKind::SetRole { member, role }, now)
    }

    /// `identity` leaves the group.
    pub fn leave(&mut self, identity: &Identity, now: u64) -> Result<SignedOp, RosterError> {
        self.propose(identity, OpKind::Leave, now)
    }

    /// Hands ownership to `to`.
    pub fn transfer_ownership(
        &mut self,
        identity: &Identity,
        to: MemberId,
        now: u64,
    ) -> Result<SignedOp, RosterError> {
        self.propose(identity, OpKind::TransferOwnership { to }, now)
    }

    /// Current members and roles, sorted by member id.
    pub fn members(&self) -> impl Iterator<Item = (MemberId, Role)> + '_ {
        self.state.members.iter().map(|(m, r)| (*m, *r))
    }

    /// Number of current members.
    pub fn len(&self) -> usize {
        self.state.members.len()
    }

    /// Always false: a roster has at least its owner.
    pub fn is_empty(&self) -> bool {
        self.state.members.is_empty()
    }

    /// A member's current role.
    pub fn role_of(&self, m: &MemberId) -> Option<Role> {
        self.state.members.get(m).copied()
    }

    /// Whether `m` is a current member.
    pub fn is_member(&self, m: &MemberId) -> bool {
        self.state.members.contains_key(m)
    }

    /// The current member with this short id.
    pub fn member_by_short_id(&self, s: ShortId) -> Option<MemberId> {
        self.state.short_ids.get(&s).copied()
    }

    /// How many adds redeemed this invite.
    pub fn invite_uses(&self, id: &InviteId) -> u32 {
        self.state.invite_uses.get(id).copied().unwrap_or(0)
    }

    /// Current DAG heads, sorted.
    pub fn heads(&self) -> Vec<OpHash> {
        self.dag.heads().iter().copied().collect()
    }

    /// SHA-256 over the sorted heads: equal iff both sides hold the same ops.
    pub fn head_hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"aura-roster-head-v1");
        for x in self.dag.heads() {
            h.update(x.0);
        }
        h.finalize().into()
    }

    /// Eight hex characters of the head hash, for people to compare.
    pub fn short_head(&self) -> String {
        hex::encode(&self.head_hash()[..4])
    }

    /// All ops in the merge order, a topological order (for sync and storage).
    pub fn ops(&self) -> impl Iterator<Item = &SignedOp> + '_ {
        self.order.iter().map(|i| self.dag.op(*i))
    }

    /// Number of ops in the log.
    pub fn op_count(&self) -> usize {
        self.dag.len()
    }

    /// Whether the op was kept but has no effect (its author lacked the
    /// role, or lost it through a revocation the op did not see).
    pub fn is_skipped(&self, h: &OpHash) -> bool {
        self.dag
            .index_of(h)
            .is_some_and(|i| self.skipped[i as usize])
    }

    /// Whether the op is in our log (a peer's head we lack means we are behind).
    pub fn knows(&self, h: &OpHash) -> bool {
        self.dag.index_of(h).is_some()
    }

    /// Ops a peer whose heads are `their_heads` lacks, in topological order.
    pub fn ops_missing_from(&self, their_heads: &[OpHash]) -> Vec<SignedOp> {
        self.ops_missing_within(their_heads, usize::MAX).0
    }

    /// As [`Self::ops_missing_from`], but only the first ops whose encoded
    /// sizes sum to at most `max_bytes` (always a prefix closed under
    /// parents, so the peer can apply it); `true` when nothing was left out.
    /// The peer asks again with its new heads for the rest.
    pub fn ops_missing_within(
        &self,
        their_heads: &[OpHash],
        max_bytes: usize,
    ) -> (Vec<SignedOp>, bool) {
        let known: Vec<u32> = their_heads
            .iter()
            .filter_map(|h| self.dag.index_of(h))
            .collect();
        let have = self.dag.past(&known);
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for &i in &self.order {
            if have.has(i) {
                continue;
            }
            let op = self.dag.op(i);
            // Encoded length plus its length prefix in a list of byte strings.
            let len = op.encode().map(|b| b.len()).unwrap_or(MAX_OP_BYTES) + 3;
            if bytes + len > max_bytes {
                return (out, false);
            }
            bytes += len;
            out.push(op.clone());
        }
        (out, true)
    }
}
