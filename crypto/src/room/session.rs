//! One member's keys in one room: the room keys received from the host,
//! the sender keys of the seated speakers, and, when seated, our own sender
//! key. Voice is sealed and opened as in a group (batch-signed, replay
//! windows), with the room's id in the frame header.

use std::collections::HashMap;

use rand_core::{CryptoRng, RngCore};

use super::error::RoomError;
use super::id::RoomId;
use super::keys::{envelope_domain, SpeakerKey};
use crate::envelope::KeyEnvelope;
use crate::error::{EnvelopeError, OpenError, SealError};
use crate::frame::{FrameHeader, FrameKind, DIGEST_LEN};
use crate::group::DEFAULT_VOICE_BATCH;
use crate::identity::{Identity, MemberId, ShortId};
use crate::keyring::{
    AuthReport, Floors, Opened, Opener, Received, SealedVoice, Sealer, VerifyingKeys, VoiceVerifier,
};
use crate::sender_key::{Key32, OwnSenderKey};

/// Room epochs whose keys a member keeps (current and previous, so speaker
/// keys that cross a rotation still open).
const ROOM_EPOCHS_KEPT: usize = 2;
/// Departed members remembered (see [`RoomSession::member_departed`]).
const MAX_DEPARTED_REMEMBERED: usize = 4_096;

/// A member's view of one room's keys.
pub struct RoomSession {
    identity: Identity,
    my_short: ShortId,
    room: RoomId,
    host: MemberId,
    room_keys: Vec<(u16, Key32)>,
    speakers: HashMap<ShortId, MemberId>,
    own: OwnSenderKey,
    voice_out: Vec<(u32, [u8; DIGEST_LEN])>,
    received: Received,
    voice_in: VoiceVerifier,
    keys: VerifyingKeys,
    floors: Floors,
    /// Per departed speaker, the newest room epoch held when it departed:
    /// after it rejoins, only its keys sealed under a later room epoch count.
    departed_at: HashMap<MemberId, u16>,
}

impl std::fmt::Debug for RoomSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomSession")
            .field("room", &self.room)
            .field("me", &self.identity.member_id())
            .finish_non_exhaustive()
    }
}

impl RoomSession {
    /// Starts with no room key yet (the host's envelope brings it).
    pub fn new<R: RngCore + CryptoRng>(
        identity: Identity,
        room: RoomId,
        host: MemberId,
        now: u64,
        rng: &mut R,
    ) -> Self {
        Self {
            my_short: identity.member_id().short_id(),
            identity,
            room,
            host,
            room_keys: Vec::new(),
            speakers: HashMap::new(),
            own: OwnSenderKey::new(0, now, rng),
            voice_out: Vec::new(),
            received: Received::default(),
            voice_in: VoiceVerifier::default(),
            keys: VerifyingKeys::default(),
            floors: Floors::default(),
            departed_at: HashMap::new(),
        }
    }

    /// Our member id.
    pub fn member_id(&self) -> MemberId {
        self.identity.member_id()
    }

    /// The room.
    pub fn room_id(&self) -> RoomId {
        self.room
    }

    pub(super) fn newest_room_key(&self) -> Option<(u16, &Key32)> {
        self.room_keys.last().map(|(e, k)| (*e, k))
    }

    pub(super) fn room_key(&self, epoch: u16) -> Option<&Key32> {
        self.room_keys
            .iter()
            .find(|(e, _)| *e == epoch)
            .map(|(_, k)| k)
    }

    pub(super) fn sign(&self, msg: &[u8]) -> ed25519_dalek::Signature {
        self.identity.sign(msg)
    }

    /// The newest room epoch held.
    pub fn room_epoch(&self) -> Option<u16> {
        self.room_keys.last().map(|(e, _)| *e)
    }

    /// Our sender key epoch.
    pub fn sender_epoch(&self) -> u16 {
        self.own.epoch
    }

    /// Accepts the host's envelope carrying a room key. Returns its epoch.
    pub fn accept_room_key(&mut self, env: &KeyEnvelope) -> Result<u16, RoomError> {
        if env.group != envelope_domain(&self.room) {
            return Err(EnvelopeError::WrongGroup.into());
        }
        if env.sender != self.host {
            return Err(EnvelopeError::NotAMember.into());
        }
        let share = env.open(&self.identity)?.share;
        if self.room_epoch().is_some_and(|e| share.epoch <= e) {
            return Ok(share.epoch);
        }
        self.room_keys.push((share.epoch, share.chain));
        if self.room_keys.len() > ROOM_EPOCHS_KEPT {
            self.room_keys.remove(0);
        }
        Ok(share.epoch)
    }

    /// Sets who is seated (from [`RoomState::speakers`](super::RoomState)
    /// or its seats): only their frames and keys are accepted. Chains of
    /// speakers no longer seated are dropped.
    pub fn set_speakers(&mut self, speakers: impl IntoIterator<Item = MemberId>) {
        self.speakers = speakers.into_iter().map(|m| (m.short_id(), m)).collect();
        let seated: Vec<MemberId> = self.speakers.values().copied().collect();
        self.received.peers.retain(|m, _| seated.contains(m));
    }

