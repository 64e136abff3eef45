//! `GroupSession`: the roster, our sender key, the keys received from other
//! members and their replay windows, tied together behind one sans-IO API.

mod persist;
mod session_floors;
mod sync;
mod types;

use rand_core::{CryptoRng, RngCore};

pub use crate::keyring::{
    AuthReport, Authenticity, Opened, ReplayFloor, SealedVoice, Verdict, MAX_PENDING_PER_SENDER,
    MAX_REPORTS, MAX_UNSIGNED_RUN,
};
pub use types::{MembershipChange, Rotation, SessionStats};

use crate::envelope::KeyEnvelope;
use crate::error::{EnvelopeError, OpenError, RosterError, SealError};
use crate::frame::{FrameHeader, FrameKind, DIGEST_LEN};
use crate::identity::{Identity, MemberId, ShortId};
use crate::keyring::{Floors, Opener, Received, Sealer, VerifyingKeys, VoiceVerifier};
use crate::roster::{Applied, GroupId, InviteUse, OpKind, Role, Roster, SignedOp};
use crate::sender_key::{OwnSenderKey, RotationPolicy, STEP};

/// Default number of voice frames per batch signature.
pub const DEFAULT_VOICE_BATCH: usize = 16;

/// One member's view of one group.
pub struct GroupSession {
    identity: Identity,
    /// Cached `identity.member_id().short_id()` (a SHA-256; off the hot path).
    my_short: ShortId,
    roster: Roster,
    policy: RotationPolicy,
    voice_batch: usize,
    own: OwnSenderKey,
    rotation_due: bool,
    received: Received,
    voice_out: Vec<(u32, [u8; DIGEST_LEN])>,
    voice_in: VoiceVerifier,
    /// Members' decompressed ed25519 keys (decompression is about a third
    /// of a signature check).
    keys: VerifyingKeys,
    /// Replay floors reserved ahead of accepted counters (see [`floors`]).
    floors: Floors,
    stats: SessionStats,
    /// False after a restart until a member's sync answer confirmed the
    /// roster: no key is sealed to anyone before (see `sync.rs`).
    roster_confirmed: bool,
}

impl std::fmt::Debug for GroupSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupSession")
            .field("group", &self.roster.group_id())
            .field("me", &self.identity.member_id())
            .field("epoch", &self.own.epoch)
            .finish_non_exhaustive()
    }
}

impl GroupSession {
    /// Creates a new group owned by `identity`. Returns the session and the
    /// create op (to persist / share).
    pub fn create<R: RngCore + CryptoRng>(
        identity: Identity,
        name: &str,
        now: u64,
        rng: &mut R,
    ) -> Result<(Self, SignedOp), RosterError> {
        let (roster, op) = Roster::create(&identity, name, now)?;
        Ok((Self::from_roster(identity, roster, now, rng), op))
    }

    /// Starts a session over an existing roster (e.g. after joining: the
    /// admin sent the ops; build it with [`Roster::from_ops`]).
    pub fn from_roster<R: RngCore + CryptoRng>(
        identity: Identity,
        roster: Roster,
        now: u64,
        rng: &mut R,
    ) -> Self {
        Self {
            my_short: identity.member_id().short_id(),
            identity,
            roster,
            policy: RotationPolicy::default(),
            voice_batch: DEFAULT_VOICE_BATCH,
            own: OwnSenderKey::new(0, now, rng),
            rotation_due: false,
            received: Received::default(),
            voice_out: Vec::new(),
            voice_in: VoiceVerifier::default(),
            keys: VerifyingKeys::default(),
            floors: Floors::default(),
            stats: SessionStats::default(),
            roster_confirmed: true,
        }
    }

    /// Sets the rotation policy.
    pub fn set_policy(&mut self, policy: RotationPolicy) {
        self.policy = policy;
    }

