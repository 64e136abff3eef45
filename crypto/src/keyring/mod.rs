//! Sender keys in use, shared by group sessions and rooms: the chains
//! received from others (installed from shares, two epochs per sender), and
//! the sealing and opening of frames with them, voice batch signatures
//! included. The membership that decides who may send lives with the
//! caller (a group's roster, a room's seats).

mod floors;
mod opened;
mod verifying_keys;
mod voice;

use std::collections::HashMap;

use ed25519_dalek::Signature;

pub use floors::ReplayFloor;
pub use opened::{Authenticity, Opened, SealedVoice};
pub use voice::{AuthReport, Verdict, MAX_PENDING_PER_SENDER, MAX_REPORTS, MAX_UNSIGNED_RUN};

pub(crate) use floors::Floors;
pub(crate) use verifying_keys::VerifyingKeys;
pub(crate) use voice::VoiceVerifier;

use crate::error::{OpenError, SealError};
use crate::frame::{
    self, FrameHeader, FrameKind, DIGEST_LEN, HEADER_LEN, MAX_PAYLOAD_LEN, SIG_LEN,
};
use crate::identity::{Identity, MemberId, ShortId};
use crate::replay::REPLAY_WINDOW;
use crate::roster::GroupId;
use crate::sender_key::{KeyShare, Lookup, OwnSenderKey, ReceiverChain};
use voice::Recorded;

/// Sender epochs kept per member (current and previous).
pub(crate) const EPOCHS_KEPT: usize = 2;

/// The chains received from other members, per sender and epoch.
#[derive(Debug, Default)]
pub(crate) struct Received {
    pub(crate) peers: HashMap<MemberId, Vec<ReceiverChain>>,
    /// Newest epoch ever installed per sender: an older one is never
    /// reinstalled, or its old frames could be replayed.
    pub(crate) highest_epoch: HashMap<MemberId, u16>,
}

impl Received {
    /// Installs (or moves forward) `sender`'s chain from a share. Returns
    /// the epoch installed, or `None` if the share was stale or known.
    pub(crate) fn install(
        &mut self,
        sender: MemberId,
        share: &KeyShare,
        floors: &mut Floors,
    ) -> Option<u16> {
        let chains = self.peers.entry(sender).or_default();
        if let Some(c) = chains.iter_mut().find(|c| c.epoch == share.epoch) {
            return c.refresh(share).then_some(share.epoch);
        }
        if self
            .highest_epoch
            .get(&sender)
            .is_some_and(|h| share.epoch <= *h)
        {
            return None;
        }
        let mut chain = ReceiverChain::new(share);
        if let Some(f) = floors.get(&sender, share.epoch) {
            // Reinstalled after a restart: what was accepted stays refused.
            chain.window.raise_floor(f);
        }
        chains.push(chain);
        chains.sort_by_key(|c| c.epoch);
        while chains.len() > EPOCHS_KEPT {
            chains.remove(0);
        }
        if let Some(oldest) = chains.first() {
            floors.keep_epochs_from(&sender, oldest.epoch);
        }
        self.highest_epoch.insert(sender, share.epoch);
        Some(share.epoch)
    }

    /// `sender`'s chain of `epoch`.
    pub(crate) fn chain_mut(
        &mut self,
        sender: &MemberId,
        epoch: u16,
    ) -> Option<&mut ReceiverChain> {
        self.peers
            .get_mut(sender)
            .and_then(|cs| cs.iter_mut().find(|c| c.epoch == epoch))
    }
}

/// Seals our frames: our chain and the voice digests awaiting their batch
/// signature, for one group or room (`domain`, `room` in the header).
pub(crate) struct Sealer<'a> {
    pub(crate) own: &'a mut OwnSenderKey,
    pub(crate) voice_out: &'a mut Vec<(u32, [u8; DIGEST_LEN])>,
    pub(crate) identity: &'a Identity,
    pub(crate) domain: GroupId,
    pub(crate) room: [u8; 8],
    pub(crate) me: ShortId,
}

impl Sealer<'_> {
    fn header(&self, kind: FrameKind, counter: u32) -> FrameHeader {
        FrameHeader {
            kind,
            room: self.room,
            sender: self.me,
            epoch: self.own.epoch,
            counter,
        }
    }

    /// Seals a location, chat or control frame, signed by us.
    pub(crate) fn seal_signed(
        &mut self,
        kind: FrameKind,
        payload: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        if !kind.individually_signed() {
            return Err(SealError::KindNotSealable);
        }
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(SealError::PayloadTooLarge);
        }
        let (counter, key) = self.own.next().ok_or(SealError::RotationRequired)?;
        let key = key.clone();
        let header = self.header(kind, counter);
        let hb = header.to_bytes();
        let sig = self
            .identity
            .sign(&frame::frame_sig_message(&self.domain, &hb, payload));
        let mut pt = Vec::with_capacity(payload.len() + SIG_LEN);
        pt.extend_from_slice(payload);
        pt.extend_from_slice(&sig.to_bytes());
        frame::seal_raw(&key, &header, &pt)
    }

    /// Seals a voice frame; every `batch` frames also the batch signature.
    pub(crate) fn seal_voice(
        &mut self,
        payload: &[u8],
        batch: usize,
    ) -> Result<SealedVoice, SealError> {
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(SealError::PayloadTooLarge);
        }
        let (counter, key) = self.own.next().ok_or(SealError::RotationRequired)?;
        let key = key.clone();
        let header = self.header(FrameKind::Voice, counter);
        let frame = frame::seal_raw(&key, &header, payload)?;
        self.voice_out.push((counter, frame::frame_digest(&frame)));
        let sig_frame = if self.voice_out.len() >= batch {
            self.flush_voice_sig()?
        } else {
            None
        };
        Ok(SealedVoice { frame, sig_frame })
    }

    /// The batch signature over voice frames not yet covered, if any.
    pub(crate) fn flush_voice_sig(&mut self) -> Result<Option<Vec<u8>>, SealError> {
        let Some(&(last, _)) = self.voice_out.last() else {
            return Ok(None);
        };
        // Cover at most 255 consecutive counters ending at `last`.
        let lo = last.saturating_sub(254);
        let first = self
            .voice_out
            .iter()
            .map(|(c, _)| *c)
            .find(|c| *c >= lo)
            .unwrap_or(last);
        let n = (last - first + 1) as usize;
        let mut body = Vec::with_capacity(5 + n * DIGEST_LEN + SIG_LEN);
        body.extend_from_slice(&first.to_be_bytes());
        body.push(n as u8);
        let mut slots = vec![[0u8; DIGEST_LEN]; n];
        for (c, d) in self.voice_out.drain(..) {
            if c >= first {
                slots[(c - first) as usize] = d;
            }
        }
        for s in &slots {
            body.extend_from_slice(s);
        }
        let (counter, key) = self.own.next().ok_or(SealError::RotationRequired)?;
        let key = key.clone();
        let header = self.header(FrameKind::VoiceSig, counter);
        let msg = frame::voice_sig_message(&self.domain, &header.to_bytes(), &body);
        body.extend_from_slice(&self.identity.sign(&msg).to_bytes());
        frame::seal_raw(&key, &header, &body).map(Some)
    }
}

