//! The relay's rooms (sans-IO): applies members' signed ops with the
//! shared [`RoomState`], sequences them and says who receives what.

use std::collections::{HashMap, HashSet};

use aura_crypto::room::{
    Admission, RoomChange, RoomError, RoomId, RoomOpKind, RoomState, SignedRoomOp, SpeakerKey,
    FRESH_MS,
};
use aura_crypto::{KeyEnvelope, MemberId};

use super::absence::Absence;
use super::error::HubError;
use aura_media::room_control::{ClientMsg, ServerMsg};

/// Bounds of the rooms a relay serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubLimits {
    /// Rooms at once.
    pub max_rooms: usize,
    /// Members present in one room.
    pub members_per_room: usize,
    /// Ops in a room's listener log (create, seats, roles, removals of
    /// seated members); a room whose log is full takes no more of them.
    pub max_log: usize,
    /// Rooms one member may create.
    pub rooms_per_host: usize,
    /// How long a member whose connection closed may stay away before the
    /// host of its rooms is told ([`ServerMsg::Absent`]).
    pub absent_after_ms: u64,
}

impl Default for HubLimits {
    fn default() -> Self {
        Self {
            max_rooms: 1_024,
            members_per_room: 1_024,
            max_log: 4_096,
            rooms_per_host: 4,
            absent_after_ms: 60_000,
        }
    }
}

/// One message for some members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Who receives it.
    pub to: Vec<MemberId>,
    /// What.
    pub msg: ServerMsg,
}

/// What the media forwarder must change after an op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForwardChange {
    /// A room now exists: only its seated, unmuted speakers are forwarded.
    Open([u8; 8]),
    /// Forward the room's frames to this member.
    Admit([u8; 8], MemberId),
    /// Stop at once: the member left, was kicked or banned.
    Expel([u8; 8], MemberId),
    /// The speakers whose frames are forwarded now.
    Speakers([u8; 8], Vec<MemberId>),
    /// The room is closed: forget it.
    Close([u8; 8]),
}

/// What handling one message produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Messages to send, in this order.
    pub sends: Vec<Delivery>,
    /// Forwarding changes, in this order.
    pub forward: Vec<ForwardChange>,
}

/// A logged op, as delivered.
#[derive(Clone, Debug)]
struct Logged {
    seq: u64,
    accepted_ms: u64,
    op: Vec<u8>,
}

impl Logged {
    fn msg(&self) -> ServerMsg {
        ServerMsg::Op {
            seq: self.seq,
            accepted_ms: self.accepted_ms,
            op: self.op.clone(),
        }
    }
}

/// One room at the relay.
pub(super) struct Room {
    pub(super) state: RoomState,
    next_seq: u64,
    /// What a listener needs to check seat and role ops: the create op,
    /// the join of each member before it first takes a role or a seat,
    /// every seat, role and close op, and the departures of such members.
    log: Vec<Logged>,
    /// The join op of each member present whose join is not in the log.
    joins: HashMap<MemberId, Logged>,
    /// Members whose join is in the log.
    in_log: HashSet<MemberId>,
    /// The newest speaker key of each seated speaker, sealed (the relay
    /// cannot open it), handed to each joiner after the log.
    speaker_keys: HashMap<MemberId, Vec<u8>>,
    /// The time of each present member's newest resync join (a join while
    /// present): an older or equal one is a replay. Through an edge relay
    /// it would move where the member is reached.
    resynced: HashMap<MemberId, u64>,
    /// Being restored by its host ([`Hub::restore`]): the old origin's
    /// clock of the last op restored, and how many ops were. Only the
    /// host's messages are taken.
    pub(super) restoring: Option<(u64, usize)>,
}

impl Room {
    fn header(&self) -> [u8; 8] {
        self.state.id().header_id()
    }

    pub(super) fn present(&self) -> Vec<MemberId> {
        self.state.members().map(|(m, _)| *m).collect()
    }

    fn staff(&self) -> Vec<MemberId> {
        self.state
            .members()
            .map(|(m, _)| *m)
            .filter(|m| self.state.is_moderator(m))
            .collect()
    }

