//! The operator's config (TOML). Every field has a default, so an empty
//! file is a working relay; [`TEMPLATE`] is what `aura-relay init` writes,
//! each field commented.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use aura_crypto::MemberId;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::access::Access;
use crate::forward::Limits;
use crate::selection::Selection;

/// Config errors.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The TOML does not parse or has unknown fields.
    #[error("config: {0}")]
    Toml(#[from] toml::de::Error),
    /// An allow-list entry that is neither 64 hex digits nor a PeerId.
    #[error("access.allow: {0:?} is not a member key (64 hex digits) nor a peer id")]
    AllowEntry(String),
    /// `access.mode = "token"` without a valid `ledger_key`.
    #[error("access.ledger_key: {0}")]
    LedgerKey(String),
    /// A listen address that does not parse.
    #[error("listen: {0}")]
    Listen(String),
}

/// The whole config.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Identity key file (relative paths are relative to the config file).
    pub identity_file: PathBuf,
    /// Where to listen.
    pub listen: Listen,
    /// Limits.
    pub limits: LimitsConfig,
    /// Who may use the relay.
    pub access: AccessConfig,
    /// Other relays to meet on the DHT.
    pub dht: DhtConfig,
}

/// The DHT: where relays of one room find each other (a cascade).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct DhtConfig {
    /// Multiaddrs with `/p2p/<peer id>` of relays to join the DHT through.
    pub bootstrap: Vec<String>,
}

/// Listen addresses.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    /// libp2p multiaddrs (circuit relay, DHT, AutoNAT, identify, ping).
    pub libp2p: Vec<String>,
    /// Public multiaddrs to advertise (in reservations); empty: none.
    pub external: Vec<String>,
    /// UDP address of the media forwarder (QUIC, ALPN `aura-media/1`).
    pub media: SocketAddr,
    /// HTTP address of `/metrics`; `None`: off.
    pub metrics: Option<SocketAddr>,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            libp2p: vec![
                "/ip4/0.0.0.0/udp/4001/quic-v1".into(),
                "/ip4/0.0.0.0/tcp/4001".into(),
            ],
            external: Vec::new(),
            media: SocketAddr::from(([0, 0, 0, 0], 4002)),
            metrics: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
        }
    }
}

/// Limits (see [`TEMPLATE`] for what each is for).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Connections from one IP address, per plane.
    pub connections_per_ip: u32,
    /// libp2p connections at once.
    pub max_connections: u32,
    /// Reservations at once.
    pub reservations: usize,
    /// Reservations one peer may hold.
    pub reservations_per_peer: usize,
    /// Lifetime of a reservation (the client renews it).
    pub reservation_duration_s: u64,
    /// Relayed circuits at once.
    pub circuits: usize,
    /// Circuits one peer may hold.
    pub circuits_per_peer: usize,
    /// Lifetime of a circuit.
    pub circuit_duration_s: u64,
    /// Bytes one circuit may carry (both directions).
    pub circuit_bytes: u64,
    /// Media connections at once.
    pub media_sessions: usize,
    /// Rooms one member may join on the media forwarder.
    pub rooms_per_member: usize,
    /// Members of one room on the media forwarder.
    pub members_per_room: usize,
    /// Rooms on the media forwarder.
    pub media_rooms: usize,
    /// Bytes a second one media connection may send (0: no limit).
    pub media_bytes_per_s: u64,
    /// Burst above that rate.
    pub media_burst_bytes: u64,
    /// Seats of a room forwarded at once: the loudest, by the level each
    /// frame carries.
    pub loudest_speakers: usize,
    /// Seconds a room member whose connection closed may stay away before
    /// the room's host is told (and removes it).
    pub room_absent_after_s: u64,
    /// Refuse new connections above this resident memory (MiB).
    pub memory_mb: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let m = Limits::default();
        Self {
            connections_per_ip: 32,
            max_connections: 2_048,
            reservations: 1_024,
            reservations_per_peer: 4,
            reservation_duration_s: 3_600,
            circuits: 1_024,
            circuits_per_peer: 64,
            circuit_duration_s: 6 * 3_600,
            circuit_bytes: 256 << 20,
            media_sessions: m.max_sessions,
            rooms_per_member: m.rooms_per_member,
            members_per_room: m.members_per_room,
            media_rooms: m.max_rooms,
            media_bytes_per_s: m.bytes_per_s,
            media_burst_bytes: m.burst_bytes,
            loudest_speakers: m.selection.max_speakers,
            room_absent_after_s: 60,
            memory_mb: 512,
        }
    }
}

