//! Away notices (see `net::away`): the phone says it is away or back, keeps
//! only its carriers' connections while away; members do not dial a member
//! that said it is away, unless they carry for it.

use std::collections::{HashMap, HashSet};

use aura_crypto::{GroupId, MemberId};
use libp2p::{
    core::ConnectedPoint, multiaddr::Protocol, swarm::dial_opts::DialOpts, swarm::ConnectionId,
    Multiaddr, PeerId,
};

use super::{now_ms, Task};
use crate::net::away::{Departure, Link, Presence};
use crate::wire::ControlMsg;

/// Both sides of away notices.
#[derive(Debug, Default)]
pub(crate) struct AwayState {
    /// What members said of themselves.
    presence: Presence<PeerId>,
    /// Our connections while away.
    departure: Departure<PeerId, ConnectionId>,
    /// This away period's notice per group (the gossip message) and
    /// whether the group's carrier took it.
    notices: HashMap<GroupId, (Vec<u8>, bool)>,
}

impl Task {
    /// Tells every group we are away (background mode) or back.
    pub(crate) fn announce_presence(&mut self, away: bool) {
        let now = now_ms();
        self.carry.away.notices.clear();
        self.carry.away.departure.set_settled(false, now);
        let gids: Vec<GroupId> = self.groups.keys().copied().collect();
        for gid in gids {
            self.send_presence(gid, away, now, true);
        }
    }

    /// Seals and publishes a presence notice in `gid`; `record`: it starts
    /// an away period (its carrier must take it before we settle).
    fn send_presence(&mut self, gid: GroupId, away: bool, at_ms: u64, record: bool) {
        if self.groups.get(&gid).is_none_or(|g| g.removed) {
            return;
        }
        self.carry.last_pushed.remove(&gid);
        if let Err(e) = self.send_control(&gid, &ControlMsg::Presence { away, at_ms }) {
            tracing::debug!(error = %e, "presence notice not sent");
            return;
        }
        if let (Some(bytes), true) = (self.carry.last_pushed.remove(&gid), record) {
            self.carry.away.notices.insert(gid, (bytes, false));
        }
    }

    /// A carry request of `gid` was answered: whether it took our notice.
    pub(crate) fn away_notice_answered(&mut self, gid: GroupId, sent: &[Vec<u8>]) {
        if let Some((bytes, taken)) = self.carry.away.notices.get_mut(&gid) {
            *taken |= sent.contains(bytes);
        }
    }

    /// A member said it is away or back.
    pub(crate) fn on_presence(&mut self, sender: MemberId, away: bool, at_ms: u64) {
        let Ok(peer) = sender.peer_id() else {
            return;
        };
        if peer == *self.swarm.local_peer_id() {
            return;
        }
        if !self.carry.away.presence.on_notice(peer, away, at_ms) {
            self.stats.presence_stale += 1;
            return;
        }
        tracing::debug!(%peer, away, "member presence");
        self.swarm.behaviour_mut().ping.set_away(peer, away);
        if away {
            self.redial.forget(&peer);
        }
    }

    /// A fresh swarm (network restart) holds off its pings to the members
    /// away now, as the old one did.
    pub(crate) fn hold_pings_to_away(&mut self) {
        let away: Vec<PeerId> = self.carry.away.presence.away_members().copied().collect();
        for peer in away {
            self.swarm.behaviour_mut().ping.set_away(peer, true);
        }
    }

    /// Whether we carry for `peer` in any group.
    fn carries_for(&self, peer: &PeerId) -> bool {
        let now = now_ms();
        self.groups
            .keys()
            .any(|g| self.carry.mailboxes.is_open(g.0, *peer, now))
    }

    /// Our carriers (one per group at most).
    fn carriers(&self) -> HashSet<PeerId> {
        self.carry
            .outboxes
            .values()
            .filter_map(|o| o.carrier)
            .collect()
    }

    /// Whether to dial `peer` (a group member) now: our carrier, or a
    /// member we carry for, always; while we look for a carrier, anyone;
    /// else not a member that said it is away (a carrier of last resort
    /// waits for them to dial it: dialling them, it would be closed and
    /// dial again), and while we are away (settled) no member at all.
    pub(crate) fn may_dial(&self, peer: &PeerId) -> bool {
        if self.carriers().contains(peer) || self.carries_for(peer) {
            return true;
        }
        if self.looking_for_carrier() {
            return true;
        }
        let away = &self.carry.away;
        !away.presence.is_away(peer) && away.departure.may_dial(false, self.is_group_member(peer))
    }

