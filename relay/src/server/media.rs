//! The media forwarder on the wire: a quinn endpoint speaking `aura-media`
//! (ALPN, ed25519 TLS identity), one read loop per member connection,
//! every datagram handed to the sans-IO [`Forwarder`] with the member the
//! TLS handshake authenticated, and sent on, unchanged, to the members it
//! names. Voice rides datagrams only; the room control plane ([`rooms`])
//! takes one bidirectional stream per connection.

mod cascade;
mod forwarding;
mod rooms;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aura_crypto::{Identity, MemberId};
use aura_media::tls;
use tokio::sync::watch;

use super::dht::DhtCmd;
use super::gate::{unix_now, Gate};
use super::metrics::Metrics;
use super::ServerError;
use crate::config::LimitsConfig;
use crate::forward::{Forwarder, Outcome};
use crate::per_ip::IpLimit;

/// QUIC close code: refused by a limit or the access policy.
const CLOSE_REFUSED: u32 = 0x52;
/// Longest a handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the media side needs of the rest of the relay for a cascade.
pub(super) struct Links {
    /// Requests to the swarm's DHT.
    pub(super) dht: tokio::sync::mpsc::Sender<DhtCmd>,
}

struct Shared {
    /// This relay's identity (an edge dials an origin with it).
    identity: Identity,
    /// The media endpoint (an edge dials an origin from it).
    endpoint: quinn::Endpoint,
    /// Its local address.
    media_addr: SocketAddr,
    links: Links,
    table: Mutex<Forwarder<quinn::Connection>>,
    control: rooms::Control,
    per_ip: Mutex<IpLimit>,
    gate: Gate,
    metrics: Metrics,
    memory_bytes: u64,
    /// Last resident-memory reading (bytes) and when (ms since start).
    rss: AtomicU64,
    rss_at_ms: AtomicU64,
    start: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Resident memory of this process, from `/proc/self/statm` (Linux).
fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

impl Shared {
    /// Whether the process is above its memory bound (read at most every 100 ms).
    fn over_memory(&self) -> bool {
        let now_ms = self.start.elapsed().as_millis() as u64;
        if now_ms.saturating_sub(self.rss_at_ms.load(Ordering::Relaxed)) >= 100 {
            self.rss_at_ms.store(now_ms, Ordering::Relaxed);
            if let Some(r) = rss_bytes() {
                self.rss.store(r, Ordering::Relaxed);
            }
        }
        self.rss.load(Ordering::Relaxed) > self.memory_bytes
    }

    fn refresh_gauges(&self, t: &Forwarder<quinn::Connection>) {
        let c = t.counts();
        self.metrics.media_sessions.set(c.sessions as i64);
        self.metrics.media_rooms.set(c.rooms as i64);
        self.metrics.media_joins.set(c.joins as i64);
    }
}

/// The media endpoint's settings (QUIC transport).
fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    // Bounded per connection: a few hundred voice frames in each direction.
    t.datagram_receive_buffer_size(Some(256 << 10));
    t.datagram_send_buffer_size(256 << 10);
    t.max_concurrent_uni_streams(0u32.into());
    // One control stream for rooms.
    t.max_concurrent_bidi_streams(1u32.into());
    t.keep_alive_interval(Some(Duration::from_secs(5)));
    t.max_idle_timeout(Some(quinn::VarInt::from_u32(30_000).into()));
    Arc::new(t)
}

/// The media socket's receive buffer. Every member's datagrams and QUIC
/// acknowledgements arrive on this one socket; under a burst (a flood, a
/// room's thousand listeners) the kernel's default (about 208 KiB)
/// overflows and the kernel drops datagrams before the relay reads them,
/// call frames among them. The kernel caps it at `net.core.rmem_max`.
const RECV_BUFFER: usize = 4 << 20;

/// The media forwarder's UDP socket on `addr`, with [`RECV_BUFFER`].
fn bind_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = std::net::UdpSocket::bind(addr)?;
    let state = quinn::udp::UdpSocketState::new((&socket).into())?;
    if let Err(e) = state.set_recv_buffer_size((&socket).into(), RECV_BUFFER) {
        tracing::warn!(error = %e, "media socket receive buffer left at the system default");
    }
    Ok(socket)
}

