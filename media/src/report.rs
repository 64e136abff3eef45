//! Receiver reports on the wire, signed by their author.
//!
//! Each listener tells each talker, about once a second, how the talker's
//! stream fared. A relay may sit between them, so a report is not trusted
//! for coming from "whoever is at the other end of the connection": it
//! names its author, its room and the talker it is about, carries a
//! sequence number, and is signed with the author's ed25519 identity. The
//! talker verifies it against the author's key ([`crate::ReportInbox`]),
//! so a report forwarded unchanged still verifies and a changed or forged
//! one does not.
//!
//! ```text
//! tag u8 = 0xA2 | room [8] | author [32] | about ShortId u32 | seq u64
//! | expected u16 | lost u16 | jitter_100us u16 | delay_100us u16
//! | ed25519 signature [64] over "aura-receiver-report-v1" || the 61 bytes before it
//! ```
//!
//! The tag can never start a sealed frame (whose high nibble is the frame
//! version, 1), so reports and frames share a connection.

use aura_crypto::{Identity, MemberId, ShortId};
use ed25519_dalek::Signature;
use thiserror::Error;

use crate::RoomId;

/// First byte of a receiver report.
pub const REPORT_TAG: u8 = 0xA2;
/// Length of the signed part of a report.
const SIGNED_LEN: usize = 1 + 8 + 32 + 4 + 8 + 8;
/// Exact length of a receiver report on the wire.
pub const REPORT_LEN: usize = SIGNED_LEN + 64;
/// Domain separation of the report signature.
const DOMAIN: &[u8] = b"aura-receiver-report-v1";

/// Why a receiver report was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ReportError {
    /// Not exactly [`REPORT_LEN`] bytes.
    #[error("receiver report of {0} bytes (expected {REPORT_LEN})")]
    Length(usize),
    /// The first byte is not [`REPORT_TAG`].
    #[error("not a receiver report (tag {0:#04x})")]
    Tag(u8),
    /// The signature does not verify against the named author's key.
    #[error("receiver report signature does not verify for author {0}")]
    BadSignature(MemberId),
    /// The counts do not add up (more lost than expected).
    #[error("inconsistent receiver report (lost > expected)")]
    Inconsistent,
    /// The report is about another room.
    #[error("receiver report for another room")]
    OtherRoom,
    /// The report is about another talker's stream.
    #[error("receiver report about another talker")]
    NotForUs,
    /// The author is not a member of the room.
    #[error("receiver report author {0} is not a member")]
    NotMember(MemberId),
    /// Same sequence number as a report already accepted from this author.
    #[error("replayed receiver report (seq {0})")]
    Replayed(u64),
    /// Older than a report already accepted from this author.
    #[error("stale receiver report (seq {seq}, already at {last})")]
    Stale {
        /// The report's sequence number.
        seq: u64,
        /// The newest accepted from this author.
        last: u64,
    },
    /// Too many authors tracked; a new one is refused.
    #[error("too many report authors")]
    TooManyAuthors,
}

/// How one listener received one talker's stream over the last interval:
/// the counts only (what they mean for audio is the node's business).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiverReport {
    /// Frames the talker sent in the interval (by sequence numbers).
    pub expected: u16,
    /// Of those, frames lost or too late to play.
    pub lost: u16,
    /// Interarrival jitter, units of 0.1 ms.
    pub jitter_100us: u16,
    /// Playout delay above the path, units of 0.1 ms.
    pub delay_100us: u16,
}

/// What a relay or the endpoint reads of a report without verifying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReportHeader {
    /// The room (as in frame headers).
    pub room: RoomId,
    /// Who wrote and signed the report.
    pub author: MemberId,
    /// The talker whose stream it is about.
    pub about: ShortId,
}

impl ReportHeader {
    /// Reads the routing part of a report (length and tag checked, nothing
    /// verified).
    pub fn parse(b: &[u8]) -> Result<Self, ReportError> {
        if b.len() != REPORT_LEN {
            return Err(ReportError::Length(b.len()));
        }
        if b[0] != REPORT_TAG {
            return Err(ReportError::Tag(b[0]));
        }
        let mut room = [0u8; 8];
        room.copy_from_slice(&b[1..9]);
        let mut author = [0u8; 32];
        author.copy_from_slice(&b[9..41]);
        Ok(Self {
            room,
            author: MemberId(author),
            about: ShortId(u32::from_be_bytes([b[41], b[42], b[43], b[44]])),
        })
    }
}

/// A report whose author's signature verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedReport {
    /// Room, author and talker.
    pub header: ReportHeader,
    /// Strictly increasing per author and room.
    pub seq: u64,
    /// The counts.
    pub report: ReceiverReport,
}

fn signed_message(signed: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + signed.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(signed);
    m
}