/// Opens frames from one sender's chain: the voice batch verifier, the
/// verifying-key cache and the replay floors of one group or room.
pub(crate) struct Opener<'a> {
    pub(crate) voice_in: &'a mut VoiceVerifier,
    pub(crate) keys: &'a mut VerifyingKeys,
    pub(crate) floors: &'a mut Floors,
    pub(crate) domain: GroupId,
}

impl Opener<'_> {
    /// Opens `bytes` (header `h`, already parsed) from `sender` with its
    /// `chain`. `via`: the member whose connection handed the frame over
    /// (see [`crate::GroupSession::open_from`]). Keys, window and floor move
    /// only once the frame authenticates.
    pub(crate) fn open(
        self,
        chain: &mut ReceiverChain,
        sender: MemberId,
        h: &FrameHeader,
        bytes: &[u8],
        via: Option<MemberId>,
    ) -> Result<Opened, OpenError> {
        chain.window.check(h.counter)?;
        if h.kind == FrameKind::Voice {
            // Unauthenticated: never derive far past what authenticated
            // frames reached (a signed frame of the sender catches us up).
            let base = chain.window.top().max(chain.known_start());
            if u64::from(h.counter) >= base + u64::from(REPLAY_WINDOW) {
                return Err(OpenError::TooFarAhead);
            }
        }
        // Keys derived ahead stay tentative until the frame authenticates.
        let (pt, advance) = match chain.lookup(h.counter)? {
            Lookup::Known(k) => (frame::open_raw(k, h, bytes)?, None),
            Lookup::Ahead(k, adv) => (frame::open_raw(&k, h, bytes)?, Some(adv)),
        };
        let hb = &bytes[..HEADER_LEN];
        let mut genuine_voice = Vec::new();
        let opened = |payload, authenticity| Opened {
            sender,
            kind: h.kind,
            epoch: h.epoch,
            counter: h.counter,
            payload,
            authenticity,
        };
        let (payload, authenticity) = match h.kind {
            FrameKind::Voice => {
                let d = frame::frame_digest(bytes);
                match self.voice_in.record(sender, h.epoch, h.counter, d)? {
                    Recorded::Judged(Verdict::Forged) => return Err(OpenError::BadSignature),
                    Recorded::Judged(_) => (pt, Authenticity::Verified),
                    // Plays at once; moves no window and no chain.
                    Recorded::Pending => return Ok(opened(pt, Authenticity::Pending)),
                }
            }
            FrameKind::VoiceSig => {
                let b = voice::parse_batch(&pt)?;
                let msg = frame::voice_sig_message(&self.domain, hb, b.body);
                if !self
                    .keys
                    .verify(&sender, &msg, &Signature::from_bytes(&b.sig))
                {
                    return Err(OpenError::BadSignature);
                }
                genuine_voice = self.voice_in.on_batch(sender, h.epoch, b.first, b.digests);
                (Vec::new(), Authenticity::Verified)
            }
            _ => {
                let split = pt.len().checked_sub(SIG_LEN).ok_or(OpenError::Malformed)?;
                let authenticity = if via == Some(sender) {
                    Authenticity::Connection
                } else {
                    let mut sig = [0u8; SIG_LEN];
                    sig.copy_from_slice(&pt[split..]);
                    let msg = frame::frame_sig_message(&self.domain, hb, &pt[..split]);
                    if !self
                        .keys
                        .verify(&sender, &msg, &Signature::from_bytes(&sig))
                    {
                        return Err(OpenError::BadSignature);
                    }
                    Authenticity::Verified
                };
                let mut pt = pt;
                pt.truncate(split);
                (pt, authenticity)
            }
        };
        // Authenticated from here on: commit keys, window and replay floor.
        if let Some(adv) = advance {
            chain.commit(adv);
        }
        for c in genuine_voice.into_iter().chain([h.counter]) {
            if chain.window.check(c).is_ok() {
                chain.window.commit(c);
            }
            self.floors.reserve(sender, h.epoch, c);
        }
        Ok(opened(payload, authenticity))
    }
}