    /// Sets K, the voice frames per batch signature (1..=64).
    pub fn set_voice_batch(&mut self, k: usize) {
        self.voice_batch = k.clamp(1, 64);
    }

    /// Group id.
    pub fn group_id(&self) -> GroupId {
        self.roster.group_id()
    }

    /// Our member id.
    pub fn member_id(&self) -> MemberId {
        self.identity.member_id()
    }

    /// Our identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The roster (read-only; change it through [`Self::apply_op`] / [`Self::propose`]).
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// Rejection counters.
    pub fn stats(&self) -> SessionStats {
        let mut s = self.stats.clone();
        s.reports_dropped = self.voice_in.dropped_reports;
        s
    }

    /// Our current sender key epoch.
    pub fn epoch(&self) -> u16 {
        self.own.epoch
    }

    fn member_set(&self) -> Vec<MemberId> {
        self.roster.members().map(|(m, _)| m).collect()
    }

    fn after_change(&mut self, before: Vec<MemberId>, applied: Applied) -> MembershipChange {
        let after = self.member_set();
        let added: Vec<_> = after
            .iter()
            .filter(|m| before.binary_search(m).is_err())
            .copied()
            .collect();
        let removed: Vec<_> = before
            .iter()
            .filter(|m| after.binary_search(m).is_err())
            .copied()
            .collect();
        for m in &removed {
            self.received.peers.remove(m);
            self.voice_in.drop_sender(m);
            self.floors.forget_member(m);
            self.rotation_due = true;
            tracing::info!(member = %m, "member removed: keys dropped, rotation due");
        }
        MembershipChange {
            applied,
            added,
            removed,
        }
    }

    /// Applies a roster op received from a peer.
    pub fn apply_op(&mut self, op: SignedOp) -> Result<MembershipChange, RosterError> {
        let before = self.member_set();
        let applied = self.roster.apply(op)?;
        Ok(self.after_change(before, applied))
    }

    /// Proposes an op signed by us (applied locally; broadcast the returned op).
    pub fn propose(
        &mut self,
        kind: OpKind,
        now: u64,
    ) -> Result<(SignedOp, MembershipChange), RosterError> {
        let before = self.member_set();
        let id = &self.identity;
        let op = match kind {
            OpKind::Add {
                member,
                role,
                invite,
            } => self.roster.add(id, member, role, invite, now)?,
            OpKind::Remove { member } => self.roster.remove(id, member, now)?,
            OpKind::SetRole { member, role } => self.roster.set_role(id, member, role, now)?,
            OpKind::Leave => self.roster.leave(id, now)?,
            OpKind::TransferOwnership { to } => self.roster.transfer_ownership(id, to, now)?,
            OpKind::Create { .. } => return Err(RosterError::Malformed("second create")),
        };
        let change = self.after_change(before, Applied::New);
        Ok((op, change))
    }

    /// Adds a member (we must be owner/admin).
    pub fn add_member(
        &mut self,
        member: MemberId,
        role: Role,
        invite: Option<InviteUse>,
        now: u64,
    ) -> Result<SignedOp, RosterError> {
        let kind = OpKind::Add {
            member,
            role,
            invite,
        };
        self.propose(kind, now).map(|(op, _)| op)
    }

    /// Removes a member (we must be owner/admin); a rotation becomes due.
    pub fn remove_member(&mut self, member: MemberId, now: u64) -> Result<SignedOp, RosterError> {
        self.propose(OpKind::Remove { member }, now)
            .map(|(op, _)| op)
    }

    /// Whether we should rotate now: a member left or was removed since the
    /// last rotation, or the policy's age/volume limit is reached.
    pub fn needs_rotation(&self, now: u64) -> bool {
        self.rotation_due
            || now.saturating_sub(self.own.created_at_ms) >= self.policy.max_age_ms
            || self.own.next_counter >= self.policy.max_frames
    }

