//! What the node task tells a group's voice engine, on a typed, bounded
//! channel of its own (not the public event stream, which may lag): media
//! addresses members announced, positions for positional audio, roster
//! changes, the relays whose media forwarder we can reach and which relay
//! each member's libp2p path goes through. A message that does not fit marks the feed stale and the task
//! sends a [`VoiceFeed::Snapshot`] on its next tick.

use std::net::{IpAddr, SocketAddr};

use aura_crypto::MemberId;

use crate::location::Position;

/// Bound of a voice engine's feed.
pub(crate) const FEED_QUEUE: usize = 1024;

/// One message from the node task to a voice engine.
#[derive(Debug, Clone)]
pub(crate) enum VoiceFeed {
    /// A member announced (or changed) its media address.
    MediaAddr {
        /// Who.
        member: MemberId,
        /// `ip:port` as announced.
        addr: String,
    },
    /// A member's latest position.
    Position {
        /// Who.
        member: MemberId,
        /// Where.
        pos: Position,
    },
    /// The relays' media forwarders (identity, UDP address) of the relays
    /// we are connected to now, replacing the previous list.
    Relays(Vec<(MemberId, SocketAddr)>),
    /// A member's libp2p path: through which relay, or `None` (direct or
    /// not connected).
    Path {
        /// Who.
        member: MemberId,
        /// The relay the path goes through.
        relay: Option<MemberId>,
    },
    /// The IP a member's direct libp2p connection reaches (behind a
    /// port-preserving NAT, its media port may be open there too).
    DirectIp {
        /// Who.
        member: MemberId,
        /// Its public IP, as we reach it.
        ip: IpAddr,
    },
    /// The roster gained members (the engine reads the roster itself).
    MembersAdded,
    /// A member left or was removed.
    MemberLeft(MemberId),
    /// We were removed from the group.
    Removed,
    /// The members blocked on this device now (all of them): their
    /// frames are dropped before any decryption or decoding.
    Blocked(Vec<MemberId>),
    /// Everything the task knows, after messages were dropped.
    Snapshot(Box<VoiceSnapshot>),
}

/// The voice-relevant state the task holds for a group.
#[derive(Debug, Clone, Default)]
pub(crate) struct VoiceSnapshot {
    /// Members' announced media addresses.
    pub(crate) addrs: Vec<(MemberId, String)>,
    /// Members' last positions.
    pub(crate) positions: Vec<(MemberId, Position)>,
    /// Media forwarders of the relays we are connected to.
    pub(crate) relays: Vec<(MemberId, SocketAddr)>,
    /// Members connected through a relay, and which.
    pub(crate) paths: Vec<(MemberId, MemberId)>,
    /// The IP of members' direct connections.
    pub(crate) direct_ips: Vec<(MemberId, IpAddr)>,
    /// Members blocked on this device.
    pub(crate) blocked: Vec<MemberId>,
}