impl LimitsConfig {
    /// The forwarder's limits.
    pub fn forwarder(&self) -> Limits {
        Limits {
            max_sessions: self.media_sessions,
            rooms_per_member: self.rooms_per_member,
            members_per_room: self.members_per_room,
            max_rooms: self.media_rooms,
            bytes_per_s: self.media_bytes_per_s,
            burst_bytes: self.media_burst_bytes,
            selection: Selection {
                max_speakers: self.loudest_speakers,
                ..Selection::default()
            },
        }
    }

    /// The room control plane's limits (rooms and members as the forwarder's).
    pub fn rooms(&self) -> crate::rooms::HubLimits {
        crate::rooms::HubLimits {
            max_rooms: self.media_rooms,
            members_per_room: self.members_per_room,
            absent_after_ms: self.room_absent_after_s.saturating_mul(1_000),
            ..crate::rooms::HubLimits::default()
        }
    }

    /// Reservation lifetime.
    pub fn reservation_duration(&self) -> Duration {
        Duration::from_secs(self.reservation_duration_s)
    }

    /// Circuit lifetime.
    pub fn circuit_duration(&self) -> Duration {
        Duration::from_secs(self.circuit_duration_s)
    }
}

/// Access policy kinds.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AccessMode {
    /// Anyone.
    #[default]
    Everyone,
    /// The members in `allow`.
    AllowList,
    /// Members with a valid entitlement token.
    Token,
}

/// Who may use the relay.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// `everyone`, `allow_list` or `token`.
    pub mode: AccessMode,
    /// Member keys (64 hex digits) or peer ids, for `allow_list`.
    pub allow: Vec<String>,
    /// The ledger's public key (64 hex digits): for `token`, and in every
    /// mode for VIP rooms and seats (empty: no one is VIP here).
    pub ledger_key: String,
    /// A capability the token must allow; empty: any valid token.
    pub capability: String,
}

fn member(s: &str) -> Option<MemberId> {
    let mut k = [0u8; 32];
    if hex::decode_to_slice(s, &mut k).is_ok() {
        return Some(MemberId(k));
    }
    let peer = s.parse().ok()?;
    MemberId::from_peer_id(&peer)
}

impl AccessConfig {
    /// The ledger's key, if one is set: `token` mode admits with it, and
    /// in every mode it admits VIP members to VIP rooms and seats.
    pub fn ledger(&self) -> Result<Option<ed25519_dalek::VerifyingKey>, ConfigError> {
        let hex_key = self.ledger_key.trim();
        if hex_key.is_empty() {
            return Ok(None);
        }
        let mut k = [0u8; 32];
        hex::decode_to_slice(hex_key, &mut k).map_err(|e| ConfigError::LedgerKey(e.to_string()))?;
        ed25519_dalek::VerifyingKey::from_bytes(&k)
            .map(Some)
            .map_err(|e| ConfigError::LedgerKey(e.to_string()))
    }

    /// The policy.
    pub fn to_access(&self) -> Result<Access, ConfigError> {
        Ok(match self.mode {
            AccessMode::Everyone => Access::Everyone,
            AccessMode::AllowList => Access::AllowList(
                self.allow
                    .iter()
                    .map(|s| member(s.trim()).ok_or_else(|| ConfigError::AllowEntry(s.clone())))
                    .collect::<Result<HashSet<_>, _>>()?,
            ),
            AccessMode::Token => {
                let ledger = self
                    .ledger()?
                    .ok_or_else(|| ConfigError::LedgerKey("empty".into()))?;
                let c = self.capability.trim();
                Access::Token {
                    ledger,
                    capability: (!c.is_empty()).then(|| c.to_owned()),
                }
            }
        })
    }
}

impl Config {
    /// Parses a config file's text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut c: Self = toml::from_str(text)?;
        if c.identity_file.as_os_str().is_empty() {
            c.identity_file = PathBuf::from("identity.key");
        }
        Ok(c)
    }
}

/// The config `aura-relay init` writes: every field at its default, with a
/// comment saying what it does.
pub const TEMPLATE: &str = r#"# aura-relay config. Every field is optional; the values below are the defaults.

