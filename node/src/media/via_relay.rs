//! Voice through a relay's media forwarder, for members we have no direct
//! media connection to (both behind symmetric NATs, say).
//!
//! The node task tells the engine the forwarders of the relays it is
//! connected to (the port a relay's identify names, at the IP the node
//! reached the relay at) and which relay each member's libp2p path goes
//! through. While some member has no direct media connection, voice goes
//! through the connected relay with the lowest id (both ends pick the same
//! one when they hold the same relays) and through the relay of each such
//! member's path (the two ends of a pair of relayed connections may each
//! see another one as theirs). A dead relay leaves the list when its
//! libp2p connection closes, so voice moves with the path. For each relay in
//! use the engine holds one media connection (the endpoint's, shared by
//! every group), joins the group's room on it (soft state: repeated every
//! [`REJOIN`]), sends each sealed frame once to it and receives the other
//! members' frames from it ([`aura_media::Hop::Relay`]) into the same
//! decode path. Each join goes right after our entitlement token, when we
//! hold one (`crate::relay_pass`), for relays in `token` access mode. A relay no longer needed (the member came direct, or
//! its path moved to another relay) gets a leave.
//!
//! Direct stays preferred, and gets a second chance behind NATs: when a
//! member's libp2p connection is direct (hole punched, say), the engine
//! also dials the member's announced media port at the IP that connection
//! reaches ([`RelayLinks::candidates`]); behind a port-preserving,
//! endpoint-independent NAT (full cone) that is the member's media socket.
//!
//! The relay holds no key: frames stay sealed end to end, receiver reports
//! stay signed by their author (`aura_media::ReportInbox` checks them at
//! the talker whatever the hop). A member reached both directly and,
//! through a relay we joined for another member, twice, drops the second
//! copy in its replay window.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use aura_crypto::MemberId;
use aura_media::{MediaEndpoint, RelayControl, RoomId};
use bytes::Bytes;

/// Most relays' forwarders remembered.
const MAX_RELAYS: usize = 16;
/// Most members' public IPs remembered.
const MAX_IPS: usize = 10_000;
/// Least time between two dials of one relay.
const REDIAL: Duration = Duration::from_secs(2);
/// How often a join is repeated while the room is wanted.
pub(crate) const REJOIN: Duration = Duration::from_secs(2);

/// A relay in use: when we last dialled it and joined the room on it.
#[derive(Debug, Default)]
struct Link {
    last_dial: Option<Instant>,
    last_join: Option<Instant>,
}

/// Which relays a group's voice goes through.
#[derive(Debug, Default)]
pub(crate) struct RelayLinks {
    /// Relays' media forwarders.
    known: HashMap<MemberId, SocketAddr>,
    /// Members whose libp2p path goes through a relay.
    paths: HashMap<MemberId, MemberId>,
    /// Relays in use.
    used: HashMap<MemberId, Link>,
    /// The IP each member's direct libp2p connection reaches.
    public: HashMap<MemberId, IpAddr>,
}

impl RelayLinks {
    /// The forwarders of the relays we are connected to now.
    pub(crate) fn set_relays(&mut self, relays: Vec<(MemberId, SocketAddr)>) {
        self.known = relays.into_iter().take(MAX_RELAYS).collect();
    }

    /// `member`'s libp2p path goes through `relay` (or none).
    pub(crate) fn set_path(&mut self, member: MemberId, relay: Option<MemberId>) {
        match relay {
            Some(r) => {
                self.paths.insert(member, r);
            }
            None => {
                self.paths.remove(&member);
            }
        }
    }

    /// `member`'s direct libp2p connection reaches `ip`; whether that is new.
    pub(crate) fn set_direct_ip(&mut self, member: MemberId, ip: IpAddr) -> bool {
        if self.public.len() >= MAX_IPS && !self.public.contains_key(&member) {
            return false;
        }
        self.public.insert(member, ip) != Some(ip)
    }

    /// Where to dial `member` whose announced media address is `addr`: that,
    /// and its port at the IP its direct libp2p connection reaches.
    pub(crate) fn candidates(&self, member: &MemberId, addr: SocketAddr) -> Vec<SocketAddr> {
        let mut v = vec![addr];
        if let Some(ip) = self.public.get(member).filter(|ip| **ip != addr.ip()) {
            v.push(SocketAddr::new(*ip, addr.port()));
        }
        v
    }

    /// Forgets a member who left.
    pub(crate) fn forget(&mut self, member: &MemberId) {
        self.paths.remove(member);
        self.public.remove(member);
    }

    /// The relay to reach `member` through, if any forwarder is known.
    pub(crate) fn relay_for(&self, member: &MemberId) -> Option<MemberId> {
        self.paths
            .get(member)
            .filter(|r| self.known.contains_key(r))
            .or_else(|| self.known.keys().min())
            .copied()
    }

    /// Relays in use now, by id.
    pub(crate) fn in_use(&self) -> Vec<MemberId> {
        let mut v: Vec<MemberId> = self.used.keys().copied().collect();
        v.sort();
        v
    }

    /// The relays `unreached` need: the lowest known and each one's own.
    fn wanted(&self, unreached: impl IntoIterator<Item = MemberId>) -> BTreeSet<MemberId> {
        let mut wanted: BTreeSet<MemberId> = unreached
            .into_iter()
            .filter_map(|m| self.relay_for(&m))
            .collect();
        if !wanted.is_empty() {
            wanted.extend(self.known.keys().min());
        }
        wanted
    }

