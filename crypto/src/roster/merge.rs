//! The deterministic merge: one topological order of all ops (ties broken
//! by hash) in which no op of a member is applied while a revocation of
//! that member it did not see is still to come.
//!
//! A *revocation* of `m` is an op that may lower `m`'s authority: `Remove
//! {m}`, `SetRole {m, Member}`, `m`'s own `Leave`, and `m`'s own
//! `TransferOwnership`. An op by `m` that is ready to apply while a
//! revocation of `m` that does not have it in its past is still pending
//! waits (is *parked*) until that revocation has been applied or skipped.
//! When applied, an op of `m` has no effect if a revocation of `m` that
//! took effect is not in its causal past and lowered `m` below the role the
//! op needs. So an op signed by a member whose authority was revoked by an
//! op it did not see has no effect, wherever its hash sorts.
//!
//! Only equivocation makes parked ops wait on each other (e.g. an owner
//! signing two concurrent transfers). Then the parked op with the lowest
//! hash is *forced*: a forced `Leave` applies, a forced transfer only
//! demotes its author (nobody gains ownership, so its author cannot use a
//! second transfer to undo the first), and any other forced op has no effect.
//!
//! Cost: O(n log n) plus one O(n) ancestry walk per revocation that has
//! concurrent ops of its target (none in a history without concurrency).

use std::collections::{BTreeSet, HashMap};

use crate::identity::MemberId;
use crate::roster::dag::{Bits, Dag};
use crate::roster::op::{Op, OpHash, OpKind, Role};
use crate::roster::state::RosterState;

/// The result of a merge.
#[derive(Debug, Default)]
pub(crate) struct Merged {
    /// Op indices in application order.
    pub(crate) order: Vec<u32>,
    /// Per op index: kept but without effect.
    pub(crate) skipped: Vec<bool>,
    /// The state after all ops.
    pub(crate) state: RosterState,
}

/// The member whose authority `op` may lower, if any.
pub(crate) fn revokes(op: &Op) -> Option<MemberId> {
    match &op.kind {
        OpKind::Remove { member } => Some(*member),
        OpKind::SetRole { member, role } if *role < Role::Admin => Some(*member),
        OpKind::Leave | OpKind::TransferOwnership { .. } => Some(op.author),
        _ => None,
    }
}

/// Merges all ops of `dag`.
pub(crate) fn merge(dag: &Dag) -> Merged {
    Merger::new(dag).run()
}

struct Merger<'a> {
    dag: &'a Dag,
    indeg: Vec<u32>,
    ready: BTreeSet<(OpHash, u32)>,
    /// Revocations not yet applied, by target.
    pending: HashMap<MemberId, BTreeSet<u32>>,
    parked: BTreeSet<(OpHash, u32)>,
    parked_by: HashMap<MemberId, Vec<u32>>,
    /// Revocations that took effect, by target: (op, role left; None = gone).
    effective: HashMap<MemberId, Vec<(u32, Option<Role>)>>,
    past_of: HashMap<u32, Bits>,
    future_of: HashMap<u32, Bits>,
    out: Merged,
}

impl<'a> Merger<'a> {
    fn new(dag: &'a Dag) -> Self {
        let n = dag.len();
        let mut indeg = Vec::with_capacity(n);
        let mut ready = BTreeSet::new();
        let mut pending: HashMap<MemberId, BTreeSet<u32>> = HashMap::new();
        for i in 0..n as u32 {
            let d = dag.parents(i).len() as u32;
            indeg.push(d);
            if d == 0 {
                ready.insert((dag.op(i).hash(), i));
            }
            if let Some(t) = revokes(&dag.op(i).op) {
                pending.entry(t).or_default().insert(i);
            }
        }
        Self {
            dag,
            indeg,
            ready,
            pending,
            parked: BTreeSet::new(),
            parked_by: HashMap::new(),
            effective: HashMap::new(),
            past_of: HashMap::new(),
            future_of: HashMap::new(),
            out: Merged {
                order: Vec::with_capacity(n),
                skipped: vec![false; n],
                state: RosterState::default(),
            },
        }
    }

