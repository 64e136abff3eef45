//! The media endpoint: one quinn QUIC endpoint per process, carrying opaque
//! sealed frames and signed receiver reports as datagrams between members
//! (and relays), authenticated with their ed25519 keys.
//!
//! It serves every room at once: each room is opened with its members and
//! gets its own bounded queue; every incoming datagram is routed by the
//! [`RoutingTable`] on its key-free header to its room's queue, or dropped
//! and counted. A peer may connect while it is a member of an open room
//! (or a registered relay); one connection per peer is shared by all the
//! rooms both are in. If a path or peer cannot carry datagrams (or a frame
//! is larger than the path allows), each frame goes on its own
//! unidirectional stream, so a lost packet still never delays a later one.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aura_crypto::{Identity, MemberId};
use bytes::Bytes;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::framing::MAX_FRAME;
use crate::impair::Impairment;
use crate::routing::{Header, Hop, RouteError, RoutingTable, TableError};
use crate::tls::{self, TlsError};
use crate::RoomId;

/// QUIC close code: the peer is not a member of any open room.
const CLOSE_NOT_MEMBER: u32 = 0x41;
/// Replaced connections kept per peer (see `Inner::spare`).
const MAX_SPARE_PER_PEER: usize = 4;

/// Media endpoint errors.
#[derive(Debug, Error)]
pub enum MediaError {
    /// TLS setup.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Socket.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Dial failed.
    #[error("connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// Handshake or connection failed.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// The peer presented no ed25519 identity.
    #[error("peer presented no ed25519 identity")]
    NoIdentity,
    /// The peer is not a member of any open room (nor a relay).
    #[error("peer {0} is not a member")]
    NotMember(MemberId),
    /// No connection to this member.
    #[error("not connected to {0}")]
    NotConnected(MemberId),
    /// Frame larger than [`MAX_FRAME`].
    #[error("frame of {0} bytes is too large")]
    TooLarge(usize),
    /// Opening or changing a room.
    #[error("room: {0}")]
    Table(#[from] TableError),
}

/// Endpoint settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Accept QUIC datagrams (off forces peers onto the stream fallback).
    pub datagrams: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self { datagrams: true }
    }
}

/// Settings of one room on the endpoint.
#[derive(Clone, Debug)]
pub struct RoomConfig {
    /// Bound of the room's incoming queue (datagrams beyond are dropped, counted).
    pub queue: usize,
    /// Test/lab facility: drop each datagram routed to this room with this
    /// probability (0..1) before it is queued, as a lossy path would. 0 in
    /// real use; changeable with [`MediaEndpoint::set_inbound_loss`].
    pub inbound_loss: f64,
    /// Seed of the impairment's random drops (repeatable runs).
    pub loss_seed: u64,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            queue: 1_024,
            inbound_loss: 0.0,
            loss_seed: 0,
        }
    }
}

/// A datagram routed to a room.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// The peer at the other end of the connection (a member or a relay).
    pub from: MemberId,
    /// The member the header names (frame sender or report author); equal
    /// to `from` on a direct hop. Authentic only once opened or verified.
    pub sender: MemberId,
    /// Direct from the member, or through a relay.
    pub hop: Hop,
    /// The header it was routed by.
    pub header: Header,
    /// The datagram, unchanged.
    pub frame: Bytes,
    /// When it arrived.
    pub at: Instant,
}

/// Endpoint-wide counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Frames sent as datagrams.
    pub datagrams_sent: AtomicU64,
    /// Frames sent on their own stream (fallback).
    pub streams_sent: AtomicU64,
    /// Datagrams routed and queued to a room.
    pub received: AtomicU64,
    /// Datagrams dropped because their room's queue was full.
    pub dropped_full: AtomicU64,
    /// Datagrams refused for size.
    pub oversize: AtomicU64,
    /// Datagrams that no room takes (unknown room, non-member, wrong
    /// sender, malformed header).
    pub unroutable: AtomicU64,
    /// Connections refused: the peer is not a member of an open room.
    pub refused_peers: AtomicU64,
    /// Datagrams dropped by the inbound-loss impairment (test/lab).
    pub impaired: AtomicU64,
}

/// Counters of one room on the endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoomCounters {
    /// Datagrams queued to the room.
    pub delivered: u64,
    /// Dropped because the room's queue was full.
    pub dropped_full: u64,
    /// Dropped by the room's inbound-loss impairment.
    pub impaired: u64,
}

