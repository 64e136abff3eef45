//! Which circuit relays to hold a reservation on, sans-IO.
//!
//! Relays come from the config (`relays`) and from peers that identify
//! themselves as relays (a bootstrap node, or a peer found on the DHT, that
//! speaks the circuit relay v2 hop protocol). While the node is not known
//! to be publicly reachable (AutoNAT has not confirmed a public address),
//! it keeps a reservation on up to [`WANT`] relays at once, so that when the
//! relay a member reaches it through dies, the member's redial finds it
//! through the other at once. A reservation that ends (refused, the relay
//! gone, the connection lost) is made again on that relay after a backoff
//! (250 ms doubling to 30 s), and meanwhile on another known relay if there
//! is one. libp2p renews a held reservation before it expires.

use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};

/// Reservations held at once.
pub const WANT: usize = 2;
/// Most relays remembered (config first, then discovered ones).
pub const MAX_KNOWN: usize = 16;
/// First retry after a reservation ended or failed, ms.
pub const FIRST_RETRY_MS: u64 = 250;
/// Longest wait between two attempts on one relay, ms.
pub const MAX_RETRY_MS: u64 = 30_000;
/// An attempt that neither succeeded nor failed within this is given up, ms.
pub const ATTEMPT_TIMEOUT_MS: u64 = 15_000;

/// Where one relay stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No reservation; try at `due_ms`.
    Idle {
        /// When it may be tried again, unix ms.
        due_ms: u64,
    },
    /// Listening on its circuit, reservation not confirmed yet.
    Reserving {
        /// Since when, unix ms.
        since_ms: u64,
    },
    /// Reservation accepted.
    Reserved,
}

#[derive(Debug, Clone)]
struct Entry {
    addr: Multiaddr,
    state: State,
    failures: u32,
}

/// The relays the node knows and its reservations on them.
#[derive(Debug, Default)]
pub struct Relays {
    known: Vec<(PeerId, Entry)>,
    /// Whether reservations are wanted (the node is not known to be public).
    paused: bool,
}

/// The peer id ending a relay address (`.../p2p/<relay>`).
pub fn relay_peer(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(p)) => Some(p),
        _ => None,
    }
}

/// The relay a circuit address goes through: the peer id just before
/// `/p2p-circuit`.
pub fn relay_of_circuit(addr: &Multiaddr) -> Option<PeerId> {
    let mut last = None;
    for p in addr.iter() {
        match p {
            Protocol::P2p(id) => last = Some(id),
            Protocol::P2pCircuit => return last,
            _ => {}
        }
    }
    None
}

/// `addrs` in the order to hand them out (invites, announcements): one
/// circuit per relay first (reachable from anywhere), then direct
/// addresses that are not loopback, then the other circuits (a relay's
/// further addresses), loopback last.
pub fn rank_for_others(addrs: &[Multiaddr]) -> Vec<Multiaddr> {
    let mut seen_relays = Vec::new();
    let mut ranked: Vec<(u8, Multiaddr)> = addrs
        .iter()
        .map(|a| {
            let loopback = a.iter().any(|p| match p {
                Protocol::Ip4(ip) => ip.is_loopback(),
                Protocol::Ip6(ip) => ip.is_loopback(),
                _ => false,
            });
            let rank = match relay_of_circuit(a) {
                Some(r) if !seen_relays.contains(&r) && !loopback => {
                    seen_relays.push(r);
                    0
                }
                Some(_) if !loopback => 2,
                None if !loopback => 1,
                _ => 3,
            };
            (rank, a.clone())
        })
        .collect();
    ranked.sort_by_key(|(r, _)| *r);
    ranked.into_iter().map(|(_, a)| a).collect()
}

fn backoff_ms(failures: u32) -> u64 {
    FIRST_RETRY_MS
        .saturating_mul(1u64 << failures.saturating_sub(1).min(16))
        .min(MAX_RETRY_MS)
}

impl Relays {
    /// Adds a relay at `addr` (which must end in `/p2p/<relay>`); a known
    /// relay keeps its first address. Returns whether it was new.
    pub fn add(&mut self, addr: Multiaddr) -> bool {
        let Some(peer) = relay_peer(&addr) else {
            return false;
        };
        if self.known.len() >= MAX_KNOWN || self.known.iter().any(|(p, _)| *p == peer) {
            return false;
        }
        self.known.push((
            peer,
            Entry {
                addr,
                state: State::Idle { due_ms: 0 },
                failures: 0,
            },
        ));
        true
    }

