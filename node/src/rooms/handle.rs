//! A room on the wire: one connection to the room's relay on the node's
//! media endpoint, the control stream on it, and a task that drives the
//! sans-IO [`RoomClient`] and [`RoomVoice`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aura_crypto::room::{RoomId, RoomOpKind, RoomState};
use aura_crypto::{FrameKind, MemberId};
use aura_media::room_control::{ClientMsg, Reader, RelayLoad, ServerMsg};
use aura_media::{Incoming, MediaEndpoint, RoomConfig};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::client::RoomClient;
use super::error::RoomsError;
use super::event::RoomEvent;
use super::voice::RoomVoice;
use super::{Member, Role};

/// Bound of the command, capture, playout and event queues.
pub const ROOM_QUEUE: usize = 64;
/// Playout period.
const TICK: Duration = Duration::from_millis(20);
/// Longest we wait for a relay of the room when moving to it.
const MOVE_TIMEOUT: Duration = Duration::from_secs(5);

enum Cmd {
    Op(RoomOpKind, oneshot::Sender<Result<(), RoomsError>>),
    Chat(String),
}

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
    heard: Arc<Mutex<HashMap<MemberId, u64>>>,
    relays: Arc<Mutex<(MemberId, Vec<RelayLoad>)>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RoomHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

use super::clock::now_ms;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

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
        // A member moves to another relay of the room if its relay stops
        // (the host stays at the origin: the room lives there).
        let rejoin = create.is_none().then(|| first.clone());
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
            endpoint,
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

    /// Frames of each speaker played so far (decoded or recovered).
    pub fn heard(&self) -> HashMap<MemberId, u64> {
        lock(&self.heard).clone()
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

    /// Says `text` in the room's chat (sealed under the room key).
    pub async fn chat(&self, text: &str) -> Result<(), RoomsError> {
        self.cmd
            .send(Cmd::Chat(text.to_owned()))
            .await
            .map_err(|_| RoomsError::Closed)
    }
}

/// The room's task.
struct Driver {
    client: RoomClient,
    voice: RoomVoice,
    endpoint: MediaEndpoint,
    relay: MemberId,
    header: [u8; 8],
    send: quinn::SendStream,
    events: mpsc::Sender<RoomEvent>,
    playout: mpsc::Sender<Vec<i16>>,
    view: Arc<Mutex<Option<RoomState>>>,
    heard: Arc<Mutex<HashMap<MemberId, u64>>>,
    start: Instant,
    speakers: Vec<MemberId>,
    /// Our join, sent again through another relay if ours stops.
    rejoin: Option<RoomOpKind>,
    /// The origin we last moved to (or tried) to speak through.
    tried_origin: Option<MemberId>,
    relays: Arc<Mutex<(MemberId, Vec<RelayLoad>)>>,
}

