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
//!   0x05 relays    | room [32]      (which relays serve the room, how loaded)
//!   0x08 away      | room [32]      (the member's connection is closing;
//!                    relayed by an edge when it closed there)
//!   0x09 restore   | room [32] | accepted_ms u64 | signed room op
//!                    (the host moves its room to a new origin after the
//!                    old one stopped: its journal, from the create op)
//!   0x0a restored  | room [32]      (the journal is complete)
//! edge relay -> origin relay (a cascade: see the relay's README)
//!   0x06 attach    | room [32]      (follow the room as an edge)
//!   0x07 relayed   | member [32] | a member message (0x01..=0x05, 0x08)
//!                    (never a restore: a room is restored where its host is)
//! relay -> member
//!   0x81 op        | seq u64 | accepted_ms u64 | signed room op
//!   0x82 envelope  | room key envelope
//!   0x83 speaker   | speaker key
//!   0x84 chat      | room [32] | author [32] | sealed chat
//!   0x85 refused   | room [32] | at_ms u64 | code u8
//!   0x86 welcome   | room [32] | next seq u64   (the room's log follows)
//!   0x87 relays    | room [32] | n u8 | n x (relay [32] | members u32 |
//!                    4 ip[4] or 6 ip[16] | port u16)     (n <= MAX_RELAYS)
//!   0x8d absent    | room [32] | member [32]  (to the host: the member's
//!                    connection closed and it has not come back)
//! origin relay -> edge relay
//!   0x88 to        | member [32] | a relay message (0x81..=0x87) for it
//!   0x89 fan       | room [32] | a relay message for every member of the
//!                    room at the edge
//!   0x8a admit     | room [32] | member [32]  (forward the room's frames to it)
//!   0x8b expel     | room [32] | member [32]  (stop at once)
//!   0x8c closed    | room [32]
//! ```
//!
//! A wrapped message is never itself a wrapper (no nesting).
//!
//! Every body is size-checked before anything is allocated for it.

use aura_crypto::room::{RoomId, MAX_ROOM_OP_BYTES, SPEAKER_KEY_LEN};
use aura_crypto::{MemberId, ENVELOPE_LEN};
use thiserror::Error;

mod relays;

pub use relays::{least_loaded, RelayLoad, MAX_RELAYS};

/// Largest message (tag and body) on the control stream: a sealed chat
/// line of [`MAX_CHAT`] bytes, wrapped twice across a cascade of relays.
pub const MAX_MESSAGE: usize = 4_096;
/// Largest sealed chat line (one carrying a gift receipt).
pub const MAX_CHAT: usize = aura_crypto::room::chat::MAX_SEALED_CHAT;
/// Bytes of the length prefix.
pub const LEN_PREFIX: usize = 2;

/// The reason in a relay's close of a member's connection: the relay is
/// stopping (its rooms' members move to another relay of the room).
pub const CLOSE_STOPPING: &[u8] = b"shutdown";
/// The reason in an edge's close of a member's connection: the edge lost
/// the room's origin (the host moves the room; its members follow).
pub const CLOSE_ORIGIN_GONE: &[u8] = b"origin gone";

const OP: u8 = 0x01;
const ENVELOPE: u8 = 0x02;
const SPEAKER: u8 = 0x03;
const CHAT: u8 = 0x04;
const RELAYS: u8 = 0x05;
const ATTACH: u8 = 0x06;
const RELAYED: u8 = 0x07;
const AWAY: u8 = 0x08;
const RESTORE: u8 = 0x09;
const RESTORED: u8 = 0x0a;
const S_OP: u8 = 0x81;
const S_ENVELOPE: u8 = 0x82;
const S_SPEAKER: u8 = 0x83;
const S_CHAT: u8 = 0x84;
const S_REFUSED: u8 = 0x85;
const S_WELCOME: u8 = 0x86;
const S_RELAYS: u8 = 0x87;
const S_TO: u8 = 0x88;
const S_FAN: u8 = 0x89;
const S_ADMIT: u8 = 0x8a;
const S_EXPEL: u8 = 0x8b;
const S_CLOSED: u8 = 0x8c;
const S_ABSENT: u8 = 0x8d;

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
    /// Which relays serve this room, and how loaded (answered by `relays`).
    Relays(RoomId),
    /// Edge relay to origin: follow this room.
    Attach(RoomId),
    /// Edge relay to origin: a member's message (never a wrapper itself).
    Relayed(MemberId, Box<ClientMsg>),
    /// The member's connection is closing (relayed by an edge relay when
    /// the member's connection to it closed): it counts as away.
    Away(RoomId),
    /// Host to a relay taking its room over from an origin that stopped:
    /// one op of the room's journal, with the time the old origin
    /// accepted it (the clock it is checked with again).
    Restore {
        /// Room.
        room: RoomId,
        /// The old origin's clock when it accepted the op (unix ms).
        accepted_ms: u64,
        /// The signed op (encoded).
        op: Vec<u8>,
    },
    /// Host to the new origin: the journal is complete.
    Restored(RoomId),
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
    /// The relays serving a room (the origin first) and their loads.
    Relays {
        /// Room.
        room: RoomId,
        /// At most [`MAX_RELAYS`].
        relays: Vec<RelayLoad>,
    },
    /// Origin to edge: a message for one member at the edge.
    To(MemberId, Box<ServerMsg>),
    /// Origin to edge: a message for every member of the room at the edge.
    Fan(RoomId, Box<ServerMsg>),
    /// Origin to edge: forward the room's frames to this member.
    Admit(RoomId, MemberId),
    /// Origin to edge: stop forwarding to this member, at once.
    Expel(RoomId, MemberId),
    /// Origin to edge: the room is closed.
    Closed(RoomId),
    /// To the host: this member's connection closed and it has not come
    /// back within the relay's grace period (the host may remove it).
    Absent(RoomId, MemberId),
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

