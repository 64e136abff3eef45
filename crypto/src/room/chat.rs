//! Room chat, sealed under the room key and signed by its author, so the
//! relay that fans it out reads nothing and cannot forge a line. A line is
//! text or a gift receipt ([`ChatLine`]): the relay cannot tell which.
//!
//! Layout: `version u8 | room_epoch u16 | salt [16] | ciphertext (kind
//! u8, content, 16 tag) | signature [64]`, sealed with ChaCha20-Poly1305 under
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
pub const CHAT_VERSION: u8 = 2;
/// Longest chat text, in bytes.
pub const MAX_CHAT_TEXT: usize = 900;
/// Longest gift receipt a line carries, in bytes (the node's largest
/// receipt from the ledger).
pub const MAX_CHAT_GIFT: usize = 3_072;
const HEAD: usize = 1 + 2 + 16;
/// Longest sealed line: a gift receipt of [`MAX_CHAT_GIFT`] bytes.
pub const MAX_SEALED_CHAT: usize = HEAD + 1 + MAX_CHAT_GIFT + 16 + 64;
const KIND_TEXT: u8 = 0;
const KIND_GIFT: u8 = 1;

/// What a line of room chat says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatLine {
    /// Text, at most [`MAX_CHAT_TEXT`] bytes.
    Text(String),
    /// A gift receipt from the ledger (its encoding, checked by whoever
    /// shows it), at most [`MAX_CHAT_GIFT`] bytes.
    Gift(Vec<u8>),
}

impl ChatLine {
    /// The line as sealed: its kind byte and content.
    pub fn encode(&self) -> Result<Vec<u8>, RoomError> {
        let (kind, body, max) = match self {
            Self::Text(t) => (KIND_TEXT, t.as_bytes(), MAX_CHAT_TEXT),
            Self::Gift(g) => (KIND_GIFT, g.as_slice(), MAX_CHAT_GIFT),
        };
        if body.len() > max {
            return Err(RoomError::TooLarge);
        }
        let mut out = Vec::with_capacity(1 + body.len());
        out.push(kind);
        out.extend_from_slice(body);
        Ok(out)
    }

    /// Decodes an opened line (a hostile member seals any bytes).
    pub fn decode(plain: &[u8]) -> Result<Self, RoomError> {
        let (&kind, body) = plain.split_first().ok_or(RoomError::Decode)?;
        match kind {
            KIND_TEXT if body.len() <= MAX_CHAT_TEXT => String::from_utf8(body.to_vec())
                .map(Self::Text)
                .map_err(|_| RoomError::Decode),
            KIND_GIFT if body.len() <= MAX_CHAT_GIFT => Ok(Self::Gift(body.to_vec())),
            KIND_TEXT | KIND_GIFT => Err(RoomError::TooLarge),
            _ => Err(RoomError::Malformed("chat line kind")),
        }
    }
}
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
    /// Seals a line of chat text under the newest room key, signed by us.
    pub fn seal_chat<R: RngCore + CryptoRng>(
        &self,
        text: &str,
        rng: &mut R,
    ) -> Result<Vec<u8>, RoomError> {
        self.seal_line(&ChatLine::Text(text.to_owned()), rng)
    }

    /// Opens a line of chat text by `author` (its signature checked first).
    pub fn open_chat(&self, author: &MemberId, sealed: &[u8]) -> Result<String, RoomError> {
        match self.open_line(author, sealed)? {
            ChatLine::Text(t) => Ok(t),
            ChatLine::Gift(_) => Err(RoomError::Malformed("not text")),
        }
    }

    /// Seals a line (text or gift) under the newest room key, signed by us.
    pub fn seal_line<R: RngCore + CryptoRng>(
        &self,
        line: &ChatLine,
        rng: &mut R,
    ) -> Result<Vec<u8>, RoomError> {
        let plain = line.encode()?;
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
                    msg: &plain,
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
    pub fn open_line(&self, author: &MemberId, sealed: &[u8]) -> Result<ChatLine, RoomError> {
        if sealed.len() < HEAD + 1 + 16 + 64 || sealed.len() > MAX_SEALED_CHAT {
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
        ChatLine::decode(&pt)
    }
}
