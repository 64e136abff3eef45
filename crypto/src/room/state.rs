//! A room's state: host, moderators, seats, audience, bans. Built from the
//! create op and changed only by [`RoomState::apply`](super::RoomState::apply).

use std::collections::{BTreeSet, HashMap, HashSet};

use super::error::RoomError;
use super::id::RoomId;
use super::op::{Access, RoomOpKind, SignedRoomOp};
use crate::identity::MemberId;
use crate::roster::GroupId;

/// How long an op stays acceptable after its author signed it (and how far
/// ahead of our clock it may be). Older ops are refused as replays.
pub const FRESH_MS: u64 = 60_000;
/// Most members present in one room.
pub const DEFAULT_MAX_MEMBERS: usize = 100_000;
/// Most bans a room remembers.
pub const MAX_BANS: usize = 10_000;

/// What the state needs to know from outside to admit a member: the
/// owning group's roster and the ledger's offline token check. The node
/// and the relay pass their own.
pub trait Admission {
    /// Whether `member` is in `group`'s roster.
    fn in_group(&self, group: &GroupId, member: &MemberId) -> bool;
    /// Whether `token` is a valid VIP entitlement of `member` at `now_ms`.
    fn is_vip(&self, member: &MemberId, token: &[u8], now_ms: u64) -> bool;
}

/// One seat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seat {
    /// Speaker on the seat.
    pub occupant: Option<MemberId>,
    /// Member invited to take it.
    pub invited: Option<MemberId>,
    /// Muted (by its speaker or a moderator).
    pub muted: bool,
    /// Muted by the host or a moderator: the speaker cannot unmute.
    pub muted_by_moderator: bool,
    /// Reserved to VIP members.
    pub vip_only: bool,
}

/// A member present in the room.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Presence {
    /// Joined with a valid VIP entitlement.
    pub vip: bool,
    /// Hand raised.
    pub hand: bool,
}

/// What an applied op changed; the caller acts on it (the key authority
/// seals the room key to a joiner, rotates it after a departure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomChange {
    /// A member joined the audience.
    Joined(MemberId),
    /// A member left, was kicked or banned: everything sent from now on
    /// must be unreadable to it.
    Departed {
        /// Who.
        member: MemberId,
        /// Removed by the host or a moderator (kick or ban).
        removed: bool,
    },
    /// A hand was raised or lowered.
    Hand(MemberId, bool),
    /// A member was invited to a seat.
    SeatInvited(MemberId, u8),
    /// A seat changed speaker (`None`: now empty).
    Seated(u8, Option<MemberId>),
    /// A seat was muted or unmuted.
    Muted(u8, bool),
    /// A moderator was added or removed.
    Moderator(MemberId, bool),
    /// A ban was lifted.
    Unbanned(MemberId),
    /// The room is closed.
    Closed,
}

/// One room's state, identical at every node and relay that applied the
/// same ops in the same order.
#[derive(Clone, Debug)]
pub struct RoomState {
    pub(super) id: RoomId,
    pub(super) name: String,
    pub(super) host: MemberId,
    pub(super) access: Access,
    pub(super) vip_only: bool,
    pub(super) moderators: BTreeSet<MemberId>,
    pub(super) present: HashMap<MemberId, Presence>,
    pub(super) seats: Vec<Seat>,
    pub(super) banned: HashSet<MemberId>,
    /// Newest op time per author, kept for departed authors too until
    /// freshness alone refuses their old ops.
    pub(super) last_at: HashMap<MemberId, u64>,
    pub(super) closed: bool,
    pub(super) max_members: usize,
}

impl RoomState {
    /// Starts a room from its signed create op; the host is present.
    pub fn create(op: &SignedRoomOp) -> Result<Self, RoomError> {
        let (
            Some(id),
            RoomOpKind::Create {
                name,
                access,
                seats,
                vip_seats,
                vip_only,
                ..
            },
        ) = (op.created_room(), &op.op().kind)
        else {
            return Err(RoomError::Malformed("not a create op"));
        };
        let host = op.op().author;
        let seats = (0..*seats)
            .map(|i| Seat {
                vip_only: i < *vip_seats,
                ..Seat::default()
            })
            .collect();
        Ok(Self {
            id,
            name: name.clone(),
            host,
            access: *access,
            vip_only: *vip_only,
            moderators: BTreeSet::new(),
            present: HashMap::from([(host, Presence::default())]),
            seats,
            banned: HashSet::new(),
            last_at: HashMap::from([(host, op.op().at_ms)]),
            closed: false,
            max_members: DEFAULT_MAX_MEMBERS,
        })
    }

    /// Caps the members present (joins beyond it are refused).
    pub fn set_max_members(&mut self, max: usize) {
        self.max_members = max;
    }

    /// The room's id.
    pub fn id(&self) -> RoomId {
        self.id
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its host (creator; keeps the room key).
    pub fn host(&self) -> MemberId {
        self.host
    }

    /// Who may join.
    pub fn access(&self) -> Access {
        self.access
    }

    /// Whether `m` is the host or a moderator.
    pub fn is_moderator(&self, m: &MemberId) -> bool {
        *m == self.host || self.moderators.contains(m)
    }

    /// Whether `m` is in the room.
    pub fn is_present(&self, m: &MemberId) -> bool {
        self.present.contains_key(m)
    }

    /// Whether `m` is banned.
    pub fn is_banned(&self, m: &MemberId) -> bool {
        self.banned.contains(m)
    }

    /// Members present (host, speakers and audience).
    pub fn members(&self) -> impl Iterator<Item = (&MemberId, &Presence)> {
        self.present.iter()
    }

    /// Number of members present.
    pub fn member_count(&self) -> usize {
        self.present.len()
    }

    /// The seats in order.
    pub fn seats(&self) -> &[Seat] {
        &self.seats
    }

    /// The seat `m` occupies.
    pub fn seat_of(&self, m: &MemberId) -> Option<u8> {
        self.seats
            .iter()
            .position(|s| s.occupant == Some(*m))
            .and_then(|i| u8::try_from(i).ok())
    }

    /// Seated speakers that are not muted: whose voice listeners play.
    pub fn speakers(&self) -> impl Iterator<Item = MemberId> + '_ {
        self.seats
            .iter()
            .filter(|s| !s.muted)
            .filter_map(|s| s.occupant)
    }

    /// Whether the host closed the room.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}
