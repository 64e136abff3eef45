//! The `relays` answer's body: which relays serve a room and how many of
//! its members each holds, for a joiner to pick the least loaded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use aura_crypto::MemberId;

use super::WireError;

/// Most relays listed in one answer (the origin and its edges).
pub const MAX_RELAYS: usize = 16;

/// One relay of a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayLoad {
    /// The relay's identity (its media TLS key).
    pub relay: MemberId,
    /// Its media address.
    pub addr: SocketAddr,
    /// Members of the room it serves now.
    pub members: u32,
}

/// The least loaded of `relays` (the first of equals).
pub fn least_loaded(relays: &[RelayLoad]) -> Option<RelayLoad> {
    relays.iter().min_by_key(|r| r.members).copied()
}

pub(super) fn encode(relays: &[RelayLoad]) -> Vec<u8> {
    let relays = &relays[..relays.len().min(MAX_RELAYS)];
    let mut v = vec![u8::try_from(relays.len()).unwrap_or(0)];
    for r in relays {
        v.extend_from_slice(&r.relay.0);
        v.extend_from_slice(&r.members.to_be_bytes());
        match r.addr.ip() {
            IpAddr::V4(ip) => {
                v.push(4);
                v.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                v.push(6);
                v.extend_from_slice(&ip.octets());
            }
        }
        v.extend_from_slice(&r.addr.port().to_be_bytes());
    }
    v
}

pub(super) fn decode(b: &[u8]) -> Result<Vec<RelayLoad>, WireError> {
    let bad = WireError::Body(b.len());
    let (&n, mut rest) = b.split_first().ok_or(bad.clone())?;
    if usize::from(n) > MAX_RELAYS {
        return Err(bad);
    }
    let mut out = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        if rest.len() < 37 {
            return Err(bad);
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&rest[..32]);
        let members = u32::from_be_bytes([rest[32], rest[33], rest[34], rest[35]]);
        let (ip, len) = match rest[36] {
            4 if rest.len() >= 37 + 4 + 2 => {
                let mut o = [0u8; 4];
                o.copy_from_slice(&rest[37..41]);
                (IpAddr::V4(Ipv4Addr::from(o)), 4)
            }
            6 if rest.len() >= 37 + 16 + 2 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(&rest[37..53]);
                (IpAddr::V6(Ipv6Addr::from(o)), 16)
            }
            _ => return Err(bad),
        };
        let p = 37 + len;
        let port = u16::from_be_bytes([rest[p], rest[p + 1]]);
        out.push(RelayLoad {
            relay: MemberId(id),
            addr: SocketAddr::new(ip, port),
            members,
        });
        rest = &rest[p + 2..];
    }
    if !rest.is_empty() {
        return Err(bad);
    }
    Ok(out)
}
