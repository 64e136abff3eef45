//! One member's side of a room (sans-IO): its view of the room state, its
//! keys, and what it must send in answer to what the relay delivers.
//!
//! The view is rebuilt from the relay's `welcome` and kept by applying
//! each op in the order received with the relay's `accepted_ms` as the
//! clock: signatures and roles are checked here again, so a relay cannot
//! seat, mute or kick on anyone's behalf. An op that does not apply to the
//! view (about an audience member it never saw) is skipped and counted.
//! The host seals the room key to each joiner and rotates it after each
//! departure; a seated member hands its sender key to the room when it
//! takes its seat and again under every new room key.

use std::collections::VecDeque;

use aura_billing::signed::SignedReceipt;
use aura_crypto::room::chat::{ChatLine, MAX_CHAT_GIFT};
use aura_crypto::room::{
    Admission, RoomChange, RoomId, RoomKeyAuthority, RoomOp, RoomOpKind, RoomSession, RoomState,
    SignedRoomOp, SpeakerKey,
};
use aura_crypto::{Identity, KeyEnvelope, MemberId, Opened};
use aura_media::room_control::{ClientMsg, RelayLoad, ServerMsg, MAX_RELAYS};
use ed25519_dalek::VerifyingKey;
use rand::rngs::OsRng;

use super::admission::ViewAdmission;
use super::error::RoomsError;
use super::event::RoomEvent;
use super::journal::Journal;
use crate::gift;

/// Most events and outgoing messages queued before the driver drains them.
pub const MAX_QUEUED: usize = 4_096;

/// One member's room.
pub struct RoomClient {
    identity: Identity,
    room: RoomId,
    view: Option<RoomState>,
    session: Option<RoomSession>,
    authority: Option<RoomKeyAuthority>,
    admission: Box<dyn Admission + Send>,
    last_at: u64,
    out: VecDeque<ClientMsg>,
    events: VecDeque<RoomEvent>,
    skipped: u64,
    /// Speaker keys under a room key we do not hold yet (it is on its way).
    early_keys: Vec<SpeakerKey>,
    /// The room's relays and their loads, as last told.
    relays: Vec<RelayLoad>,
    /// Welcomed again (a reconnection or a move to another relay): the
    /// log is replayed into a new view up to this sequence number without
    /// touching our keys (the speakers' chains and floors stay).
    replaying: Option<u64>,
    /// The billing ledger's key, pinned in the node's config: gift
    /// receipts shown in the room are checked with it.
    ledger: Option<VerifyingKey>,
    /// The host's journal of the room, to restore it at another relay if
    /// its origin stops.
    journal: Option<Journal>,
}

// A receipt the node accepts from the ledger fits a chat line.
const _: () = assert!(crate::gift::MAX_RECEIPT_BYTES <= MAX_CHAT_GIFT);

/// Speaker keys kept until their room key arrives.
const MAX_EARLY_KEYS: usize = 32;

impl std::fmt::Debug for RoomClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomClient")
            .field("room", &self.room)
            .finish_non_exhaustive()
    }
}

impl RoomClient {
    /// The host's side of a room it creates with `create` (signed by it).
    pub fn host(identity: Identity, create: &SignedRoomOp) -> Result<Self, RoomsError> {
        let room = create
            .created_room()
            .ok_or(RoomsError::BadInput("not a create op"))?;
        let mut c = Self::member(identity.clone(), room);
        c.authority = Some(RoomKeyAuthority::new(identity, room, &mut OsRng));
        c.last_at = create.op().at_ms;
        Ok(c)
    }

    /// A member's side of room `room` (joining, or holding a seat).
    pub fn member(identity: Identity, room: RoomId) -> Self {
        Self {
            identity,
            room,
            view: None,
            session: None,
            authority: None,
            admission: Box::new(ViewAdmission::default()),
            last_at: 0,
            out: VecDeque::new(),
            events: VecDeque::new(),
            skipped: 0,
            early_keys: Vec::new(),
            relays: Vec::new(),
            replaying: None,
            ledger: None,
            journal: None,
        }
    }

    /// Pins the billing ledger's key: VIP tokens in joins and gift receipts
    /// in the chat are checked with it (without it, VIP is taken on the
    /// relay's word and gifts are not shown).
    pub fn set_ledger(&mut self, ledger: Option<VerifyingKey>) {
        self.ledger = ledger;
        self.admission = Box::new(ViewAdmission { ledger });
    }

    /// What our view admits (by default: group membership and VIP tokens
    /// as the relay decided, see [`ViewAdmission`]); the host of a group
    /// room checks joiners against the roster before sealing the room key.
    pub fn set_admission(&mut self, admission: Box<dyn Admission + Send>) {
        self.admission = admission;
    }

