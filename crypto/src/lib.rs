//! Aura's group security core, sans-IO: no sockets, no async runtime, no clock
//! of its own (time is always passed in as unix milliseconds, randomness as a
//! `&mut (impl RngCore + CryptoRng)`).
//!
//! The pieces:
//! - [`Identity`] / [`MemberId`]: ed25519 device keys, mapped to libp2p PeerIds.
//! - [`Roster`]: the signed, hash-linked membership log with deterministic merge.
//! - [`Invite`]: admin-signed, expiring, `aura1…` text invites.
//! - [`GroupSession`]: sender keys, key envelopes, sealed frames, replay
//!   windows and sender authentication, tied to one roster.
//! - [`FrameHeader`]: the routing header a relay can read without keys.
//!
//! # Example
//!
//! ```
//! use aura_crypto::{FrameKind, GroupSession, Identity, Invite, Role, Roster};
//! use rand_core::OsRng;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let now = 1_700_000_000_000;
//! let alice = Identity::generate(&mut OsRng);
//! let bob = Identity::generate(&mut OsRng);
//!
//! // Alice creates a group and an invite (QR-sized text).
//! let (mut a, _create) = GroupSession::create(alice, "hikers", now, &mut OsRng)?;
//! let invite = Invite::create(a.roster(), a.identity(), now + 3_600_000, 5, vec![], &mut OsRng)?;
//! let text = invite.to_text()?;
//!
//! // Bob hands the invite back to Alice (over the network); Alice checks it and adds him.
//! let invite = Invite::parse(&text, now)?;
//! a.roster().check_invite(&invite, now)?;
//! a.add_member(bob.member_id(), Role::Member, Some(invite.redemption()), now)?;
//!
//! // Bob rebuilds the roster from Alice's ops and starts his session.
//! let roster = Roster::from_ops(a.roster().ops().cloned().collect())?;
//! let mut b = GroupSession::from_roster(bob, roster, now, &mut OsRng);
//!
//! // Each gives the other its sender key.
//! let env = a.envelope_for(b.member_id(), &mut OsRng)?;
//! b.accept_envelope(&env)?;
//!
//! // Alice sends a chat message; Bob opens it and knows it is from Alice.
//! let frame = a.seal(FrameKind::Chat, b"hello", now)?;
//! let opened = b.open(&frame, now)?;
//! assert_eq!(opened.payload, b"hello");
//! assert_eq!(opened.sender, a.member_id());
//! # Ok(())
//! # }
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

#[cfg(feature = "test-adversary")]
mod adversary;
pub mod envelope;
pub mod error;
pub mod frame;
pub mod group;
pub mod identity;
pub mod invite;
mod keyring;
pub mod replay;
pub mod room;
pub mod roster;
pub mod sender_key;

pub use envelope::{KeyEnvelope, ENVELOPE_LEN};
pub use error::{
    EnvelopeError, FrameError, IdentityError, InviteError, OpenError, RosterError, SealError,
    StateError,
};
pub use frame::{FrameHeader, FrameKind, HEADER_LEN};
pub use group::{
    AuthReport, Authenticity, GroupSession, MembershipChange, Opened, ReplayFloor, Rotation,
    SealedVoice, SessionStats, Verdict,
};
pub use identity::{Identity, MemberId, ShortId};
pub use invite::{Hint, Invite, InviteBody};
pub use replay::ReplayWindow;
pub use roster::{
    Applied, BatchApplied, GroupId, InviteId, InviteUse, Op, OpHash, OpKind, Role, Roster, SignedOp,
};
pub use sender_key::RotationPolicy;
