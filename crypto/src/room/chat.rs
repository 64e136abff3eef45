//! Room chat, sealed under the room key and signed by its author, so the
//! relay that fans it out reads nothing and cannot forge a line.
//!
//! Layout: `version u8 | room_epoch u16 | salt [16] | ciphertext (text +
//! 16 tag) | signature [64]`, sealed with ChaCha20-Poly1305 under
//! `HKDF-SHA256(room key, salt, info)` (info: a domain string, the room,
//! the author and the epoch), the signature over a domain string, the room,
//! the author and every byte before it.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ed25519_dalek::Signature;
use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::error::RoomError;
use super::id::RoomId;
use super::session::RoomSession;
use crate::identity::MemberId;
use crate::sender_key::Key32;

/// Chat message version.
pub const CHAT_VERSION: u8 = 1;
/// Longest chat text, in bytes.
pub const MAX_CHAT_TEXT: usize = 900;
const HEAD: usize = 1 + 2 + 16;
const KDF_INFO: &[u8] = b"aura room chat v1";
const SIG_DOMAIN: &[u8] = b"aura-room-chat-sig-v1";

fn cipher(
    key: &Key32,
    salt: &[u8],
    room: &RoomId,
    author: &MemberId,
    epoch: u16,
) -> ChaCha20Poly1305 {
    let hk = Hkdf::<Sha256>::new(Some(salt), &key.0);
    let mut info = KDF_INFO.to_vec();
    info.extend_from_slice(&room.0);
    info.extend_from_slice(&author.0);
    info.extend_from_slice(&epoch.to_be_bytes());
    let mut k = Zeroizing::new([0u8; 32]);
    if hk.expand(&info, k.as_mut()).is_err() {
        tracing::error!("hkdf expand failed");
    }
    ChaCha20Poly1305::new(Key::from_slice(k.as_ref()))
}

fn signed(room: &RoomId, author: &MemberId, body: &[u8]) -> Vec<u8> {
    let mut m = SIG_DOMAIN.to_vec();
    m.extend_from_slice(&room.0);
    m.extend_from_slice(&author.0);
    m.extend_from_slice(body);
    m
}

impl RoomSession {
    /// Seals a line of chat under the newest room key, signed by us.
    pub fn seal_chat<R: RngCore + CryptoRng>(
        &self,
        text: &str,
        rng: &mut R,
    ) -> Result<Vec<u8>, RoomError> {
        if text.len() > MAX_CHAT_TEXT {
            return Err(RoomError::TooLarge);
        }
        let (epoch, key) = self.newest_room_key().ok_or(RoomError::UnknownEpoch)?;
        let room = self.room_id();
        let me = self.member_id();
        let mut out = vec![CHAT_VERSION];
        out.extend_from_slice(&epoch.to_be_bytes());
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        out.extend_from_slice(&salt);
        let ct = cipher(key, &salt, &room, &me, epoch)
            .encrypt(
                Nonce::from_slice(&[0; 12]),
                Payload {
                    msg: text.as_bytes(),
                    aad: &out,
                },
            )
            .map_err(|_| RoomError::Decrypt)?;
        out.extend_from_slice(&ct);
        let sig = self.sign(&signed(&room, &me, &out));
        out.extend_from_slice(&sig.to_bytes());
        Ok(out)
    }

    /// Opens a line of chat by `author` (its signature checked first).
    pub fn open_chat(&self, author: &MemberId, sealed: &[u8]) -> Result<String, RoomError> {
        if sealed.len() < HEAD + 16 + 64 || sealed.len() > HEAD + MAX_CHAT_TEXT + 16 + 64 {
            return Err(RoomError::TooLarge);
        }
        if sealed[0] != CHAT_VERSION {
            return Err(RoomError::Malformed("chat version"));
        }
        let (body, sig) = sealed.split_at(sealed.len() - 64);
        let mut s = [0u8; 64];
        s.copy_from_slice(sig);
        let room = self.room_id();
        if !author.verify(&signed(&room, author, body), &Signature::from_bytes(&s)) {
            return Err(RoomError::BadSignature);
        }
        let epoch = u16::from_be_bytes([body[1], body[2]]);
        let key = self.room_key(epoch).ok_or(RoomError::UnknownEpoch)?;
        let pt = cipher(key, &body[3..HEAD], &room, author, epoch)
            .decrypt(
                Nonce::from_slice(&[0; 12]),
                Payload {
                    msg: &body[HEAD..],
                    aad: &body[..HEAD],
                },
            )
            .map_err(|_| RoomError::Decrypt)?;
        String::from_utf8(pt).map_err(|_| RoomError::Decode)
    }
}
