//! What a member's view of a room admits. The view checks signatures,
//! roles, seats and bans itself; here are the two questions it asks
//! outside: is a joiner a member of the room's group, and is its VIP
//! token valid.
//!
//! VIP tokens are checked offline, with the ledger key pinned in the
//! node's config (`billing_service_key`), the same check the relay makes
//! ([`aura_billing::entitlement::verify_vip`]): a relay that seats a member
//! without a valid token on a VIP seat, or lets one into a VIP-only room,
//! is not followed by the members' views. A node without a pinned key
//! takes the relay's word for it.

use std::sync::{Arc, Mutex};

use aura_billing::entitlement::verify_vip;
use aura_billing::ids::DeviceKey;
use aura_crypto::room::Admission;
use aura_crypto::{GroupId, GroupSession, MemberId};
use ed25519_dalek::VerifyingKey;

/// A member's view: group membership as the relay (and the host) decided,
/// VIP tokens checked with `ledger` when one is pinned.
#[derive(Clone, Copy, Debug, Default)]
pub struct ViewAdmission {
    /// The billing ledger's key, if the node pins one.
    pub ledger: Option<VerifyingKey>,
}

impl Admission for ViewAdmission {
    fn in_group(&self, _: &GroupId, _: &MemberId) -> bool {
        true
    }

    fn is_vip(&self, member: &MemberId, token: &[u8], now_ms: u64) -> bool {
        match &self.ledger {
            Some(l) => verify_vip(token, l, &DeviceKey(member.0), now_ms),
            None => !token.is_empty(),
        }
    }
}

/// The host of a group room: joiners checked against the group's live
/// roster before it seals the room key to them.
pub(crate) struct RosterAdmission {
    pub(crate) session: Arc<Mutex<GroupSession>>,
    pub(crate) view: ViewAdmission,
}

impl Admission for RosterAdmission {
    fn in_group(&self, group: &GroupId, member: &MemberId) -> bool {
        let s = self.session.lock().unwrap_or_else(|p| p.into_inner());
        s.group_id() == *group && s.roster().is_member(member)
    }

    fn is_vip(&self, member: &MemberId, token: &[u8], now_ms: u64) -> bool {
        self.view.is_vip(member, token, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aura_billing::signed::{Entitlement, Signed};
    use ed25519_dalek::SigningKey;

    fn token(ledger: &SigningKey, member: &SigningKey, allows: &str, exp: i64) -> Vec<u8> {
        let peer = DeviceKey(member.verifying_key().to_bytes());
        let body = Entitlement {
            v: 1,
            peer: peer.to_hex(),
            peer_id: peer.peer_id().unwrap_or_default(),
            tier: "vip".into(),
            allows: vec![allows.into()],
            max_room_size: 5000,
            iat: 1_000,
            exp,
        };
        Signed::sign(body, ledger)
            .ok()
            .and_then(|t| serde_json::to_vec(&t).ok())
            .unwrap_or_default()
    }

    #[test]
    fn with_a_pinned_ledger_only_its_valid_vip_tokens_pass() {
        let ledger = SigningKey::from_bytes(&[1; 32]);
        let alice = SigningKey::from_bytes(&[2; 32]);
        let bob = SigningKey::from_bytes(&[3; 32]);
        let a = MemberId(alice.verifying_key().to_bytes());
        let b = MemberId(bob.verifying_key().to_bytes());
        let pinned = ViewAdmission {
            ledger: Some(ledger.verifying_key()),
        };
        let now_ms = 1_100_000;
        let good = token(&ledger, &alice, "vip_rooms", 2_000);
        assert!(pinned.is_vip(&a, &good, now_ms));
        // Borrowed, expired, without the capability, from another ledger, junk.
        assert!(!pinned.is_vip(&b, &good, now_ms));
        assert!(!pinned.is_vip(&a, &good, 2_000_000));
        assert!(!pinned.is_vip(&a, &token(&ledger, &alice, "vip_badge", 2_000), now_ms));
        let rogue = SigningKey::from_bytes(&[9; 32]);
        assert!(!pinned.is_vip(&a, &token(&rogue, &alice, "vip_rooms", 2_000), now_ms));
        assert!(!pinned.is_vip(&a, b"{}", now_ms));
        // Without a pinned key, the relay's word.
        assert!(ViewAdmission::default().is_vip(&a, b"x", now_ms));
        assert!(!ViewAdmission::default().is_vip(&a, b"", now_ms));
    }
}
