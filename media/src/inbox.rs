//! The talker's side of receiver reports, sans-IO: verifies each report end
//! to end (room, addressee, membership, the author's signature, a sequence
//! number above the author's last) before anything about it is believed.
//! Nothing of an unverified report moves the per-author state.

use std::collections::HashMap;

use aura_crypto::{MemberId, ShortId};

use crate::report::{ReportError, ReportHeader, SignedReport};
use crate::RoomId;

/// Most authors whose last sequence number is kept (members of the room).
pub const MAX_AUTHORS: usize = 1_024;

/// Counters of an inbox.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InboxStats {
    /// Reports accepted.
    pub accepted: u64,
    /// Reports refused (any [`ReportError`]).
    pub refused: u64,
    /// Of those, refused for a bad signature (forged or altered).
    pub bad_signature: u64,
    /// Of those, refused as replayed or stale.
    pub replayed: u64,
}

/// Verifies the receiver reports sent to us (`me`) in one room.
#[derive(Debug)]
pub struct ReportInbox {
    room: RoomId,
    me: ShortId,
    last: HashMap<MemberId, u64>,
    stats: InboxStats,
}

impl ReportInbox {
    /// An inbox for reports about our stream (`me`) in `room`.
    pub fn new(room: RoomId, me: &MemberId) -> Self {
        Self {
            room,
            me: me.short_id(),
            last: HashMap::new(),
            stats: InboxStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &InboxStats {
        &self.stats
    }

    /// Takes one report, however it arrived (direct or through relays).
    /// `is_member` says whether an author is a current member of the room.
    /// Returns the verified report, or why it was refused.
    pub fn on_report(
        &mut self,
        bytes: &[u8],
        is_member: impl Fn(&MemberId) -> bool,
    ) -> Result<SignedReport, ReportError> {
        let r = self.check(bytes, is_member);
        match &r {
            Ok(_) => self.stats.accepted += 1,
            Err(e) => {
                self.stats.refused += 1;
                match e {
                    ReportError::BadSignature(_) => self.stats.bad_signature += 1,
                    ReportError::Replayed(_) | ReportError::Stale { .. } => {
                        self.stats.replayed += 1;
                    }
                    _ => {}
                }
            }
        }
        r
    }

    fn check(
        &mut self,
        bytes: &[u8],
        is_member: impl Fn(&MemberId) -> bool,
    ) -> Result<SignedReport, ReportError> {
        // Cheap checks first, the signature after, state last.
        let h = ReportHeader::parse(bytes)?;
        if h.room != self.room {
            return Err(ReportError::OtherRoom);
        }
        if h.about != self.me {
            return Err(ReportError::NotForUs);
        }
        if !is_member(&h.author) {
            return Err(ReportError::NotMember(h.author));
        }
        let r = SignedReport::verify(bytes)?;
        match self.last.get(&h.author) {
            Some(&last) if r.seq == last => return Err(ReportError::Replayed(r.seq)),
            Some(&last) if r.seq < last => return Err(ReportError::Stale { seq: r.seq, last }),
            None if self.last.len() >= MAX_AUTHORS => return Err(ReportError::TooManyAuthors),
            _ => {}
        }
        self.last.insert(h.author, r.seq);
        Ok(r)
    }

    /// Forgets an author (it left the room).
    pub fn forget(&mut self, author: &MemberId) {
        self.last.remove(author);
    }

    /// Keeps only the authors `is_member` accepts.
    pub fn retain(&mut self, is_member: impl Fn(&MemberId) -> bool) {
        self.last.retain(|m, _| is_member(m));
    }
}

#[cfg(test)]
mod tests {
    use aura_crypto::Identity;

    use super::*;
    use crate::report::{ReceiverReport, REPORT_LEN};

    #[test]
    fn a_report_for_another_room_or_talker_is_refused() {
        let author = Identity::from_secret_bytes(&[1; 32]);
        let me = Identity::from_secret_bytes(&[2; 32]).member_id();
        let mut inbox = ReportInbox::new([7; 8], &me);
        let r = ReceiverReport::default();
        let other_room = SignedReport::sign(&author, [8; 8], me.short_id(), 1, &r);
        let other_talker = SignedReport::sign(&author, [7; 8], ShortId(1), 1, &r);
        assert_eq!(
            inbox.on_report(&other_room, |_| true),
            Err(ReportError::OtherRoom)
        );
        assert_eq!(
            inbox.on_report(&other_talker, |_| true),
            Err(ReportError::NotForUs)
        );
        assert_eq!(
            inbox.on_report(&[0xA2; REPORT_LEN - 1], |_| true),
            Err(ReportError::Length(REPORT_LEN - 1))
        );
        assert_eq!(inbox.stats().refused, 3);
    }
}
