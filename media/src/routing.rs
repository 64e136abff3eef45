//! Where an incoming datagram goes, sans-IO: a plain table from room id to
//! a target (the node's voice session, a relay's fan-out), driven by method
//! calls. It reads only the key-free headers (a sealed frame's room, sender
//! and key id; a report's room and author) and holds no key.
//!
//! Who may send what on a connection:
//! - a **direct** peer (a member, authenticated by TLS) sends only its own
//!   frames and reports: the header's sender or author must be the peer;
//! - a **relay** (registered with [`RoutingTable::add_relay`]) forwards
//!   frames and reports of any member of the room; their authenticity is
//!   then checked end to end (frame AEAD and signatures, report signature).
//!
//! ```
//! use aura_crypto::Identity;
//! use aura_media::{Hop, RoutingTable};
//!
//! # fn main() -> Result<(), aura_media::TableError> {
//! let alice = Identity::from_secret_bytes(&[1; 32]).member_id();
//! let mut table = RoutingTable::new();
//! table.open([7; 8], "voice of group 7", [alice])?;
//! assert!(table.admits(&alice));
//! // A datagram from alice's connection for room 7 would now route to
//! // "voice of group 7" with `Hop::Direct`.
//! # let _ = Hop::Direct;
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, HashSet};

use aura_crypto::{FrameHeader, MemberId, ShortId};
use thiserror::Error;

use crate::framing::{classify, Carried, FramingError, LEVEL_TAG};
use crate::report::{ReportError, ReportHeader};
use crate::RoomId;

/// Most rooms a table routes at once.
pub const MAX_ROOMS: usize = 256;
/// Most members per room.
pub const MAX_MEMBERS: usize = 10_000;
/// Most relays.
pub const MAX_RELAYS: usize = 64;

/// How the datagram reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hop {
    /// From the member itself.
    Direct,
    /// Through a relay.
    Relay,
}

/// The header a datagram was routed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// A sealed frame.
    Sealed(FrameHeader),
    /// A signed receiver report.
    Report(ReportHeader),
}

/// Why a datagram could not be routed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RouteError {
    /// Empty, oversize or of an unknown kind.
    #[error(transparent)]
    Framing(#[from] FramingError),
    /// A sealed frame whose header does not parse.
    #[error("bad frame header: {0}")]
    Header(#[from] aura_crypto::FrameError),
    /// A report whose header does not parse.
    #[error("bad report header: {0}")]
    Report(#[from] ReportError),
    /// No open room has this id.
    #[error("no such room")]
    UnknownRoom,
    /// The sender (or report author) is not a member of the room.
    #[error("sender is not a member of the room")]
    NotMember,
    /// On a direct connection: the header names someone other than the peer.
    #[error("datagram claims another sender than the connection's peer")]
    WrongSender,
}

/// Why the table refused a change.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TableError {
    /// The room is already open.
    #[error("room already open")]
    RoomOpen,
    /// No open room has this id.
    #[error("no such room")]
    UnknownRoom,
    /// [`MAX_ROOMS`], [`MAX_MEMBERS`] or [`MAX_RELAYS`] reached.
    #[error("routing table full")]
    Full,
}

/// A routed datagram.
#[derive(Debug)]
pub struct Routed<'a, T> {
    /// The room.
    pub room: RoomId,
    /// Where it goes.
    pub target: &'a mut T,
    /// The member it claims to come from (frame sender or report author).
    pub sender: MemberId,
    /// Direct from that member, or through a relay.
    pub hop: Hop,
    /// The header it was routed by.
    pub header: Header,
}

/// Counters of a table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteStats {
    /// Datagrams routed.
    pub routed: u64,
    /// Refused: framing or header.
    pub malformed: u64,
    /// Refused: no such room.
    pub unknown_room: u64,
    /// Refused: sender not a member.
    pub not_member: u64,
    /// Refused: a direct peer claiming another sender.
    pub wrong_sender: u64,
}

#[derive(Debug)]
struct Room<T> {
    target: T,
    members: HashMap<ShortId, MemberId>,
}

/// Room id → target, with each room's members.
#[derive(Debug)]
pub struct RoutingTable<T> {
    rooms: HashMap<RoomId, Room<T>>,
    relays: HashSet<MemberId>,
    stats: RouteStats,
}

impl<T> Default for RoutingTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

fn member_map(
    members: impl IntoIterator<Item = MemberId>,
) -> Result<HashMap<ShortId, MemberId>, TableError> {
    let mut map = HashMap::new();
    for m in members {
        if map.len() >= MAX_MEMBERS {
            return Err(TableError::Full);
        }
        map.insert(m.short_id(), m);
    }
    Ok(map)
}

impl<T> RoutingTable<T> {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            rooms: HashMap::new(),
            relays: HashSet::new(),
            stats: RouteStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &RouteStats {
        &self.stats
    }