    /// The room.
    pub fn room(&self) -> RoomId {
        self.room
    }

    /// Our view of the room's state, once welcomed.
    pub fn view(&self) -> Option<&RoomState> {
        self.view.as_ref()
    }

    /// The room's relays (origin first) and their loads, as last told.
    pub fn relays(&self) -> &[RelayLoad] {
        &self.relays
    }

    /// Ops received that did not apply to our view.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Our room key epoch, once we hold one.
    pub fn room_epoch(&self) -> Option<u16> {
        self.session.as_ref().and_then(RoomSession::room_epoch)
    }

    /// Signs an op of ours at `now_ms` (strictly after our previous one).
    pub fn op(&mut self, kind: RoomOpKind, now_ms: u64) -> Result<ClientMsg, RoomsError> {
        let at_ms = now_ms.max(self.last_at + 1);
        let room = if matches!(kind, RoomOpKind::Create { .. }) {
            RoomId::default()
        } else {
            self.room
        };
        let op = RoomOp {
            room,
            author: self.identity.member_id(),
            at_ms,
            kind,
        }
        .sign(&self.identity)?;
        self.last_at = at_ms;
        Ok(ClientMsg::Op(op.encode()?))
    }

    /// The relay says `member` has been away too long: as the host, we
    /// remove it with a signed kick (it may join again), so it holds no
    /// seat and is sealed no new room key. A relay that lies about it
    /// can only do what it could already: stop serving the member.
    fn on_absent(&mut self, member: MemberId, now_ms: u64) -> Result<(), RoomsError> {
        let present = self.view.as_ref().is_some_and(|v| v.is_present(&member));
        if self.authority.is_none() || !present || member == self.identity.member_id() {
            return Ok(());
        }
        tracing::info!(%member, "absent member removed from the room");
        let kick = self.op(RoomOpKind::Kick { member }, now_ms)?;
        self.push_out(kick);
        Ok(())
    }

    /// Takes the next message to send to the relay.
    pub fn poll_out(&mut self) -> Option<ClientMsg> {
        self.out.pop_front()
    }

    /// Takes the next event for the app.
    pub fn poll_event(&mut self) -> Option<RoomEvent> {
        self.events.pop_front()
    }

    fn push_out(&mut self, m: ClientMsg) {
        if self.out.len() < MAX_QUEUED {
            self.out.push_back(m);
        }
    }