    /// The welcome a (re)joining member gets: the log, then `own` join. The
    /// host and moderators (welcomed again after a move) also get every
    /// audience join, in the room's order: their view holds the whole room
    /// (the host seals each new room key to everyone present in it).
    fn welcome(&self, to: MemberId, own: Option<&Logged>, fx: &mut Effects) {
        let one = |msg| Delivery { to: vec![to], msg };
        fx.sends.push(one(ServerMsg::Welcome {
            room: self.state.id(),
            next_seq: self.next_seq,
        }));
        let mut ops: Vec<&Logged> = self.log.iter().collect();
        if self.state.is_moderator(&to) {
            ops.extend(self.joins.values());
            ops.sort_by_key(|l| l.seq);
        }
        let own = own.filter(|o| !ops.iter().any(|l| l.seq == o.seq));
        fx.sends
            .extend(ops.into_iter().chain(own).map(|l| one(l.msg())));
        fx.sends.extend(
            self.speaker_keys
                .values()
                .map(|k| one(ServerMsg::SpeakerKey(k.clone()))),
        );
    }

    fn speakers(&mut self) -> ForwardChange {
        let seated: Vec<MemberId> = self
            .state
            .seats()
            .iter()
            .filter_map(|s| s.occupant)
            .collect();
        self.speaker_keys.retain(|m, _| seated.contains(m));
        ForwardChange::Speakers(self.header(), self.state.speakers().collect())
    }

    /// Puts `m`'s join into the log (before it takes a role or a seat) and
    /// hands it to the members who have not seen it.
    fn log_join(&mut self, m: MemberId, max_log: usize, fx: &mut Effects) -> Result<(), HubError> {
        if self.in_log.contains(&m) {
            return Ok(());
        }
        let j = self.joins.get(&m).ok_or(HubError::LogFull)?;
        if self.log.len() >= max_log {
            return Err(HubError::LogFull);
        }
        let staff = self.staff();
        let to = self
            .present()
            .into_iter()
            .filter(|p| !staff.contains(p) && *p != m)
            .collect();
        fx.sends.push(Delivery { to, msg: j.msg() });
        self.log.push(j.clone());
        self.joins.remove(&m);
        self.in_log.insert(m);
        Ok(())
    }
}

/// The rooms of one relay.
pub struct Hub {
    pub(super) limits: HubLimits,
    admission: Box<dyn Admission + Send>,
    pub(super) rooms: HashMap<RoomId, Room>,
    pub(super) by_header: HashMap<[u8; 8], RoomId>,
    pub(super) absence: Absence,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("rooms", &self.rooms.len())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// No rooms yet. `admission` answers group and VIP questions (a relay
    /// holds no roster: see the module docs).
    pub fn new(limits: HubLimits, admission: Box<dyn Admission + Send>) -> Self {
        Self {
            limits,
            admission,
            rooms: HashMap::new(),
            by_header: HashMap::new(),
            absence: Absence::default(),
        }
    }

    /// `member`'s connection to us closed at `now_ms` (it may come back,
    /// through us or another relay of its rooms).
    pub fn disconnected(&mut self, member: &MemberId, now_ms: u64) {
        if self.rooms.values().any(|r| r.state.is_present(member)) {
            self.absence.away(*member, now_ms);
        }
    }

    /// Members away for [`HubLimits::absent_after_ms`] at `now_ms`: the
    /// host of each room such a member is still present in is told, once
    /// (`ServerMsg::Absent`; the host may remove it with a signed kick).
    pub fn sweep(&mut self, now_ms: u64) -> Vec<(RoomId, Effects)> {
        let mut out = Vec::new();
        for m in self.absence.due(now_ms, self.limits.absent_after_ms) {
            for (id, r) in &self.rooms {
                let host = r.state.host();
                if host != m && r.state.is_present(&m) {
                    let fx = Effects {
                        sends: vec![Delivery {
                            to: vec![host],
                            msg: ServerMsg::Absent(*id, m),
                        }],
                        forward: Vec::new(),
                    };
                    out.push((*id, fx));
                }
            }
        }
        out
    }

    /// Members whose connection closed and who have not come back (or
    /// been reported) yet.
    pub fn away_count(&self) -> usize {
        self.absence.len()
    }

    /// Rooms now.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// A room's state, if the relay serves it.
    pub fn state(&self, room: &RoomId) -> Option<&RoomState> {
        self.rooms.get(room).map(|r| &r.state)
    }

    /// Ops in a room's listener log.
    pub fn log_len(&self, room: &RoomId) -> Option<usize> {
        self.rooms.get(room).map(|r| r.log.len())
    }

