//! Voice through a relay's media forwarder, for members we have no direct
//! media connection to (both behind symmetric NATs, say).
//!
//! The node task tells the engine which relays' forwarders it knows (the
//! port a relay's identify names, at the IP the node reached the relay
//! at) and which relay each member's libp2p path goes through. A member
//! without a direct media connection is reached through the relay of its
//! path, or, when its path is direct or unknown, through the known relay
//! with the lowest id (both ends choose the same one). For each relay in
//! use the engine holds one media connection (the endpoint's, shared by
//! every group), joins the group's room on it (soft state: repeated every
//! [`REJOIN`]), sends each sealed frame once to it and receives the other
//! members' frames from it ([`aura_media::Hop::Relay`]) into the same
//! decode path. A relay no longer needed (the member came direct, or
//! its path moved to another relay) gets a leave.
//!
//! The relay holds no key: frames stay sealed end to end, receiver reports
//! stay signed by their author (`aura_media::ReportInbox` checks them at
//! the talker whatever the hop). A member reached both directly and,
//! through a relay we joined for another member, twice, drops the second
//! copy in its replay window.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aura_crypto::MemberId;
use aura_media::{MediaEndpoint, RelayControl, RoomId};
use bytes::Bytes;

/// Most relays' forwarders remembered.
const MAX_RELAYS: usize = 16;
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
}

impl RelayLinks {
    /// A relay's forwarder is at `addr`.
    pub(crate) fn set_relay(&mut self, relay: MemberId, addr: SocketAddr) {
        if self.known.len() < MAX_RELAYS || self.known.contains_key(&relay) {
            self.known.insert(relay, addr);
        }
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

    /// Forgets a member who left.
    pub(crate) fn forget(&mut self, member: &MemberId) {
        self.paths.remove(member);
    }

    /// The relay to reach `member` through, if any forwarder is known.
    pub(crate) fn relay_for(&self, member: &MemberId) -> Option<MemberId> {
        self.paths
            .get(member)
            .filter(|r| self.known.contains_key(r))
            .or_else(|| self.known.keys().min())
            .copied()
    }

    /// Relays in use now.
    pub(crate) fn in_use(&self) -> Vec<MemberId> {
        self.used.keys().copied().collect()
    }

    /// Uses the relays that `unreached` (members with no direct media
    /// connection) need: dials them, joins `room` on them (again every
    /// [`REJOIN`]), and leaves the ones no longer needed.
    pub(crate) fn step(
        &mut self,
        ep: &MediaEndpoint,
        room: RoomId,
        unreached: impl IntoIterator<Item = MemberId>,
        now: Instant,
    ) {
        let wanted: BTreeSet<MemberId> = unreached
            .into_iter()
            .filter_map(|m| self.relay_for(&m))
            .collect();
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
            let (ep, join) = (ep.clone(), join.clone());
            tokio::spawn(async move {
                match ep.connect(r, addr).await {
                    Ok(()) => {
                        tracing::debug!(relay = %r, %addr, "voice through relay");
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
        l.set_relay(r1, "10.0.0.1:4002".parse()?);
        assert_eq!(l.relay_for(&m), Some(r1), "fallback: a known relay");
        l.set_relay(r2, "10.0.0.2:4002".parse()?);
        assert_eq!(l.relay_for(&m), Some(r2), "the path's relay");
        l.set_path(m, None);
        assert_eq!(
            l.relay_for(&m),
            Some(r1.min(r2)),
            "both ends pick the lowest"
        );
        Ok(())
    }
}
