//! A room on the wire: one connection to the room's relay on the node's
//! media endpoint, the control stream on it, and a task that drives the
//! sans-IO [`RoomClient`] and [`RoomVoice`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aura_crypto::room::{RoomId, RoomOpKind, RoomState};
use aura_crypto::MemberId;
use aura_media::room_control::{ClientMsg, RelayLoad};
use aura_media::{MediaEndpoint, RoomConfig};
use tokio::sync::{mpsc, oneshot};

use super::client::RoomClient;
use super::driver::{lock, Cmd, Driver};
use super::error::RoomsError;
use super::event::RoomEvent;
use super::voice::RoomVoice;
use super::{Member, Role};

/// Bound of the command, capture, playout and event queues.
pub const ROOM_QUEUE: usize = 64;

/// A room this node is in. Dropping it stops its task (the room stays at
/// the relay; [`Self::leave`] first to leave it).
#[derive(Debug)]
pub struct RoomHandle {
    room: RoomId,
    me: MemberId,
    identity: aura_crypto::Identity,
    cmd: mpsc::Sender<Cmd>,
    capture: mpsc::Sender<Vec<i16>>,
    playout: Mutex<Option<mpsc::Receiver<Vec<i16>>>>,
    events: Mutex<Option<mpsc::Receiver<RoomEvent>>>,
    view: Arc<Mutex<Option<RoomState>>>,
    heard: Arc<Mutex<HashMap<(MemberId, bool), u64>>>,
    relays: Arc<Mutex<(MemberId, Vec<RelayLoad>)>>,
    task: tokio::task::JoinHandle<()>,
    /// The node's media endpoint: the room is closed on it when the handle
    /// is dropped (an aborted task closes nothing), so the room can be
    /// joined again.
    endpoint: MediaEndpoint,
}

impl Drop for RoomHandle {
    fn drop(&mut self) {
        self.task.abort();
        self.endpoint.close_room(&self.room.header_id());
    }
}

use super::clock::now_ms;

impl RoomHandle {
    /// Connects `client` to the room's relay (`relay` at `addr`) on
    /// `endpoint`, sends `first` (its create or join op) and starts the task.
    pub(crate) async fn start(
        mut client: RoomClient,
        identity: aura_crypto::Identity,
        create: Option<aura_crypto::room::SignedRoomOp>,
        first: RoomOpKind,
        endpoint: MediaEndpoint,
        relay: MemberId,
        addr: SocketAddr,
    ) -> Result<Self, RoomsError> {
        let net = |e: aura_media::MediaError| RoomsError::Network(e.to_string());
        let room = client.room();
        let header = room.header_id();
        endpoint.add_relay(relay).map_err(net)?;
        let incoming = endpoint
            .open_room(header, [], RoomConfig::default())
            .map_err(net)?;
        endpoint.connect(relay, addr).await.map_err(net)?;
        let (send, recv) = endpoint.open_stream(&relay).await.map_err(net)?;
        // A member moves to another relay of the room if its relay stops;
        // the host too, restoring the room there if it was the origin (the
        // host needs no ticket to join its room again).
        let rejoin = Some(match create {
            Some(_) => RoomOpKind::Join {
                ticket: None,
                entitlement: None,
            },
            None => first.clone(),
        });
        let first = match create {
            Some(op) => ClientMsg::Op(op.encode()?),
            None => client.op(first, now_ms())?,
        };
        let (cmd_tx, cmd_rx) = mpsc::channel(ROOM_QUEUE);
        let (cap_tx, cap_rx) = mpsc::channel(ROOM_QUEUE);
        let (play_tx, play_rx) = mpsc::channel(ROOM_QUEUE);
        let (ev_tx, ev_rx) = mpsc::channel(ROOM_QUEUE * 16);
        let view = Arc::new(Mutex::new(None));
        let heard = Arc::new(Mutex::new(HashMap::new()));
        let relays = Arc::new(Mutex::new((relay, Vec::new())));
        let me = endpoint.member_id();
        let driver = Driver {
            client,
            voice: RoomVoice::new()?,
            endpoint: endpoint.clone(),
            relay,
            header,
            send,
            events: ev_tx,
            playout: play_tx,
            view: view.clone(),
            heard: heard.clone(),
            start: Instant::now(),
            speakers: Vec::new(),
            rejoin,
            tried_origin: None,
            relays: relays.clone(),
        };
        let task = tokio::spawn(driver.run(first, recv, incoming, cmd_rx, cap_rx));
        Ok(Self {
            room,
            me,
            identity,
            cmd: cmd_tx,
            capture: cap_tx,
            playout: Mutex::new(Some(play_rx)),
            events: Mutex::new(Some(ev_rx)),
            view,
            heard,
            relays,
            task,
            endpoint,
        })
    }

    /// The relay we are connected through now, and the room's relays with
    /// their loads as last told (origin first).
    pub fn relays(&self) -> (MemberId, Vec<RelayLoad>) {
        lock(&self.relays).clone()
    }

    /// The room.
    pub fn room(&self) -> RoomId {
        self.room
    }

    /// Our view of the room: seats, roles, and the members we know of (a
    /// listener knows the host, moderators and speakers; the host and
    /// moderators know everyone present).
    pub fn state(&self) -> Option<RoomState> {
        lock(&self.view).clone()
    }

    /// The members of our view with their roles and seats.
    pub fn members(&self) -> Vec<Member> {
        let Some(v) = self.state() else {
            return Vec::new();
        };
        let mut out: Vec<Member> = v
            .members()
            .map(|(m, p)| Member {
                member: *m,
                role: if *m == v.host() {
                    Role::Host
                } else if v.is_moderator(m) {
                    Role::Moderator
                } else if v.seat_of(m).is_some() {
                    Role::Speaker
                } else {
                    Role::Listener
                },
                seat: v.seat_of(m),
                hand: p.hand,
            })
            .collect();
        out.sort_by_key(|m| (m.role, m.seat, m.member));
        out
    }