# The relay's ed25519 identity (its libp2p PeerId and media identity),
# written by `aura-relay init` with mode 0600. Relative to this file.
identity_file = "identity.key"

[listen]
# libp2p: circuit relay v2, Kademlia (bootstrap), AutoNAT, identify, ping.
libp2p = ["/ip4/0.0.0.0/udp/4001/quic-v1", "/ip4/0.0.0.0/tcp/4001"]
# Public addresses to advertise in reservations, e.g.
# ["/ip4/203.0.113.7/udp/4001/quic-v1", "/ip4/203.0.113.7/tcp/4001"].
# Behind a cloud NAT you must list them, or clients get no usable circuit address.
external = []
# The media forwarder (QUIC datagrams, ALPN aura-media/1). UDP.
media = "0.0.0.0:4002"
# Prometheus /metrics over HTTP. Keep it private (loopback or a firewall).
metrics = "127.0.0.1:9464"

[limits]
# Connections from one IP address (each plane counts its own).
connections_per_ip = 32
# libp2p connections at once.
max_connections = 2048
# Circuit relay reservations at once, and per peer.
reservations = 1024
reservations_per_peer = 4
# A reservation's lifetime; clients renew before it ends.
reservation_duration_s = 3600
# Relayed circuits at once, and per peer. A group member behind NAT holds
# one circuit per other member that reaches it through this relay.
circuits = 1024
circuits_per_peer = 64
# A circuit's lifetime and byte budget. The libp2p defaults (2 minutes,
# 128 KiB) fit a hole-punch handshake only; a group's control, location and
# chat traffic lives on circuits for hours.
circuit_duration_s = 21600
circuit_bytes = 268435456
# Media forwarder: connections at once, rooms per member, members per room, rooms.
media_sessions = 4096
rooms_per_member = 8
members_per_room = 1024
media_rooms = 4096
# Bandwidth of one media connection (bytes/s, 0 = no limit) and its burst.
# Opus voice needs 2-8 KB/s.
media_bytes_per_s = 64000
media_burst_bytes = 32000
# Seats of a voice room forwarded at once: the loudest, by the level each frame carries.
loudest_speakers = 3
# Seconds a room member whose connection closed may stay away before the
# room's host is told (its node then removes the member).
room_absent_after_s = 60
# New connections are refused while the relay's resident memory is above this (MiB).
memory_mb = 512

[access]
# Who may use the relay: "everyone", "allow_list" (the keys in `allow`) or
# "token" (members presenting a valid entitlement token of the ledger).
mode = "everyone"
# Member keys (64 hex digits) or peer ids (12D3Koo...), for "allow_list".
allow = []
# The ledger's public key (64 hex digits, `aura-billing`'s signing key), for
# "token"; in every mode it also admits VIP members (tokens allowing
# "vip_rooms") to VIP rooms and seats. Empty: no one is VIP here.
ledger_key = ""
# A capability the token must allow (e.g. "host_large_rooms"); empty: any valid token.
capability = ""

[dht]
# Relays to join the DHT through ("/ip4/.../tcp/4001/p2p/12D3Koo..."). A room
# bigger than one relay spans several: relays find the room's origin on the
# DHT (a provider record under a hash of the room id) and follow it.
bootstrap = []
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_the_defaults_and_empty_file_works() -> Result<(), ConfigError> {
        let t = Config::parse(TEMPLATE)?;
        let e = Config::parse("")?;
        assert_eq!(t, e);
        assert_eq!(t.limits, LimitsConfig::default());
        assert_eq!(t.listen, Listen::default());
        assert!(matches!(t.access.to_access()?, Access::Everyone));
        Ok(())
    }

    #[test]
    fn unknown_fields_and_bad_access_are_refused() {
        assert!(Config::parse("[limits]\nconections_per_ip = 3\n").is_err());
        let bad = Config::parse("[access]\nmode = \"allow_list\"\nallow = [\"zz\"]\n");
        assert!(matches!(
            bad.map(|c| c.access.to_access()),
            Ok(Err(ConfigError::AllowEntry(_)))
        ));
        let bad = Config::parse("[access]\nmode = \"token\"\n");
        assert!(matches!(
            bad.map(|c| c.access.to_access()),
            Ok(Err(ConfigError::LedgerKey(_)))
        ));
    }
}
