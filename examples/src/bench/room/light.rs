//! A light room client for the bench: the node's sans-IO `RoomClient` on a
//! bare media endpoint and one control stream to its relay, as a phone's
//! room task drives it, without the audio.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use aura_crypto::room::{RoomId, RoomOpKind};
use aura_crypto::{Identity, MemberId};
use aura_media::room_control::{ClientMsg, Reader, RelayLoad, ServerMsg};
use aura_media::{Config, MediaEndpoint, RoomConfig};
use aura_node::rooms::RoomClient;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::bench::relay::Inbox;

/// Milliseconds since the Unix epoch (the room ops' clock).
pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Frames a listener's endpoint queues before the bench reads them.
const INBOX: usize = 4_096;

/// One member of the room: endpoint, control stream, room client.
pub(super) struct Light {
    pub(super) client: RoomClient,
    pub(super) ep: MediaEndpoint,
    /// The room's frames (the listener's window takes it out).
    pub(super) incoming: Option<Inbox>,
    pub(super) relay: MemberId,
    send: Pin<Box<dyn AsyncWrite + Send>>,
    recv: Pin<Box<dyn AsyncRead + Send>>,
    reader: Reader,
    buf: Vec<u8>,
    /// Speaker keys received.
    pub(super) speaker_keys: usize,
    /// The last `relays` answer.
    pub(super) relays: Option<Vec<RelayLoad>>,
    /// Refusal codes received.
    pub(super) refused: Vec<u8>,
}

impl Light {
    /// A new endpoint for `id`, connected to the relay `relay` at `addr`,
    /// with `room` open for frames of `speakers`.
    pub(super) async fn connect(
        id: &Identity,
        client: RoomClient,
        speakers: &[MemberId],
        relay: MemberId,
        addr: SocketAddr,
    ) -> anyhow::Result<Self> {
        let ep = MediaEndpoint::bind(id, "127.0.0.1:0".parse()?, Config::default())?;
        let incoming = ep.open_room(
            client.room().header_id(),
            speakers.iter().copied(),
            RoomConfig {
                queue: INBOX,
                ..RoomConfig::default()
            },
        )?;
        Self::on(ep, Some(incoming), client, relay, addr).await
    }

    async fn on(
        ep: MediaEndpoint,
        incoming: Option<Inbox>,
        client: RoomClient,
        relay: MemberId,
        addr: SocketAddr,
    ) -> anyhow::Result<Self> {
        ep.add_relay(relay)?;
        ep.connect(relay, addr).await?;
        let (send, recv) = ep.open_stream(&relay).await?;
        Ok(Self {
            client,
            ep,
            incoming,
            relay,
            send: Box::pin(send),
            recv: Box::pin(recv),
            reader: Reader::default(),
            buf: vec![0; 4_096],
            speaker_keys: 0,
            relays: None,
            refused: Vec::new(),
        })
    }

    /// Leaves this relay for `relay` at `addr` (same endpoint and room).
    pub(super) async fn move_to(self, relay: MemberId, addr: SocketAddr) -> anyhow::Result<Self> {
        let Self {
            client,
            ep,
            incoming,
            relay: old,
            ..
        } = self;
        ep.disconnect(&old);
        Self::on(ep, incoming, client, relay, addr).await
    }

    /// Sends one control message.
    pub(super) async fn send(&mut self, m: &ClientMsg) -> anyhow::Result<()> {
        self.send.write_all(&m.encode()).await?;
        Ok(())
    }

    /// Signs and sends an op of ours.
    pub(super) async fn act(&mut self, kind: RoomOpKind) -> anyhow::Result<()> {
        let m = self.client.op(kind, now_ms())?;
        self.send(&m).await
    }

    /// Asks the relay which relays serve `room` and waits for the answer.
    pub(super) async fn ask_relays(
        &mut self,
        room: RoomId,
        timeout: Duration,
    ) -> anyhow::Result<Vec<RelayLoad>> {
        self.relays = None;
        self.send(&ClientMsg::Relays(room)).await?;
        self.pump_until(timeout, |l| l.relays.is_some()).await?;
        self.relays
            .take()
            .ok_or_else(|| anyhow::anyhow!("no relays answer (refused {:?})", self.refused))
    }

    /// Whether we hold the room key and `speakers` speaker keys.
    pub(super) fn keyed(&self, speakers: usize) -> bool {
        self.client.room_epoch().is_some() && self.speaker_keys >= speakers
    }

    /// Reads the stream until `done` holds (true) or `timeout` (false).
    pub(super) async fn pump_until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&Self) -> bool,
    ) -> anyhow::Result<bool> {
        let end = Instant::now() + timeout;
        while !done(self) {
            match tokio::time::timeout_at(end.into(), self.read()).await {
                Ok(r) => r?,
                Err(_) => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Reads once from the stream, handles what arrived and sends what
    /// the client must answer.
    pub(super) async fn read(&mut self) -> anyhow::Result<()> {
        let n = self.read_bytes().await?;
        self.handle(n).await
    }

    /// Reads bytes from the stream (cancel-safe: nothing is lost if a
    /// `select!` drops it); [`Light::handle`] them next.
    pub(super) async fn read_bytes(&mut self) -> anyhow::Result<usize> {
        match self.recv.read(&mut self.buf).await? {
            0 => anyhow::bail!("the relay closed the control stream"),
            n => Ok(n),
        }
    }

    /// Handles `n` bytes read into the buffer and sends what the client
    /// must answer.
    pub(super) async fn handle(&mut self, n: usize) -> anyhow::Result<()> {
        self.reader.feed(self.buf.get(..n).unwrap_or_default());
        while let Some(m) = self.reader.next_message()? {
            let msg = ServerMsg::decode(&m)?;
            match &msg {
                ServerMsg::SpeakerKey(_) => self.speaker_keys += 1,
                ServerMsg::Relays { relays, .. } => self.relays = Some(relays.clone()),
                ServerMsg::Refused { code, .. } => self.refused.push(*code),
                _ => {}
            }
            // An op that does not apply to this view is the client's to
            // count; the bench goes on.
            let _ = self.client.on_server(msg, now_ms());
        }
        while let Some(m) = self.client.poll_out() {
            self.send(&m).await?;
        }
        Ok(())
    }
}