    /// In background mode, a group of ours goes through a carrier and has none.
    fn looking_for_carrier(&self) -> bool {
        self.net.background
            && self.groups.iter().any(|(gid, g)| {
                !g.removed
                    && self.carrying(gid)
                    && self
                        .carry
                        .outboxes
                        .get(gid)
                        .is_none_or(|o| o.carrier.is_none())
            })
    }

    /// Members that said they are away, now.
    pub(crate) fn members_away(&self) -> u64 {
        self.carry.away.presence.away_count() as u64
    }

    /// A connection opened (kept in mind for [`Self::away_tick`]).
    pub(crate) fn away_link_opened(&mut self, peer: PeerId, id: ConnectionId, at: &ConnectedPoint) {
        let addr = match at {
            ConnectedPoint::Dialer { address, .. } => address,
            ConnectedPoint::Listener { send_back_addr, .. } => send_back_addr,
        };
        let link = Link {
            peer,
            tcp: is_direct_tcp(addr) && !at.is_relayed(),
            inbound: matches!(at, ConnectedPoint::Listener { .. }),
        };
        self.carry.away.departure.opened(id, link);
    }

    /// A connection closed.
    pub(crate) fn away_link_closed(&mut self, id: ConnectionId) {
        self.carry.away.departure.closed(&id);
    }

    /// In background mode, every tick: once every group's notice reached
    /// its carrier, close the other members' connections and move each
    /// carrier's to TCP.
    pub(crate) fn away_tick(&mut self) {
        let now = now_ms();
        let carriers = self.carriers();
        let gids: Vec<GroupId> = self
            .groups
            .iter()
            .filter(|(_, g)| !g.removed)
            .map(|(gid, _)| *gid)
            .collect();
        let settled = !gids.is_empty()
            && gids.iter().all(|gid| {
                self.carrying(gid)
                    && self
                        .carry
                        .outboxes
                        .get(gid)
                        .and_then(|o| o.carrier)
                        // A carrier that is away itself (a group all in
                        // background mode): keep every connection, as before.
                        .is_some_and(|c| !self.carry.away.presence.is_away(&c))
                    && self.carry.away.notices.get(gid).is_some_and(|(_, t)| *t)
            });
        self.carry.away.departure.set_settled(settled, now);
        let members: HashSet<PeerId> = self
            .swarm
            .connected_peers()
            .filter(|p| self.is_group_member(p))
            .copied()
            .collect();
        let tcp: HashMap<PeerId, Vec<Multiaddr>> = carriers
            .iter()
            .filter_map(|c| {
                let addrs: Vec<Multiaddr> = self
                    .peer_addrs
                    .get(c)?
                    .iter()
                    .filter(|a| is_direct_tcp(a))
                    .cloned()
                    .collect();
                (!addrs.is_empty()).then_some((*c, addrs))
            })
            .collect();
        let plan = self.carry.away.departure.plan(
            now,
            |p| carriers.contains(p),
            |p| members.contains(p),
            |p| tcp.contains_key(p),
        );
        if !plan.close.is_empty() || !plan.dial_tcp.is_empty() {
            tracing::debug!(
                close = plan.close.len(),
                dial_tcp = plan.dial_tcp.len(),
                carriers = ?carriers,
                carrier_addrs = ?carriers.iter().map(|c| self.peer_addrs.get(c)).collect::<Vec<_>>(),
                "away: connections"
            );
        }
        for id in plan.close {
            self.stats.away_links_closed += 1;
            self.swarm.close_connection(id);
        }
        for peer in plan.dial_tcp {
            let addrs = tcp.get(&peer).cloned().unwrap_or_default();
            tracing::debug!(%peer, "away: moving the carrier's connection to TCP");
            let opts = DialOpts::peer_id(peer)
                .condition(libp2p::swarm::dial_opts::PeerCondition::Always)
                .addresses(addrs)
                .build();
            let _ = self.swarm.dial(opts);
        }
        if plan.renotice {
            for gid in gids {
                self.send_presence(gid, true, now, false);
            }
        }
    }
}

/// A direct TCP address (no relay circuit).
fn is_direct_tcp(a: &Multiaddr) -> bool {
    a.iter().any(|p| matches!(p, Protocol::Tcp(_)))
        && !a.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}
