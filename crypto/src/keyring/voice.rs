//! Batch authentication of voice frames.
//!
//! Voice frames are played at once (`Authenticity::Pending`) and their
//! truncated digests remembered; a pending frame moves no replay window and
//! no key chain (the session commits its counter only once a batch vouches
//! for it), so a forgery cannot make the real sender's frames look old.
//! At most [`MAX_UNSIGNED_RUN`] voice frames of a sender epoch play between
//! two of its verified batches: forged audio plays for at most one batch.
//! Every K voice frames the sender emits a
//! `VoiceSig` frame: `first_counter u32 | n u8 | n digests [8] | ed25519
//! signature`. Slot `i` covers counter `first_counter + i`; counters the
//! sender used for other kinds hold zero digests. When the batch arrives
//! each remembered frame in its range is marked `Verified` (digest matches)
//! or `Forged` (a key holder other than the sender made it). Frames not
//! covered after two later batches are `Unverified`.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::error::OpenError;
use crate::frame::DIGEST_LEN;
use crate::identity::MemberId;

/// Most remembered unverified voice frames per sender epoch.
pub const MAX_PENDING_PER_SENDER: usize = 512;
/// Most voice frames of one sender epoch accepted since its last verified
/// batch (the largest batch a sender may use); further frames wait for a
/// batch signature.
pub const MAX_UNSIGNED_RUN: usize = 64;
/// Most queued reports; older ones are dropped (and counted).
pub const MAX_REPORTS: usize = 4096;
/// Batches after which an uncovered frame is reported `Unverified`.
const GRACE_BATCHES: u8 = 2;
/// Recent batches remembered per sender to judge frames that arrive late.
const RECENT_BATCHES: usize = 2;

/// Verdict on one voice frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Listed in the sender's signed batch.
    Verified,
    /// Decrypted under the sender's key but not what the sender signed:
    /// forged by another holder of that key. Drop and penalise.
    Forged,
    /// No signed batch covered it in time (batch lost or suppressed).
    Unverified,
}

/// A verdict about a voice frame received earlier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthReport {
    /// Claimed sender.
    pub sender: MemberId,
    /// Sender key epoch.
    pub epoch: u16,
    /// Frame counter.
    pub counter: u32,
    /// Verdict.
    pub verdict: Verdict,
}

#[derive(Default)]
struct Stream {
    /// Unjudged frames by (counter, digest): a forgery and the genuine frame
    /// of the same counter are both held until the batch tells them apart.
    pending: BTreeMap<(u32, [u8; DIGEST_LEN]), u8>,
    /// Frames accepted since the last verified batch.
    unsigned: usize,
    recent: VecDeque<(u32, Vec<[u8; DIGEST_LEN]>)>,
}

/// What [`VoiceVerifier::record`] decided about a voice frame.
pub(crate) enum Recorded {
    /// A recent batch already covers it.
    Judged(Verdict),
    /// Held until a batch covers it (play it, commit nothing).
    Pending,
}

/// Receiver-side tracker of voice digests and batch verdicts.
#[derive(Default)]
pub(crate) struct VoiceVerifier {
    streams: HashMap<(MemberId, u16), Stream>,
    reports: VecDeque<AuthReport>,
    pub(crate) dropped_reports: u64,
}

impl VoiceVerifier {
    fn report(&mut self, r: AuthReport) {
        if r.verdict != Verdict::Verified {
            tracing::warn!(sender = %r.sender, epoch = r.epoch, counter = r.counter, verdict = ?r.verdict, "voice frame not authenticated");
        }
        if self.reports.len() >= MAX_REPORTS {
            self.reports.pop_front();
            self.dropped_reports += 1;
        }
        self.reports.push_back(r);
    }

    /// The stream of (sender, epoch); entering a new epoch forgets that
    /// sender's streams older than the previous epoch (bounded memory).
    fn stream(&mut self, sender: MemberId, epoch: u16) -> &mut Stream {
        if !self.streams.contains_key(&(sender, epoch)) {
            self.streams
                .retain(|(s, e), _| *s != sender || e.saturating_add(1) >= epoch);
        }
        self.streams.entry((sender, epoch)).or_default()
    }

