//! Offline check of an entitlement token, for whoever grants what it names
//! (a node hosting a large room, a relay admitting one): signature under the
//! ledger's pinned key, the account it names, its lifetime, and the
//! capability asked for. Needs no service code (`default-features = false`).
//!
//! ```
//! # use aura_billing::{entitlement, ids::DeviceKey, signed::{Entitlement, Signed}};
//! # let ledger = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
//! # let peer = DeviceKey(ed25519_dalek::SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes());
//! # let token = Signed::sign(Entitlement { v: 1, peer: peer.to_hex(), peer_id: peer.peer_id().unwrap(),
//! #     tier: "vip".into(), allows: vec!["host_large_rooms".into()], max_room_size: 5000, iat: 100, exp: 400 }, &ledger).unwrap();
//! let e = entitlement::verify(&token, &ledger.verifying_key(), &peer, 200, "host_large_rooms")?;
//! assert_eq!(e.max_room_size, 5000);
//! # Ok::<(), aura_billing::signed::VerifyError>(())
//! ```
use ed25519_dalek::VerifyingKey;

use crate::{
    ids::DeviceKey,
    signed::{Entitlement, EntitlementToken, VerifyError},
};

pub use crate::signed::CLOCK_SKEW_S;

/// The capability a token must allow for VIP-only rooms and VIP seats
/// (the default `vip_monthly` and `svip_monthly` plans grant it).
pub const VIP_ROOMS: &str = "vip_rooms";

/// Longest encoded token [`verify_vip`] reads (a room join carries at most
/// this many bytes of token).
pub const MAX_ENCODED_TOKEN: usize = 512;

/// Whether `token` (its JSON, as a room join carries it) is a valid VIP
/// token of `account` at `now_ms` under the pinned `ledger` key: the same
/// check on the relay that admits a member and on every member's view.
pub fn verify_vip(token: &[u8], ledger: &VerifyingKey, account: &DeviceKey, now_ms: u64) -> bool {
    if token.len() > MAX_ENCODED_TOKEN {
        return false;
    }
    let Ok(token) = serde_json::from_slice::<EntitlementToken>(token) else {
        return false;
    };
    let now_s = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
    verify(&token, ledger, account, now_s, VIP_ROOMS).is_ok()
}

/// Verifies `token` for `account` at `now_s` (unix seconds) and that it
/// allows `capability`: signed by `ledger` (the pinned service key, never a
/// key fetched from the same place as the token), naming `account` by key
/// and by PeerId, of format version 1, issued no later than
/// [`CLOCK_SKEW_S`] ahead and not expired. Returns the checked body.
pub fn verify<'a>(
    token: &'a EntitlementToken,
    ledger: &VerifyingKey,
    account: &DeviceKey,
    now_s: i64,
    capability: &str,
) -> Result<&'a Entitlement, VerifyError> {
    let e = token.verify_for(ledger, account, now_s)?;
    if e.v != 1 {
        return Err(VerifyError::Version(e.v));
    }
    if account.peer_id().as_deref() != Some(e.peer_id.as_str()) {
        return Err(VerifyError::WrongPeer);
    }
    if !e.allows.iter().any(|a| a == capability) {
        return Err(VerifyError::NotEntitled);
    }
    Ok(e)
}

/// [`verify`] for hosting a room of `size` members (above the free size):
/// the token must allow `host_large_rooms` and its `max_room_size` must be
/// at least `size`.
pub fn verify_room_host<'a>(
    token: &'a EntitlementToken,
    ledger: &VerifyingKey,
    account: &DeviceKey,
    now_s: i64,
    size: u32,
) -> Result<&'a Entitlement, VerifyError> {
    let e = verify(token, ledger, account, now_s, "host_large_rooms")?;
    if size > e.max_room_size {
        return Err(VerifyError::NotEntitled);
    }
    Ok(e)
}