/// Where the table routes a room's datagrams.
struct Slot {
    tx: mpsc::Sender<Incoming>,
    impair: Impairment,
    counters: RoomCounters,
}

struct Inner {
    endpoint: quinn::Endpoint,
    identity: Identity,
    conns: Mutex<HashMap<MemberId, quinn::Connection>>,
    /// Live connections to a peer that a newer one replaced (both ends
    /// dialled at once, or it dialled again): still read from, and closed
    /// with the peer, so the other end never keeps one we stopped using.
    spare: Mutex<HashMap<MemberId, Vec<quinn::Connection>>>,
    table: Mutex<RoutingTable<Slot>>,
    stats: Stats,
    closed: AtomicBool,
}

/// A cheap-to-clone handle on the media endpoint.
#[derive(Clone)]
pub struct MediaEndpoint {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MediaEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaEndpoint")
            .field("me", &self.inner.identity.member_id())
            .finish_non_exhaustive()
    }
}

fn transport(datagrams: bool) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.datagram_receive_buffer_size(datagrams.then_some(1 << 20));
    t.datagram_send_buffer_size(1 << 20);
    t.max_concurrent_uni_streams(1_024u32.into());
    t.keep_alive_interval(Some(Duration::from_secs(5)));
    Arc::new(t)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MediaEndpoint {
    /// Binds on `addr` (use port 0 in tests) with our identity. No room is
    /// open yet, so no peer is admitted until [`Self::open_room`].
    pub fn bind(identity: &Identity, addr: SocketAddr, cfg: Config) -> Result<Self, MediaError> {
        let identity = Identity::from_secret_bytes(&identity.to_secret_bytes());
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(tls::server_crypto(&identity)?));
        server.transport_config(transport(cfg.datagrams));
        let endpoint = quinn::Endpoint::server(server, addr)?;
        let me = Self {
            inner: Arc::new(Inner {
                endpoint,
                identity,
                conns: Mutex::new(HashMap::new()),
                spare: Mutex::new(HashMap::new()),
                table: Mutex::new(RoutingTable::new()),
                stats: Stats::default(),
                closed: AtomicBool::new(false),
            }),
        };
        tokio::spawn(me.clone().accept_loop());
        Ok(me)
    }

    /// Our local address.
    pub fn local_addr(&self) -> Result<SocketAddr, MediaError> {
        Ok(self.inner.endpoint.local_addr()?)
    }

    /// Our identity's member id.
    pub fn member_id(&self) -> MemberId {
        self.inner.identity.member_id()
    }

    /// Endpoint-wide counters.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    fn conns(&self) -> MutexGuard<'_, HashMap<MemberId, quinn::Connection>> {
        lock(&self.inner.conns)
    }

    fn table(&self) -> MutexGuard<'_, RoutingTable<Slot>> {
        lock(&self.inner.table)
    }

    /// Opens `room` with its current `members`: datagrams of the room arrive
    /// on the returned receiver, and its members may connect.
    pub fn open_room(
        &self,
        room: RoomId,
        members: impl IntoIterator<Item = MemberId>,
        cfg: RoomConfig,
    ) -> Result<mpsc::Receiver<Incoming>, MediaError> {
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let slot = Slot {
            tx,
            impair: Impairment::new(cfg.inbound_loss, cfg.loss_seed),
            counters: RoomCounters::default(),
        };
        self.table().open(room, slot, members)?;
        Ok(rx)
    }

    /// Replaces the members of `room` (after a roster change); peers left in
    /// no open room are disconnected.
    pub fn set_members(
        &self,
        room: &RoomId,
        members: impl IntoIterator<Item = MemberId>,
    ) -> Result<(), MediaError> {
        self.table().set_members(room, members)?;
        self.prune();
        Ok(())
    }

    /// Closes `room`; peers left in no open room are disconnected.
    pub fn close_room(&self, room: &RoomId) {
        self.table().close(room);
        self.prune();
    }

    /// Lets `relay` connect and forward frames and reports of members.
    pub fn add_relay(&self, relay: MemberId) -> Result<(), MediaError> {
        Ok(self.table().add_relay(relay)?)
    }

    /// Test/lab facility: sets the inbound-loss probability (0..1) of `room`.
    pub fn set_inbound_loss(&self, room: &RoomId, loss: f64) {
        if let Some(s) = self.table().target_mut(room) {
            s.impair.set_loss(loss);
        }
    }

    /// Counters of `room`, if open.
    pub fn room_counters(&self, room: &RoomId) -> Option<RoomCounters> {
        self.table().target_mut(room).map(|s| s.counters)
    }

    /// Disconnects every peer that no open room (nor the relay list) admits.
    fn prune(&self) {
        let mut connected: Vec<MemberId> = self.conns().keys().copied().collect();
        connected.extend(lock(&self.inner.spare).keys().copied());
        let gone: Vec<MemberId> = {
            let t = self.table();
            connected.into_iter().filter(|m| !t.admits(m)).collect()
        };
        for m in gone {
            self.disconnect(&m);
        }
    }

    /// Peers we hold a live connection to.
    pub fn peers(&self) -> Vec<MemberId> {
        self.conns()
            .iter()
            .filter(|(_, c)| c.close_reason().is_none())
            .map(|(m, _)| *m)
            .collect()
    }

    /// Members of `room` we hold a live connection to.
    pub fn peers_in(&self, room: &RoomId) -> Vec<MemberId> {
        let peers = self.peers();
        let t = self.table();
        peers.into_iter().filter(|m| t.is_member(room, m)).collect()
    }

    /// Whether we hold a live connection to `peer`.
    pub fn is_connected(&self, peer: &MemberId) -> bool {
        self.conns()
            .get(peer)
            .is_some_and(|c| c.close_reason().is_none())
    }

    /// Round-trip time to `peer`, if connected.
    pub fn rtt(&self, peer: &MemberId) -> Option<Duration> {
        self.conns().get(peer).map(|c| c.rtt())
    }

    async fn accept_loop(self) {
        while let Some(incoming) = self.inner.endpoint.accept().await {
            let me = self.clone();
            tokio::spawn(async move {
                match incoming.await {
                    Ok(conn) => {
                        if let Err(e) = me.admit(conn) {
                            tracing::debug!(error = %e, "media connection refused");
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "media handshake failed"),
                }
            });
        }
    }

    /// Checks the peer's identity against the open rooms and starts reading.
    fn admit(&self, conn: quinn::Connection) -> Result<MemberId, MediaError> {
        let Some(peer) = tls::peer_member(&conn) else {
            conn.close(CLOSE_NOT_MEMBER.into(), b"no identity");
            return Err(MediaError::NoIdentity);
        };
        if !self.table().admits(&peer) {
            self.inner
                .stats
                .refused_peers
                .fetch_add(1, Ordering::Relaxed);
            conn.close(CLOSE_NOT_MEMBER.into(), b"not a member");
            return Err(MediaError::NotMember(peer));
        }
        let replaced = self.conns().insert(peer, conn.clone());
        if let Some(old) = replaced.filter(|o| o.stable_id() != conn.stable_id()) {
            self.keep_spare(peer, old);
        }
        tokio::spawn(self.clone().read_loop(peer, conn));
        Ok(peer)
    }

    /// Keeps `old`, replaced by a newer connection to `peer`, until the
    /// peer is disconnected (the oldest spare is closed beyond
    /// [`MAX_SPARE_PER_PEER`]).
    fn keep_spare(&self, peer: MemberId, old: quinn::Connection) {
        if old.close_reason().is_some() {
            return;
        }
        let mut spare = lock(&self.inner.spare);
        let list = spare.entry(peer).or_default();
        list.push(old);
        if list.len() > MAX_SPARE_PER_PEER {
            let oldest = list.remove(0);
            oldest.close(CLOSE_NOT_MEMBER.into(), b"replaced");
        }
    }

    /// Dials `peer` at `addr` (pinning its key) unless already connected.
    pub async fn connect(&self, peer: MemberId, addr: SocketAddr) -> Result<(), MediaError> {
        if self.is_connected(&peer) {
            return Ok(());
        }
        if !self.table().admits(&peer) {
            return Err(MediaError::NotMember(peer));
        }
        let crypto = tls::client_crypto(&self.inner.identity, Some(peer))?;
        let mut client = quinn::ClientConfig::new(Arc::new(crypto));
        client.transport_config(transport(true));
        let conn = self
            .inner
            .endpoint
            .connect_with(client, addr, "aura-media")?
            .await?;
        self.admit(conn).map(|_| ())
    }

    /// Routes one datagram that came on `from`'s connection to its room.
    fn deliver(&self, from: MemberId, frame: Bytes) {
        let s = &self.inner.stats;
        let mut table = self.table();
        let routed = match table.route(&from, &frame) {
            Ok(r) => r,
            Err(RouteError::Framing(crate::FramingError::TooLarge(_))) => {
                s.oversize.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                s.unroutable.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%from, error = %e, "media datagram not routed");
                return;
            }
        };
        let msg = Incoming {
            from,
            sender: routed.sender,
            hop: routed.hop,
            header: routed.header,
            frame,
            at: Instant::now(),
        };
        let slot = routed.target;
        if slot.impair.drop_next() {
            slot.counters.impaired += 1;
            s.impaired.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if slot.tx.try_send(msg).is_err() {
            slot.counters.dropped_full += 1;
            s.dropped_full.fetch_add(1, Ordering::Relaxed);
        } else {
            slot.counters.delivered += 1;
            s.received.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn read_loop(self, from: MemberId, conn: quinn::Connection) {
        loop {
            tokio::select! {
                d = conn.read_datagram() => match d {
                    Ok(b) => self.deliver(from, b),
                    Err(_) => break,
                },
                s = conn.accept_uni() => match s {
                    Ok(mut recv) => {
                        let me = self.clone();
                        tokio::spawn(async move {
                            match recv.read_to_end(MAX_FRAME).await {
                                Ok(b) => me.deliver(from, Bytes::from(b)),
                                Err(_) => {
                                    me.inner.stats.oversize.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        });
                    }
                    Err(_) => break,
                },
            }
        }
        let mut conns = self.conns();
        if conns
            .get(&from)
            .is_some_and(|c| c.stable_id() == conn.stable_id())
        {
            conns.remove(&from);
        }
        drop(conns);
        let mut spare = lock(&self.inner.spare);
        if let Some(list) = spare.get_mut(&from) {
            list.retain(|c| c.stable_id() != conn.stable_id());
            if list.is_empty() {
                spare.remove(&from);
            }
        }
    }

    /// Sends a frame or report to `peer`: a datagram if the path allows, else
    /// its own unidirectional stream. Never waits for earlier frames.
    pub fn send(&self, peer: &MemberId, frame: Bytes) -> Result<(), MediaError> {
        if frame.len() > MAX_FRAME {
            return Err(MediaError::TooLarge(frame.len()));
        }
        let conn = self
            .conns()
            .get(peer)
            .cloned()
            .ok_or(MediaError::NotConnected(*peer))?;
        let s = &self.inner.stats;
        if conn.max_datagram_size().is_some_and(|m| m >= frame.len()) {
            match conn.send_datagram(frame.clone()) {
                Ok(()) => {
                    s.datagrams_sent.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(quinn::SendDatagramError::ConnectionLost(e)) => return Err(e.into()),
                Err(_) => {}
            }
        }
        s.streams_sent.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Ok(mut st) = conn.open_uni().await {
                let _ = st.write_all(&frame).await;
                let _ = st.finish();
            }
        });
        Ok(())
    }

    /// Sends a frame to every connected member of `room`; returns how many
    /// it went to.
    pub fn broadcast(&self, room: &RoomId, frame: &Bytes) -> usize {
        self.peers_in(room)
            .iter()
            .filter(|m| self.send(m, frame.clone()).is_ok())
            .count()
    }

    /// Opens a reliable bidirectional stream to `peer` on our connection
    /// (a relay's room control plane; see [`crate::room_control`]).
    pub async fn open_stream(
        &self,
        peer: &MemberId,
    ) -> Result<(quinn::SendStream, quinn::RecvStream), MediaError> {
        let conn = self
            .conns()
            .get(peer)
            .cloned()
            .ok_or(MediaError::NotConnected(*peer))?;
        Ok(conn.open_bi().await?)
    }

    /// Drops the connection to `peer`.
    pub fn disconnect(&self, peer: &MemberId) {
        let current = self.conns().remove(peer);
        let spare = lock(&self.inner.spare).remove(peer).unwrap_or_default();
        for c in current.into_iter().chain(spare) {
            c.close(CLOSE_NOT_MEMBER.into(), b"removed");
        }
    }

    /// Closes the endpoint and every connection; rooms stop receiving.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Relaxed);
        self.inner.endpoint.close(0u32.into(), b"bye");
        let rooms: HashSet<RoomId> = self.table().rooms().copied().collect();
        for r in rooms {
            self.table().close(&r);
        }
    }

    /// Whether [`Self::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Relaxed)
    }
}
