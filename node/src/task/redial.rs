//! The task's side of [`crate::net::redial`]: reports dial outcomes of group
//! members and dials the ones whose retry fell due.

use libp2p::{swarm::dial_opts::DialOpts, Multiaddr, PeerId};

use super::{now_ms, Task};
use crate::group_core::lock;

/// How often members we are not connected to are looked for, ms.
const SWEEP_EVERY_MS: u64 = 1_000;
/// Longest wait between two asks for members' addresses, ms.
const MAX_ASK_WAIT_MS: u64 = 30_000;

/// Timers of [`Task::sweep_unconnected_members`].
#[derive(Debug, Default)]
pub(crate) struct Sweep {
    last_ms: u64,
    /// When a connected member may next be asked for addresses we lack.
    next_ask_ms: u64,
    /// The wait after the next ask (doubles while addresses stay missing).
    ask_wait_ms: u64,
}
/// Most peers whose addresses the task keeps in memory.
const MAX_ADDR_BOOK: usize = 4096;

impl Task {
    /// Keeps up to 8 addresses of `peer` (from a join answer, an address
    /// announcement or identify) to dial it again later.
    pub(crate) fn remember_addrs(&mut self, peer: PeerId, addrs: &[Multiaddr]) {
        if addrs.is_empty()
            || (self.peer_addrs.len() >= MAX_ADDR_BOOK && !self.peer_addrs.contains_key(&peer))
        {
            return;
        }
        self.peer_addrs
            .insert(peer, addrs.iter().take(8).cloned().collect());
    }

    /// Members of our groups we are not connected to, whose addresses we
    /// know and whose dial nobody scheduled, are dialled now (at most once a
    /// second). A missed pair would otherwise hear every update of the other
    /// only through gossip repair, hundreds of milliseconds late.
    pub(crate) fn sweep_unconnected_members(&mut self) {
        let now = now_ms();
        if now.saturating_sub(self.sweep.last_ms) < SWEEP_EVERY_MS {
            return;
        }
        self.sweep.last_ms = now;
        let me = *self.swarm.local_peer_id();
        let mut members = Vec::new();
        for (gid, g) in self.groups.iter().filter(|(_, g)| !g.removed) {
            for (m, _) in lock(&g.session).roster().members() {
                if let Ok(p) = m.peer_id() {
                    members.push((*gid, p));
                }
            }
        }
        // (group, a connected member) to ask for the addresses we lack.
        let mut ask = None;
        let mut unknown = false;
        for (gid, p) in members {
            if p == me || self.swarm.is_connected(&p) {
                if p != me && ask.is_none() {
                    ask = Some((gid, p));
                }
                continue;
            }
            if !self.may_dial(&p) {
                continue;
            }
            if self.peer_addrs.contains_key(&p) {
                if !self.redial.tracks(&p) {
                    self.redial.ensure(p, now);
                }
            } else {
                unknown = true;
            }
        }
        if !unknown {
            self.sweep.ask_wait_ms = SWEEP_EVERY_MS;
            return;
        }
        // A sync answer lists the members the answering member can reach.
        if let (Some((gid, peer)), true) = (ask, now >= self.sweep.next_ask_ms) {
            if let Some(m) = aura_crypto::MemberId::from_peer_id(&peer) {
                self.core.sync_with(gid, m);
                self.drive();
            }
            let wait = self.sweep.ask_wait_ms.max(SWEEP_EVERY_MS);
            self.sweep.next_ask_ms = now + wait;
            self.sweep.ask_wait_ms = (wait * 2).min(MAX_ASK_WAIT_MS);
        }
    }

    /// Whether `peer` is a member of one of our groups.
    pub(crate) fn is_group_member(&self, peer: &PeerId) -> bool {
        aura_crypto::MemberId::from_peer_id(peer).is_some_and(|m| {
            self.groups
                .values()
                .any(|g| !g.removed && lock(&g.session).roster().is_member(&m))
        })
    }

    /// A dial failed: retry it later if `peer` is a member.
    pub(crate) fn on_dial_failed(&mut self, peer: PeerId, error: &dyn std::fmt::Display) {
        if self.swarm.is_connected(&peer) {
            return;
        }
        if self.is_group_member(&peer) {
            tracing::debug!(%peer, %error, "dial of a member failed; will retry");
            self.stats.member_dials_failed += 1;
            self.redial.dial_failed(peer, now_ms());
        } else {
            self.redial.forget(&peer);
        }
    }

    /// The last connection to `peer` closed: a member is dialled again soon.
    pub(crate) fn on_peer_lost(&mut self, peer: PeerId) {
        if self.is_group_member(&peer) && !self.stopping {
            self.redial.disconnected(peer, now_ms());
        }
    }

    /// Dials the members whose retry fell due.
    pub(crate) fn redial_due(&mut self) {
        let max_wait = self.redial_every_ms();
        self.redial.set_max_wait(max_wait);
        for peer in self.redial.due(now_ms()) {
            if self.swarm.is_connected(&peer) {
                self.redial.connected(&peer);
                continue;
            }
            if !self.is_group_member(&peer) || !self.may_dial(&peer) {
                self.redial.forget(&peer);
                continue;
            }
            let addrs = self.peer_addrs.get(&peer).cloned().unwrap_or_default();
            let opts = DialOpts::peer_id(peer).addresses(addrs).build();
            match self.swarm.dial(opts) {
                // Already being dialled: that dial's outcome is reported.
                Ok(()) | Err(libp2p::swarm::DialError::DialPeerConditionFalse(_)) => {}
                Err(e) => self.on_dial_failed(peer, &e),
            }
        }
    }
}
