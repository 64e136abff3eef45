//! Invites: signed by an admin, with expiry, max uses and rendezvous hints,
//! carried as short `aura1…` base32 text (fits a QR code).

use data_encoding::BASE32_NOPAD;
use ed25519_dalek::Signature;
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::error::InviteError;
use crate::identity::{Identity, MemberId};
use crate::roster::{GroupId, InviteId, InviteUse, Role, Roster};

/// Text prefix of every invite.
pub const INVITE_PREFIX: &str = "aura1";
/// Longest invite text accepted.
pub const MAX_INVITE_TEXT: usize = 2048;
/// Most rendezvous hints in one invite.
pub const MAX_HINTS: usize = 8;

const INVITE_SIG_DOMAIN: &[u8] = b"aura-invite-v1";

/// Where to find the group: a peer id and its addresses (filled by the node).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hint {
    /// A libp2p peer id string.
    pub peer: String,
    /// Multiaddr strings.
    pub addrs: Vec<String>,
}

/// The signed fields of an invite.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteBody {
    /// Group to join.
    pub group: GroupId,
    /// Group's name, for display before joining.
    pub group_name: String,
    /// Admin who signed the invite.
    pub inviter: MemberId,
    /// Random id; adds redeeming it carry it.
    pub invite_id: InviteId,
    /// Expiry, unix milliseconds.
    pub expires_at_ms: u64,
    /// How many adds may redeem it.
    pub max_uses: u32,
    /// Rendezvous hints.
    pub hints: Vec<Hint>,
}

/// A signed invite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    /// Signed fields.
    pub body: InviteBody,
    /// Inviter's signature over the domain-separated encoded body.
    pub signature: Signature,
}

fn sig_message(body_bytes: &[u8]) -> Vec<u8> {
    let mut m = INVITE_SIG_DOMAIN.to_vec();
    m.extend_from_slice(body_bytes);
    m
}

impl Invite {
    /// Creates and signs an invite for `roster`'s group. The inviter must be
    /// owner or admin.
    pub fn create<R: RngCore + CryptoRng>(
        roster: &Roster,
        inviter: &Identity,
        expires_at_ms: u64,
        max_uses: u32,
        hints: Vec<Hint>,
        rng: &mut R,
    ) -> Result<Self, InviteError> {
        if roster.role_of(&inviter.member_id()) < Some(Role::Admin) {
            return Err(InviteError::InviterNotAdmin);
        }
        if hints.len() > MAX_HINTS {
            return Err(InviteError::TooLong);
        }
        let mut invite_id = [0u8; 16];
        rng.fill_bytes(&mut invite_id);
        let body = InviteBody {
            group: roster.group_id(),
            group_name: roster.name().to_owned(),
            inviter: inviter.member_id(),
            invite_id,
            expires_at_ms,
            max_uses,
            hints,
        };
        Self::sign(body, inviter)
    }

    /// Signs a body (no roster check; used for vectors and tests).
    pub fn sign(body: InviteBody, inviter: &Identity) -> Result<Self, InviteError> {
        let bytes = postcard::to_allocvec(&body).map_err(|_| InviteError::Malformed)?;
        let signature = inviter.sign(&sig_message(&bytes));
        Ok(Self { body, signature })
    }

    /// What an add redeeming this invite carries (id and use limit).
    pub fn redemption(&self) -> InviteUse {
        InviteUse {
            id: self.body.invite_id,
            max_uses: self.body.max_uses,
        }
    }

    /// Binary form: postcard body followed by the 64-byte signature.
    pub fn to_bytes(&self) -> Result<Vec<u8>, InviteError> {
        let mut b = postcard::to_allocvec(&self.body).map_err(|_| InviteError::Malformed)?;
        b.extend_from_slice(&self.signature.to_bytes());
        Ok(b)
    }

    /// Text form: `aura1` + lowercase base32 without padding.
    pub fn to_text(&self) -> Result<String, InviteError> {
        let b = self.to_bytes()?;
        Ok(format!(
            "{INVITE_PREFIX}{}",
            BASE32_NOPAD.encode(&b).to_ascii_lowercase()
        ))
    }

    /// Decodes the binary form and checks the signature (not expiry).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InviteError> {
        let (body, rest): (InviteBody, &[u8]) =
            postcard::take_from_bytes(bytes).map_err(|e| match e {
                postcard::Error::DeserializeUnexpectedEnd => InviteError::Truncated,
                _ => InviteError::Malformed,
            })?;
        if rest.len() < 64 {
            return Err(InviteError::Truncated);
        }
        if rest.len() > 64 {
            return Err(InviteError::Malformed);
        }
        if body.hints.len() > MAX_HINTS {
            return Err(InviteError::TooLong);
        }
        let mut sig = [0u8; 64];
        sig.copy_from_slice(rest);
        let signature = Signature::from_bytes(&sig);
        let body_bytes = &bytes[..bytes.len() - 64];
        if !body.inviter.verify(&sig_message(body_bytes), &signature) {
            return Err(InviteError::BadSignature);
        }
        Ok(Self { body, signature })
    }

    /// Parses invite text (case-insensitive, surrounding whitespace ignored),
    /// checks the signature, then the expiry against `now` (unix ms).
    pub fn parse(text: &str, now: u64) -> Result<Self, InviteError> {
        let t = text.trim();
        if t.len() > MAX_INVITE_TEXT {
            return Err(InviteError::TooLong);
        }
        let prefix_ok = t
            .get(..INVITE_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(INVITE_PREFIX));
        if !prefix_ok {
            return Err(InviteError::WrongPrefix);
        }
        let data = t[INVITE_PREFIX.len()..].to_ascii_uppercase();
        let bytes = BASE32_NOPAD
            .decode(data.as_bytes())
            .map_err(|e| match e.kind {
                // A cut-off text has a bad length or non-zero trailing bits.
                data_encoding::DecodeKind::Length | data_encoding::DecodeKind::Trailing => {
                    InviteError::Truncated
                }
                _ => InviteError::BadEncoding,
            })?;
        let invite = Self::from_bytes(&bytes)?;
        if now >= invite.body.expires_at_ms {
            return Err(InviteError::Expired);
        }
        Ok(invite)
    }
}

impl Roster {
    /// Checks an invite presented by someone who wants to join: right group,
    /// valid signature by a current owner/admin, not expired, not used up.
    pub fn check_invite(&self, invite: &Invite, now: u64) -> Result<(), InviteError> {
        if invite.body.group != self.group_id() {
            return Err(InviteError::WrongGroup);
        }
        let bytes = postcard::to_allocvec(&invite.body).map_err(|_| InviteError::Malformed)?;
        if !invite
            .body
            .inviter
            .verify(&sig_message(&bytes), &invite.signature)
        {
            return Err(InviteError::BadSignature);
        }
        if self.role_of(&invite.body.inviter) < Some(Role::Admin) {
            return Err(InviteError::InviterNotAdmin);
        }
        if now >= invite.body.expires_at_ms {
            return Err(InviteError::Expired);
        }
        if self.invite_uses(&invite.body.invite_id) >= invite.body.max_uses {
            return Err(InviteError::UsedUp);
        }
        Ok(())
    }
}