    /// A ticket into this room valid for `ttl_ms`, signed by us (it
    /// admits only if we are the host or a moderator).
    pub fn ticket(&self, ttl_ms: u64) -> Result<String, RoomsError> {
        let t = aura_crypto::room::RoomTicket::issue(self.room, &self.identity, now_ms() + ttl_ms);
        Ok(t.to_text()?)
    }

    /// Frames of each speaker's voice played so far (decoded or recovered).
    pub fn heard(&self) -> HashMap<MemberId, u64> {
        self.heard_kind(false)
    }

    /// Frames of each speaker's music played so far.
    pub fn heard_music(&self) -> HashMap<MemberId, u64> {
        self.heard_kind(true)
    }

    fn heard_kind(&self, music: bool) -> HashMap<MemberId, u64> {
        lock(&self.heard)
            .iter()
            .filter(|((_, m), _)| *m == music)
            .map(|((who, _), n)| (*who, *n))
            .collect()
    }

    /// Whether we hold a seat.
    pub fn is_seated(&self) -> bool {
        self.state().is_some_and(|v| v.seat_of(&self.me).is_some())
    }

    /// The room's events (once; `None` after the first call).
    pub fn take_events(&self) -> Option<mpsc::Receiver<RoomEvent>> {
        lock(&self.events).take()
    }

    /// Mixed 20 ms frames of the room's speakers (once).
    pub fn take_playout(&self) -> Option<mpsc::Receiver<Vec<i16>>> {
        lock(&self.playout).take()
    }

    /// One 20 ms frame (960 samples, 48 kHz mono) from the microphone; sent
    /// while we hold an unmuted seat. Never waits: a full queue drops it.
    pub fn capture(&self, pcm: Vec<i16>) -> Result<(), RoomsError> {
        match self.capture.try_send(pcm) {
            Err(mpsc::error::TrySendError::Closed(_)) => Err(RoomsError::Closed),
            _ => Ok(()),
        }
    }

    /// Signs and submits an op (the relay answers with the op itself, or a
    /// [`RoomEvent::Refused`]).
    pub async fn act(&self, kind: RoomOpKind) -> Result<(), RoomsError> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Op(kind, tx))
            .await
            .map_err(|_| RoomsError::Closed)?;
        rx.await.map_err(|_| RoomsError::Closed)?
    }

    /// Takes seat `seat` (invited to it, or as host or moderator).
    pub async fn seat(&self, seat: u8) -> Result<(), RoomsError> {
        self.act(RoomOpKind::TakeSeat { seat }).await
    }

    /// Leaves our seat for the audience.
    pub async fn leave_seat(&self) -> Result<(), RoomsError> {
        self.act(RoomOpKind::LeaveSeat).await
    }

    /// Mutes or unmutes a seat.
    pub async fn mute(&self, seat: u8, muted: bool) -> Result<(), RoomsError> {
        self.act(RoomOpKind::MuteSeat { seat, muted }).await
    }

    /// Invites a member onto a seat (host or moderator).
    pub async fn invite(&self, member: MemberId, seat: u8) -> Result<(), RoomsError> {
        self.act(RoomOpKind::InviteToSeat { member, seat }).await
    }

    /// Removes a member (host or moderator).
    pub async fn kick(&self, member: MemberId) -> Result<(), RoomsError> {
        self.act(RoomOpKind::Kick { member }).await
    }

    /// Removes a member and refuses its return (host or moderator).
    pub async fn ban(&self, member: MemberId) -> Result<(), RoomsError> {
        self.act(RoomOpKind::Ban { member }).await
    }

    /// Raises or lowers our hand.
    pub async fn raise_hand(&self, up: bool) -> Result<(), RoomsError> {
        self.act(RoomOpKind::RaiseHand { up }).await
    }

    /// Leaves the room.
    pub async fn leave(&self) -> Result<(), RoomsError> {
        self.act(RoomOpKind::Leave).await
    }

    /// Shows a gift receipt of ours in the room (see
    /// [`crate::Node::send_room_gift`], which pays for it first).
    pub async fn share_gift(
        &self,
        receipt: aura_billing::signed::SignedReceipt,
    ) -> Result<(), RoomsError> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Gift(Box::new(receipt), tx))
            .await
            .map_err(|_| RoomsError::Closed)?;
        rx.await.map_err(|_| RoomsError::Closed)?
    }

    /// Plays music into the room while we hold an unmuted seat: 48 kHz
    /// stereo interleaved samples, sent at music bitrate beside our voice
    /// and mixed under the voices at every listener. Replaces any music
    /// playing; it stops at the end of `stereo`.
    pub async fn share_music(&self, stereo: Vec<i16>) -> Result<(), RoomsError> {
        self.cmd
            .send(Cmd::Music(Some(stereo)))
            .await
            .map_err(|_| RoomsError::Closed)
    }

    /// Stops the music we play into the room.
    pub async fn stop_music(&self) -> Result<(), RoomsError> {
        self.cmd
            .send(Cmd::Music(None))
            .await
            .map_err(|_| RoomsError::Closed)
    }

    /// Says `text` in the room's chat (sealed under the room key).
    pub async fn chat(&self, text: &str) -> Result<(), RoomsError> {
        self.cmd
            .send(Cmd::Chat(text.to_owned()))
            .await
            .map_err(|_| RoomsError::Closed)
    }
}
