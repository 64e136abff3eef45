//! Members' verifying keys, decompressed once and cached.

use std::collections::HashMap;

use ed25519_dalek::Signature;

use crate::identity::MemberId;

/// Cache of members' decompressed verifying keys, bounded.
#[derive(Debug, Default)]
pub(crate) struct VerifyingKeys(HashMap<MemberId, ed25519_dalek::VerifyingKey>);

impl VerifyingKeys {
    /// Most keys held (a roster is far smaller; past it the cache restarts).
    const MAX: usize = 4096;

    /// Non-strict ed25519 verification (hot path; malleability does not
    /// matter here) with `member`'s cached key.
    pub(crate) fn verify(&mut self, member: &MemberId, msg: &[u8], sig: &Signature) -> bool {
        use ed25519_dalek::Verifier;
        let vk = match self.0.get(member) {
            Some(vk) => *vk,
            None => {
                let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&member.0) else {
                    return false;
                };
                if self.0.len() >= Self::MAX {
                    self.0.clear();
                }
                self.0.insert(*member, vk);
                vk
            }
        };
        vk.verify(msg, sig).is_ok()
    }
}
