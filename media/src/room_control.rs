//! The room control stream's wire format (sans-IO), read by the relay's
//! room control plane and by nodes: one reliable QUIC stream per member
//! connection to a relay, carrying length-prefixed messages.
//!
//! ```text
//! message:  len u16 (big-endian, 1..=MAX_MESSAGE) | tag u8 | body
//! member -> relay
//!   0x01 op        | signed room op (aura-crypto postcard, <= 1024 bytes)
//!   0x02 envelope  | room key envelope, host -> one member (247 bytes)
//!   0x03 speaker   | speaker key, seated speaker -> the room (201 bytes)
//!   0x04 chat      | room [32] | sealed chat (opaque, <= MAX_CHAT)
//! relay -> member
//!   0x81 op        | seq u64 | accepted_ms u64 | signed room op
//!   0x82 envelope  | room key envelope
//!   0x83 speaker   | speaker key
//!   0x84 chat      | room [32] | author [32] | sealed chat
//!   0x85 refused   | room [32] | at_ms u64 | code u8
//!   0x86 welcome   | room [32] | next seq u64   (the room's log follows)
//! ```
//!
//! Every body is size-checked before anything is allocated for it.

use aura_crypto::room::{RoomId, MAX_ROOM_OP_BYTES, SPEAKER_KEY_LEN};
use aura_crypto::{MemberId, ENVELOPE_LEN};
use thiserror::Error;

/// Largest message (tag and body) on the control stream.
pub const MAX_MESSAGE: usize = 2_048;
/// Largest sealed chat message.
pub const MAX_CHAT: usize = 1_024;
/// Bytes of the length prefix.
pub const LEN_PREFIX: usize = 2;

const OP: u8 = 0x01;
const ENVELOPE: u8 = 0x02;
const SPEAKER: u8 = 0x03;
const CHAT: u8 = 0x04;
const S_OP: u8 = 0x81;
const S_ENVELOPE: u8 = 0x82;
const S_SPEAKER: u8 = 0x83;
const S_CHAT: u8 = 0x84;
const S_REFUSED: u8 = 0x85;
const S_WELCOME: u8 = 0x86;

/// A malformed control message.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum WireError {
    /// A length prefix of 0 or above [`MAX_MESSAGE`].
    #[error("control message of {0} bytes")]
    Length(usize),
    /// An unknown tag.
    #[error("unknown control tag {0:#04x}")]
    Tag(u8),
    /// A body of the wrong size for its tag.
    #[error("control body of {0} bytes for its tag")]
    Body(usize),
}

/// What a member sends to the relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientMsg {
    /// A signed room op (encoded).
    Op(Vec<u8>),
    /// A room key envelope (encoded), from the host to one member.
    Envelope(Vec<u8>),
    /// A speaker key (encoded), for the whole room.
    SpeakerKey(Vec<u8>),
    /// A sealed chat message for the whole room.
    Chat(RoomId, Vec<u8>),
}

/// What the relay sends to a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerMsg {
    /// A sequenced op: apply in `seq` order with `accepted_ms` as the clock.
    Op {
        /// Position in the room's order.
        seq: u64,
        /// The relay's clock when it accepted the op (unix ms).
        accepted_ms: u64,
        /// The signed op (encoded).
        op: Vec<u8>,
    },
    /// A room key envelope sealed to this member.
    Envelope(Vec<u8>),
    /// A seated speaker's key.
    SpeakerKey(Vec<u8>),
    /// A sealed chat message.
    Chat {
        /// Room.
        room: RoomId,
        /// Who sent it (the relay checked its connection).
        author: MemberId,
        /// Sealed bytes.
        sealed: Vec<u8>,
    },
    /// An op of ours was refused.
    Refused {
        /// Room (all zero if unknown).
        room: RoomId,
        /// The refused op's `at_ms` (0 for other messages).
        at_ms: u64,
        /// Why (the relay's refusal code).
        code: u8,
    },
    /// Our join was accepted: the room's log, from its create op, follows.
    Welcome {
        /// Room.
        room: RoomId,
        /// The sequence number the next live op will carry.
        next_seq: u64,
    },
}

fn framed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut v = Vec::with_capacity(LEN_PREFIX + len);
    v.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    v.push(tag);
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

fn room_at(b: &[u8]) -> RoomId {
    let mut r = [0u8; 32];
    r.copy_from_slice(&b[..32]);
    RoomId(r)
}

