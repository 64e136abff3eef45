//! A member's profile: display name, status line and avatar reference,
//! signed by the member's identity key and versioned so that a replayed
//! older profile changes nothing.

use aura_crypto::{Identity, MemberId};
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};

use super::avatar::AvatarRef;

/// Longest display name, bytes (UTF-8).
pub const MAX_NAME_BYTES: usize = 48;
/// Longest status line, bytes (UTF-8).
pub const MAX_STATUS_BYTES: usize = 140;
/// Largest encoded [`SignedProfile`] accepted.
pub const MAX_PROFILE_BYTES: usize = 512;
/// Domain separation of the signed bytes.
const SIGNED_PREFIX: &[u8] = b"aura/profile/v1\0";

/// Why a profile was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// The display name is empty after trimming.
    #[error("the display name is empty")]
    EmptyName,
    /// The display name is longer than [`MAX_NAME_BYTES`].
    #[error("the display name is longer than {MAX_NAME_BYTES} bytes")]
    NameTooLong,
    /// The status line is longer than [`MAX_STATUS_BYTES`].
    #[error("the status line is longer than {MAX_STATUS_BYTES} bytes")]
    StatusTooLong,
    /// A control or text-direction character (which could make a name
    /// look like another one) in the name or status.
    #[error("the {0} contains a control or text-direction character")]
    ControlChar(&'static str),
    /// The name has spaces at its ends (a received profile must be trimmed).
    #[error("the display name has leading or trailing spaces")]
    Untrimmed,
    /// The avatar reference claims an image larger than allowed.
    #[error("the avatar is larger than {} bytes", super::avatar::MAX_AVATAR_BYTES)]
    AvatarTooLarge,
    /// The bytes are not a profile, or larger than [`MAX_PROFILE_BYTES`].
    #[error("undecodable profile")]
    Undecodable,
    /// The profile names another member than the one who sent it.
    #[error("a profile in another member's name")]
    NotTheSender,
    /// The signature does not verify with the named member's key.
    #[error("the profile's signature does not verify")]
    BadSignature,
}

/// What a member says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Whose profile (the signer).
    pub member: MemberId,
    /// Monotonic version: a profile replaces one with a lower version only.
    pub version: u64,
    /// Display name (trimmed, 1..=48 bytes, no control characters).
    pub name: String,
    /// Optional status line (at most 140 bytes).
    pub status: Option<String>,
    /// Optional avatar image, by content hash and size.
    pub avatar: Option<AvatarRef>,
}

/// A [`Profile`] and its member's ed25519 signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedProfile {
    /// The statement.
    pub profile: Profile,
    /// Signature over `"aura/profile/v1\0" || postcard(profile)`, 64 bytes.
    pub sig: Vec<u8>,
}