    /// Starts a new sender key epoch and seals it to nobody: for a session
    /// that has sent nothing yet (just joined), whose key goes out member by
    /// member with [`Self::envelope_for`]. [`Self::rotate`] seals it to all.
    pub fn start_epoch<R: RngCore + CryptoRng>(
        &mut self,
        now: u64,
        rng: &mut R,
    ) -> Result<u16, EnvelopeError> {
        let epoch = self
            .own
            .epoch
            .checked_add(1)
            .ok_or(EnvelopeError::EpochExhausted)?;
        self.own = OwnSenderKey::new(epoch, now, rng);
        self.rotation_due = false;
        Ok(epoch)
    }

    /// Starts a new sender key epoch and seals it to every other current member.
    pub fn rotate<R: RngCore + CryptoRng>(
        &mut self,
        now: u64,
        rng: &mut R,
    ) -> Result<Rotation, EnvelopeError> {
        let final_sig_frame = self.flush_voice_sig().ok().flatten();
        let epoch = self.start_epoch(now, rng)?;
        let me = self.member_id();
        let share = self.own.share();
        let group = self.group_id();
        let mut envelopes = Vec::new();
        for (m, _) in self.roster.members() {
            if m == me || !self.roster_confirmed {
                continue;
            }
            // One bad recipient must not stop everyone else getting the key.
            match KeyEnvelope::seal(&self.identity, group, m, &share, rng) {
                Ok(e) => envelopes.push(e),
                Err(e) => tracing::warn!(member = %m, error = %e, "no envelope for member"),
            }
        }
        tracing::debug!(epoch, recipients = envelopes.len(), "sender key rotated");
        Ok(Rotation {
            epoch,
            envelopes,
            final_sig_frame,
        })
    }

    /// Seals our current key for `member` (new member, or one that asked).
    /// Moves our chain to the next step first, so the recipient cannot read
    /// frames we already sent.
    pub fn envelope_for<R: RngCore + CryptoRng>(
        &mut self,
        member: MemberId,
        rng: &mut R,
    ) -> Result<KeyEnvelope, EnvelopeError> {
        if !self.roster.is_member(&member) || member == self.member_id() {
            return Err(EnvelopeError::RecipientNotMember);
        }
        if !self.roster_confirmed {
            return Err(EnvelopeError::RosterUnconfirmed);
        }
        let share = self.own.share_next_step();
        KeyEnvelope::seal(&self.identity, self.group_id(), member, &share, rng)
    }

    /// Accepts a key envelope addressed to us from a current member.
    /// Returns the epoch installed (or moved forward), or `None` if it was
    /// stale or already known.
    pub fn accept_envelope(&mut self, env: &KeyEnvelope) -> Result<Option<u16>, EnvelopeError> {
        self.accept_envelope_from(env, None)
    }

    /// As [`Self::accept_envelope`], for an envelope handed to us by `via`:
    /// a member whose key the transport authenticated. When `via` is the
    /// envelope's sender (its own key request answer or direct delivery),
    /// the connection proves who made it and the signature is not checked
    /// again, as for frames ([`Authenticity::Connection`]).
    pub fn accept_envelope_from(
        &mut self,
        env: &KeyEnvelope,
        via: Option<MemberId>,
    ) -> Result<Option<u16>, EnvelopeError> {
        let r = self.accept_inner(env, via);
        if let Err(e) = &r {
            self.stats.envelopes_refused += 1;
            tracing::debug!(error = %e, "key envelope refused");
        }
        r
    }

    fn accept_inner(
        &mut self,
        env: &KeyEnvelope,
        via: Option<MemberId>,
    ) -> Result<Option<u16>, EnvelopeError> {
        if env.group != self.group_id() {
            return Err(EnvelopeError::WrongGroup);
        }
        if !self.roster.is_member(&env.sender) || env.sender == self.member_id() {
            return Err(EnvelopeError::NotAMember);
        }
        let opened = env.open_via(&self.identity, via)?;
        Ok(self
            .received
            .install(env.sender, &opened.share, &mut self.floors))
    }

