//! Roster ops from gossip. One that extends our heads applies at once (the
//! cheap, usual case); any other needs a full merge, so such ops wait in a
//! bounded queue and are merged in one batch per tick: a flood of
//! concurrent ops costs one merge per tick, not one per op.

use aura_crypto::{GroupId, RosterError, SignedOp};
use libp2p::PeerId;

use super::Task;
use crate::group_core::{lock, OP_QUEUE_MAX};

impl Task {
    /// Applies (or queues) a roster op a member sent over gossip.
    pub(crate) fn apply_remote_op(&mut self, gid: GroupId, from: PeerId, op: SignedOp) {
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        let extends = op.op.parents == lock(&g.session).roster().heads();
        if !extends {
            if self.op_queue.len() >= OP_QUEUE_MAX {
                self.stats.roster_ops_dropped += 1;
            } else {
                self.op_queue.push((gid, from, op));
            }
            return;
        }
        let r = lock(&g.session).apply_op(op);
        match r {
            Ok(change) => self.on_membership_change(gid, change),
            Err(RosterError::MissingParents(_)) => self.request_sync(gid, from),
            Err(e) => tracing::debug!(error = %e, "roster op refused"),
        }
    }

    /// Merges the queued ops, one batch per group.
    pub(crate) fn apply_queued_ops(&mut self) {
        if self.op_queue.is_empty() {
            return;
        }
        let mut by_group: Vec<(GroupId, PeerId, Vec<SignedOp>)> = Vec::new();
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
                self.on_membership_change(gid, change);
            }
            if outcome.missing_parents > 0 {
                self.request_sync(gid, from);
            }
        }
    }
}
