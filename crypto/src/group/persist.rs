//! Export and import of a whole session (secrets included) for the node's store.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{GroupSession, SessionStats};
use crate::error::StateError;
use crate::frame::DIGEST_LEN;
use crate::identity::{Identity, MemberId};
use crate::keyring::{Received, VoiceVerifier};
use crate::roster::{Roster, SignedOp};
use crate::sender_key::{OwnSenderKey, ReceiverChain, RotationPolicy};

const STATE_VERSION: u8 = 1;

#[derive(Serialize, Deserialize)]
struct Saved {
    version: u8,
    identity: [u8; 32],
    ops: Vec<Vec<u8>>,
    policy: RotationPolicy,
    voice_batch: u32,
    own: OwnSenderKey,
    rotation_due: bool,
    peers: Vec<(MemberId, Vec<ReceiverChain>)>,
    highest_epoch: Vec<(MemberId, u16)>,
    voice_out: Vec<(u32, [u8; DIGEST_LEN])>,
}

impl Drop for Saved {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.identity);
    }
}

impl GroupSession {
    /// Serialises the whole session, secrets included: store it encrypted
    /// at rest or in a private file. The buffer is zeroized when dropped.
    pub fn export_state(&self) -> Result<Zeroizing<Vec<u8>>, StateError> {
        let ops = self
            .roster
            .ops()
            .map(SignedOp::encode)
            .collect::<Result<Vec<_>, _>>()?;
        let saved = Saved {
            version: STATE_VERSION,
            identity: *self.identity.to_secret_bytes(),
            ops,
            policy: self.policy,
            voice_batch: self.voice_batch as u32,
            own: self.own.clone(),
            rotation_due: self.rotation_due,
            peers: self
                .received
                .peers
                .iter()
                .map(|(m, c)| (*m, c.clone()))
                .collect(),
            highest_epoch: self
                .received
                .highest_epoch
                .iter()
                .map(|(m, e)| (*m, *e))
                .collect(),
            voice_out: self.voice_out.clone(),
        };
        postcard::to_allocvec(&saved)
            .map(Zeroizing::new)
            .map_err(|_| StateError::Encode)
    }

    /// Restores a session written by [`Self::export_state`]; re-verifies the roster.
    pub fn import_state(bytes: &[u8]) -> Result<Self, StateError> {
        let saved: Saved = postcard::from_bytes(bytes).map_err(|_| StateError::Decode)?;
        if saved.version != STATE_VERSION {
            return Err(StateError::Decode);
        }
        let ops = saved
            .ops
            .iter()
            .map(|b| SignedOp::decode(b))
            .collect::<Result<Vec<_>, _>>()?;
        let roster = Roster::from_ops(ops)?;
        let identity = Identity::from_secret_bytes(&saved.identity);
        Ok(Self {
            my_short: identity.member_id().short_id(),
            identity,
            roster,
            policy: saved.policy,
            voice_batch: (saved.voice_batch as usize).clamp(1, 64),
            own: saved.own.clone(),
            rotation_due: saved.rotation_due,
            received: Received {
                peers: saved.peers.iter().cloned().collect::<HashMap<_, _>>(),
                highest_epoch: saved.highest_epoch.iter().copied().collect(),
            },
            voice_out: saved.voice_out.clone(),
            voice_in: VoiceVerifier::default(),
            keys: Default::default(),
            floors: Default::default(),
            stats: SessionStats::default(),
            // Members may have been removed while we were away.
            roster_confirmed: false,
        })
    }
}
