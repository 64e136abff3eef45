//! A room's task: drives the sans-IO [`RoomClient`] and [`RoomVoice`]
//! from the relay's control stream, the room's datagrams, the app's
//! commands and captured audio, and a 20 ms playout tick; moves to another
//! relay of the room when ours stops, or to the origin to speak.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aura_billing::signed::SignedReceipt;
use aura_crypto::room::{RoomOpKind, RoomState};
use aura_crypto::{FrameKind, MemberId};
use aura_media::room_control::{
    ClientMsg, Reader, RelayLoad, ServerMsg, CLOSE_ORIGIN_GONE, CLOSE_STOPPING,
};
use aura_media::{Incoming, MediaEndpoint};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::client::RoomClient;
use super::clock::now_ms;
use super::error::RoomsError;
use super::event::RoomEvent;
use super::voice::RoomVoice;

/// Playout period.
const TICK: Duration = Duration::from_millis(20);
/// Longest we wait for a relay of the room when moving to it.
const MOVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the host asks which relays serve its room (where it would
/// move the room if its origin stopped).
const HOST_RELAYS_EVERY: Duration = Duration::from_secs(5);
/// How often a member asks (where it would move if its relay stopped).
const MEMBER_RELAYS_EVERY: Duration = Duration::from_secs(10);

/// How our relay's control stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    /// The relay said it is stopping.
    RelayStopping,
    /// Our relay, an edge, lost the room's origin.
    OriginGone,
    /// Otherwise: timed out, reset, finished.
    Other,
}

impl Ended {
    fn of(r: &Result<Option<usize>, quinn::ReadError>) -> Self {
        use quinn::{ConnectionError, ReadError};
        match r {
            Err(ReadError::ConnectionLost(ConnectionError::ApplicationClosed(c))) => {
                match &c.reason[..] {
                    CLOSE_STOPPING => Self::RelayStopping,
                    CLOSE_ORIGIN_GONE => Self::OriginGone,
                    _ => Self::Other,
                }
            }
            _ => Self::Other,
        }
    }
}

/// What the app asks of the room's task.
pub(super) enum Cmd {
    /// Sign and submit an op; the answer says whether it was sent.
    Op(RoomOpKind, oneshot::Sender<Result<(), RoomsError>>),
    /// Say a line in the room's chat.
    Chat(String),
    /// Show a gift receipt of ours in the room.
    Gift(Box<SignedReceipt>, oneshot::Sender<Result<(), RoomsError>>),
    /// Play music into the room (48 kHz stereo interleaved), or stop.
    Music(Option<Vec<i16>>),
}

/// Locks, taking over a poisoned lock's data.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The room's task.
pub(super) struct Driver {
    pub(super) client: RoomClient,
    pub(super) voice: RoomVoice,
    pub(super) endpoint: MediaEndpoint,
    pub(super) relay: MemberId,
    pub(super) header: [u8; 8],
    pub(super) send: quinn::SendStream,
    pub(super) events: mpsc::Sender<RoomEvent>,
    pub(super) playout: mpsc::Sender<Vec<i16>>,
    pub(super) view: Arc<Mutex<Option<RoomState>>>,
    pub(super) heard: Arc<Mutex<HashMap<(MemberId, bool), u64>>>,
    pub(super) start: Instant,
    pub(super) speakers: Vec<MemberId>,
    /// Our join, sent again through another relay if ours stops.
    pub(super) rejoin: Option<RoomOpKind>,
    /// The origin we last moved to (or tried) to speak through.
    pub(super) tried_origin: Option<MemberId>,
    pub(super) relays: Arc<Mutex<(MemberId, Vec<RelayLoad>)>>,
}

