//! Away notices: a member in background mode keeps one connection, to its
//! carrier, instead of one per member (sans-IO).
//!
//! A phone carried in the background (see [`super::carry`]) needs no
//! connection but its carrier's, yet every connection it keeps costs it
//! packets: each foreground member's QUIC keep-alive (every 5 s while
//! nothing else flows) is acknowledged by the phone. So on entering
//! background mode the phone tells each group it is *away*, in a sealed
//! control frame (signed by it, so nobody else can make it look away; see
//! [`Presence`]) handed to its carrier, and once the carrier took the
//! notice the phone closes its connections to every other member and stops
//! dialling them ([`Departure`]); members that heard the notice do not dial
//! it again until it is back. Back in the foreground it dials every member
//! (at once, as after any restart) and says so.
//!
//! The connection to the carrier moves to TCP when the carrier has a TCP
//! address: libp2p-quic's keep-alive is one setting for every connection
//! of a transport, and a foreground carrier keeps its QUIC connections
//! alive every 5 s (to notice a dead path within its 10 s idle timeout),
//! each one acknowledged by the phone. On TCP nothing is sent while
//! nothing flows (no TCP keep-alive; our Yamux measures round trips only
//! for bulk transfers, not with each small exchange: `vendor/yamux`), a
//! NAT keeps an established TCP mapping for hours (RFC 5382: at least
//! 2 h 4 min) where a UDP mapping may go after 30 s, and the phone's own
//! request once a minute refreshes it anyway.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// Most members whose presence is kept (a group is far smaller).
pub const MAX_TRACKED: usize = 4096;
/// An away phone says again that it is away, when a member it does not
/// need connects to it, at most this often, ms.
pub const RENOTICE_EVERY_MS: u64 = 30_000;

/// What members said of their presence, keyed by member `P` (its peer id).
/// Only a notice newer than the last one heard from that member counts, so
/// an old "away" replayed after its "back" changes nothing.
#[derive(Debug)]
pub struct Presence<P> {
    last: HashMap<P, (bool, u64)>,
}

impl<P> Default for Presence<P> {
    fn default() -> Self {
        Self {
            last: HashMap::new(),
        }
    }
}

impl<P: Hash + Eq + Copy> Presence<P> {
    /// `member` said (in a frame it signed) that it is away or back at
    /// `at_ms` (its clock); `true` if that is news: newer than what it said
    /// before. A notice as old as the last one counts again (it is said
    /// again to members that connected to it meanwhile).
    pub fn on_notice(&mut self, member: P, away: bool, at_ms: u64) -> bool {
        match self.last.get(&member) {
            Some((_, last)) if at_ms < *last => false,
            None if self.last.len() >= MAX_TRACKED => !away,
            _ => {
                self.last.insert(member, (away, at_ms));
                true
            }
        }
    }

    /// Whether `member` said last that it is away.
    pub fn is_away(&self, member: &P) -> bool {
        self.last.get(member).is_some_and(|(away, _)| *away)
    }

    /// Members that said last that they are away.
    pub fn away_members(&self) -> impl Iterator<Item = &P> {
        self.last
            .iter()
            .filter(|(_, (away, _))| *away)
            .map(|(p, _)| p)
    }

    /// Members away now.
    pub fn away_count(&self) -> usize {
        self.last.values().filter(|(away, _)| *away).count()
    }
}

/// One connection of the node, as [`Departure`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link<P> {
    /// The peer at the other end.
    pub peer: P,
    /// Over TCP (else QUIC or a relay circuit).
    pub tcp: bool,
    /// The peer dialled us.
    pub inbound: bool,
}

/// What [`Departure::plan`] asks the node to do now.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan<P, C> {
    /// Close these connections.
    pub close: Vec<C>,
    /// Dial these carriers on their TCP addresses.
    pub dial_tcp: Vec<P>,
    /// Say again that we are away (a member we do not need connected).
    pub renotice: bool,
}

impl<P, C> Default for Plan<P, C> {
    fn default() -> Self {
        Self {
            close: Vec::new(),
            dial_tcp: Vec::new(),
            renotice: false,
        }
    }
}

/// The phone's side while away: which connections it keeps.
#[derive(Debug)]
pub struct Departure<P, C> {
    links: HashMap<C, Link<P>>,
    tcp_tried: HashSet<P>,
    last_notice_ms: u64,
    /// Away (background mode) and every group's notice reached its carrier.
    settled: bool,
}

impl<P, C> Default for Departure<P, C> {
    fn default() -> Self {
        Self {
            links: HashMap::new(),
            tcp_tried: HashSet::new(),
            last_notice_ms: 0,
            settled: false,
        }
    }
}

impl<P: Hash + Eq + Copy, C: Hash + Eq + Copy> Departure<P, C> {
    /// A connection opened.
    pub fn opened(&mut self, id: C, link: Link<P>) {
        if self.links.len() < MAX_TRACKED {
            self.links.insert(id, link);
        }
    }

    /// A connection closed.
    pub fn closed(&mut self, id: &C) {
        self.links.remove(id);
    }

    /// Leaves or enters the away state: `settled` once every group's away
    /// notice was taken by its carrier; `false` back in the foreground or
    /// while a group has no carrier (the phone may then dial anyone).
    pub fn set_settled(&mut self, settled: bool, now_ms: u64) {
        if settled && !self.settled {
            self.last_notice_ms = now_ms;
        }
        if !settled {
            self.tcp_tried.clear();
        }
        self.settled = settled;
    }

