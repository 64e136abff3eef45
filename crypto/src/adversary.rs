//! Attacker tooling for tests only (feature `test-adversary`): lets a member
//! use the sender keys it legitimately holds to build frames that claim to
//! come from another member, so tests can prove such frames are caught.

use crate::error::SealError;
use crate::frame::{self, FrameHeader, FrameKind};
use crate::group::GroupSession;
use crate::identity::MemberId;
use crate::sender_key::Lookup;

impl GroupSession {
    /// Seals `plaintext` (verbatim: no signature is added) as if `victim` had
    /// sent it with `counter`, using the victim's key that this member holds.
    pub fn forge_as(
        &self,
        victim: MemberId,
        kind: FrameKind,
        counter: u32,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let chain = self.newest_chain_of(&victim).ok_or(SealError::NotAMember)?;
        let header = FrameHeader {
            kind,
            room: self.group_id().room(),
            sender: victim.short_id(),
            epoch: chain.epoch,
            counter,
        };
        match chain.lookup(counter) {
            Ok(Lookup::Known(k)) => frame::seal_raw(k, &header, plaintext),
            Ok(Lookup::Ahead(k, _)) => frame::seal_raw(&k, &header, plaintext),
            Err(_) => Err(SealError::RotationRequired),
        }
    }
}
