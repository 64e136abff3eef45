//! The roster: a signed, hash-linked DAG of membership ops with a
//! deterministic merge.
//!
//! Every op is signed by its author and names the DAG heads it saw as
//! parents. A new op is accepted when its signature verifies, its parents
//! are known, and its author was authorised in the state computed from the
//! op's own causal history. The current state is the result of applying
//! every op in one deterministic topological order (ties broken by op hash),
//! skipping (but keeping) ops that a concurrent removal or demotion made
//! invalid. Members holding the same op set therefore compute the same state
//! and the same [`Roster::head_hash`], whatever order the ops arrived in.

mod op;
mod state;

use std::collections::{BTreeSet, HashMap, HashSet};

use sha2::{Digest, Sha256};

pub use op::{
    GroupId, InviteId, Op, OpHash, OpKind, Role, SignedOp, MAX_NAME_LEN, MAX_OP_BYTES, MAX_PARENTS,
};
pub(crate) use state::RosterState;
pub use state::MAX_MEMBERS;

use crate::error::RosterError;
use crate::identity::{Identity, MemberId, ShortId};

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

/// A group's membership log and its current state.
#[derive(Clone, Debug)]
pub struct Roster {
    group: GroupId,
    ops: HashMap<OpHash, SignedOp>,
    children: HashMap<OpHash, Vec<OpHash>>,
    order: Vec<OpHash>,
    heads: BTreeSet<OpHash>,
    skipped: HashSet<OpHash>,
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
        let h = create.hash();
        Ok(Self {
            group: GroupId(h.0),
            ops: HashMap::from([(h, create)]),
            children: HashMap::new(),
            order: vec![h],
            heads: BTreeSet::from([h]),
            skipped: HashSet::new(),
            state,
        })
    }

    /// Rebuilds a roster from stored or synced ops (any order), verifying each.
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
        // Apply in rounds until no progress: handles any input order.
        loop {
            let before = pending.len();
            let mut still = Vec::new();
            for op in pending {
                match roster.apply(op.clone()) {
                    Ok(_) => {}
                    Err(RosterError::MissingParents(_)) => still.push(op),
                    Err(e) => return Err(e),
                }
            }
            pending = still;
            if pending.is_empty() {
                return Ok(roster);
            }
            if pending.len() == before {
                let missing = roster.missing_parents(&pending[0].op);
                return Err(RosterError::MissingParents(missing));
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

    /// Applies an op received from a peer (or storage). Idempotent.
    pub fn apply(&mut self, op: SignedOp) -> Result<Applied, RosterError> {
        let h = op.hash();
        if self.ops.contains_key(&h) {
            return Ok(Applied::Known);
        }
        if matches!(op.op.kind, OpKind::Create { .. }) {
            return Err(RosterError::WrongGroup);
        }
        if op.op.group != self.group {
            return Err(RosterError::WrongGroup);
        }
        let missing = self.missing_parents(&op.op);
        if !missing.is_empty() {
            return Err(RosterError::MissingParents(missing));
        }
        if self.ops.len() >= MAX_OPS {
            return Err(RosterError::LimitReached);
        }
        let extends_heads = op.op.parents.len() == self.heads.len()
            && op.op.parents.iter().zip(&self.heads).all(|(a, b)| a == b);
        if extends_heads {
            // Causal history is the whole DAG: its state is the current state,
            // and the new op sorts last in the linearisation.
            self.state.apply(&op.op)?;
            self.insert(op);
            self.order.push(h);
        } else {
            let mut past = self.state_of_ancestors(&op.op.parents);
            past.apply(&op.op)?;
            self.insert(op);
            self.recompute();
        }
        Ok(Applied::New)
    }

    fn insert(&mut self, op: SignedOp) {
        let h = op.hash();
        for p in &op.op.parents {
            self.heads.remove(p);
            self.children.entry(*p).or_default().push(h);
        }
        self.heads.insert(h);
        self.ops.insert(h, op);
    }

    fn missing_parents(&self, op: &Op) -> Vec<OpHash> {
        op.parents
            .iter()
            .filter(|p| !self.ops.contains_key(p))
            .copied()
            .collect()
    }

    /// Deterministic topological order of `subset` (all ops if None).
    fn linearise(&self, subset: Option<&HashSet<OpHash>>) -> Vec<OpHash> {
        let inside = |h: &OpHash| subset.is_none_or(|s| s.contains(h));
        let mut indeg: HashMap<OpHash, usize> = HashMap::new();
        let mut ready = BTreeSet::new();
        for (h, op) in &self.ops {
            if !inside(h) {
                continue;
            }
            let d = op.op.parents.len();
            indeg.insert(*h, d);
            if d == 0 {
                ready.insert(*h);
            }
        }
        let mut out = Vec::with_capacity(indeg.len());
        while let Some(h) = ready.pop_first() {
            out.push(h);
            for c in self.children.get(&h).into_iter().flatten() {
                if let Some(d) = indeg.get_mut(c) {
                    *d -= 1;
                    if *d == 0 {
                        ready.insert(*c);
                    }
                }
            }
        }
        out
    }

    fn run(&self, order: &[OpHash], skipped: Option<&mut HashSet<OpHash>>) -> RosterState {
        let mut state = RosterState::default();
        let mut skip = HashSet::new();
        for h in order {
            if let Some(op) = self.ops.get(h) {
                if state.apply(&op.op).is_err() {
                    skip.insert(*h);
                }
            }
        }
        if let Some(s) = skipped {
            *s = skip;
        }
        state
    }

    fn ancestors(&self, from: &[OpHash]) -> HashSet<OpHash> {
        let mut seen = HashSet::new();
        let mut stack: Vec<OpHash> = from.to_vec();
        while let Some(h) = stack.pop() {
            if seen.insert(h) {
                if let Some(op) = self.ops.get(&h) {
                    stack.extend(op.op.parents.iter().copied());
                }
            }
        }
        seen
    }

    fn state_of_ancestors(&self, parents: &[OpHash]) -> RosterState {
        let anc = self.ancestors(parents);
        let order = self.linearise(Some(&anc));
        self.run(&order, None)
    }

    fn recompute(&mut self) {
        self.order = self.linearise(None);
        let mut skipped = HashSet::new();
        self.state = self.run(&self.order, Some(&mut skipped));
        self.skipped = skipped;
    }

    fn propose(
        &mut self,
        identity: &Identity,
        kind: OpKind,
        now: u64,
    ) -> Result<SignedOp, RosterError> {
        let op = Op {
            group: self.group,
            parents: self.heads.iter().copied().collect(),
            author: identity.member_id(),
            at_ms: now,
            kind,
        }
        .sign(identity)?;
        self.apply(op.clone())?;
        Ok(op)
    }

    /// Adds `member` with `role`; returns the signed op to broadcast.
    pub fn add(
        &mut self,
        identity: &Identity,
        member: MemberId,
        role: Role,
        invite: Option<InviteId>,
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
        self.heads.iter().copied().collect()
    }

    /// SHA-256 over the sorted heads: equal iff both sides hold the same ops.
    pub fn head_hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"aura-roster-head-v1");
        for x in &self.heads {
            h.update(x.0);
        }
        h.finalize().into()
    }

    /// Eight hex characters of the head hash, for people to compare.
    pub fn short_head(&self) -> String {
        hex::encode(&self.head_hash()[..4])
    }

    /// All ops in the deterministic topological order (for sync and storage).
    pub fn ops(&self) -> impl Iterator<Item = &SignedOp> + '_ {
        self.order.iter().filter_map(|h| self.ops.get(h))
    }

    /// Number of ops in the log.
    pub fn op_count(&self) -> usize {
        self.ops.len()
    }

    /// Whether the op was kept but skipped by the merge (made invalid by a
    /// concurrent op).
    pub fn is_skipped(&self, h: &OpHash) -> bool {
        self.skipped.contains(h)
    }

    /// Whether the op is in our log (a peer's head we lack means we are behind).
    pub fn knows(&self, h: &OpHash) -> bool {
        self.ops.contains_key(h)
    }

    /// Ops a peer whose heads are `their_heads` lacks, in topological order.
    pub fn ops_missing_from(&self, their_heads: &[OpHash]) -> Vec<SignedOp> {
        let known: Vec<OpHash> = their_heads
            .iter()
            .filter(|h| self.ops.contains_key(h))
            .copied()
            .collect();
        let have = self.ancestors(&known);
        self.ops()
            .filter(|o| !have.contains(&o.hash()))
            .cloned()
            .collect()
    }
}
