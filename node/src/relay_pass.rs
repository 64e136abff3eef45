//! The entitlement token this node presents to relays: a relay in `token`
//! access mode admits a member that presents a valid token from the billing
//! ledger (checked offline with the ledger's pinned key), on the media
//! plane at once and on the libp2p plane (reservations, circuits) until the
//! token expires. Voice sends it on each media connection to a relay,
//! before each room join (`aura_media::RelayControl::Token`; joins are soft
//! state, so a lost token is healed with the next join; the relay skips the
//! signature check for bytes it already verified on that connection).
//!
//! A token that allows `vip_rooms` is also carried in room joins (VIP
//! rooms and seats).
//!
//! The token comes from the ledger (`billing_url`), fetched when voice
//! first starts and again at three quarters of its lifetime, or from the
//! app ([`crate::Node::set_relay_token`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aura_billing::entitlement::VIP_ROOMS;
use aura_billing::signed::EntitlementToken;
use aura_crypto::room::op::MAX_TOKEN_LEN;
use aura_media::framing::MAX_FRAME;
use aura_media::RelayControl;
use bytes::Bytes;

use crate::NodeError;

/// Shortest wait before fetching a token again.
pub(crate) const MIN_RENEW: Duration = Duration::from_secs(5);
/// Longest wait after a failed fetch.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(300);

// A token a room join may carry is one the relay and the views read.
const _: () = assert!(MAX_TOKEN_LEN <= aura_billing::entitlement::MAX_ENCODED_TOKEN);

/// The token as a control datagram, its JSON if it admits to VIP rooms,
/// and its expiry (unix seconds).
#[derive(Debug)]
struct Pass {
    datagram: Bytes,
    vip: Option<Vec<u8>>,
    exp: i64,
}

/// A cheap-to-clone handle on the node's current token.
#[derive(Debug, Clone, Default)]
pub(crate) struct RelayPass {
    pass: Arc<Mutex<Option<Pass>>>,
    refreshing: Arc<AtomicBool>,
}

impl RelayPass {
    /// Presents `token` from now on.
    pub(crate) fn set(&self, token: &EntitlementToken) -> Result<(), NodeError> {
        let json = serde_json::to_vec(token)
            .map_err(|e| NodeError::BadInput(format!("entitlement token: {e}")))?;
        let datagram = RelayControl::Token(&json).to_vec();
        if datagram.len() > MAX_FRAME {
            return Err(NodeError::BadInput(format!(
                "entitlement token of {} bytes does not fit a datagram",
                json.len()
            )));
        }
        let vip = token
            .body
            .allows
            .iter()
            .any(|a| a == VIP_ROOMS)
            .then(|| json.clone())
            .filter(|j| j.len() <= MAX_TOKEN_LEN);
        let pass = Pass {
            datagram: Bytes::from(datagram),
            vip,
            exp: token.body.exp,
        };
        *self.pass.lock().unwrap_or_else(|p| p.into_inner()) = Some(pass);
        Ok(())
    }

    /// The token datagram to send at `now_s` (unix seconds), if one is
    /// held and has not expired.
    pub(crate) fn datagram(&self, now_s: i64) -> Option<Bytes> {
        let pass = self.pass.lock().unwrap_or_else(|p| p.into_inner());
        pass.as_ref()
            .filter(|p| p.exp > now_s)
            .map(|p| p.datagram.clone())
    }

    /// The token to carry in a room join at `now_s`, if one is held, has
    /// not expired and admits to VIP rooms and seats.
    pub(crate) fn vip_token(&self, now_s: i64) -> Option<Vec<u8>> {
        let pass = self.pass.lock().unwrap_or_else(|p| p.into_inner());
        pass.as_ref()
            .filter(|p| p.exp > now_s)
            .and_then(|p| p.vip.clone())
    }

    /// True the first time only: whoever gets it runs the refresher.
    pub(crate) fn claim_refresher(&self) -> bool {
        !self.refreshing.swap(true, Ordering::AcqRel)
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// When to fetch again a token issued at `iat`, expiring at `exp`, at
/// `now_s`: at three quarters of its lifetime, not sooner than [`MIN_RENEW`].
pub(crate) fn renew_in(iat: i64, exp: i64, now_s: i64) -> Duration {
    let at = iat.saturating_add(exp.saturating_sub(iat).saturating_mul(3) / 4);
    let secs = at.saturating_sub(now_s).max(0) as u64;
    Duration::from_secs(secs).max(MIN_RENEW)
}

/// The wait after `failures` failed fetches in a row: 5 s doubling to 5 min.
pub(crate) fn backoff(failures: u32) -> Duration {
    MIN_RENEW
        .saturating_mul(1u32 << failures.min(6))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_at_three_quarters_of_their_life_and_failures_back_off() {
        assert_eq!(renew_in(1_000, 1_300, 1_000), Duration::from_secs(225));
        assert_eq!(renew_in(1_000, 1_300, 1_200), Duration::from_secs(25));
        assert_eq!(renew_in(1_000, 1_300, 1_299), MIN_RENEW);
        assert_eq!(backoff(0), MIN_RENEW);
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
