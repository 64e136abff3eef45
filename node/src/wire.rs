//! What the node puts inside sealed frames and on the wire, and the size limits
//! applied before anything is decoded.

use aura_crypto::Invite;
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

use crate::location::{Fix, Geofence, Position, Precision};

/// Largest gossip message accepted (a sealed frame or a batch of envelopes).
pub const MAX_GOSSIP_BYTES: usize = 64 * 1024;
/// Largest join/sync request or response accepted.
pub const MAX_RPC_BYTES: u64 = 1024 * 1024;
/// Longest chat message, bytes.
pub const MAX_CHAT_BYTES: usize = 4096;

/// A message on a group's gossipsub topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum GossipMsg {
    /// A sealed frame (location, chat or control).
    Frame(Vec<u8>),
    /// Key envelopes, each encrypted to its recipient and signed by its sender.
    Keys(Vec<Vec<u8>>),
}

/// Plaintext of a location frame: the fix, already coarsened.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LocationMsg {
    /// Latitude × 1e7.
    pub lat_e7: i32,
    /// Longitude × 1e7.
    pub lon_e7: i32,
    /// Time of the fix, unix ms.
    pub at_ms: u64,
    /// Precision chosen by the sender.
    pub precision: Precision,
}

impl LocationMsg {
    /// From a fix.
    pub fn from_fix(f: &Fix) -> Self {
        Self {
            lat_e7: (f.pos.lat * 1e7).round() as i32,
            lon_e7: (f.pos.lon * 1e7).round() as i32,
            at_ms: f.at_ms,
            precision: f.precision,
        }
    }

    /// To a fix; `None` for out-of-range coordinates.
    pub fn to_fix(&self) -> Option<Fix> {
        let pos = Position::new(f64::from(self.lat_e7) / 1e7, f64::from(self.lon_e7) / 1e7)?;
        Some(Fix {
            pos,
            at_ms: self.at_ms,
            precision: self.precision,
        })
    }
}

/// Plaintext of a chat frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatMsg {
    /// When it was written, unix ms.
    pub at_ms: u64,
    /// Text.
    pub text: String,
}

/// Plaintext of a control frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ControlMsg {
    /// An encoded roster op (`SignedOp::encode`).
    Op(Vec<u8>),
    /// The sender's libp2p listen addresses, so members connect directly.
    Addrs(Vec<String>),
    /// The sender's media-plane endpoint (QUIC datagrams), for voice.
    MediaAddr(String),
    /// The sender lost keys (restart, join): please send it an envelope.
    KeyRequest,
    /// A geofence added or replaced.
    Fence(Geofence),
    /// A geofence removed, by name.
    FenceRemoved(String),
    /// A gift receipt signed by the billing ledger (its JSON, at most
    /// [`crate::gift::MAX_RECEIPT_BYTES`]).
    Gift(Vec<u8>),
    /// The sender's profile: an encoded [`crate::people::SignedProfile`]
    /// (at most [`crate::people::MAX_PROFILE_BYTES`]), signed by the sender.
    Profile(Vec<u8>),
    /// The sender is away (background mode: members keep no connection to
    /// it but its carrier's, and do not dial it) or back, as of `at_ms`
    /// (its clock; only a notice newer than the last one counts).
    Presence {
        /// Away (`true`) or back.
        away: bool,
        /// When the sender said so, unix ms.
        at_ms: u64,
    },
}

/// Requests of the `/aura/group/1` request-response protocol.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Join with this invite text; the requester is the connection's peer.
    Join {
        /// `aura1…` invite.
        invite: String,
    },
    /// Send me the roster ops I miss and your sender key.
    Sync {
        /// Group id.
        group: [u8; 32],
        /// My roster heads.
        heads: Vec<[u8; 32]>,
    },
    /// Key envelopes addressed to the receiver, delivered directly (no gossip
    /// hop that could lag behind a join storm).
    Keys {
        /// Group id.
        group: [u8; 32],
        /// Encoded key envelopes (at most [`MAX_DIRECT_ENVELOPES`]).
        envelopes: Vec<Vec<u8>>,
    },
    /// From a member in background mode to its carrier: publish these
    /// gossip messages of mine for the group, and give me what the group
    /// published since I last asked (see `net::carry`).
    Carry {
        /// Group id.
        group: [u8; 32],
        /// Encoded [`GossipMsg`]s authored by the requester (at most
        /// `net::carry::MAX_CARRIED`).
        messages: Vec<Vec<u8>>,
        /// The number of the last [`Response::Carried`] this carrier gave
        /// us (0: none): until it is confirmed the carrier sends its
        /// messages again.
        #[serde(default)]
        confirmed: u32,
    },
    /// The avatar image with this SHA-256, which a profile in `group`
    /// names (answered to members of `group` only).
    Avatar {
        /// Group id.
        group: [u8; 32],
        /// SHA-256 of the image.
        hash: [u8; 32],
    },
}

/// Most envelopes accepted in one direct [`Request::Keys`].
pub const MAX_DIRECT_ENVELOPES: usize = 16;