    /// Whether `peer` is a known relay.
    pub fn knows(&self, peer: &PeerId) -> bool {
        self.known.iter().any(|(p, _)| p == peer)
    }

    /// How many relays are known.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether no relay is known.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The state of `peer`'s reservation.
    pub fn state(&self, peer: &PeerId) -> Option<State> {
        self.known
            .iter()
            .find(|(p, _)| p == peer)
            .map(|(_, e)| e.state)
    }

    /// Stops (`true`) or resumes making reservations: the node is (not)
    /// publicly reachable. Returns the relays whose circuits to close.
    pub fn set_paused(&mut self, paused: bool) -> Vec<PeerId> {
        self.paused = paused;
        if !paused {
            return Vec::new();
        }
        let mut close = Vec::new();
        for (p, e) in &mut self.known {
            if !matches!(e.state, State::Idle { .. }) {
                close.push(*p);
            }
            e.state = State::Idle { due_ms: 0 };
        }
        close
    }

    /// The relays to listen on a circuit through now (each then is
    /// `Reserving`): up to [`WANT`] reservations held or in progress.
    pub fn poll(&mut self, now_ms: u64) -> Vec<Multiaddr> {
        if self.paused {
            return Vec::new();
        }
        let mut busy = 0;
        for (_, e) in &mut self.known {
            if let State::Reserving { since_ms } = e.state {
                if now_ms.saturating_sub(since_ms) >= ATTEMPT_TIMEOUT_MS {
                    e.failures = e.failures.saturating_add(1);
                    e.state = State::Idle {
                        due_ms: now_ms + backoff_ms(e.failures),
                    };
                    continue;
                }
            }
            if !matches!(e.state, State::Idle { .. }) {
                busy += 1;
            }
        }
        let mut out = Vec::new();
        for (_, e) in &mut self.known {
            if busy >= WANT {
                break;
            }
            if let State::Idle { due_ms } = e.state {
                if due_ms <= now_ms {
                    e.state = State::Reserving { since_ms: now_ms };
                    out.push(e.addr.clone());
                    busy += 1;
                }
            }
        }
        out
    }

    /// `relay` accepted our reservation (or renewed it).
    pub fn accepted(&mut self, relay: &PeerId) {
        if let Some((_, e)) = self.known.iter_mut().find(|(p, _)| p == relay) {
            e.state = State::Reserved;
            e.failures = 0;
        }
    }

    /// The circuit listener through `relay` closed or failed at `now_ms`:
    /// try it again after a backoff (and another relay meanwhile).
    pub fn ended(&mut self, relay: &PeerId, now_ms: u64) {
        if let Some((_, e)) = self.known.iter_mut().find(|(p, _)| p == relay) {
            e.failures = e.failures.saturating_add(1);
            e.state = State::Idle {
                due_ms: now_ms + backoff_ms(e.failures),
            };
        }
    }