fn u64_at(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

impl ClientMsg {
    /// Encodes with its length prefix.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Op(b) => framed(OP, &[b]),
            Self::Envelope(b) => framed(ENVELOPE, &[b]),
            Self::SpeakerKey(b) => framed(SPEAKER, &[b]),
            Self::Chat(r, b) => framed(CHAT, &[&r.0, b]),
        }
    }

    /// Decodes one message (without its length prefix).
    pub fn decode(m: &[u8]) -> Result<Self, WireError> {
        let (&tag, b) = m.split_first().ok_or(WireError::Length(0))?;
        if m.len() > MAX_MESSAGE {
            return Err(WireError::Length(m.len()));
        }
        let body = |ok: bool| {
            if ok {
                Ok(b.to_vec())
            } else {
                Err(WireError::Body(b.len()))
            }
        };
        Ok(match tag {
            OP => Self::Op(body(!b.is_empty() && b.len() <= MAX_ROOM_OP_BYTES)?),
            ENVELOPE => Self::Envelope(body(b.len() == ENVELOPE_LEN)?),
            SPEAKER => Self::SpeakerKey(body(b.len() == SPEAKER_KEY_LEN)?),
            CHAT if b.len() > 32 && b.len() <= 32 + MAX_CHAT => {
                Self::Chat(room_at(b), b[32..].to_vec())
            }
            CHAT => return Err(WireError::Body(b.len())),
            t => return Err(WireError::Tag(t)),
        })
    }
}

impl ServerMsg {
    /// Encodes with its length prefix.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Op {
                seq,
                accepted_ms,
                op,
            } => framed(S_OP, &[&seq.to_be_bytes(), &accepted_ms.to_be_bytes(), op]),
            Self::Envelope(b) => framed(S_ENVELOPE, &[b]),
            Self::SpeakerKey(b) => framed(S_SPEAKER, &[b]),
            Self::Chat {
                room,
                author,
                sealed,
            } => framed(S_CHAT, &[&room.0, &author.0, sealed]),
            Self::Refused { room, at_ms, code } => {
                framed(S_REFUSED, &[&room.0, &at_ms.to_be_bytes(), &[*code]])
            }
            Self::Welcome { room, next_seq } => {
                framed(S_WELCOME, &[&room.0, &next_seq.to_be_bytes()])
            }
        }
    }

    /// Decodes one message (without its length prefix).
    pub fn decode(m: &[u8]) -> Result<Self, WireError> {
        let (&tag, b) = m.split_first().ok_or(WireError::Length(0))?;
        if m.len() > MAX_MESSAGE {
            return Err(WireError::Length(m.len()));
        }
        let bad = WireError::Body(b.len());
        Ok(match tag {
            S_OP if b.len() > 16 && b.len() <= 16 + MAX_ROOM_OP_BYTES => Self::Op {
                seq: u64_at(b),
                accepted_ms: u64_at(&b[8..]),
                op: b[16..].to_vec(),
            },
            S_ENVELOPE if b.len() == ENVELOPE_LEN => Self::Envelope(b.to_vec()),
            S_SPEAKER if b.len() == SPEAKER_KEY_LEN => Self::SpeakerKey(b.to_vec()),
            S_CHAT if b.len() > 64 && b.len() <= 64 + MAX_CHAT => {
                let mut a = [0u8; 32];
                a.copy_from_slice(&b[32..64]);
                Self::Chat {
                    room: room_at(b),
                    author: MemberId(a),
                    sealed: b[64..].to_vec(),
                }
            }
            S_REFUSED if b.len() == 41 => Self::Refused {
                room: room_at(b),
                at_ms: u64_at(&b[32..]),
                code: b[40],
            },
            S_WELCOME if b.len() == 40 => Self::Welcome {
                room: room_at(b),
                next_seq: u64_at(&b[32..]),
            },
            S_OP | S_ENVELOPE | S_SPEAKER | S_CHAT | S_REFUSED | S_WELCOME => return Err(bad),
            t => return Err(WireError::Tag(t)),
        })
    }
}

/// Splits a byte stream into messages: feed what arrives, take whole
/// messages out. Holds at most one message's bytes beyond what was fed.
#[derive(Debug, Default)]
pub struct Reader {
    buf: Vec<u8>,
}

impl Reader {
    /// Appends bytes read from the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message (tag and body), if one has arrived; an error
    /// for a length prefix out of bounds (the stream is then unusable).
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        if self.buf.len() < LEN_PREFIX {
            return Ok(None);
        }
        let len = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]]));
        if len == 0 || len > MAX_MESSAGE {
            return Err(WireError::Length(len));
        }
        if self.buf.len() < LEN_PREFIX + len {
            return Ok(None);
        }
        let m = self.buf[LEN_PREFIX..LEN_PREFIX + len].to_vec();
        self.buf.drain(..LEN_PREFIX + len);
        Ok(Some(m))
    }

    /// Bytes held and not yet a whole message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}