impl SignedReport {
    /// Encodes and signs a report as `author`.
    pub fn sign(
        author: &Identity,
        room: RoomId,
        about: ShortId,
        seq: u64,
        report: &ReceiverReport,
    ) -> [u8; REPORT_LEN] {
        let mut b = [0u8; REPORT_LEN];
        b[0] = REPORT_TAG;
        b[1..9].copy_from_slice(&room);
        b[9..41].copy_from_slice(&author.member_id().0);
        b[41..45].copy_from_slice(&about.0.to_be_bytes());
        b[45..53].copy_from_slice(&seq.to_be_bytes());
        b[53..55].copy_from_slice(&report.expected.to_be_bytes());
        b[55..57].copy_from_slice(&report.lost.to_be_bytes());
        b[57..59].copy_from_slice(&report.jitter_100us.to_be_bytes());
        b[59..61].copy_from_slice(&report.delay_100us.to_be_bytes());
        let sig = author.sign(&signed_message(&b[..SIGNED_LEN]));
        b[SIGNED_LEN..].copy_from_slice(&sig.to_bytes());
        b
    }

    /// Parses a report and verifies its author's signature (strict ed25519).
    /// Membership, room and sequence are the receiver's to check
    /// ([`crate::ReportInbox`]).
    pub fn verify(b: &[u8]) -> Result<Self, ReportError> {
        let header = ReportHeader::parse(b)?;
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&b[SIGNED_LEN..]);
        let sig = Signature::from_bytes(&sig);
        if !header
            .author
            .verify(&signed_message(&b[..SIGNED_LEN]), &sig)
        {
            return Err(ReportError::BadSignature(header.author));
        }
        let u = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&b[45..53]);
        let report = ReceiverReport {
            expected: u(53),
            lost: u(55),
            jitter_100us: u(57),
            delay_100us: u(59),
        };
        if report.lost > report.expected {
            return Err(ReportError::Inconsistent);
        }
        Ok(Self {
            header,
            seq: u64::from_be_bytes(seq),
            report,
        })
    }
}

/// Author side: signs our reports to the talkers of one room with strictly
/// increasing sequence numbers. They follow the wall clock (milliseconds)
/// so that they keep increasing across a restart of the author.
#[derive(Debug)]
pub struct ReportSigner {
    identity: Identity,
    room: RoomId,
    last: u64,
}

impl ReportSigner {
    /// A signer for `room` as `identity`.
    pub fn new(identity: Identity, room: RoomId) -> Self {
        Self {
            identity,
            room,
            last: 0,
        }
    }

    /// The next report to `about`, sent at `now_ms` (unix milliseconds).
    pub fn sign(
        &mut self,
        about: ShortId,
        report: &ReceiverReport,
        now_ms: u64,
    ) -> [u8; REPORT_LEN] {
        self.last = now_ms.max(self.last.saturating_add(1));
        SignedReport::sign(&self.identity, self.room, about, self.last, report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> Identity {
        Identity::from_secret_bytes(&[n; 32])
    }

    #[test]
    fn report_roundtrips_and_every_bit_is_covered() -> Result<(), ReportError> {
        let r = ReceiverReport {
            expected: 50,
            lost: 5,
            jitter_100us: 12,
            delay_100us: 40,
        };
        let b = SignedReport::sign(&id(1), [7; 8], ShortId(9), 3, &r);
        let v = SignedReport::verify(&b)?;
        assert_eq!(v.report, r);
        assert_eq!(v.seq, 3);
        assert_eq!(v.header.author, id(1).member_id());
        assert_eq!(v.header.about, ShortId(9));
        for i in 0..REPORT_LEN {
            let mut bad = b;
            bad[i] ^= 0x01;
            assert!(SignedReport::verify(&bad).is_err(), "flip at {i} accepted");
        }
        assert_eq!(SignedReport::verify(&b[..5]), Err(ReportError::Length(5)));
        Ok(())
    }

    #[test]
    fn inconsistent_counts_are_refused_even_when_signed() {
        let r = ReceiverReport {
            expected: 5,
            lost: 6,
            ..ReceiverReport::default()
        };
        let b = SignedReport::sign(&id(1), [7; 8], ShortId(9), 3, &r);
        assert_eq!(SignedReport::verify(&b), Err(ReportError::Inconsistent));
    }

    #[test]
    fn signer_sequence_increases_even_when_the_clock_stands_still() -> Result<(), ReportError> {
        let mut s = ReportSigner::new(id(1), [7; 8]);
        let r = ReceiverReport::default();
        let a = SignedReport::verify(&s.sign(ShortId(1), &r, 1_000))?;
        let b = SignedReport::verify(&s.sign(ShortId(1), &r, 1_000))?;
        let c = SignedReport::verify(&s.sign(ShortId(1), &r, 500))?;
        assert_eq!((a.seq, b.seq, c.seq), (1_000, 1_001, 1_002));
        Ok(())
    }
}