    /// Our sender key for the whole room, sealed under the newest room key.
    /// Moves our chain to its next step first, so a holder of this message
    /// reads nothing we sent before it.
    pub fn speaker_key<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
    ) -> Result<SpeakerKey, RoomError> {
        let (epoch, key) = self.room_keys.last().ok_or(RoomError::UnknownEpoch)?;
        let share = self.own.share_next_step();
        SpeakerKey::seal(&self.identity, self.room, *epoch, key, &share, rng)
    }

    /// Starts a new sender epoch (after a departure; then send
    /// [`Self::speaker_key`] under the new room key). Returns the batch
    /// signature closing the old epoch's voice, if any.
    pub fn rotate_sender_key<R: RngCore + CryptoRng>(
        &mut self,
        now: u64,
        rng: &mut R,
    ) -> Result<Option<Vec<u8>>, RoomError> {
        let last_sig = self.flush_voice_sig().ok().flatten();
        let epoch = self
            .own
            .epoch
            .checked_add(1)
            .ok_or(EnvelopeError::EpochExhausted)?;
        self.own = OwnSenderKey::new(epoch, now, rng);
        Ok(last_sig)
    }

    /// A member left, was kicked or banned (a
    /// [`RoomChange::Departed`](super::RoomChange)): its chains and the
    /// newest sender epoch we saw from it are forgotten, so when it rejoins
    /// with a fresh session (sender epoch 0 again) listeners hear it. Only
    /// its speaker keys sealed under a room epoch newer than the one we hold
    /// now count from here on: the host rotates the room key after every
    /// departure, so a speaker key of its earlier stay, replayed, is refused.
    pub fn member_departed(&mut self, member: &MemberId) {
        self.received.peers.remove(member);
        self.received.highest_epoch.remove(member);
        self.floors.forget_member(member);
        self.departed_at
            .insert(*member, self.room_epoch().unwrap_or(0));
        if self.departed_at.len() > MAX_DEPARTED_REMEMBERED {
            // Oldest room epochs first: those no longer open anything anyway.
            let held = self.room_keys.first().map_or(0, |(e, _)| *e);
            self.departed_at.retain(|_, e| *e >= held);
        }
    }

    /// Installs a seated speaker's sender key. Returns the sender epoch
    /// installed, or `None` if stale or already known.
    pub fn accept_speaker_key(&mut self, msg: &SpeakerKey) -> Result<Option<u16>, RoomError> {
        if msg.room != self.room {
            return Err(RoomError::WrongRoom);
        }
        if self.speakers.get(&msg.speaker.short_id()) != Some(&msg.speaker) {
            return Err(RoomError::NotASpeaker);
        }
        msg.verify()?;
        if self
            .departed_at
            .get(&msg.speaker)
            .is_some_and(|e| msg.room_epoch <= *e)
        {
            return Err(RoomError::UnknownEpoch);
        }
        let (_, key) = self
            .room_keys
            .iter()
            .find(|(e, _)| *e == msg.room_epoch)
            .ok_or(RoomError::UnknownEpoch)?;
        let share = msg.open(key)?;
        Ok(self.received.install(msg.speaker, &share, &mut self.floors))
    }

    fn sealer(&mut self) -> Sealer<'_> {
        Sealer {
            own: &mut self.own,
            voice_out: &mut self.voice_out,
            identity: &self.identity,
            domain: envelope_domain(&self.room),
            room: self.room.header_id(),
            me: self.my_short,
        }
    }

    /// Seals a voice frame (we must be seated); every
    /// [`DEFAULT_VOICE_BATCH`] frames also the batch signature.
    pub fn seal_voice(&mut self, payload: &[u8]) -> Result<SealedVoice, SealError> {
        if !self.speakers.contains_key(&self.my_short) {
            return Err(SealError::NotAMember);
        }
        self.sealer().seal_voice(payload, DEFAULT_VOICE_BATCH)
    }

    /// The batch signature over voice frames not yet covered.
    pub fn flush_voice_sig(&mut self) -> Result<Option<Vec<u8>>, SealError> {
        self.sealer().flush_voice_sig()
    }

    /// Opens a voice or batch-signature frame from a seated speaker.
    pub fn open(&mut self, bytes: &[u8]) -> Result<Opened, OpenError> {
        let h = FrameHeader::parse(bytes)?;
        if h.room != self.room.header_id() {
            return Err(OpenError::UnknownGroup);
        }
        if !matches!(h.kind, FrameKind::Voice | FrameKind::VoiceSig) {
            return Err(OpenError::Malformed);
        }
        let sender = *self
            .speakers
            .get(&h.sender)
            .ok_or(OpenError::UnknownSender)?;
        if sender == self.identity.member_id() {
            return Err(OpenError::OwnFrame);
        }
        let chain = self
            .received
            .chain_mut(&sender, h.epoch)
            .ok_or(OpenError::UnknownEpoch)?;
        Opener {
            voice_in: &mut self.voice_in,
            keys: &mut self.keys,
            floors: &mut self.floors,
            domain: envelope_domain(&self.room),
        }
        .open(chain, sender, &h, bytes, None)
    }

    /// Drains verdicts on earlier voice frames (verified, forged, unverified).
    pub fn take_auth_reports(&mut self) -> Vec<AuthReport> {
        self.voice_in.take_reports()
    }
}