    /// Every reservation is gone (a fresh transport): all relays idle, due now.
    pub fn reset(&mut self) {
        for (_, e) in &mut self.known {
            e.state = State::Idle { due_ms: 0 };
            e.failures = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(n: u8) -> Result<(PeerId, Multiaddr), Box<dyn std::error::Error>> {
        let key = libp2p::identity::Keypair::ed25519_from_bytes([n; 32])?;
        let p = key.public().to_peer_id();
        let a: Multiaddr = format!("/ip4/10.0.0.{n}/tcp/4001/p2p/{p}").parse()?;
        Ok((p, a))
    }

    #[test]
    fn reserves_on_two_relays_and_fails_over_to_a_third_when_one_ends(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut r = Relays::default();
        let (p1, a1) = relay(1)?;
        let (p2, a2) = relay(2)?;
        let (p3, a3) = relay(3)?;
        assert!(r.add(a1.clone()) && r.add(a2.clone()) && r.add(a3.clone()));
        assert!(!r.add(a1.clone()), "a known relay is not added twice");
        assert_eq!(r.poll(0), vec![a1.clone(), a2.clone()]);
        assert!(r.poll(10).is_empty(), "two attempts already in progress");
        r.accepted(&p1);
        r.accepted(&p2);
        assert_eq!(r.state(&p1), Some(State::Reserved));
        r.ended(&p1, 1_000);
        assert_eq!(
            r.poll(1_000),
            vec![a3],
            "the third relay replaces the dead one"
        );
        r.accepted(&p3);
        r.ended(&p2, 2_000);
        assert_eq!(
            r.poll(2_000),
            vec![a1.clone()],
            "relay 1, its backoff over, replaces relay 2"
        );
        assert!(r.poll(2_500).is_empty(), "two held or in progress");
        r.ended(&p1, 3_000);
        assert_eq!(r.poll(3_000), vec![a2], "relay 2's backoff is over");
        Ok(())
    }

    #[test]
    fn backoff_doubles_and_an_accepted_reservation_resets_it(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut r = Relays::default();
        let (p, a) = relay(1)?;
        r.add(a.clone());
        assert_eq!(r.poll(0).len(), 1);
        r.ended(&p, 0);
        assert!(r.poll(249).is_empty());
        assert_eq!(r.poll(250).len(), 1);
        r.ended(&p, 250);
        assert!(r.poll(250 + 499).is_empty());
        assert_eq!(r.poll(250 + 500).len(), 1);
        r.accepted(&p);
        r.ended(&p, 10_000);
        assert_eq!(r.poll(10_250).len(), 1);
        Ok(())
    }

    #[test]
    fn an_attempt_without_answer_times_out() -> Result<(), Box<dyn std::error::Error>> {
        let mut r = Relays::default();
        let (p, a) = relay(1)?;
        r.add(a);
        assert_eq!(r.poll(0).len(), 1);
        assert!(r.poll(ATTEMPT_TIMEOUT_MS - 1).is_empty());
        assert!(r.poll(ATTEMPT_TIMEOUT_MS).is_empty());
        assert!(matches!(r.state(&p), Some(State::Idle { .. })));
        assert_eq!(r.poll(ATTEMPT_TIMEOUT_MS + FIRST_RETRY_MS).len(), 1);
        Ok(())
    }

    #[test]
    fn a_public_node_closes_its_circuits_and_reserves_none(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut r = Relays::default();
        let (p, a) = relay(1)?;
        r.add(a);
        assert_eq!(r.poll(0).len(), 1);
        assert_eq!(r.set_paused(true), vec![p]);
        assert!(r.poll(1_000).is_empty());
        assert!(r.set_paused(false).is_empty());
        assert_eq!(r.poll(1_000).len(), 1);
        Ok(())
    }

    #[test]
    fn circuits_come_first_one_per_relay_and_loopback_last(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let (r1, a1) = relay(1)?;
        let (_, a2) = relay(2)?;
        let me = relay(9)?.0;
        let c = |a: &Multiaddr| a.clone().with(Protocol::P2pCircuit).with(Protocol::P2p(me));
        let c1_loop: Multiaddr = format!("/ip4/127.0.0.1/tcp/1/p2p/{r1}").parse()?;
        let c1b: Multiaddr = format!("/ip4/10.9.0.1/tcp/1/p2p/{r1}").parse()?;
        let lan: Multiaddr = "/ip4/192.168.1.5/udp/4001/quic-v1".parse()?;
        let lo: Multiaddr = "/ip4/127.0.0.1/udp/4001/quic-v1".parse()?;
        let given = vec![
            lo.clone(),
            lan.clone(),
            c(&c1_loop),
            c(&a1),
            c(&c1b),
            c(&a2),
        ];
        assert_eq!(
            rank_for_others(&given),
            vec![c(&a1), c(&a2), lan, c(&c1b), lo, c(&c1_loop)]
        );
        Ok(())
    }

    #[test]
    fn addresses_without_a_peer_id_are_not_relays_and_circuits_name_theirs(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut r = Relays::default();
        assert!(!r.add("/ip4/10.0.0.1/tcp/4001".parse()?));
        let (p, a) = relay(1)?;
        let me = relay(2)?.0;
        let circuit = a.with(Protocol::P2pCircuit).with(Protocol::P2p(me));
        assert_eq!(relay_of_circuit(&circuit), Some(p));
        assert_eq!(relay_of_circuit(&relay(3)?.1), None);
        Ok(())
    }
}