/// Responses of `/aura/group/1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Response {
    /// Welcome: the roster ops and the responder's key envelope for us.
    Welcome {
        /// All roster ops (encoded), topological order.
        ops: Vec<Vec<u8>>,
        /// Encoded key envelopes addressed to the requester.
        envelopes: Vec<Vec<u8>>,
        /// Listen addresses of members the responder knows: (peer id, addrs).
        peers: Vec<(String, Vec<String>)>,
    },
    /// No: why, in words the user can act on.
    Refused(String),
    /// Received (the answer to [`Request::Keys`]).
    Ack,
    /// The answer to [`Request::Carry`]: the group's gossip messages kept
    /// for the requester since it last asked (and those of the last answer,
    /// unless the request confirmed it).
    Carried {
        /// This answer's number, for the next request to confirm.
        answer: u32,
        /// Encoded gossip messages.
        messages: Vec<Vec<u8>>,
    },
    /// The image asked for with [`Request::Avatar`] (checked against the
    /// hash by the asker).
    Avatar(Vec<u8>),
}

/// Encodes with postcard (infallible for these types; errors become empty).
pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).unwrap_or_default()
}

/// Decodes with postcard, refusing oversized input.
pub fn decode<'a, T: Deserialize<'a>>(b: &'a [u8]) -> Option<T> {
    if b.len() > MAX_GOSSIP_BYTES {
        return None;
    }
    postcard::from_bytes(b).ok()
}

/// The peers an invite names, with their addresses, in the order a joining
/// node asks them: a hint whose peer id does not parse is skipped, and so is
/// an address that does not parse.
pub fn invite_peers(invite: &Invite) -> Vec<(PeerId, Vec<Multiaddr>)> {
    invite
        .body
        .hints
        .iter()
        .filter_map(|h| {
            let peer = h.peer.parse::<PeerId>().ok()?;
            let addrs = h.addrs.iter().filter_map(|a| a.parse().ok()).collect();
            Some((peer, addrs))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use aura_crypto::{Hint, Identity, Invite, InviteBody};

    use super::*;
    use crate::location::{FenceError, FenceSet, FenceTracker};

    /// Found by the `frame_payload` fuzz target: a member's control frame
    /// carrying a polygon fence whose first vertex is NaN. Applied and
    /// tracked, it panicked the node task inside `geo` on the next position
    /// update (`assertion failed: linestring.is_closed()`).
    const NAN_POLYGON_FENCE: [u8; 81] = [
        0x04, 0x04, 0x70, 0x61, 0x72, 0x6b, 0x01, 0x03, 0x33, 0x01, 0xff, 0x3c, 0xff, 0xff, 0xff,
        0xff, 0x7d, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x33, 0x33, 0x33, 0x33, 0xf8,
        0x46, 0x33, 0x33, 0x33, 0x33, 0xf3, 0xf9, 0x3e, 0xab, 0x50, 0xf3, 0x46, 0x40, 0x7b, 0x14,
        0xae, 0x47, 0xe1, 0x7a, 0x1b, 0x40, 0x33, 0xff, 0xff, 0xff, 0x33, 0xc8, 0xff, 0xff, 0xcc,
        0xcc, 0x40, 0x7b, 0x14, 0xae, 0x47, 0xe1, 0x7a, 0x1b, 0x40, 0xb4, 0xf9, 0x3e, 0xab, 0x50,
        0xff, 0xff, 0xff, 0xff, 0x12, 0x40,
    ];

    #[test]
    fn fence_with_a_nan_vertex_is_refused_and_never_panics_a_tracker() {
        let Some(ControlMsg::Fence(fence)) = decode::<ControlMsg>(&NAN_POLYGON_FENCE) else {
            panic!("the fuzzer's input decodes as a fence");
        };
        assert_eq!(fence.validate(), Err(FenceError::BadCoordinate));
        assert_eq!(
            FenceSet::default().upsert(fence.clone()),
            Err(FenceError::BadCoordinate)
        );
        let here = crate::location::Position::new(45.9, 6.87).unwrap();
        let mut tracker = FenceTracker::new(25.0);
        assert!(tracker.update(&[fence], &1u8, &here).is_empty());
    }

    #[test]
    fn invite_peers_skip_hints_and_addresses_that_do_not_parse() {
        let inviter = Identity::from_secret_bytes(&[1; 32]);
        let peer = inviter.member_id().peer_id().unwrap();
        let hint = |peer: String, addrs: &[&str]| Hint {
            peer,
            addrs: addrs.iter().map(|a| a.to_string()).collect(),
        };
        let body = InviteBody {
            group: aura_crypto::GroupId([2; 32]),
            group_name: "g".into(),
            inviter: inviter.member_id(),
            invite_id: [3; 16],
            expires_at_ms: u64::MAX,
            max_uses: 1,
            hints: vec![
                hint("not a peer id".into(), &["/ip4/1.2.3.4/tcp/1"]),
                hint(peer.to_string(), &["/ip4/1.2.3.4/tcp/1", "/nonsense"]),
            ],
        };
        let invite = Invite::sign(body, &inviter).unwrap();
        let peers = invite_peers(&invite);
        assert_eq!(peers.len(), 1);
        assert_eq!(peers[0].0, peer);
        assert_eq!(
            peers[0].1,
            vec!["/ip4/1.2.3.4/tcp/1".parse::<Multiaddr>().unwrap()]
        );
    }
}
