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