/// A message's tag and body, without its length prefix.
fn unframed(v: Vec<u8>) -> Vec<u8> {
    v.get(LEN_PREFIX..).map(<[u8]>::to_vec).unwrap_or_default()
}

fn member_at(b: &[u8]) -> MemberId {
    let mut r = [0u8; 32];
    r.copy_from_slice(&b[..32]);
    MemberId(r)
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
            Self::Relays(r) => framed(RELAYS, &[&r.0]),
            Self::Attach(r) => framed(ATTACH, &[&r.0]),
            Self::Relayed(m, inner) => framed(RELAYED, &[&m.0, &unframed(inner.encode())]),
            Self::Away(r) => framed(AWAY, &[&r.0]),
            Self::Restore {
                room,
                accepted_ms,
                op,
            } => framed(RESTORE, &[&room.0, &accepted_ms.to_be_bytes(), op]),
            Self::Restored(r) => framed(RESTORED, &[&r.0]),
        }
    }

    /// Whether this is a member's message (not an edge relay's).
    pub fn is_member_msg(&self) -> bool {
        !matches!(self, Self::Attach(_) | Self::Relayed(..))
    }

    /// Whether an edge may relay this message to an origin (a member's
    /// message, not a restore: a room is restored where its host is).
    pub fn is_relayable(&self) -> bool {
        self.is_member_msg() && !matches!(self, Self::Restore { .. } | Self::Restored(_))
    }

    /// The room a message is about, if it names one (an op or key is
    /// decoded for it; a create op names the room it creates).
    pub fn room(&self) -> Option<RoomId> {
        match self {
            Self::Op(b) => aura_crypto::room::SignedRoomOp::decode(b)
                .ok()
                .map(|o| o.created_room().unwrap_or(o.op().room)),
            Self::Envelope(b) => aura_crypto::KeyEnvelope::parse(b)
                .ok()
                .map(|e| RoomId(e.group.0)),
            Self::SpeakerKey(b) => aura_crypto::room::SpeakerKey::decode(b)
                .ok()
                .map(|k| k.room),
            Self::Chat(r, _)
            | Self::Relays(r)
            | Self::Attach(r)
            | Self::Away(r)
            | Self::Restore { room: r, .. }
            | Self::Restored(r) => Some(*r),
            Self::Relayed(_, inner) => inner.room(),
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
            RELAYS if b.len() == 32 => Self::Relays(room_at(b)),
            ATTACH if b.len() == 32 => Self::Attach(room_at(b)),
            RELAYED if b.len() > 32 => {
                let inner = Self::decode(&b[32..])?;
                if !inner.is_relayable() {
                    return Err(WireError::Body(b.len()));
                }
                Self::Relayed(member_at(b), Box::new(inner))
            }
            AWAY if b.len() == 32 => Self::Away(room_at(b)),
            RESTORE if b.len() > 40 && b.len() <= 40 + MAX_ROOM_OP_BYTES => Self::Restore {
                room: room_at(b),
                accepted_ms: u64_at(&b[32..]),
                op: b[40..].to_vec(),
            },
            RESTORED if b.len() == 32 => Self::Restored(room_at(b)),
            RELAYS | ATTACH | RELAYED | AWAY | RESTORE | RESTORED => {
                return Err(WireError::Body(b.len()))
            }
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
            Self::Relays { room, relays } => framed(S_RELAYS, &[&room.0, &relays::encode(relays)]),
            Self::To(m, inner) => framed(S_TO, &[&m.0, &unframed(inner.encode())]),
            Self::Fan(r, inner) => framed(S_FAN, &[&r.0, &unframed(inner.encode())]),
            Self::Admit(r, m) => framed(S_ADMIT, &[&r.0, &m.0]),
            Self::Expel(r, m) => framed(S_EXPEL, &[&r.0, &m.0]),
            Self::Closed(r) => framed(S_CLOSED, &[&r.0]),
            Self::Absent(r, m) => framed(S_ABSENT, &[&r.0, &m.0]),
        }
    }

    /// Whether this is a message for a member (not for an edge relay).
    pub fn is_member_msg(&self) -> bool {
        !matches!(
            self,
            Self::To(..) | Self::Fan(..) | Self::Admit(..) | Self::Expel(..) | Self::Closed(_)
        )
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
            S_RELAYS if b.len() > 32 => Self::Relays {
                room: room_at(b),
                relays: relays::decode(&b[32..])?,
            },
            S_TO | S_FAN if b.len() > 32 => {
                let inner = Self::decode(&b[32..])?;
                if !inner.is_member_msg() {
                    return Err(bad);
                }
                if tag == S_TO {
                    Self::To(member_at(b), Box::new(inner))
                } else {
                    Self::Fan(room_at(b), Box::new(inner))
                }
            }
            S_ADMIT if b.len() == 64 => Self::Admit(room_at(b), member_at(&b[32..])),
            S_EXPEL if b.len() == 64 => Self::Expel(room_at(b), member_at(&b[32..])),
            S_CLOSED if b.len() == 32 => Self::Closed(room_at(b)),
            S_ABSENT if b.len() == 64 => Self::Absent(room_at(b), member_at(&b[32..])),
            S_OP | S_ENVELOPE | S_SPEAKER | S_CHAT | S_REFUSED | S_WELCOME | S_RELAYS | S_TO
            | S_FAN | S_ADMIT | S_EXPEL | S_CLOSED | S_ABSENT => return Err(bad),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cascade_messages_round_trip_and_do_not_nest() {
        let room = RoomId([3; 32]);
        let m = MemberId([4; 32]);
        let op = ServerMsg::Op {
            seq: 7,
            accepted_ms: 9,
            op: vec![1; 40],
        };
        let relays = vec![
            RelayLoad {
                relay: m,
                addr: "127.0.0.1:4002".parse().unwrap(),
                members: 3,
            },
            RelayLoad {
                relay: MemberId([5; 32]),
                addr: "[::1]:9".parse().unwrap(),
                members: 1,
            },
        ];
        let server = [
            ServerMsg::Relays {
                room,
                relays: relays.clone(),
            },
            ServerMsg::To(m, Box::new(op.clone())),
            ServerMsg::Fan(room, Box::new(op)),
            ServerMsg::Admit(room, m),
            ServerMsg::Expel(room, m),
            ServerMsg::Closed(room),
            ServerMsg::Absent(room, m),
            ServerMsg::To(m, Box::new(ServerMsg::Absent(room, m))),
        ];
        for s in server {
            assert_eq!(ServerMsg::decode(&s.encode()[LEN_PREFIX..]).unwrap(), s);
        }
        assert_eq!(least_loaded(&relays).unwrap().members, 1);
        let client = [
            ClientMsg::Relays(room),
            ClientMsg::Attach(room),
            ClientMsg::Relayed(m, Box::new(ClientMsg::Chat(room, vec![1; 10]))),
            ClientMsg::Away(room),
            ClientMsg::Relayed(m, Box::new(ClientMsg::Away(room))),
            ClientMsg::Restore {
                room,
                accepted_ms: 12,
                op: vec![1; 40],
            },
            ClientMsg::Restored(room),
        ];
        for c in client {
            assert_eq!(ClientMsg::decode(&c.encode()[LEN_PREFIX..]).unwrap(), c);
        }
        let nested = ClientMsg::Relayed(m, Box::new(ClientMsg::Attach(room))).encode();
        assert!(ClientMsg::decode(&nested[LEN_PREFIX..]).is_err());
        let relayed_restore = ClientMsg::Relayed(m, Box::new(ClientMsg::Restored(room))).encode();
        assert!(ClientMsg::decode(&relayed_restore[LEN_PREFIX..]).is_err());
        let nested = ServerMsg::To(m, Box::new(ServerMsg::Closed(room))).encode();
        assert!(ServerMsg::decode(&nested[LEN_PREFIX..]).is_err());
        let mut bad = ServerMsg::Relays { room, relays }.encode();
        bad.pop();
        assert!(ServerMsg::decode(&bad[LEN_PREFIX..]).is_err());
    }

    #[test]
    fn the_largest_chat_line_crosses_a_cascade_and_one_byte_more_is_refused() {
        let (room, m) = (RoomId([3; 32]), MemberId([4; 32]));
        let line = vec![9; MAX_CHAT];
        let up = ClientMsg::Relayed(m, Box::new(ClientMsg::Chat(room, line.clone())));
        assert_eq!(ClientMsg::decode(&up.encode()[LEN_PREFIX..]).unwrap(), up);
        let chat = ServerMsg::Chat {
            room,
            author: m,
            sealed: line,
        };
        let down = ServerMsg::Fan(room, Box::new(chat));
        assert_eq!(
            ServerMsg::decode(&down.encode()[LEN_PREFIX..]).unwrap(),
            down
        );
        let long = ClientMsg::Chat(room, vec![9; MAX_CHAT + 1]).encode();
        assert!(ClientMsg::decode(&long[LEN_PREFIX..]).is_err());
    }
}