    /// Handles a message `from` sent on its own connection at `now_ms`.
    pub fn on_message(
        &mut self,
        from: &MemberId,
        msg: ClientMsg,
        now_ms: u64,
    ) -> Result<Effects, HubError> {
        if let ClientMsg::Away(_) = msg {
            self.disconnected(from, now_ms);
            return Ok(Effects::default());
        }
        self.absence.back(from);
        match msg {
            ClientMsg::Op(bytes) => self.on_op(from, bytes, now_ms),
            ClientMsg::Envelope(bytes) => self.on_envelope(from, bytes),
            ClientMsg::SpeakerKey(bytes) => self.on_speaker_key(from, bytes),
            ClientMsg::Relays(_)
            | ClientMsg::Attach(_)
            | ClientMsg::Relayed(..)
            | ClientMsg::Away(_)
            | ClientMsg::Restore { .. }
            | ClientMsg::Restored(_) => Err(HubError::NotHere),
            ClientMsg::Chat(room, sealed) => {
                let r = self.rooms.get(&room).ok_or(HubError::UnknownRoom)?;
                if !r.state.is_present(from) {
                    return Err(HubError::Room(RoomError::NotPresent));
                }
                let to = r.present().into_iter().filter(|m| m != from).collect();
                let msg = ServerMsg::Chat {
                    room,
                    author: *from,
                    sealed,
                };
                Ok(Effects {
                    sends: vec![Delivery { to, msg }],
                    forward: Vec::new(),
                })
            }
        }
    }

    fn on_envelope(&mut self, from: &MemberId, bytes: Vec<u8>) -> Result<Effects, HubError> {
        let env = KeyEnvelope::parse(&bytes).map_err(|_| HubError::Malformed)?;
        let r = self
            .rooms
            .get(&RoomId(env.group.0))
            .ok_or(HubError::UnknownRoom)?;
        if env.sender != *from || r.state.host() != *from {
            return Err(HubError::NotHost);
        }
        if !r.state.is_present(&env.recipient) {
            return Err(HubError::Room(RoomError::NotPresent));
        }
        Ok(Effects {
            sends: vec![Delivery {
                to: vec![env.recipient],
                msg: ServerMsg::Envelope(bytes),
            }],
            forward: Vec::new(),
        })
    }

    fn on_speaker_key(&mut self, from: &MemberId, bytes: Vec<u8>) -> Result<Effects, HubError> {
        let key = SpeakerKey::decode(&bytes)?;
        let r = self.rooms.get_mut(&key.room).ok_or(HubError::UnknownRoom)?;
        if key.speaker != *from || r.state.seat_of(from).is_none() {
            return Err(HubError::Room(RoomError::NotASpeaker));
        }
        r.speaker_keys.insert(*from, bytes.clone());
        let to: Vec<MemberId> = r.present().into_iter().filter(|m| m != from).collect();
        tracing::debug!(speaker = %from, to = to.len(), "speaker key fanned out");
        Ok(Effects {
            sends: vec![Delivery {
                to,
                msg: ServerMsg::SpeakerKey(bytes),
            }],
            forward: Vec::new(),
        })
    }

    fn on_op(&mut self, from: &MemberId, bytes: Vec<u8>, now_ms: u64) -> Result<Effects, HubError> {
        let op = SignedRoomOp::decode(&bytes)?;
        if op.op().author != *from {
            return Err(HubError::NotAuthor);
        }
        if let Some(id) = op.created_room() {
            return self.create(id, &op, bytes, now_ms);
        }
        if self
            .rooms
            .get(&op.op().room)
            .is_some_and(|r| r.restoring.is_some() && r.state.host() != *from)
        {
            return Err(HubError::Restoring);
        }
        self.apply_op(from, &op, bytes, now_ms)
    }