/// Binds the media forwarder on `addr`; it runs until `stop` turns true.
pub(super) fn spawn(
    identity: &Identity,
    addr: SocketAddr,
    limits: &LimitsConfig,
    gate: Gate,
    metrics: Metrics,
    links: Links,
    stop: watch::Receiver<bool>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), ServerError> {
    let crypto = tls::server_crypto(identity).map_err(|e| ServerError::Media(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server.transport_config(transport());
    let endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server),
        bind_socket(addr)?,
        Arc::new(quinn::TokioRuntime),
    )?;
    let local = endpoint.local_addr()?;
    let shared = Arc::new(Shared {
        identity: Identity::from_secret_bytes(&identity.to_secret_bytes()),
        endpoint: endpoint.clone(),
        media_addr: local,
        links,
        table: Mutex::new(Forwarder::new(limits.forwarder(), gate.access().clone())),
        control: rooms::Control::new(limits.rooms(), gate.vip_ledger()),
        per_ip: Mutex::new(IpLimit::new(limits.connections_per_ip)),
        gate,
        metrics,
        memory_bytes: limits.memory_mb.saturating_mul(1 << 20),
        rss: AtomicU64::new(0),
        rss_at_ms: AtomicU64::new(0),
        start: Instant::now(),
    });
    // Absent members are looked for four times per grace period, at most
    // every 5 s.
    let every = Duration::from_secs(limits.room_absent_after_s)
        .div_f32(4.0)
        .clamp(Duration::from_millis(250), Duration::from_secs(5));
    tokio::spawn(rooms::sweep_absent(shared.clone(), every, stop.clone()));
    let task = tokio::spawn(accept_loop(endpoint, shared, stop));
    Ok((local, task))
}

async fn accept_loop(
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => match i {
                Some(i) => i,
                None => break,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let ip = incoming.remote_address().ip();
        if shared.over_memory() {
            shared.metrics.refuse("media", "memory");
            incoming.refuse();
            continue;
        }
        if !lock(&shared.per_ip).try_acquire(ip) {
            shared.metrics.refuse("media", "connections_per_ip");
            incoming.refuse();
            continue;
        }
        let s = shared.clone();
        tokio::spawn(async move {
            let _slot = IpSlot(ip, s.clone());
            let conn = match tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "media handshake failed");
                    s.metrics.refuse("media", "handshake");
                    return;
                }
                Err(_) => {
                    s.metrics.refuse("media", "handshake_timeout");
                    return;
                }
            };
            serve(conn, s).await;
        });
    }
    endpoint.close(0u32.into(), aura_media::room_control::CLOSE_STOPPING);
    endpoint.wait_idle().await;
}

/// Gives the IP slot back when the connection ends.
struct IpSlot(IpAddr, Arc<Shared>);

impl Drop for IpSlot {
    fn drop(&mut self) {
        lock(&self.1.per_ip).release(self.0);
    }
}

/// Admits a member's connection and forwards its datagrams until it ends.
async fn serve(conn: quinn::Connection, s: Arc<Shared>) {
    let Some(member) = tls::peer_member(&conn) else {
        s.metrics.refuse("media", "no_identity");
        conn.close(CLOSE_REFUSED.into(), b"no identity");
        return;
    };
    let old = {
        let mut t = lock(&s.table);
        let r = t.connect(member, conn.clone(), Instant::now());
        s.refresh_gauges(&t);
        r
    };
    match old {
        Ok(Some(old)) => old.close(CLOSE_REFUSED.into(), b"replaced"),
        Ok(None) => {}
        Err(r) => {
            s.metrics.refuse("media", r.as_str());
            conn.close(CLOSE_REFUSED.into(), r.as_str().as_bytes());
            return;
        }
    }
    tracing::debug!(%member, remote = %conn.remote_address(), "media session");
    let control = tokio::spawn(rooms::serve(conn.clone(), member, s.clone()));
    let mut out: Vec<quinn::Connection> = Vec::new();
    while let Ok(d) = conn.read_datagram().await {
        forward(&s, &member, &d, &mut out);
    }
    control.abort();
    rooms::gone(&s, &member, &conn);
    let mut t = lock(&s.table);
    t.disconnect(&member, |c| c.stable_id() == conn.stable_id());
    s.refresh_gauges(&t);
}

/// One datagram through the table, then out to its receivers.
fn forward(s: &Shared, member: &MemberId, d: &bytes::Bytes, out: &mut Vec<quinn::Connection>) {
    out.clear();
    let mut start = 0;
    {
        let mut t = lock(&s.table);
        match t.on_datagram(member, d, Instant::now(), unix_now()) {
            Ok(Outcome::Forward(fan)) => {
                start = fan.payload_start();
                out.extend(fan.cloned());
            }
            Ok(Outcome::Joined(_)) | Ok(Outcome::Left(_)) => s.refresh_gauges(&t),
            Ok(Outcome::Admitted(exp)) => s.gate.admit(*member, exp),
            Ok(Outcome::Refused(r)) => s.metrics.refuse("media", r.as_str()),
            Ok(Outcome::Unused) => {}
            Err(e) => s.metrics.drop(e.as_str()),
        }
    }
    let d = d.slice(start..);
    for c in out.iter() {
        match c.send_datagram(d.clone()) {
            Ok(()) => {
                s.metrics.forwarded_packets.inc();
                s.metrics.forwarded_bytes.inc_by(d.len() as u64);
            }
            Err(_) => s.metrics.drop("send_failed"),
        }
    }
}
