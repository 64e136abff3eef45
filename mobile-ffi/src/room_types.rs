//! Records of rooms that cross the boundary: options, members, seats,
//! relays, and the parsing of relay and room ids.

use std::{net::SocketAddr, str::FromStr};

use aura_crypto::{
    room::{Access, RoomId, RoomState, DEFAULT_SEATS, MAX_SEATS},
    MemberId,
};
use aura_media::room_control::RelayLoad;
use aura_node::rooms::{Member, Role, RoomSpec};

use crate::{
    error::AuraError,
    room_events::relay_text,
    types::{group_hex, group_id, member_hex},
};

/// What a new room is.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RoomOptions {
    /// Its name.
    pub name: String,
    /// A group room (hex group id): only the group's members may join,
    /// without a ticket. `None`: anyone holding a ticket.
    pub group: Option<String>,
    /// Seats, 1 to 16 (`None`: 8).
    pub seats: Option<u8>,
    /// The first `vip_seats` seats are reserved to VIP members.
    pub vip_seats: u8,
    /// Only VIP members (and the host) may join.
    pub vip_only: bool,
}

impl RoomOptions {
    /// The node's room spec, or a `BadInput` naming what is wrong.
    pub(crate) fn spec(&self) -> Result<RoomSpec, AuraError> {
        let mut spec = match &self.group {
            Some(g) => RoomSpec::group(&self.name, group_id(g)?),
            None => RoomSpec::ticket(&self.name),
        };
        let seats = self.seats.unwrap_or(DEFAULT_SEATS);
        if seats == 0 || seats > MAX_SEATS {
            return Err(AuraError::bad_input(format!(
                "seats {seats}: 1 to {MAX_SEATS}"
            )));
        }
        if self.vip_seats > seats {
            return Err(AuraError::bad_input(format!(
                "vip_seats {} of {seats} seats",
                self.vip_seats
            )));
        }
        spec.seats = seats;
        Ok(spec.vip(self.vip_seats, self.vip_only))
    }
}

/// A member's role in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RoomRole {
    /// Created the room; holds its key.
    Host,
    /// Named by the host.
    Moderator,
    /// Holds a seat.
    Speaker,
    /// In the audience.
    Listener,
}

impl From<Role> for RoomRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Host => Self::Host,
            Role::Moderator => Self::Moderator,
            Role::Speaker => Self::Speaker,
            Role::Listener => Self::Listener,
        }
    }
}

/// A member as our view of the room knows it (a listener knows the host,
/// moderators and speakers; the host and moderators know everyone).
#[derive(Debug, Clone, uniffi::Record)]
pub struct RoomMember {
    /// Member id (hex).
    pub member: String,
    /// Role.
    pub role: RoomRole,
    /// Seat held.
    pub seat: Option<u8>,
    /// Hand raised.
    pub hand: bool,
}

impl From<&Member> for RoomMember {
    fn from(m: &Member) -> Self {
        Self {
            member: member_hex(&m.member),
            role: m.role.into(),
            seat: m.seat,
            hand: m.hand,
        }
    }
}

/// One seat of a room.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RoomSeat {
    /// Seat number.
    pub seat: u8,
    /// Speaker on it (hex).
    pub occupant: Option<String>,
    /// Member invited to take it (hex).
    pub invited: Option<String>,
    /// Muted (by its speaker or a moderator).
    pub muted: bool,
    /// Muted by the host or a moderator: the speaker cannot unmute.
    pub muted_by_moderator: bool,
    /// Reserved to VIP members.
    pub vip_only: bool,
}

/// The room as our view knows it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RoomInfo {
    /// Room id (hex, 64 digits).
    pub id: String,
    /// Name.
    pub name: String,
    /// Host (hex member id).
    pub host: String,
    /// The group of a group room (hex).
    pub group: Option<String>,
    /// Members present that our view knows of.
    pub member_count: u32,
    /// Its seats.
    pub seats: Vec<RoomSeat>,
    /// Closed by its host.
    pub closed: bool,
}