impl Driver {
    pub(super) async fn run(
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
        let every = if self.client.is_host() {
            HOST_RELAYS_EVERY
        } else {
            MEMBER_RELAYS_EVERY
        };
        let mut ask_relays = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            let r = tokio::select! {
                n = recv.read(&mut buf) => match n {
                    Ok(Some(n)) => {
                        reader.feed(&buf[..n]);
                        self.on_bytes(&mut reader).await
                    }
                    n => match self.move_relay(Ended::of(&n)).await {
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
                _ = ask_relays.tick() => {
                    // A closed stream is noticed (and moved from) on the read side.
                    let ask = ClientMsg::Relays(self.client.room());
                    if let Err(e) = self.write(&ask).await {
                        tracing::debug!(error = %e, "room's relays not asked");
                    }
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
                match self.move_to(vec![origin], false).await {
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
    /// stay, so we keep listening). If the room's origin stopped, its host
    /// first restores the room at that relay, which becomes the origin:
    /// at the old origin first unless it said it was stopping (it may
    /// still hold the room: we may have lost our path to it, not it).
    async fn move_relay(&mut self, ended: Ended) -> Result<quinn::RecvStream, RoomsError> {
        if self.rejoin.is_none() {
            return Err(RoomsError::Network("control stream closed".into()));
        }
        let dead = self.relay;
        self.endpoint.disconnect(&dead);
        let relays = self.client.relays().to_vec();
        let origin = relays.first().map_or(dead, |r| r.relay);
        let origin_lost = dead == origin || ended == Ended::OriginGone;
        let mut options: Vec<RelayLoad> = relays
            .iter()
            .filter(|r| r.relay != dead && !(origin_lost && r.relay == origin))
            .copied()
            .collect();
        options.sort_by_key(|r| r.members);
        let restore = origin_lost && self.client.is_host();
        if restore && dead == origin && ended != Ended::RelayStopping {
            options.splice(0..0, relays.first().copied());
        }
        tracing::info!(
            ?ended,
            origin_lost,
            restore,
            options = options.len(),
            "our relay of the room stopped"
        );
        self.move_to(options, restore).await
    }

    /// Joins again through the first of `options` that answers; first
    /// restores the room there from our journal if `restore` (we are the
    /// host and the room's origin stopped).
    async fn move_to(
        &mut self,
        options: Vec<RelayLoad>,
        restore: bool,
    ) -> Result<quinn::RecvStream, RoomsError> {
        let kind = self
            .rejoin
            .clone()
            .ok_or_else(|| RoomsError::Network("control stream closed".into()))?;
        let journal = match restore {
            true => Some(self.client.restore_msgs().ok_or(RoomsError::Network(
                "the room's journal is too long to restore".into(),
            ))?),
            false => None,
        };
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
            for m in journal.iter().flatten() {
                self.write(m).await?;
            }
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
        {
            let mut shared = lock(&self.relays);
            if shared.0 != self.relay || shared.1 != relays {
                *shared = (self.relay, relays.to_vec());
            }
        }
        // Events last: the app reading the state on an event sees it.
        while let Some(e) = self.client.poll_event() {
            let e = match e {
                RoomEvent::Chat { from, sealed } => match self.client.open_line(&from, &sealed) {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::debug!(%from, error = %e, "room chat line dropped");
                        continue;
                    }
                },
                e => e,
            };
            let _ = self.events.try_send(e);
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
            Cmd::Gift(receipt, reply) => {
                let r = match self.client.seal_gift(&receipt) {
                    Ok(m) => self.write(&m).await,
                    Err(e) => Err(e),
                };
                let _ = reply.send(r);
            }
            Cmd::Music(pcm) => self.voice.set_music(pcm),
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

    /// Whether we hold a seat that is not muted (we may be heard).
    fn may_speak(&self) -> bool {
        self.client.view().is_some_and(|v| {
            let me = self.endpoint.member_id();
            v.seat_of(&me)
                .and_then(|s| v.seats().get(usize::from(s)))
                .is_some_and(|s| !s.muted)
        })
    }

    fn send_frames(&self, frames: Vec<Vec<u8>>) {
        for d in frames {
            if let Err(e) = self.endpoint.send(&self.relay, Bytes::from(d)) {
                tracing::debug!(error = %e, "room frame not sent");
            }
        }
    }

    fn on_capture(&mut self, pcm: &[i16]) {
        if self.may_speak() {
            let frames = self.voice.capture(&mut self.client, pcm);
            self.send_frames(frames);
        }
    }

    fn on_tick(&mut self) {
        if self.voice.music_playing() && self.may_speak() {
            let frames = self.voice.music_tick(&mut self.client);
            self.send_frames(frames);
        }
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
