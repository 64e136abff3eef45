//! How a relay tells members where its media forwarder listens: a token
//! in its libp2p identify agent version, `aura-relay/<version>
//! media-udp/<port>`. A member takes the IP it reached the relay's libp2p
//! address at and this port (so one relay reached at different addresses
//! by different members needs no address list). Sans-IO.
//!
//! ```
//! use aura_media::advert;
//! let agent = advert::relay_agent("0.1.0", 4002);
//! assert_eq!(agent, "aura-relay/0.1.0 media-udp/4002");
//! assert_eq!(advert::media_port_of(&agent), Some(4002));
//! assert_eq!(advert::media_port_of("aura/0.1.0"), None);
//! ```

/// The token's name.
const TOKEN: &str = "media-udp/";

/// A relay's identify agent version naming its media port.
pub fn relay_agent(version: &str, media_port: u16) -> String {
    format!("aura-relay/{version} {TOKEN}{media_port}")
}

/// The media port a peer's agent version names, if any (never 0).
pub fn media_port_of(agent: &str) -> Option<u16> {
    agent
        .split_whitespace()
        .find_map(|t| t.strip_prefix(TOKEN))
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_or_missing_ports_name_none() {
        for a in [
            "",
            "aura-relay/1",
            "aura-relay/1 media-udp/",
            "aura-relay/1 media-udp/0",
            "aura-relay/1 media-udp/65536",
            "aura-relay/1 media-udp/-1",
            "aura-relay/1 xmedia-udp/5",
        ] {
            assert_eq!(media_port_of(a), None, "{a}");
        }
        assert_eq!(media_port_of("x media-udp/7 y"), Some(7));
    }
}
