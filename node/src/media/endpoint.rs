//! The media endpoint: a quinn QUIC endpoint carrying opaque sealed frames
//! as datagrams between members, authenticated with their ed25519 keys.
//!
//! Each incoming frame is handed on with the member at the other end of the
//! connection; the endpoint never looks inside. If a path or peer cannot
//! carry datagrams (or a frame is larger than the path allows), each frame
//! goes on its own unidirectional stream, so a lost packet still never
//! delays a later frame.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aura_crypto::{Identity, MemberId};
use bytes::Bytes;
use thiserror::Error;
use tokio::sync::mpsc;

use super::tls::{self, TlsError};

/// Largest frame accepted from the network (a sealed music frame fits).
pub const MAX_FRAME: usize = 4_096;
/// QUIC close code: the peer is not a member of any of our groups.
const CLOSE_NOT_MEMBER: u32 = 0x41;

/// Decides whether a member may talk to us (a roster check).
pub type Acl = Arc<dyn Fn(&MemberId) -> bool + Send + Sync>;

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
    /// The peer is not someone we may talk to.
    #[error("peer {0} is not a member")]
    NotMember(MemberId),
    /// No connection to this member.
    #[error("not connected to {0}")]
    NotConnected(MemberId),
    /// Frame larger than [`MAX_FRAME`].
    #[error("frame of {0} bytes is too large")]
    TooLarge(usize),
}

/// Endpoint settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Accept QUIC datagrams (off forces peers onto the stream fallback).
    pub datagrams: bool,
    /// Bound of the incoming frame queue (frames beyond are dropped, counted).
    pub queue: usize,
    /// Test/lab facility: drop each received frame with this probability
    /// (0..1) before it is processed, as a lossy path would. 0 in real use;
    /// changeable at runtime with [`MediaEndpoint::set_inbound_loss`].
    pub inbound_loss: f64,
    /// Seed of the impairment's random drops (repeatable runs).
    pub loss_seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            datagrams: true,
            queue: 1_024,
            inbound_loss: 0.0,
            loss_seed: 0,
        }
    }
}

/// A frame that arrived.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// The member at the other end of the connection.
    pub from: MemberId,
    /// The sealed frame.
    pub frame: Bytes,
    /// When it arrived.
    pub at: Instant,
}

/// Counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Frames sent as datagrams.
    pub datagrams_sent: AtomicU64,
    /// Frames sent on their own stream (fallback).
    pub streams_sent: AtomicU64,
    /// Frames received.
    pub received: AtomicU64,
    /// Frames dropped because the incoming queue was full.
    pub dropped_full: AtomicU64,
    /// Frames refused for size.
    pub oversize: AtomicU64,
    /// Connections refused: the peer is not a member.
    pub refused_peers: AtomicU64,
    /// Frames dropped by the inbound-loss impairment (test/lab).
    pub impaired: AtomicU64,
}

/// The inbound-loss impairment: probability (parts per million) and RNG.
struct Impairment {
    ppm: AtomicU64,
    rng: Mutex<rand::rngs::StdRng>,
}

impl Impairment {
    fn new(loss: f64, seed: u64) -> Self {
        use rand::SeedableRng;
        Self {
            ppm: AtomicU64::new(Self::ppm(loss)),
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
        }
    }

    fn ppm(loss: f64) -> u64 {
        (loss.clamp(0.0, 1.0) * 1e6).round() as u64
    }

    /// Whether to drop the next frame.
    fn drop_next(&self) -> bool {
        use rand::Rng;
        let ppm = self.ppm.load(Ordering::Relaxed);
        if ppm == 0 {
            return false;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        rng.gen_range(0..1_000_000) < ppm
    }
}

struct Inner {
    endpoint: quinn::Endpoint,
    identity: Identity,
    conns: Mutex<HashMap<MemberId, quinn::Connection>>,
    acl: Acl,
    tx: mpsc::Sender<Incoming>,
    stats: Stats,
    impair: Impairment,
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

impl MediaEndpoint {
    /// Binds on `addr` (use port 0 in tests). Incoming frames from members
    /// that `acl` accepts arrive on the returned receiver.
    pub fn bind(
        identity: &Identity,
        addr: SocketAddr,
        acl: Acl,
        cfg: Config,
    ) -> Result<(Self, mpsc::Receiver<Incoming>), MediaError> {
        let identity = Identity::from_secret_bytes(&identity.to_secret_bytes());
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(tls::server_crypto(&identity)?));
        server.transport_config(transport(cfg.datagrams));
        let endpoint = quinn::Endpoint::server(server, addr)?;
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let inner = Arc::new(Inner {
            endpoint,
            identity,
            conns: Mutex::new(HashMap::new()),
            acl,
            tx,
            stats: Stats::default(),
            impair: Impairment::new(cfg.inbound_loss, cfg.loss_seed),
        });
        let me = Self { inner };
        tokio::spawn(me.clone().accept_loop(cfg.datagrams));
        Ok((me, rx))
    }