    fn sealer(&mut self) -> Sealer<'_> {
        let domain = self.roster.group_id();
        Sealer {
            own: &mut self.own,
            voice_out: &mut self.voice_out,
            identity: &self.identity,
            domain,
            room: domain.room(),
            me: self.my_short,
        }
    }

    /// Seals a location, chat or control frame (signed by us).
    pub fn seal(
        &mut self,
        kind: FrameKind,
        payload: &[u8],
        _now: u64,
    ) -> Result<Vec<u8>, SealError> {
        if !self.roster.is_member(&self.member_id()) {
            return Err(SealError::NotAMember);
        }
        self.sealer().seal_signed(kind, payload)
    }

    /// Seals a voice frame; every K frames also returns the batch signature.
    pub fn seal_voice(&mut self, payload: &[u8], _now: u64) -> Result<SealedVoice, SealError> {
        if !self.roster.is_member(&self.member_id()) {
            return Err(SealError::NotAMember);
        }
        let batch = self.voice_batch;
        self.sealer().seal_voice(payload, batch)
    }

    /// Emits the batch signature for voice frames not yet covered (call at
    /// the end of a talk spurt so the last frames verify promptly).
    pub fn flush_voice_sig(&mut self) -> Result<Option<Vec<u8>>, SealError> {
        self.sealer().flush_voice_sig()
    }

    /// Opens a frame from another member.
    pub fn open(&mut self, frame: &[u8], now: u64) -> Result<Opened, OpenError> {
        self.open_from(frame, now, None)
    }

    /// Opens a frame handed to us by `via`: a member whose key the transport
    /// authenticated (the Noise or TLS handshake of the connection it came
    /// on proved that peer holds it). When `via` is the frame's sender, the
    /// connection proves who wrote it and the frame's own signature is not
    /// checked again ([`Authenticity::Connection`]); a frame anyone else
    /// forwards is checked as by [`Self::open`].
    pub fn open_from(
        &mut self,
        frame: &[u8],
        _now: u64,
        via: Option<MemberId>,
    ) -> Result<Opened, OpenError> {
        let r = self.open_inner(frame, via);
        match &r {
            Ok(_) => self.stats.opened += 1,
            Err(e) => {
                self.stats.rejected += 1;
                match e {
                    OpenError::Replay => self.stats.replays += 1,
                    OpenError::Decrypt => self.stats.decrypt_failures += 1,
                    OpenError::BadSignature => self.stats.bad_signatures += 1,
                    _ => {}
                }
                tracing::trace!(error = %e, "frame rejected");
            }
        }
        r
    }

    fn open_inner(&mut self, bytes: &[u8], via: Option<MemberId>) -> Result<Opened, OpenError> {
        let h = FrameHeader::parse(bytes)?;
        let group = self.group_id();
        if h.room != group.room() {
            return Err(OpenError::UnknownGroup);
        }
        let sender = self
            .roster
            .member_by_short_id(h.sender)
            .ok_or(OpenError::UnknownSender)?;
        if sender == self.member_id() {
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
            domain: group,
        }
        .open(chain, sender, &h, bytes, via)
    }

    /// The newest receiver chain held for `m` (used by the test adversary).
    #[cfg(feature = "test-adversary")]
    pub(crate) fn newest_chain_of(
        &self,
        m: &MemberId,
    ) -> Option<&crate::sender_key::ReceiverChain> {
        self.received.peers.get(m).and_then(|c| c.last())
    }

    /// Drains verdicts on earlier voice frames (verified, forged, unverified).
    pub fn take_auth_reports(&mut self) -> Vec<AuthReport> {
        self.voice_in.take_reports()
    }

    /// Frames per ratchet step (forward secrecy granularity).
    pub const STEP_FRAMES: u32 = STEP;
}