    /// Whether every group's away notice reached its carrier.
    pub fn settled(&self) -> bool {
        self.settled
    }

    /// Whether the node may dial a peer: anyone unless settled, then only a
    /// carrier (`is_carrier`) or a peer that is no member (`is_member`).
    pub fn may_dial(&self, is_carrier: bool, is_member: bool) -> bool {
        !self.settled || is_carrier || !is_member
    }

    /// What to do now, once settled: close every member's connection but
    /// the carriers', and a carrier's other connections once it is reached
    /// over TCP (dialling its TCP address once, if `has_tcp_addr`).
    pub fn plan(
        &mut self,
        now_ms: u64,
        is_carrier: impl Fn(&P) -> bool,
        is_member: impl Fn(&P) -> bool,
        has_tcp_addr: impl Fn(&P) -> bool,
    ) -> Plan<P, C> {
        let mut plan = Plan::default();
        if !self.settled {
            return plan;
        }
        let over_tcp: HashSet<P> = self
            .links
            .values()
            .filter(|l| l.tcp && is_carrier(&l.peer))
            .map(|l| l.peer)
            .collect();
        let mut stranger = false;
        for (id, l) in &self.links {
            if !is_member(&l.peer) {
                continue;
            }
            if !is_carrier(&l.peer) {
                plan.close.push(*id);
                stranger |= l.inbound;
            } else if !l.tcp && over_tcp.contains(&l.peer) {
                plan.close.push(*id);
            } else if !l.tcp && has_tcp_addr(&l.peer) && self.tcp_tried.insert(l.peer) {
                plan.dial_tcp.push(l.peer);
            }
        }
        if stranger && now_ms.saturating_sub(self.last_notice_ms) >= RENOTICE_EVERY_MS {
            self.last_notice_ms = now_ms;
            plan.renotice = true;
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_newer_notice_counts_so_a_replayed_away_changes_nothing() {
        let mut p = Presence::default();
        assert!(p.on_notice(1u8, true, 100));
        assert!(p.is_away(&1));
        assert!(p.on_notice(1, true, 100), "said again: counts again");
        assert!(p.on_notice(1, false, 200));
        assert!(!p.is_away(&1));
        assert!(!p.on_notice(1, true, 100), "the old away, replayed");
        assert!(!p.is_away(&1));
        assert!(!p.is_away(&2), "never heard of");
        assert_eq!(p.away_count(), 0);
    }

    #[test]
    fn presence_is_bounded() {
        let mut p = Presence::default();
        for m in 0..MAX_TRACKED as u32 + 5 {
            p.on_notice(m, true, 1);
        }
        assert_eq!(p.away_count(), MAX_TRACKED);
    }

    fn link(peer: u8, tcp: bool, inbound: bool) -> Link<u8> {
        Link { peer, tcp, inbound }
    }

    #[test]
    fn a_settled_phone_keeps_only_its_carrier_and_moves_it_to_tcp() {
        let mut d = Departure::default();
        d.opened(10u32, link(1, false, false)); // the carrier, QUIC
        d.opened(11, link(2, false, false)); // another member
        d.opened(12, link(9, false, false)); // a relay (no member)
        let carrier = |p: &u8| *p == 1;
        let member = |p: &u8| *p != 9;
        assert_eq!(
            d.plan(0, carrier, member, |_| true),
            Plan::default(),
            "nothing before the notice is taken"
        );
        assert!(d.may_dial(false, true));
        d.set_settled(true, 0);
        assert!(!d.may_dial(false, true) && d.may_dial(true, true));
        assert!(d.may_dial(false, false), "relays are not members");
        let plan = d.plan(1, carrier, member, |_| true);
        assert_eq!(plan.close, vec![11]);
        assert_eq!(plan.dial_tcp, vec![1]);
        assert!(!plan.renotice, "we dialled that member");
        d.closed(&11);
        assert!(
            d.plan(2, carrier, member, |_| true).dial_tcp.is_empty(),
            "once"
        );
        d.opened(13, link(1, true, false));
        assert_eq!(d.plan(3, carrier, member, |_| true).close, vec![10]);
        d.closed(&10);
        assert_eq!(d.plan(4, carrier, member, |_| true), Plan::default());
    }

    #[test]
    fn a_member_that_connects_to_a_settled_phone_is_told_again_at_most_every_30_s() {
        let mut d = Departure::default();
        d.set_settled(true, 0);
        d.opened(1u32, link(2u8, false, true));
        let plan = d.plan(1_000, |_| false, |_| true, |_| false);
        assert_eq!(plan.close, vec![1]);
        assert!(!plan.renotice, "the notice just went");
        let plan = d.plan(RENOTICE_EVERY_MS, |_| false, |_| true, |_| false);
        assert!(plan.renotice);
        assert!(
            !d.plan(RENOTICE_EVERY_MS + 1, |_| false, |_| true, |_| false)
                .renotice
        );
    }

    #[test]
    fn without_tcp_the_carrier_stays_on_quic() {
        let mut d = Departure::default();
        d.set_settled(true, 0);
        d.opened(1u32, link(1u8, false, false));
        assert_eq!(d.plan(1, |_| true, |_| true, |_| false), Plan::default());
        d.set_settled(false, 2);
        assert!(d.may_dial(false, true), "no carrier: dial anyone");
    }
}