impl Driver {
    async fn run(
        mut self,
        first: ClientMsg,
        mut recv: quinn::RecvStream,
        mut incoming: mpsc::Receiver<Incoming>,
        mut cmds: mpsc::Receiver<Cmd>,
        mut capture: mpsc::Receiver<Vec<i16>>,
    ) {
        if self.write(&first).await.is_err() {
            return;
        }
        let _ = self.write(&ClientMsg::Relays(self.client.room())).await;
        let mut reader = Reader::default();
        let mut buf = vec![0u8; 4_096];
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let r = tokio::select! {
                n = recv.read(&mut buf) => match n {
                    Ok(Some(n)) => {
                        reader.feed(&buf[..n]);
                        self.on_bytes(&mut reader).await
                    }
                    _ => match self.move_relay().await {
                        Ok(r) => {
                            recv = r;
                            reader = Reader::default();
                            Ok(())
                        }
                        Err(e) => Err(e),
                    },
                },
                Some(d) = incoming.recv() => {
                    self.on_frame(&d.frame);
                    Ok(())
                }
                Some(c) = cmds.recv() => self.on_cmd(c).await,
                Some(pcm) = capture.recv() => {
                    self.on_capture(&pcm);
                    Ok(())
                }
                _ = tick.tick() => {
                    self.on_tick();
                    Ok(())
                }
            };
            if let Err(e) = r {
                tracing::debug!(error = %e, "room task stops");
                break;
            }
            if let Some(origin) = self.origin_to_speak() {
                self.tried_origin = Some(origin.relay);
                let edge = self.relay;
                match self.move_to(vec![origin]).await {
                    Ok(r) => {
                        self.endpoint.disconnect(&edge);
                        recv = r;
                        reader = Reader::default();
                    }
                    Err(e) => tracing::debug!(error = %e, "seated, but the origin is not reached"),
                }
            }
        }
        self.endpoint.close_room(&self.header);
        let _ = self.events.try_send(RoomEvent::Disconnected);
    }

    /// Our relay stopped: join again through the least loaded other relay
    /// of the room (the origin welcomes a member present again; our keys
    /// stay, so we keep listening).
    async fn move_relay(&mut self) -> Result<quinn::RecvStream, RoomsError> {
        if self.rejoin.is_none() {
            return Err(RoomsError::Network("control stream closed".into()));
        }
        let dead = self.relay;
        self.endpoint.disconnect(&dead);
        let mut options: Vec<RelayLoad> = self
            .client
            .relays()
            .iter()
            .filter(|r| r.relay != dead)
            .copied()
            .collect();
        options.sort_by_key(|r| r.members);
        self.move_to(options).await
    }

    /// Joins again through the first of `options` that answers.
    async fn move_to(&mut self, options: Vec<RelayLoad>) -> Result<quinn::RecvStream, RoomsError> {
        let kind = self
            .rejoin
            .clone()
            .ok_or_else(|| RoomsError::Network("control stream closed".into()))?;
        let from = self.relay;
        for r in options {
            let (send, recv) = match dial(self.endpoint.clone(), r.relay, r.addr).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(relay = %r.relay, error = %e, "relay of the room not reached");
                    continue;
                }
            };
            self.relay = r.relay;
            self.send = send;
            let join = self.client.op(kind, now_ms())?;
            self.write(&join).await?;
            self.write(&ClientMsg::Relays(self.client.room())).await?;
            self.client.moved()?;
            self.flush_out().await?;
            let _ = self.events.try_send(RoomEvent::Moved { relay: r.relay });
            tracing::info!(%from, to = %r.relay, "moved to another relay of the room");
            return Ok(recv);
        }
        Err(RoomsError::Network("no relay of the room left".into()))
    }

    /// A seated member speaks through the room's origin (an edge carries
    /// the room down, not its speakers' voice up): where to move, once.
    fn origin_to_speak(&self) -> Option<RelayLoad> {
        let origin = *self.client.relays().first()?;
        let go = self.rejoin.is_some()
            && origin.relay != self.relay
            && self.tried_origin != Some(origin.relay)
            && self.client.is_seated();
        go.then_some(origin)
    }

    async fn write(&mut self, m: &ClientMsg) -> Result<(), RoomsError> {
        self.send
            .write_all(&m.encode())
            .await
            .map_err(|e| RoomsError::Network(e.to_string()))
    }

    async fn flush_out(&mut self) -> Result<(), RoomsError> {
        while let Some(m) = self.client.poll_out() {
            self.write(&m).await?;
        }
        while let Some(e) = self.client.poll_event() {
            let e = match e {
                RoomEvent::Chat { from, sealed } => match self.client.open_chat(&from, &sealed) {
                    Ok(text) => RoomEvent::Said { from, text },
                    Err(_) => continue,
                },
                e => e,
            };
            let _ = self.events.try_send(e);
        }
        let view = self.client.view().cloned();
        let seated: Vec<MemberId> = view
            .iter()
            .flat_map(|v| v.seats().iter().filter_map(|s| s.occupant))
            .collect();
        if seated != self.speakers {
            self.speakers = seated.clone();
            let _ = self.endpoint.set_members(&self.header, seated);
            self.voice.retain(&self.speakers);
        }
        *lock(&self.view) = view;
        let relays = self.client.relays();
        let mut shared = lock(&self.relays);
        if shared.0 != self.relay || shared.1 != relays {
            *shared = (self.relay, relays.to_vec());
        }
        Ok(())
    }

    async fn on_bytes(&mut self, reader: &mut Reader) -> Result<(), RoomsError> {
        while let Some(m) = reader
            .next_message()
            .map_err(|e| RoomsError::Network(e.to_string()))?
        {
            match ServerMsg::decode(&m) {
                Ok(msg) => {
                    if let Err(e) = self.client.on_server(msg, now_ms()) {
                        tracing::debug!(error = %e, "room message refused");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "room message malformed"),
            }
        }
        self.flush_out().await
    }

    async fn on_cmd(&mut self, c: Cmd) -> Result<(), RoomsError> {
        match c {
            Cmd::Op(kind, reply) => {
                let r = self.client.op(kind, now_ms());
                let r = match r {
                    Ok(m) => self.write(&m).await,
                    Err(e) => Err(e),
                };
                let _ = reply.send(r);
            }
            Cmd::Chat(text) => match self.client.seal_chat(&text) {
                Ok(m) => self.write(&m).await?,
                Err(e) => tracing::debug!(error = %e, "chat not sealed"),
            },
        }
        self.flush_out().await
    }

    fn on_frame(&mut self, frame: &[u8]) {
        let now_us = self.now_us();
        match self.client.open(frame) {
            Ok(o) if o.kind == FrameKind::Voice => self.voice.push(o.sender, &o.payload, now_us),
            Ok(_) => {}
            Err(e) => tracing::trace!(error = %e, "room frame not opened"),
        }
    }

    fn on_capture(&mut self, pcm: &[i16]) {
        let seat = self.client.view().and_then(|v| {
            let me = self.endpoint.member_id();
            v.seat_of(&me)
                .and_then(|s| v.seats().get(usize::from(s)).cloned())
        });
        if seat.is_none_or(|s| s.muted) {
            return;
        }
        for d in self.voice.capture(&mut self.client, pcm) {
            if let Err(e) = self.endpoint.send(&self.relay, Bytes::from(d)) {
                tracing::debug!(error = %e, "room voice not sent");
            }
        }
    }

    fn on_tick(&mut self) {
        let now_us = self.now_us();
        let (pcm, speaking) = self.voice.mix(now_us);
        if let Some(s) = speaking {
            let _ = self.events.try_send(RoomEvent::Speaking(s));
        }
        if let Some(pcm) = pcm {
            lock(&self.heard).clone_from(self.voice.played());
            let _ = self.playout.try_send(pcm);
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// Connects to `relay` and opens the room's control stream on it.
async fn dial(
    endpoint: MediaEndpoint,
    relay: MemberId,
    addr: SocketAddr,
) -> Result<(quinn::SendStream, quinn::RecvStream), RoomsError> {
    let net = |e: aura_media::MediaError| RoomsError::Network(e.to_string());
    endpoint.add_relay(relay).map_err(net)?;
    let open = async {
        endpoint.connect(relay, addr).await?;
        endpoint.open_stream(&relay).await
    };
    tokio::time::timeout(MOVE_TIMEOUT, open)
        .await
        .map_err(|_| RoomsError::Network("relay timed out".into()))?
        .map_err(net)
}
