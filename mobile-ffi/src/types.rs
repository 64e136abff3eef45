//! Plain records and enums that cross the boundary, and their conversions.
//! Group and member ids travel as 64 lowercase hex digits.

use aura_crypto::{GroupId, MemberId, Role};
use aura_node::location::{Fix, Position, Precision};

use crate::error::AuraError;

/// 32 bytes from 64 hex digits, or a `BadInput` naming `what`.
fn parse_id(what: &str, text: &str) -> Result<[u8; 32], AuraError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut out)
        .map_err(|e| AuraError::bad_input(format!("{what} id {text:?}: {e} (64 hex digits)")))?;
    Ok(out)
}

/// A group id from its hex text.
pub(crate) fn group_id(text: &str) -> Result<GroupId, AuraError> {
    parse_id("group", text).map(GroupId)
}

/// A member id from its hex text.
pub(crate) fn member_id(text: &str) -> Result<MemberId, AuraError> {
    parse_id("member", text).map(MemberId)
}

/// A group id as hex text.
pub(crate) fn group_hex(id: &GroupId) -> String {
    hex::encode(id.0)
}

/// A member id as hex text.
pub(crate) fn member_hex(id: &MemberId) -> String {
    hex::encode(id.0)
}

/// A member's role in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MemberRole {
    /// Ordinary member.
    Member,
    /// May add and remove members.
    Admin,
    /// May also manage admins. Exactly one per group.
    Owner,
}

impl From<Role> for MemberRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Member => Self::Member,
            Role::Admin => Self::Admin,
            Role::Owner => Self::Owner,
        }
    }
}

/// How precisely we share our position with a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LocationPrecision {
    /// The position as measured.
    Exact,
    /// Snapped to ~100 m cells (the default).
    Approx100m,
    /// Snapped to ~1 km cells.
    Approx1km,
}

impl From<LocationPrecision> for Precision {
    fn from(p: LocationPrecision) -> Self {
        match p {
            LocationPrecision::Exact => Self::Exact,
            LocationPrecision::Approx100m => Self::Approx100m,
            LocationPrecision::Approx1km => Self::Approx1km,
        }
    }
}

impl From<Precision> for LocationPrecision {
    fn from(p: Precision) -> Self {
        match p {
            Precision::Exact => Self::Exact,
            Precision::Approx100m => Self::Approx100m,
            Precision::Approx1km => Self::Approx1km,
        }
    }
}

/// A group we are in.
#[derive(Debug, Clone, uniffi::Record)]
pub struct GroupInfo {
    /// Group id (hex).
    pub id: String,
    /// Its name.
    pub name: String,
}

/// A member of a group and its role.
#[derive(Debug, Clone, uniffi::Record)]
pub struct MemberInfo {
    /// Member id (hex).
    pub id: String,
    /// Role.
    pub role: MemberRole,
}

/// A position as shared (already coarsened to the sender's precision).
#[derive(Debug, Clone, uniffi::Record)]
pub struct LocationFix {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// When, unix ms.
    pub at_ms: u64,
    /// The precision it was shared at.
    pub precision: LocationPrecision,
}

impl From<&Fix> for LocationFix {
    fn from(f: &Fix) -> Self {
        Self {
            lat: f.pos.lat,
            lon: f.pos.lon,
            at_ms: f.at_ms,
            precision: f.precision.into(),
        }
    }
}

/// The last known position of a member.
#[derive(Debug, Clone, uniffi::Record)]
pub struct MemberPosition {
    /// Member id (hex).
    pub member: String,
    /// Where and when.
    pub fix: LocationFix,
}

/// One chat message.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ChatMessage {
    /// Sender member id (hex).
    pub sender: String,
    /// Sent at, unix ms.
    pub at_ms: u64,
    /// Text.
    pub text: String,
}

/// A position from the platform's location provider, checked.
pub(crate) fn position(lat: f64, lon: f64) -> Result<Position, AuraError> {
    Position::new(lat, lon)
        .ok_or_else(|| AuraError::bad_input(format!("position ({lat}, {lon}) out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids round-trip through hex; anything else is a `BadInput`, not a panic.
    #[test]
    fn ids_round_trip_and_bad_ids_are_bad_input() {
        let id = GroupId([7; 32]);
        assert!(matches!(group_id(&group_hex(&id)), Ok(g) if g == id));
        for bad in ["", "zz", &"0".repeat(63), &"0".repeat(66)] {
            assert!(
                matches!(member_id(bad), Err(AuraError::BadInput { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            position(91.0, 0.0),
            Err(AuraError::BadInput { .. })
        ));
    }
}
