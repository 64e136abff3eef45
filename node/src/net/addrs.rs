//! Which of a peer's addresses to keep when a list is cut (identify, sync
//! answers, address announcements: at most [`KEEP`]), sans-IO. A list a
//! peer hands us may be long and in any order; what is kept is, in this
//! order: public direct addresses (reachable from anywhere, no relay),
//! private direct ones (a LAN), circuits through relays, and loopback or
//! unspecified addresses last. The order within each kind is the peer's.

use std::net::{Ipv4Addr, Ipv6Addr};

use libp2p::{multiaddr::Protocol, Multiaddr};

/// Addresses kept per peer.
pub const KEEP: usize = 8;

fn v4_public(ip: &Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b); // RFC 6598 (carrier-grade NAT)
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || shared)
}

fn v6_public(ip: &Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = (first & 0xfe00) == 0xfc00;
    let link_local = (first & 0xffc0) == 0xfe80;
    !(ip.is_loopback() || ip.is_unspecified() || unique_local || link_local)
}

/// 0: public direct, 1: private direct, 2: circuit, 3: loopback/unspecified.
fn rank(a: &Multiaddr) -> u8 {
    if a.iter().any(|p| p == Protocol::P2pCircuit) {
        return 2;
    }
    match a.iter().next() {
        Some(Protocol::Ip4(ip)) if ip.is_loopback() || ip.is_unspecified() => 3,
        Some(Protocol::Ip6(ip)) if ip.is_loopback() || ip.is_unspecified() => 3,
        Some(Protocol::Ip4(ip)) if v4_public(&ip) => 0,
        Some(Protocol::Ip6(ip)) if v6_public(&ip) => 0,
        // Private addresses, and names (DNS) which could be either.
        _ => 1,
    }
}

/// The [`KEEP`] addresses to keep of `addrs`, best first.
pub fn keep_best(addrs: impl IntoIterator<Item = Multiaddr>) -> Vec<Multiaddr> {
    let mut v: Vec<Multiaddr> = addrs.into_iter().take(KEEP * 8).collect();
    v.sort_by_key(rank);
    v.truncate(KEEP);
    v
}

/// [`keep_best`] for addresses as strings; ones that do not parse go last.
pub fn keep_best_strings(addrs: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<(u8, String)> = addrs
        .into_iter()
        .take(KEEP * 8)
        .map(|s| (s.parse::<Multiaddr>().map_or(4, |a| rank(&a)), s))
        .collect();
    v.sort_by_key(|(r, _)| *r);
    v.into_iter().take(KEEP).map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_then_private_then_circuits_then_loopback_are_kept(
    ) -> Result<(), libp2p::multiaddr::Error> {
        let relay = "/ip4/203.0.113.9/udp/4001/quic-v1/p2p/12D3KooWAaYVakMyznsMrUbM1TPKUnduj2tCfQiM6zujqQmepeqr/p2p-circuit";
        let mut given: Vec<Multiaddr> = Vec::new();
        for i in 0..6 {
            given.push(format!("/ip4/127.0.0.1/udp/{}/quic-v1", 4000 + i).parse()?);
            given.push(
                format!("{relay}/p2p/12D3KooWQAqQX2YQexMmQapfgrFV88PTtqkyiRo1LjpZoVbkjQYR")
                    .parse()?,
            );
        }
        let lan: Multiaddr = "/ip4/192.168.1.5/udp/4001/quic-v1".parse()?;
        let cgnat: Multiaddr = "/ip4/100.64.1.2/udp/4001/quic-v1".parse()?;
        let public: Multiaddr = "/ip4/198.51.99.7/udp/4001/quic-v1".parse()?;
        let public6: Multiaddr = "/ip6/2a01:4f8::1/udp/4001/quic-v1".parse()?;
        given.extend([lan.clone(), cgnat.clone(), public.clone(), public6.clone()]);
        let kept = keep_best(given);
        assert_eq!(kept.len(), KEEP);
        assert_eq!(&kept[..4], &[public.clone(), public6, lan, cgnat]);
        assert!(
            kept[4..].iter().all(|a| rank(a) == 2),
            "then circuits: {kept:?}"
        );
        let strs = keep_best_strings([
            "junk".to_string(),
            "/ip4/127.0.0.1/tcp/1".into(),
            public.to_string(),
        ]);
        assert_eq!(
            strs,
            vec![
                public.to_string(),
                "/ip4/127.0.0.1/tcp/1".into(),
                "junk".into()
            ]
        );
        Ok(())
    }
}
