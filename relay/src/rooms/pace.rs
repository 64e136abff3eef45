//! How fast one connection may send control messages (sans-IO): a token
//! bucket for signed messages (ops and speaker keys, each a signature the
//! relay checks) and a slower one for chat (each fanned out to the whole
//! room). Key envelopes, which only the host sends and which go to one
//! member each, are not paced: a rotation seals one to every member at once.
//! A restore has a bucket of its own (as fast as ops; a refused journal
//! cannot starve the host's ops): its first message checks a signature,
//! the rest of the journal of a room being restored by its host is not
//! paced (the control plane decides).

use std::time::Instant;

use aura_media::room_control::ClientMsg;

/// Signed messages a second, and their burst.
pub const SIGNED_PER_S: f64 = 20.0;
/// Burst of signed messages.
pub const SIGNED_BURST: f64 = 100.0;
/// Chat lines a second.
pub const CHAT_PER_S: f64 = 4.0;
/// Burst of chat lines.
pub const CHAT_BURST: f64 = 16.0;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, rate: f64, burst: f64, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + dt * rate).min(burst);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// An edge relay's link carries the messages of many members (each paced
/// at the edge): this many times a member's pace.
pub const LINK_SCALE: f64 = 100.0;

/// One connection's pace.
#[derive(Debug)]
pub struct Pace {
    signed: Bucket,
    chat: Bucket,
    restore: Bucket,
    scale: f64,
}

impl Pace {
    /// Full buckets at `now`.
    pub fn new(now: Instant) -> Self {
        Self::scaled(now, 1.0)
    }

    /// An edge relay's link: [`LINK_SCALE`] times a member's pace.
    pub fn link(now: Instant) -> Self {
        Self::scaled(now, LINK_SCALE)
    }

    fn scaled(now: Instant, scale: f64) -> Self {
        Self {
            signed: Bucket {
                tokens: SIGNED_BURST * scale,
                at: now,
            },
            chat: Bucket {
                tokens: CHAT_BURST * scale,
                at: now,
            },
            restore: Bucket {
                tokens: SIGNED_BURST,
                at: now,
            },
            scale,
        }
    }

    /// Whether `msg` may go through at `now` (false: drop it).
    pub fn allow(&mut self, msg: &ClientMsg, now: Instant) -> bool {
        match msg {
            ClientMsg::Envelope(_) | ClientMsg::Attach(_) => true,
            ClientMsg::Relayed(_, inner) => self.allow(inner, now),
            ClientMsg::Chat(..) => {
                let k = self.scale;
                self.chat.take(CHAT_PER_S * k, CHAT_BURST * k, now)
            }
            ClientMsg::Restore { .. } | ClientMsg::Restored(_) => {
                self.restore.take(SIGNED_PER_S, SIGNED_BURST, now)
            }
            ClientMsg::Op(_)
            | ClientMsg::SpeakerKey(_)
            | ClientMsg::Relays(_)
            | ClientMsg::Away(_) => {
                let k = self.scale;
                self.signed.take(SIGNED_PER_S * k, SIGNED_BURST * k, now)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aura_crypto::room::RoomId;

    use super::*;

    #[test]
    fn restores_have_a_budget_of_their_own_and_leave_the_ops_theirs() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        let restore = ClientMsg::Restore {
            room: RoomId([1; 32]),
            accepted_ms: 1,
            op: vec![1],
        };
        let passed = (0..1_000).filter(|_| p.allow(&restore, t0)).count();
        assert_eq!(passed, SIGNED_BURST as usize);
        let op = ClientMsg::Op(vec![1]);
        assert!(
            p.allow(&op, t0),
            "a refused journal starved the host's rejoin"
        );
    }

    #[test]
    fn a_chat_flood_is_cut_to_the_pace_and_envelopes_pass() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        let chat = ClientMsg::Chat(RoomId([1; 32]), vec![1]);
        let passed = (0..1_000).filter(|_| p.allow(&chat, t0)).count();
        assert_eq!(passed, CHAT_BURST as usize);
        assert!(p.allow(&chat, t0 + Duration::from_millis(300)));
        assert!(!p.allow(&chat, t0 + Duration::from_millis(300)));
        let op = ClientMsg::Op(vec![1]);
        let ops = (0..1_000).filter(|_| p.allow(&op, t0)).count();
        assert_eq!(ops, SIGNED_BURST as usize);
        let env = ClientMsg::Envelope(vec![0; 247]);
        assert!((0..1_000).all(|_| p.allow(&env, t0)));
    }
}