    /// Our local address.
    pub fn local_addr(&self) -> Result<SocketAddr, MediaError> {
        Ok(self.inner.endpoint.local_addr()?)
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    fn conns(&self) -> MutexGuard<'_, HashMap<MemberId, quinn::Connection>> {
        self.inner.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Test/lab facility: sets the inbound-loss probability (0..1) applied
    /// to received frames before they are processed.
    pub fn set_inbound_loss(&self, loss: f64) {
        self.inner
            .impair
            .ppm
            .store(Impairment::ppm(loss), Ordering::Relaxed);
    }

    /// Members we hold a live connection to.
    pub fn peers(&self) -> Vec<MemberId> {
        self.conns()
            .iter()
            .filter(|(_, c)| c.close_reason().is_none())
            .map(|(m, _)| *m)
            .collect()
    }

    /// Round-trip time to `member`, if connected.
    pub fn rtt(&self, member: &MemberId) -> Option<Duration> {
        self.conns().get(member).map(|c| c.rtt())
    }

    async fn accept_loop(self, datagrams: bool) {
        let _ = datagrams;
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

    /// Checks the peer's identity against the ACL and starts reading.
    fn admit(&self, conn: quinn::Connection) -> Result<MemberId, MediaError> {
        let Some(member) = tls::peer_member(&conn) else {
            conn.close(CLOSE_NOT_MEMBER.into(), b"no identity");
            return Err(MediaError::NotMember(MemberId([0; 32])));
        };
        if !(self.inner.acl)(&member) {
            self.inner
                .stats
                .refused_peers
                .fetch_add(1, Ordering::Relaxed);
            conn.close(CLOSE_NOT_MEMBER.into(), b"not a member");
            return Err(MediaError::NotMember(member));
        }
        self.conns().insert(member, conn.clone());
        tokio::spawn(self.clone().read_loop(member, conn));
        Ok(member)
    }

    /// Dials `member` at `addr` (pinning its key) unless already connected.
    pub async fn connect(&self, member: MemberId, addr: SocketAddr) -> Result<(), MediaError> {
        if self
            .conns()
            .get(&member)
            .is_some_and(|c| c.close_reason().is_none())
        {
            return Ok(());
        }
        if !(self.inner.acl)(&member) {
            return Err(MediaError::NotMember(member));
        }
        let crypto = tls::client_crypto(&self.inner.identity, Some(member))?;
        let mut client = quinn::ClientConfig::new(Arc::new(crypto));
        client.transport_config(transport(true));
        let conn = self
            .inner
            .endpoint
            .connect_with(client, addr, "aura-media")?
            .await?;
        self.admit(conn).map(|_| ())
    }

    fn deliver(&self, from: MemberId, frame: Bytes) {
        let s = &self.inner.stats;
        if frame.len() > MAX_FRAME {
            s.oversize.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.inner.impair.drop_next() {
            s.impaired.fetch_add(1, Ordering::Relaxed);
            return;
        }
        s.received.fetch_add(1, Ordering::Relaxed);
        let msg = Incoming {
            from,
            frame,
            at: Instant::now(),
        };
        if self.inner.tx.try_send(msg).is_err() {
            s.dropped_full.fetch_add(1, Ordering::Relaxed);
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
    }

    /// Sends a sealed frame to `member`: a datagram if the path allows, else
    /// its own unidirectional stream. Never waits for earlier frames.
    pub fn send(&self, member: &MemberId, frame: Bytes) -> Result<(), MediaError> {
        if frame.len() > MAX_FRAME {
            return Err(MediaError::TooLarge(frame.len()));
        }
        let conn = self
            .conns()
            .get(member)
            .cloned()
            .ok_or(MediaError::NotConnected(*member))?;
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

    /// Sends a frame to every connected member; returns how many it went to.
    pub fn broadcast(&self, frame: &Bytes) -> usize {
        self.peers()
            .iter()
            .filter(|m| self.send(m, frame.clone()).is_ok())
            .count()
    }

    /// Drops the connection to `member` (e.g. after a removal).
    pub fn disconnect(&self, member: &MemberId) {
        if let Some(c) = self.conns().remove(member) {
            c.close(CLOSE_NOT_MEMBER.into(), b"removed");
        }
    }

    /// Closes everything.
    pub fn close(&self) {
        self.inner.endpoint.close(0u32.into(), b"bye");
    }
}