    /// Applies `op` (signed by `from`, decoded from `bytes`) to its room at
    /// `now_ms`: who receives it, what the forwarder changes.
    pub(super) fn apply_op(
        &mut self,
        from: &MemberId,
        op: &SignedRoomOp,
        bytes: Vec<u8>,
        now_ms: u64,
    ) -> Result<Effects, HubError> {
        let room = op.op().room;
        let max_log = self.limits.max_log;
        let r = self.rooms.get_mut(&room).ok_or(HubError::UnknownRoom)?;
        let header = r.header();
        let mut fx = Effects::default();
        // Roles and seats go into the listener log: refuse before applying
        // when it is full, so every holder's state stays the same.
        let logged_kind = !matches!(
            op.op().kind,
            RoomOpKind::Join { .. } | RoomOpKind::RaiseHand { .. } | RoomOpKind::Leave
        ) && !matches!(op.op().kind, RoomOpKind::Kick { member } if !r.in_log.contains(&member));
        if logged_kind && r.log.len() + 2 > max_log {
            return Err(HubError::LogFull);
        }
        let change = match r.state.apply(op, now_ms, self.admission.as_ref()) {
            Err(RoomError::AlreadyPresent) if matches!(op.op().kind, RoomOpKind::Join { .. }) => {
                // The same member on a new connection: send it the room again.
                let at = op.op().at_ms;
                if r.resynced.get(from).is_some_and(|t| at <= *t) {
                    return Err(HubError::Room(RoomError::Replay));
                }
                r.resynced.insert(*from, at);
                r.welcome(*from, r.joins.get(from), &mut fx);
                fx.forward.push(ForwardChange::Admit(header, *from));
                fx.forward.push(r.speakers());
                return Ok(fx);
            }
            other => other?,
        };
        let entry = Logged {
            seq: r.next_seq,
            accepted_ms: now_ms,
            op: bytes,
        };
        r.next_seq += 1;
        let msg = entry.msg();
        let to_all = |r: &Room, fx: &mut Effects, extra: Option<MemberId>| {
            let mut to = r.present();
            to.extend(extra);
            fx.sends.push(Delivery {
                to,
                msg: msg.clone(),
            });
        };
        match change {
            RoomChange::Joined(m) => {
                let mut staff = r.staff();
                staff.retain(|s| *s != m);
                fx.sends.push(Delivery {
                    to: staff,
                    msg: msg.clone(),
                });
                r.welcome(m, Some(&entry), &mut fx);
                r.joins.insert(m, entry);
                fx.forward.push(ForwardChange::Admit(header, m));
                fx.forward.push(r.speakers());
            }
            RoomChange::Departed { member, .. } => {
                r.joins.remove(&member);
                r.resynced.remove(&member);
                if r.in_log.remove(&member) {
                    r.log.push(entry.clone());
                    to_all(r, &mut fx, Some(member));
                } else {
                    let mut to = r.staff();
                    to.push(member);
                    fx.sends.push(Delivery {
                        to,
                        msg: msg.clone(),
                    });
                }
                fx.forward.push(ForwardChange::Expel(header, member));
                fx.forward.push(r.speakers());
            }
            RoomChange::Hand(..) => fx.sends.push(Delivery {
                to: r.staff(),
                msg: msg.clone(),
            }),
            RoomChange::Closed => {
                to_all(r, &mut fx, None);
                fx.forward.push(ForwardChange::Close(header));
                self.rooms.remove(&room);
                self.by_header.remove(&header);
                return Ok(fx);
            }
            change => {
                let newcomer = match change {
                    RoomChange::SeatInvited(m, _)
                    | RoomChange::Seated(_, Some(m))
                    | RoomChange::Moderator(m, true) => Some(m),
                    _ => None,
                };
                if let Some(m) = newcomer {
                    r.log_join(m, max_log, &mut fx)?;
                }
                r.log.push(entry.clone());
                to_all(r, &mut fx, None);
                fx.forward.push(r.speakers());
            }
        }
        Ok(fx)
    }

    pub(super) fn create(
        &mut self,
        id: RoomId,
        op: &SignedRoomOp,
        bytes: Vec<u8>,
        now_ms: u64,
    ) -> Result<Effects, HubError> {
        let at = op.op().at_ms;
        if at.saturating_add(FRESH_MS) < now_ms || at > now_ms.saturating_add(FRESH_MS) {
            return Err(HubError::Room(RoomError::Stale));
        }
        if self.rooms.contains_key(&id) || self.by_header.contains_key(&id.header_id()) {
            return Err(HubError::Exists);
        }
        if self.rooms.len() >= self.limits.max_rooms {
            return Err(HubError::TooManyRooms);
        }
        let host = op.op().author;
        let hosted = self
            .rooms
            .values()
            .filter(|r| r.state.host() == host)
            .count();
        if hosted >= self.limits.rooms_per_host {
            return Err(HubError::TooManyRooms);
        }
        let mut state = RoomState::create(op)?;
        state.set_max_members(self.limits.members_per_room);
        let created = Logged {
            seq: 0,
            accepted_ms: now_ms,
            op: bytes,
        };
        let room = Room {
            state,
            next_seq: 1,
            log: vec![created],
            joins: HashMap::new(),
            in_log: HashSet::from([host]),
            speaker_keys: HashMap::new(),
            resynced: HashMap::new(),
            restoring: None,
        };
        let header = room.header();
        let mut fx = Effects::default();
        room.welcome(host, None, &mut fx);
        fx.forward.push(ForwardChange::Open(header));
        fx.forward.push(ForwardChange::Admit(header, host));
        self.rooms.insert(id, room);
        self.by_header.insert(header, id);
        Ok(fx)
    }
}
