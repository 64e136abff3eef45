//! The task's side of [`crate::net::redial`]: reports dial outcomes of group
//! members and dials the ones whose retry fell due.

use libp2p::{swarm::dial_opts::DialOpts, PeerId};

use super::{group, now_ms, Task};

impl Task {
    /// Whether `peer` is a member of one of our groups.
    fn is_group_member(&self, peer: &PeerId) -> bool {
        aura_crypto::MemberId::from_peer_id(peer).is_some_and(|m| {
            self.groups
                .values()
                .any(|g| !g.removed && group::lock(&g.session).roster().is_member(&m))
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
            if !self.is_group_member(&peer) {
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