/// Bidirectional and zero-width formatting characters: they reorder or hide
/// text, so a name holding one could display as another member's name.
fn is_format_trick(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

fn check_text(s: &str, what: &'static str) -> Result<(), ProfileError> {
    if s.chars().any(|c| c.is_control() || is_format_trick(c)) {
        return Err(ProfileError::ControlChar(what));
    }
    Ok(())
}

impl Profile {
    /// A new profile of `member`, the name trimmed and the status trimmed
    /// (an empty status is none), checked.
    pub fn new(
        member: MemberId,
        version: u64,
        name: &str,
        status: Option<&str>,
        avatar: Option<AvatarRef>,
    ) -> Result<Self, ProfileError> {
        let status = status.map(str::trim).filter(|s| !s.is_empty());
        let p = Self {
            member,
            version,
            name: name.trim().to_owned(),
            status: status.map(str::to_owned),
            avatar,
        };
        p.validate()?;
        Ok(p)
    }

    /// Checks the limits: a received profile must pass them as sent.
    pub fn validate(&self) -> Result<(), ProfileError> {
        if self.name.is_empty() {
            return Err(ProfileError::EmptyName);
        }
        if self.name.len() > MAX_NAME_BYTES {
            return Err(ProfileError::NameTooLong);
        }
        if self.name.trim() != self.name {
            return Err(ProfileError::Untrimmed);
        }
        check_text(&self.name, "display name")?;
        if let Some(s) = &self.status {
            if s.len() > MAX_STATUS_BYTES {
                return Err(ProfileError::StatusTooLong);
            }
            check_text(s, "status line")?;
        }
        if let Some(a) = &self.avatar {
            a.validate().map_err(|_| ProfileError::AvatarTooLarge)?;
        }
        Ok(())
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let mut out = SIGNED_PREFIX.to_vec();
        out.extend(crate::wire::encode(self));
        out
    }

    /// Signs it with `identity`, which must be the profile's member.
    pub fn sign(self, identity: &Identity) -> Result<SignedProfile, ProfileError> {
        if identity.member_id() != self.member {
            return Err(ProfileError::NotTheSender);
        }
        let sig = identity.sign(&self.signed_bytes()).to_bytes().to_vec();
        Ok(SignedProfile { profile: self, sig })
    }
}

impl SignedProfile {
    /// Checks limits and signature, and that `sender` (the authenticated
    /// author of the frame that carried it) is the profile's member.
    pub fn verify(&self, sender: &MemberId) -> Result<(), ProfileError> {
        if self.profile.member != *sender {
            return Err(ProfileError::NotTheSender);
        }
        self.profile.validate()?;
        let sig: [u8; 64] = self
            .sig
            .as_slice()
            .try_into()
            .map_err(|_| ProfileError::BadSignature)?;
        let sig = Signature::from_bytes(&sig);
        if !self
            .profile
            .member
            .verify(&self.profile.signed_bytes(), &sig)
        {
            return Err(ProfileError::BadSignature);
        }
        Ok(())
    }

    /// Encodes it (postcard).
    pub fn encode(&self) -> Vec<u8> {
        crate::wire::encode(self)
    }

    /// Decodes at most [`MAX_PROFILE_BYTES`]; checks nothing else (see
    /// [`Self::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, ProfileError> {
        if bytes.len() > MAX_PROFILE_BYTES {
            return Err(ProfileError::Undecodable);
        }
        postcard::from_bytes(bytes).map_err(|_| ProfileError::Undecodable)
    }

    /// Decodes and verifies a profile `sender` sent.
    pub fn open(bytes: &[u8], sender: &MemberId) -> Result<Self, ProfileError> {
        let p = Self::decode(bytes)?;
        p.verify(sender)?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> Identity {
        Identity::from_secret_bytes(&[n; 32])
    }

    #[test]
    fn a_signed_profile_opens_for_its_member_only() -> Result<(), ProfileError> {
        let ana = id(1);
        let p = Profile::new(ana.member_id(), 1, "  Ana ", Some(" hiking "), None)?;
        assert_eq!(
            (p.name.as_str(), p.status.as_deref()),
            ("Ana", Some("hiking"))
        );
        let bytes = p.sign(&ana)?.encode();
        assert_eq!(
            SignedProfile::open(&bytes, &ana.member_id())?.profile.name,
            "Ana"
        );
        assert_eq!(
            SignedProfile::open(&bytes, &id(2).member_id()).err(),
            Some(ProfileError::NotTheSender)
        );
        Ok(())
    }

    #[test]
    fn profile_in_another_members_name_signed_by_the_forger_is_refused() -> Result<(), ProfileError>
    {
        let (ana, mallory) = (id(1), id(2));
        // Mallory builds a profile naming Ana and signs it with its own key.
        let p = Profile::new(ana.member_id(), 99, "Ana", None, None)?;
        let sig = mallory.sign(&p.signed_bytes()).to_bytes().to_vec();
        let forged = SignedProfile { profile: p, sig };
        assert_eq!(
            forged.verify(&ana.member_id()),
            Err(ProfileError::BadSignature)
        );
        assert_eq!(
            forged.verify(&mallory.member_id()),
            Err(ProfileError::NotTheSender)
        );
        Ok(())
    }

    #[test]
    fn tampered_fields_break_the_signature() -> Result<(), ProfileError> {
        let ana = id(1);
        let mut s = Profile::new(ana.member_id(), 1, "Ana", None, None)?.sign(&ana)?;
        s.profile.version = 2;
        assert_eq!(s.verify(&ana.member_id()), Err(ProfileError::BadSignature));
        Ok(())
    }

    #[test]
    fn names_and_status_outside_the_limits_are_refused() {
        let m = id(1).member_id();
        let new = |n: &str, s: Option<&str>| Profile::new(m, 1, n, s, None).err();
        assert_eq!(new("   ", None), Some(ProfileError::EmptyName));
        assert_eq!(new(&"a".repeat(49), None), Some(ProfileError::NameTooLong));
        assert_eq!(new(&"é".repeat(24), None), None);
        assert_eq!(new(&"é".repeat(25), None), Some(ProfileError::NameTooLong));
        assert_eq!(
            new("a\u{7}b", None),
            Some(ProfileError::ControlChar("display name"))
        );
        assert_eq!(
            new("Ana\u{202E}", None),
            Some(ProfileError::ControlChar("display name"))
        );
        assert_eq!(
            new("Ana", Some(&"s".repeat(141))),
            Some(ProfileError::StatusTooLong)
        );
        assert_eq!(
            new("Ana", Some("a\nb")),
            Some(ProfileError::ControlChar("status line"))
        );
    }

    #[test]
    fn oversized_or_garbage_bytes_do_not_decode() {
        assert_eq!(
            SignedProfile::decode(&[0u8; MAX_PROFILE_BYTES + 1]).err(),
            Some(ProfileError::Undecodable)
        );
        assert_eq!(
            SignedProfile::decode(&[0xff; 10]).err(),
            Some(ProfileError::Undecodable)
        );
    }
}