impl From<&RoomState> for RoomInfo {
    fn from(s: &RoomState) -> Self {
        Self {
            id: room_hex(&s.id()),
            name: s.name().to_owned(),
            host: member_hex(&s.host()),
            group: match s.access() {
                Access::Group(g) => Some(group_hex(&g)),
                Access::Ticket => None,
            },
            member_count: u32::try_from(s.member_count()).unwrap_or(u32::MAX),
            seats: s
                .seats()
                .iter()
                .zip(0u8..)
                .map(|(seat, n)| RoomSeat {
                    seat: n,
                    occupant: seat.occupant.as_ref().map(member_hex),
                    invited: seat.invited.as_ref().map(member_hex),
                    muted: seat.muted,
                    muted_by_moderator: seat.muted_by_moderator,
                    vip_only: seat.vip_only,
                })
                .collect(),
            closed: s.is_closed(),
        }
    }
}

/// A relay serving a room.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RoomRelay {
    /// Its peer id.
    pub peer_id: String,
    /// Its media address (`ip:port`).
    pub media_addr: String,
    /// Members of the room it serves.
    pub members: u32,
}

impl From<&RelayLoad> for RoomRelay {
    fn from(r: &RelayLoad) -> Self {
        Self {
            peer_id: relay_text(&r.relay),
            media_addr: r.addr.to_string(),
            members: r.members,
        }
    }
}

/// The relays of a room as we know them.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RoomRelays {
    /// The relay we are connected through (peer id).
    pub current: String,
    /// The room's relays, origin first, with their loads as last told.
    pub relays: Vec<RoomRelay>,
}

/// Frames of one speaker played so far.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RoomHeard {
    /// Member id (hex).
    pub member: String,
    /// 20 ms frames played (decoded or recovered).
    pub frames: u64,
}

/// A room id as hex text.
pub(crate) fn room_hex(id: &RoomId) -> String {
    hex::encode(id.0)
}

/// A room id from its hex text.
pub(crate) fn room_id(text: &str) -> Result<RoomId, AuraError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut out)
        .map_err(|e| AuraError::bad_input(format!("room id {text:?}: {e} (64 hex digits)")))?;
    Ok(RoomId(out))
}

/// A relay from its peer id (as `aura-relay` prints it) and media address.
pub(crate) fn relay_of(
    peer_id: &str,
    media_addr: &str,
) -> Result<(MemberId, SocketAddr), AuraError> {
    let peer = libp2p_identity::PeerId::from_str(peer_id.trim())
        .map_err(|e| AuraError::bad_input(format!("relay peer id {peer_id:?}: {e}")))?;
    let relay = MemberId::from_peer_id(&peer).ok_or_else(|| {
        AuraError::bad_input(format!("relay peer id {peer_id:?}: not an ed25519 key"))
    })?;
    let addr = media_addr.trim().parse().map_err(|e| {
        AuraError::bad_input(format!("relay media address {media_addr:?}: {e} (ip:port)"))
    })?;
    Ok((relay, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_and_room_ids_are_checked() {
        assert!(matches!(
            relay_of("nope", "127.0.0.1:4002"),
            Err(AuraError::BadInput { .. })
        ));
        let peer = aura_crypto::Identity::from_secret_bytes(&[1; 32]).peer_id();
        let (relay, addr) = relay_of(&peer.to_string(), "127.0.0.1:4002").unwrap();
        assert_eq!(relay_text(&relay), peer.to_string());
        assert_eq!(addr.port(), 4002);
        assert!(matches!(
            relay_of(&peer.to_string(), "localhost"),
            Err(AuraError::BadInput { .. })
        ));
        let id = RoomId([7; 32]);
        assert_eq!(room_id(&room_hex(&id)).unwrap(), id);
        assert!(room_id("07").is_err());
    }

    #[test]
    fn room_options_are_checked() {
        let mut o = RoomOptions {
            name: "friday".into(),
            group: None,
            seats: None,
            vip_seats: 2,
            vip_only: true,
        };
        let spec = o.spec().unwrap();
        assert_eq!((spec.seats, spec.vip_seats, spec.vip_only), (8, 2, true));
        o.seats = Some(0);
        assert!(o.spec().is_err());
        o.seats = Some(1);
        assert!(o.spec().is_err());
        o.seats = Some(4);
        o.group = Some("zz".into());
        assert!(o.spec().is_err());
    }
}