    fn event(&mut self, e: RoomEvent) {
        if self.events.len() >= MAX_QUEUED {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    /// Handles what the relay delivered.
    pub fn on_server(&mut self, msg: ServerMsg, now_ms: u64) -> Result<(), RoomsError> {
        if let Some(next) = self.replaying {
            if !matches!(msg, ServerMsg::Op { seq, .. } if seq < next) {
                self.replaying = None;
                self.sync_speakers();
            }
        }
        match msg {
            ServerMsg::Welcome { room, next_seq } if room == self.room => {
                self.view = None;
                if self.session.is_some() {
                    self.replaying = Some(next_seq);
                }
                Ok(())
            }
            ServerMsg::Welcome { .. } => Err(RoomsError::BadInput("welcome for another room")),
            ServerMsg::Op {
                accepted_ms, op, ..
            } => self.on_op(&SignedRoomOp::decode(&op)?, &op, accepted_ms, now_ms),
            ServerMsg::Envelope(b) => {
                let env = KeyEnvelope::decode(&b).map_err(aura_crypto::room::RoomError::from)?;
                let session = self.session.as_mut().ok_or(RoomsError::NotWelcomed)?;
                let before = session.room_epoch();
                let epoch = session.accept_room_key(&env)?;
                if before.is_none_or(|b| epoch > b) {
                    for key in std::mem::take(&mut self.early_keys) {
                        if let Err(e) = session.accept_speaker_key(&key) {
                            tracing::debug!(error = %e, "early speaker key refused");
                        }
                    }
                    self.on_new_room_key(now_ms)?;
                }
                Ok(())
            }
            ServerMsg::SpeakerKey(b) => {
                let key = SpeakerKey::decode(&b)?;
                tracing::debug!(speaker = %key.speaker, room_epoch = key.room_epoch, sender_epoch = key.sender_epoch, "speaker key received");
                let session = self.session.as_mut().ok_or(RoomsError::NotWelcomed)?;
                match session.accept_speaker_key(&key) {
                    Err(aura_crypto::room::RoomError::UnknownEpoch)
                        if session.room_epoch().is_none_or(|e| key.room_epoch > e) =>
                    {
                        if self.early_keys.len() < MAX_EARLY_KEYS {
                            self.early_keys.push(key);
                        }
                        Ok(())
                    }
                    r => r.map(|_| ()).map_err(Into::into),
                }
            }
            ServerMsg::Chat { author, sealed, .. } => {
                self.event(RoomEvent::Chat {
                    from: author,
                    sealed,
                });
                Ok(())
            }
            ServerMsg::Refused { at_ms, code, .. } => {
                self.event(RoomEvent::Refused { at_ms, code });
                Ok(())
            }
            ServerMsg::Relays { room, mut relays } if room == self.room => {
                relays.truncate(MAX_RELAYS);
                self.relays = relays;
                Ok(())
            }
            ServerMsg::Relays { .. } => Err(RoomsError::BadInput("relays of another room")),
            ServerMsg::Absent(room, member) if room == self.room => self.on_absent(member, now_ms),
            ServerMsg::Absent(..) => Err(RoomsError::BadInput("absence in another room")),
            ServerMsg::To(..)
            | ServerMsg::Fan(..)
            | ServerMsg::Admit(..)
            | ServerMsg::Expel(..)
            | ServerMsg::Closed(_) => Err(RoomsError::BadInput("a relay's cascade message")),
        }
    }

    fn on_op(
        &mut self,
        op: &SignedRoomOp,
        bytes: &[u8],
        accepted_ms: u64,
        now_ms: u64,
    ) -> Result<(), RoomsError> {
        let Some(view) = self.view.as_mut() else {
            let state = RoomState::create(op)?;
            if state.id() != self.room {
                return Err(RoomsError::BadInput("create op of another room"));
            }
            let host = state.host();
            self.view = Some(state);
            if self.session.is_none() {
                if self.authority.is_some() {
                    self.journal = Some(Journal::new(accepted_ms, bytes.to_vec()));
                }
                let me = self.identity.clone();
                let mut s = RoomSession::new(me, self.room, host, now_ms, &mut OsRng);
                if let Some(a) = &self.authority {
                    s.accept_room_key(&a.envelope_for(self.identity.member_id(), &mut OsRng)?)?;
                }
                self.session = Some(s);
            }
            self.event(RoomEvent::Welcomed);
            return Ok(());
        };
        let change = match view.apply(op, accepted_ms, self.admission.as_ref()) {
            Ok(c) => c,
            Err(e) => {
                self.skipped += 1;
                tracing::debug!(error = %e, "room op skipped by our view");
                return Ok(());
            }
        };
        if self.replaying.is_some() {
            return Ok(()); // seen before: the keys and the journal followed it
        }
        if let Some(j) = self.journal.as_mut() {
            j.record(&change, &op.op().kind, accepted_ms, bytes);
        }
        self.sync_speakers();
        let me = self.identity.member_id();
        match &change {
            RoomChange::Joined(m) if *m != me => {
                if let Some(a) = &self.authority {
                    let env = a.envelope_for(*m, &mut OsRng)?;
                    self.push_out(ClientMsg::Envelope(env.encode()));
                }
            }
            RoomChange::Departed { member, .. } => {
                if let Some(s) = self.session.as_mut() {
                    s.member_departed(member);
                }
                if *member != me {
                    self.rotate_room_key(now_ms)?;
                }
            }
            RoomChange::Seated(_, Some(m)) if *m == me => self.send_speaker_key()?,
            _ => {}
        }
        self.event(RoomEvent::Changed(change));
        Ok(())
    }

    /// Host: a new room key for everyone still present (after a departure).
    fn rotate_room_key(&mut self, now_ms: u64) -> Result<(), RoomsError> {
        let (Some(a), Some(view)) = (self.authority.as_mut(), self.view.as_ref()) else {
            return Ok(());
        };
        let members: Vec<MemberId> = view.members().map(|(m, _)| *m).collect();
        let me = self.identity.member_id();
        for env in a.rotate(members, &mut OsRng)? {
            if env.recipient == me {
                if let Some(s) = self.session.as_mut() {
                    s.accept_room_key(&env)?;
                }
            } else {
                self.push_out(ClientMsg::Envelope(env.encode()));
            }
        }
        self.on_new_room_key(now_ms)
    }

    /// Under a new room key a seated member starts a new sender epoch.
    fn on_new_room_key(&mut self, now_ms: u64) -> Result<(), RoomsError> {
        if !self.is_seated() {
            return Ok(());
        }
        if let Some(s) = self.session.as_mut() {
            s.rotate_sender_key(now_ms, &mut OsRng)?;
        }
        self.send_speaker_key()
    }

    fn send_speaker_key(&mut self) -> Result<(), RoomsError> {
        let Some(s) = self.session.as_mut() else {
            return Ok(());
        };
        if s.room_epoch().is_none() {
            return Ok(()); // sent when the room key arrives
        }
        let key = s.speaker_key(&mut OsRng)?;
        tracing::debug!(
            room_epoch = key.room_epoch,
            sender_epoch = key.sender_epoch,
            "speaker key sent"
        );
        self.push_out(ClientMsg::SpeakerKey(key.encode()));
        Ok(())
    }

    fn sync_speakers(&mut self) {
        if let (Some(v), Some(s)) = (self.view.as_ref(), self.session.as_mut()) {
            // Every seated member, muted or not: a muted speaker's chain is
            // kept for when it unmutes (the relay stops its frames meanwhile).
            let seated: Vec<MemberId> = v.seats().iter().filter_map(|x| x.occupant).collect();
            s.set_speakers(seated);
        }
    }

    /// We joined again through another relay: a seated member sends its
    /// speaker key there too (one sent just before the move may have been
    /// lost with the old relay's connection, and listeners could then open
    /// none of our frames).
    pub fn moved(&mut self) -> Result<(), RoomsError> {
        if self.is_seated() {
            self.send_speaker_key()?;
        }
        Ok(())
    }

    /// As the host: the messages that restore the room at another relay
    /// (its journal), once welcomed; `None` for a member, or a journal
    /// too long to restore whole.
    pub fn restore_msgs(&self) -> Option<Vec<ClientMsg>> {
        self.journal.as_ref()?.restore(self.room)
    }

    /// Whether we are the room's host.
    pub fn is_host(&self) -> bool {
        self.authority.is_some()
    }

    /// Whether we hold a seat.
    pub fn is_seated(&self) -> bool {
        let me = self.identity.member_id();
        self.view.as_ref().is_some_and(|v| v.seat_of(&me).is_some())
    }

    /// Seals one voice payload of ours (we must be seated): the frame and,
    /// every few frames, a batch signature.
    pub fn seal_voice(&mut self, payload: &[u8]) -> Result<Vec<Vec<u8>>, RoomsError> {
        let s = self.session.as_mut().ok_or(RoomsError::NotWelcomed)?;
        let v = s.seal_voice(payload)?;
        Ok(std::iter::once(v.frame).chain(v.sig_frame).collect())
    }

    /// Seals a line of chat for the room.
    pub fn seal_chat(&self, text: &str) -> Result<ClientMsg, RoomsError> {
        self.seal_line(&ChatLine::Text(text.to_owned()))
    }

    /// Seals a gift receipt of ours for the room's chat (checked first:
    /// it must name us as sender and this room).
    pub fn seal_gift(&self, receipt: &SignedReceipt) -> Result<ClientMsg, RoomsError> {
        let room = gift::voice_room_id(&self.room);
        gift::check_signed_in(
            receipt,
            self.ledger.as_ref(),
            &room,
            self.identity.member_id(),
        )?;
        self.seal_line(&ChatLine::Gift(gift::encode_receipt(receipt)?))
    }

    fn seal_line(&self, line: &ChatLine) -> Result<ClientMsg, RoomsError> {
        let s = self.session.as_ref().ok_or(RoomsError::NotWelcomed)?;
        Ok(ClientMsg::Chat(self.room, s.seal_line(line, &mut OsRng)?))
    }

    /// Seals `bytes` as a gift line without any check (adversarial tests:
    /// a member showing a receipt it did not pay for).
    #[cfg(feature = "test-hooks")]
    pub fn seal_unchecked_gift(&self, bytes: Vec<u8>) -> Result<ClientMsg, RoomsError> {
        self.seal_line(&ChatLine::Gift(bytes))
    }

    /// Opens a line of chat by `from`: what it said, or the gift it
    /// sent (its receipt checked with the pinned ledger key: signed by
    /// the ledger, for this room, paid by `from`).
    pub fn open_line(&self, from: &MemberId, sealed: &[u8]) -> Result<RoomEvent, RoomsError> {
        let s = self.session.as_ref().ok_or(RoomsError::NotWelcomed)?;
        Ok(match s.open_line(from, sealed)? {
            ChatLine::Text(text) => RoomEvent::Said { from: *from, text },
            ChatLine::Gift(bytes) => {
                let room = gift::voice_room_id(&self.room);
                let receipt = gift::check_receipt_in(&bytes, self.ledger.as_ref(), &room, *from)?;
                RoomEvent::Gift {
                    from: *from,
                    receipt: Box::new(receipt),
                }
            }
        })
    }

    /// Opens a frame the relay forwarded.
    pub fn open(&mut self, frame: &[u8]) -> Result<Opened, RoomsError> {
        let s = self.session.as_mut().ok_or(RoomsError::NotWelcomed)?;
        Ok(s.open(frame)?)
    }
}
