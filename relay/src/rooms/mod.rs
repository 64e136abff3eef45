//! The room control plane (sans-IO): members submit signed room ops on a
//! reliable stream of their media connection; the relay checks each with
//! the same [`RoomState`](aura_crypto::room::RoomState) the nodes run
//! (signatures, roles, bans, freshness, replay: ops are not secret),
//! sequences it and says who receives it. It holds no key: key envelopes
//! and speaker keys pass through sealed.
//!
//! Who receives what ([`Hub::on_message`]):
//! - seat, role, mute, ban, unban and close ops, and the departures of
//!   members who held a seat or a role: every member of the room;
//! - audience joins, leaves, kicks and raised hands: the host and the
//!   moderators (and the member concerned) only, so a join storm of N
//!   members costs O(N) messages, not O(N²);
//! - a room key envelope: the one member it is sealed to (from the host only);
//! - a speaker key: the whole room (from a seated speaker only); the
//!   newest of each seated speaker is kept, sealed, for the next joiners;
//! - chat: the whole room (sealed by its author, opaque here).
//!
//! **A listener's view.** To check seat and role ops itself a listener
//! needs the create op (the host), the join op of every member before it
//! takes a seat or a role (the state refuses ops about members absent),
//! and every seat, role and removal op since. The relay keeps exactly that
//! as the room's *listener log* and sends it to each joiner after a
//! `welcome`; it releases a member's join to the listeners only when that
//! member is first invited to a seat, seated or made moderator. A listener
//! applies what it receives in the order received with each op's
//! `accepted_ms` as the clock; an op it cannot apply (about an audience
//! member it never saw) it skips. The log is bounded
//! ([`HubLimits::max_log`]): a room that outgrows it takes no more seat or
//! role ops and must be recreated.
//!
//! **Absent members** ([`Hub::disconnected`], [`Hub::sweep`]): a member
//! whose connection closed (to us, or to an edge, which relays `away` up)
//! and that sends nothing for [`HubLimits::absent_after_ms`] (through us
//! or, having moved, through an edge) is reported once to the host of each room it is in, which removes
//! it with a signed kick; the relay cannot sign a departure itself.
//!
//! **Forwarding follows the state** ([`ForwardChange`]): only seated,
//! unmuted speakers' frames are forwarded; a member that leaves, is kicked
//! or banned is taken out of the forwarding table at once; only members
//! present may have the room's frames forwarded to them.
//!
//! **Across relays** ([`cascade`]): the relay where the room was created
//! is its origin and sequencer; edge relays follow it for the members
//! connected to them, relaying their messages up and fanning the origin's
//! messages and frames out.
//!
//! **When the origin stops** ([`Hub::restore`]): its host hands the room's
//! journal of signed ops to another relay of the room, which checks each
//! again and becomes the room's origin; the members rejoin there or at its
//! edges and are welcomed as after any move.
//!
//! **Group rooms.** A relay holds no group roster: [`RelayAdmission`]
//! admits any joiner to a group room; the host checks the roster before it
//! seals the room key, so an outsider gets ciphertext it cannot open.

mod absence;
pub mod cascade;
mod error;
mod hub;
pub mod pace;
mod restore;

use aura_billing::entitlement;
use aura_billing::ids::DeviceKey;
use aura_crypto::room::Admission;
use aura_crypto::roster::GroupId;
use aura_crypto::MemberId;
use ed25519_dalek::VerifyingKey;

pub use aura_media::room_control::{
    ClientMsg, Reader, RelayLoad, ServerMsg, WireError, MAX_MESSAGE,
};
pub use cascade::{Follower, Origin, Routed};
pub use error::HubError;
pub use hub::{Delivery, Effects, ForwardChange, Hub, HubLimits};
pub use pace::Pace;

/// What a relay can check when a member joins: no roster (group rooms
/// admit anyone, see the module docs), VIP tokens (the ledger's
/// [`entitlement::VIP_ROOMS`] capability) against the ledger key pinned in
/// its config, whatever its access mode (none: no one is VIP).
#[derive(Clone, Debug, Default)]
pub struct RelayAdmission {
    /// The ledger's signing key.
    pub ledger: Option<VerifyingKey>,
}

impl Admission for RelayAdmission {
    fn in_group(&self, _group: &GroupId, _member: &MemberId) -> bool {
        true
    }

    fn is_vip(&self, member: &MemberId, token: &[u8], now_ms: u64) -> bool {
        self.ledger
            .as_ref()
            .is_some_and(|l| entitlement::verify_vip(token, l, &DeviceKey(member.0), now_ms))
    }
}

#[cfg(test)]
mod tests;
