//! Avatars: a small image (PNG, JPEG or WebP, checked by its magic bytes,
//! at most [`MAX_AVATAR_BYTES`]) named in a profile by its SHA-256 and size,
//! fetched from members by hash and checked against it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Largest avatar image, bytes.
pub const MAX_AVATAR_BYTES: usize = 64 * 1024;

/// Why an avatar image was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvatarError {
    /// Larger than [`MAX_AVATAR_BYTES`].
    #[error("the avatar is {0} bytes, more than {MAX_AVATAR_BYTES}")]
    TooLarge(usize),
    /// Empty, or not a PNG, JPEG or WebP image.
    #[error("the avatar is not a PNG, JPEG or WebP image")]
    NotAnImage,
    /// Its SHA-256 or size is not the one the profile names.
    #[error("the avatar does not match the hash its profile names")]
    WrongHash,
}

/// The image formats accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// WebP.
    Webp,
}

impl ImageKind {
    /// Its media type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }

    /// The format the magic bytes at the start of `bytes` name.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            Some(Self::Jpeg)
        } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }
}

/// An avatar as a profile names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AvatarRef {
    /// SHA-256 of the image bytes.
    pub hash: [u8; 32],
    /// Its size, bytes.
    pub size: u32,
}

impl AvatarRef {
    /// Checks an image of ours and names it.
    pub fn of(bytes: &[u8]) -> Result<Self, AvatarError> {
        check_format(bytes)?;
        Ok(Self {
            hash: Sha256::digest(bytes).into(),
            size: bytes.len() as u32,
        })
    }

    /// Whether the size named is within the limit.
    pub fn validate(&self) -> Result<(), AvatarError> {
        if self.size as usize > MAX_AVATAR_BYTES {
            return Err(AvatarError::TooLarge(self.size as usize));
        }
        Ok(())
    }

    /// Checks fetched bytes: size, format, and that they hash to this.
    pub fn check(&self, bytes: &[u8]) -> Result<ImageKind, AvatarError> {
        let kind = check_format(bytes)?;
        if bytes.len() != self.size as usize || <[u8; 32]>::from(Sha256::digest(bytes)) != self.hash
        {
            return Err(AvatarError::WrongHash);
        }
        Ok(kind)
    }
}

fn check_format(bytes: &[u8]) -> Result<ImageKind, AvatarError> {
    if bytes.len() > MAX_AVATAR_BYTES {
        return Err(AvatarError::TooLarge(bytes.len()));
    }
    ImageKind::sniff(bytes).ok_or(AvatarError::NotAnImage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(len: usize) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        b.resize(len, 7);
        b
    }

    #[test]
    fn images_are_told_by_their_magic_bytes() {
        assert_eq!(ImageKind::sniff(&png(20)), Some(ImageKind::Png));
        assert_eq!(
            ImageKind::sniff(&[0xff, 0xd8, 0xff, 0xe0]),
            Some(ImageKind::Jpeg)
        );
        assert_eq!(
            ImageKind::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageKind::Webp)
        );
        assert_eq!(ImageKind::sniff(b"GIF89a"), None);
        assert_eq!(
            AvatarRef::of(b"<svg/>").err(),
            Some(AvatarError::NotAnImage)
        );
    }

    #[test]
    fn avatar_with_a_wrong_hash_or_over_size_is_refused() -> Result<(), AvatarError> {
        let img = png(1000);
        let r = AvatarRef::of(&img)?;
        assert_eq!(r.check(&img)?, ImageKind::Png);
        let mut other = img.clone();
        other[500] ^= 1;
        assert_eq!(r.check(&other), Err(AvatarError::WrongHash));
        let big = png(MAX_AVATAR_BYTES + 1);
        assert_eq!(
            AvatarRef::of(&big).err(),
            Some(AvatarError::TooLarge(big.len()))
        );
        let claimed = AvatarRef {
            hash: Sha256::digest(&big).into(),
            size: big.len() as u32,
        };
        assert!(claimed.validate().is_err());
        assert_eq!(claimed.check(&big), Err(AvatarError::TooLarge(big.len())));
        Ok(())
    }
}