    /// Uses the relays that `unreached` (members with no direct media
    /// connection) need: dials them, joins `room` on them (again every
    /// [`REJOIN`]), each join preceded by `pass` (our entitlement token,
    /// for relays in `token` access mode), and leaves the ones no longer
    /// needed.
    pub(crate) fn step(
        &mut self,
        ep: &MediaEndpoint,
        room: RoomId,
        unreached: impl IntoIterator<Item = MemberId>,
        pass: Option<Bytes>,
        now: Instant,
    ) {
        let wanted = self.wanted(unreached);
        let leave = Bytes::from(RelayControl::Leave(room).to_vec());
        self.used.retain(|r, _| {
            let keep = wanted.contains(r);
            if !keep && ep.is_connected(r) {
                let _ = ep.send(r, leave.clone());
                tracing::debug!(relay = %r, "voice no longer through relay");
            }
            keep
        });
        let join = Bytes::from(RelayControl::Join(room).to_vec());
        for r in wanted {
            let Some(addr) = self.known.get(&r).copied() else {
                continue;
            };
            let link = self.used.entry(r).or_default();
            if ep.is_connected(&r) {
                if link
                    .last_join
                    .is_none_or(|t| now.duration_since(t) >= REJOIN)
                {
                    link.last_join = Some(now);
                    if let Some(p) = &pass {
                        let _ = ep.send(&r, p.clone());
                    }
                    if let Err(e) = ep.send(&r, join.clone()) {
                        tracing::debug!(relay = %r, error = %e, "relay join not sent");
                    }
                }
                continue;
            }
            if link
                .last_dial
                .is_some_and(|t| now.duration_since(t) < REDIAL)
            {
                continue;
            }
            link.last_dial = Some(now);
            link.last_join = Some(now);
            if let Err(e) = ep.add_relay(r) {
                tracing::debug!(relay = %r, error = %e, "relay not usable");
                continue;
            }
            let (ep, join, pass) = (ep.clone(), join.clone(), pass.clone());
            tokio::spawn(async move {
                match ep.connect(r, addr).await {
                    Ok(()) => {
                        tracing::debug!(relay = %r, %addr, "voice through relay");
                        if let Some(p) = pass {
                            let _ = ep.send(&r, p);
                        }
                        let _ = ep.send(&r, join);
                    }
                    Err(e) => tracing::debug!(relay = %r, %addr, error = %e, "relay dial failed"),
                }
            });
        }
    }

    /// Sends a frame once to each relay in use.
    pub(crate) fn send(&self, ep: &MediaEndpoint, frame: &Bytes) {
        for r in self.used.keys() {
            if ep.is_connected(r) {
                let _ = ep.send(r, frame.clone());
            }
        }
    }

    /// Sends a receiver report about `member`'s stream through its relay,
    /// if that relay is in use; whether it went.
    pub(crate) fn send_to(&self, ep: &MediaEndpoint, member: &MemberId, report: Bytes) -> bool {
        self.relay_for(member)
            .filter(|r| self.used.contains_key(r) && ep.is_connected(r))
            .is_some_and(|r| ep.send(&r, report).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aura_crypto::Identity;

    fn id(n: u8) -> MemberId {
        Identity::from_secret_bytes(&[n; 32]).member_id()
    }

    #[test]
    fn a_member_goes_through_its_paths_relay_else_the_lowest_known(
    ) -> Result<(), std::net::AddrParseError> {
        let mut l = RelayLinks::default();
        let (m, r1, r2) = (id(1), id(2), id(3));
        assert_eq!(l.relay_for(&m), None, "no forwarder known");
        l.set_path(m, Some(r2));
        assert_eq!(l.relay_for(&m), None, "its relay's forwarder is not known");
        let (a1, a2) = ("10.0.0.1:4002".parse()?, "10.0.0.2:4002".parse()?);
        l.set_relays(vec![(r1, a1)]);
        assert_eq!(l.relay_for(&m), Some(r1), "fallback: a known relay");
        l.set_relays(vec![(r1, a1), (r2, a2)]);
        assert_eq!(l.relay_for(&m), Some(r2), "the path's relay");
        assert_eq!(
            l.wanted([m]),
            BTreeSet::from([r1, r2]),
            "its path's relay and the lowest, where the other end meets us"
        );
        assert!(l.wanted([]).is_empty(), "nobody unreached: no relay");
        l.set_relays(vec![(r1, a1)]);
        assert_eq!(
            l.wanted([m]),
            BTreeSet::from([r1]),
            "a relay gone is not used"
        );
        l.set_relays(vec![(r1, a1), (r2, a2)]);
        l.set_path(m, None);
        assert_eq!(
            l.relay_for(&m),
            Some(r1.min(r2)),
            "both ends pick the lowest"
        );
        Ok(())
    }

    #[test]
    fn a_member_behind_a_nat_is_also_dialled_at_its_public_ip(
    ) -> Result<(), std::net::AddrParseError> {
        let mut l = RelayLinks::default();
        let m = id(1);
        let private: SocketAddr = "10.1.0.2:5000".parse()?;
        assert_eq!(l.candidates(&m, private), vec![private]);
        assert!(l.set_direct_ip(m, "100.64.1.2".parse()?));
        assert!(!l.set_direct_ip(m, "100.64.1.2".parse()?), "not new");
        assert_eq!(
            l.candidates(&m, private),
            vec![private, "100.64.1.2:5000".parse()?]
        );
        assert!(l.set_direct_ip(m, "10.1.0.2".parse()?));
        assert_eq!(l.candidates(&m, private), vec![private], "same IP once");
        Ok(())
    }
}