    fn run(mut self) -> Merged {
        loop {
            let (i, forced) = if let Some(next) = self.ready.pop_first() {
                // An op that a revocation it did not see already voids is
                // applied (skipped) at once; otherwise it waits while one is
                // pending.
                if !self.void(next.1) && self.blocked(next.1) {
                    self.park(next);
                    continue;
                }
                (next.1, false)
            } else if let Some(next) = self.parked.pop_first() {
                let author = self.dag.op(next.1).op.author;
                if let Some(list) = self.parked_by.get_mut(&author) {
                    list.retain(|j| *j != next.1);
                }
                (next.1, true)
            } else {
                break;
            };
            self.apply(i, forced);
            for &c in self.dag.children(i) {
                let d = &mut self.indeg[c as usize];
                *d -= 1;
                if *d == 0 {
                    self.ready.insert((self.dag.op(c).hash(), c));
                }
            }
        }
        self.out
    }

    /// `a` is in the causal past of `b` (strictly).
    fn before(&mut self, a: u32, b: u32) -> bool {
        if a == b || self.dag.depth(a) >= self.dag.depth(b) {
            return false;
        }
        let dag = self.dag;
        self.past_of
            .entry(b)
            .or_insert_with(|| dag.past(dag.parents(b)))
            .has(a)
    }

    /// `a` is in the causal past of `b`, for an `a` already applied (its
    /// descendants are walked once, however many ops ask).
    fn seen_by(&mut self, a: u32, b: u32) -> bool {
        if a == b || self.dag.depth(a) >= self.dag.depth(b) {
            return false;
        }
        let dag = self.dag;
        self.future_of
            .entry(a)
            .or_insert_with(|| dag.future(a))
            .has(b)
    }

    /// A revocation of `i`'s author that `i` did not see took effect and
    /// left the author without the role `i` needs.
    fn void(&mut self, i: u32) -> bool {
        let dag = self.dag;
        let op = &dag.op(i).op;
        let Some(list) = self.effective.remove(&op.author) else {
            return false;
        };
        let needed = Some(self.out.state.needed(op));
        let void = list
            .iter()
            .any(|&(r, left)| left < needed && !self.seen_by(r, i));
        self.effective.insert(op.author, list);
        void
    }

    /// A revocation of `i`'s author that `i` did not see is still pending.
    fn blocked(&mut self, i: u32) -> bool {
        let author = self.dag.op(i).op.author;
        // Taken out and put back (not cloned): a flood of concurrent
        // revocations of one member must not cost a copy per op.
        let Some(list) = self.pending.remove(&author) else {
            return false;
        };
        let blocked = list.iter().any(|&r| r != i && !self.before(i, r));
        self.pending.insert(author, list);
        blocked
    }

    fn park(&mut self, next: (OpHash, u32)) {
        let author = self.dag.op(next.1).op.author;
        self.parked.insert(next);
        self.parked_by.entry(author).or_default().push(next.1);
    }

    fn apply(&mut self, i: u32, forced: bool) {
        let dag = self.dag;
        let op = &dag.op(i).op;
        let target = revokes(op);
        if let Some(t) = target {
            if let Some(list) = self.pending.get_mut(&t) {
                list.remove(&i);
            }
        }
        let before_target = target.and_then(|t| self.out.state.members.get(&t).copied());
        let mut ok = !self.void(i);
        let mut demote_only = false;
        if forced {
            match op.kind {
                OpKind::Leave => {}
                OpKind::TransferOwnership { .. } => demote_only = true,
                _ => ok = false,
            }
        }
        let state = &mut self.out.state;
        if ok {
            let r = if demote_only {
                state.demote_owner(op)
            } else {
                state.apply(op)
            };
            ok = r.is_ok();
        }
        if let (true, Some(t)) = (ok, target) {
            let left = state.members.get(&t).copied();
            if left < before_target {
                self.effective.entry(t).or_default().push((i, left));
            }
        }
        self.out.skipped[i as usize] = !ok;
        self.out.order.push(i);
        // Ops of the target waiting on this revocation may go on.
        if let Some(t) = target {
            for j in self.parked_by.remove(&t).unwrap_or_default() {
                let h = self.dag.op(j).hash();
                self.parked.remove(&(h, j));
                self.ready.insert((h, j));
            }
        }
    }
}
