//! The access policy shared by both planes: a member that presented a valid
//! token on the media plane may also reserve and open circuits on the
//! libp2p plane (its PeerId is its media key) until the token expires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aura_crypto::MemberId;
use ed25519_dalek::VerifyingKey;
use libp2p::PeerId;

use crate::access::{Access, Admission};

/// Most token holders remembered at once (expired ones are pruned first).
pub const MAX_HOLDERS: usize = 65_536;

/// Unix seconds now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A cheap-to-clone handle on the policy and the token holders.
#[derive(Clone, Debug)]
pub struct Gate {
    access: Access,
    vip_ledger: Option<VerifyingKey>,
    holders: Arc<Mutex<HashMap<MemberId, i64>>>,
}

impl Gate {
    /// A gate for `access`.
    pub fn new(access: Access) -> Self {
        Self {
            access,
            vip_ledger: None,
            holders: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The same gate, admitting VIP members to VIP rooms and seats with
    /// tokens signed by `ledger` (whatever the access mode).
    pub fn with_vip_ledger(mut self, ledger: Option<VerifyingKey>) -> Self {
        self.vip_ledger = ledger;
        self
    }

    /// The policy.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The ledger key VIP tokens are checked with, if any.
    pub fn vip_ledger(&self) -> Option<VerifyingKey> {
        self.vip_ledger
    }

    /// Records that `member` holds a token valid until `exp` (unix seconds).
    pub fn admit(&self, member: MemberId, exp: i64) {
        let mut h = self.holders.lock().unwrap_or_else(|p| p.into_inner());
        if h.len() >= MAX_HOLDERS {
            let now = unix_now();
            h.retain(|_, e| *e > now);
        }
        if h.len() < MAX_HOLDERS || h.contains_key(&member) {
            h.insert(member, exp);
        }
    }

    /// Whether `peer` may reserve or open circuits now.
    pub fn allows_peer(&self, peer: &PeerId) -> bool {
        let Some(m) = MemberId::from_peer_id(peer) else {
            return matches!(self.access, Access::Everyone);
        };
        match self.access.on_connect(&m) {
            Ok(Admission::Open) => true,
            Ok(Admission::NeedsToken) => self
                .holders
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&m)
                .is_some_and(|e| *e > unix_now()),
            Err(_) => false,
        }
    }
}