    /// Records a voice frame that passed AEAD. Judges it at once if a
    /// recent batch covers its counter; refuses a frame already held
    /// (`Replay`) or one past the unsigned allowance (`AwaitingSignature`).
    pub(crate) fn record(
        &mut self,
        sender: MemberId,
        epoch: u16,
        counter: u32,
        digest: [u8; DIGEST_LEN],
    ) -> Result<Recorded, OpenError> {
        let s = self.stream(sender, epoch);
        for (first, digests) in &s.recent {
            if let Some(i) = counter.checked_sub(*first) {
                if let Some(d) = digests.get(i as usize) {
                    let v = if *d == digest {
                        Verdict::Verified
                    } else {
                        Verdict::Forged
                    };
                    self.report(AuthReport {
                        sender,
                        epoch,
                        counter,
                        verdict: v,
                    });
                    return Ok(Recorded::Judged(v));
                }
            }
        }
        if s.pending.contains_key(&(counter, digest)) {
            return Err(OpenError::Replay);
        }
        if s.unsigned >= MAX_UNSIGNED_RUN {
            return Err(OpenError::AwaitingSignature);
        }
        let mut evicted = None;
        if s.pending.len() >= MAX_PENDING_PER_SENDER {
            evicted = s.pending.pop_first();
        }
        s.pending.insert((counter, digest), 0);
        s.unsigned += 1;
        if let Some(((c, _), _)) = evicted {
            self.report(AuthReport {
                sender,
                epoch,
                counter: c,
                verdict: Verdict::Unverified,
            });
        }
        Ok(Recorded::Pending)
    }

    /// Applies a verified batch (the caller checked its signature).
    /// Returns the counters it proved genuine (to commit to the window).
    pub(crate) fn on_batch(
        &mut self,
        sender: MemberId,
        epoch: u16,
        first: u32,
        digests: Vec<[u8; DIGEST_LEN]>,
    ) -> Vec<u32> {
        let s = self.stream(sender, epoch);
        let mut out = Vec::new();
        let mut keep = BTreeMap::new();
        for ((c, d), age) in std::mem::take(&mut s.pending) {
            let slot = c.checked_sub(first).and_then(|i| digests.get(i as usize));
            match slot {
                Some(sd) if *sd == d => out.push((c, Verdict::Verified)),
                Some(_) => out.push((c, Verdict::Forged)),
                None if age + 1 >= GRACE_BATCHES && c < first => out.push((c, Verdict::Unverified)),
                None => {
                    keep.insert((c, d), age + 1);
                }
            }
        }
        let end = u64::from(first) + digests.len() as u64;
        s.unsigned = keep.keys().filter(|(c, _)| u64::from(*c) >= end).count();
        s.pending = keep;
        if s.recent.len() >= RECENT_BATCHES {
            s.recent.pop_front();
        }
        s.recent.push_back((first, digests));
        let mut genuine = Vec::new();
        for (counter, verdict) in out {
            if verdict == Verdict::Verified {
                genuine.push(counter);
            }
            self.report(AuthReport {
                sender,
                epoch,
                counter,
                verdict,
            });
        }
        genuine
    }

    /// Forgets a sender (removed member).
    pub(crate) fn drop_sender(&mut self, m: &MemberId) {
        self.streams.retain(|(s, _), _| s != m);
    }

    /// Drains queued reports.
    pub(crate) fn take_reports(&mut self) -> Vec<AuthReport> {
        self.reports.drain(..).collect()
    }
}

/// A parsed `VoiceSig` plaintext.
pub(crate) struct Batch<'a> {
    /// The signed part: first counter, n, digests.
    pub(crate) body: &'a [u8],
    pub(crate) first: u32,
    pub(crate) digests: Vec<[u8; DIGEST_LEN]>,
    pub(crate) sig: [u8; 64],
}

/// Parses a `VoiceSig` plaintext.
pub(crate) fn parse_batch(pt: &[u8]) -> Result<Batch<'_>, OpenError> {
    if pt.len() < 5 + 64 {
        return Err(OpenError::Malformed);
    }
    let first = u32::from_be_bytes([pt[0], pt[1], pt[2], pt[3]]);
    let n = pt[4] as usize;
    if pt.len() != 5 + n * DIGEST_LEN + 64 {
        return Err(OpenError::Malformed);
    }
    let body = &pt[..5 + n * DIGEST_LEN];
    let digests = body[5..]
        .chunks_exact(DIGEST_LEN)
        .map(|c| {
            let mut d = [0u8; DIGEST_LEN];
            d.copy_from_slice(c);
            d
        })
        .collect();
    let mut sig = [0u8; 64];
    sig.copy_from_slice(&pt[body.len()..]);
    Ok(Batch {
        body,
        first,
        digests,
        sig,
    })
}