    /// Opens `room`, routing to `target`, with its current members.
    pub fn open(
        &mut self,
        room: RoomId,
        target: T,
        members: impl IntoIterator<Item = MemberId>,
    ) -> Result<(), TableError> {
        if self.rooms.contains_key(&room) {
            return Err(TableError::RoomOpen);
        }
        if self.rooms.len() >= MAX_ROOMS {
            return Err(TableError::Full);
        }
        let members = member_map(members)?;
        self.rooms.insert(room, Room { target, members });
        Ok(())
    }

    /// Closes `room`; returns its target.
    pub fn close(&mut self, room: &RoomId) -> Option<T> {
        self.rooms.remove(room).map(|r| r.target)
    }

    /// Replaces the members of `room` (after a roster change).
    pub fn set_members(
        &mut self,
        room: &RoomId,
        members: impl IntoIterator<Item = MemberId>,
    ) -> Result<(), TableError> {
        let r = self.rooms.get_mut(room).ok_or(TableError::UnknownRoom)?;
        r.members = member_map(members)?;
        Ok(())
    }

    /// Lets `relay` forward frames and reports of members.
    pub fn add_relay(&mut self, relay: MemberId) -> Result<(), TableError> {
        if !self.relays.contains(&relay) && self.relays.len() >= MAX_RELAYS {
            return Err(TableError::Full);
        }
        self.relays.insert(relay);
        Ok(())
    }

    /// Stops accepting forwarded datagrams from `relay`.
    pub fn remove_relay(&mut self, relay: &MemberId) {
        self.relays.remove(relay);
    }

    /// Whether `peer` may hold a connection with us: a member of an open
    /// room, or a relay.
    pub fn admits(&self, peer: &MemberId) -> bool {
        self.relays.contains(peer) || self.rooms.keys().any(|r| self.is_member(r, peer))
    }

    /// Whether `member` is a member of `room`.
    pub fn is_member(&self, room: &RoomId, member: &MemberId) -> bool {
        self.rooms
            .get(room)
            .and_then(|r| r.members.get(&member.short_id()))
            .is_some_and(|m| m == member)
    }

    /// The open rooms.
    pub fn rooms(&self) -> impl Iterator<Item = &RoomId> + '_ {
        self.rooms.keys()
    }

    /// The target of `room`.
    pub fn target_mut(&mut self, room: &RoomId) -> Option<&mut T> {
        self.rooms.get_mut(room).map(|r| &mut r.target)
    }

    /// Decides where a datagram that came on `peer`'s connection goes.
    pub fn route(&mut self, peer: &MemberId, datagram: &[u8]) -> Result<Routed<'_, T>, RouteError> {
        let hop = if self.relays.contains(peer) {
            Hop::Relay
        } else {
            Hop::Direct
        };
        let r = Self::resolve(&self.rooms, peer, hop, datagram);
        match &r {
            Ok(_) => self.stats.routed += 1,
            Err(RouteError::UnknownRoom) => self.stats.unknown_room += 1,
            Err(RouteError::NotMember) => self.stats.not_member += 1,
            Err(RouteError::WrongSender) => self.stats.wrong_sender += 1,
            Err(_) => self.stats.malformed += 1,
        }
        let (room, sender, header) = r?;
        let target = self
            .rooms
            .get_mut(&room)
            .map(|r| &mut r.target)
            .ok_or(RouteError::UnknownRoom)?;
        Ok(Routed {
            room,
            target,
            sender,
            hop,
            header,
        })
    }

    fn resolve(
        rooms: &HashMap<RoomId, Room<T>>,
        peer: &MemberId,
        hop: Hop,
        datagram: &[u8],
    ) -> Result<(RoomId, MemberId, Header), RouteError> {
        let (room_id, claimed, header) = match classify(datagram)? {
            Carried::Sealed => {
                let h = FrameHeader::parse(datagram)?;
                (h.room, Claimed::Short(h.sender), Header::Sealed(h))
            }
            Carried::Report => {
                let h = ReportHeader::parse(datagram)?;
                (h.room, Claimed::Full(h.author), Header::Report(h))
            }
            // Only a relay takes levels; it forwards the frame alone.
            Carried::Leveled => return Err(FramingError::Unknown(LEVEL_TAG).into()),
        };
        let room = rooms.get(&room_id).ok_or(RouteError::UnknownRoom)?;
        let sender = match claimed {
            Claimed::Short(s) => room.members.get(&s).copied(),
            Claimed::Full(m) => room
                .members
                .get(&m.short_id())
                .filter(|x| **x == m)
                .copied(),
        }
        .ok_or(RouteError::NotMember)?;
        if hop == Hop::Direct && sender != *peer {
            return Err(RouteError::WrongSender);
        }
        Ok((room_id, sender, header))
    }
}

/// Who a header claims sent it.
enum Claimed {
    Short(ShortId),
    Full(MemberId),
}

#[cfg(test)]
mod tests;
