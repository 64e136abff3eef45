//! The `relay` benchmark suite: voice-sized sealed frames through the
//! relay's media forwarder between many pairs of members on loopback.
//!
//! The relay (`aura_relay::server::Server`) runs on its own thread with a
//! current-thread runtime, so its CPU is one thread's and "per core" is
//! exact. Each pair is a room of two members (the node's `aura-media`
//! endpoint); one talks, every 20 ms sending `--frames-per-tick` frames
//! with its send time inside the (opaque to the relay) payload; the other
//! receives through the relay. Delay is one-way, send to receive, through
//! both members' stacks; the same pairs first talk directly at the same
//! rate (the baseline), so the difference is what the relay adds.

use std::time::{Duration, Instant};

use aura_crypto::{FrameHeader, FrameKind, Identity, HEADER_LEN};
use aura_media::{Config, MediaEndpoint, RelayControl, RoomConfig};
use aura_relay::server::Server;
use bytes::Bytes;
use rand::rngs::OsRng;
use tokio::sync::oneshot;

/// Command-line options of this suite.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object instead of human-readable figures.
    #[arg(long)]
    pub json: bool,
    /// Talker/listener pairs (one room each).
    #[arg(long, default_value_t = 50)]
    pub pairs: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Frames each talker sends every 20 ms (1 = one voice stream).
    #[arg(long, default_value_t = 1)]
    pub frames_per_tick: usize,
    /// Bytes of each sealed frame (a 24 kb/s Opus frame sealed is ~95).
    #[arg(long, default_value_t = 96)]
    pub frame_bytes: usize,
}

/// CPU seconds of the calling thread (Linux; 0 elsewhere).
pub(crate) fn thread_cpu_s() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return 0.0;
    };
    let Some(rest) = s.rsplit(')').next() else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime, stime: fields 14 and 15 of stat, 12 and 13 after the name.
    (t(11) + t(12)) / 100.0
}

/// Every drop label the relay counts (forwarder, control plane, cascade).
const DROP_REASONS: [&str; 15] = [
    "malformed",
    "wrong_sender",
    "not_joined",
    "rate_limited",
    "not_admitted",
    "no_session",
    "not_speaker",
    "send_failed",
    "control_rate_limited",
    "control_queue_full",
    "link_queue_full",
    "link_pending_full",
    "link_malformed",
    "link_unexpected",
    "not_selected",
];

/// What a relay did over the measured window.
pub(crate) struct RelayFigures {
    /// Relay thread CPU seconds.
    pub(crate) cpu_s: f64,
    /// Datagrams forwarded (one per receiver, edges included).
    pub(crate) forwarded: u64,
    /// Datagrams dropped, all reasons but `not_selected` (a quiet seat
    /// not forwarded is the selection working, not a loss).
    pub(crate) drops: u64,
    /// Each non-zero drop label and its count.
    pub(crate) drops_by: Vec<(&'static str, u64)>,
}

/// The relay on its own thread, started and stopped around the window.
pub(crate) struct RelayThread {
    pub(crate) media: std::net::SocketAddr,
    pub(crate) id: Identity,
    /// Its libp2p address with `/p2p/<peer id>` (a DHT bootstrap entry).
    pub(crate) dht: String,
    pub(crate) start: oneshot::Sender<()>,
    pub(crate) stop: oneshot::Sender<()>,
    pub(crate) done: oneshot::Receiver<RelayFigures>,
}

/// A media endpoint of `id` on loopback, in `room` with `members` (a deep
/// queue: the bench measures the relay, not the client), that lets `relay`
/// forward to it.
pub(crate) fn relayed_endpoint(
    id: &Identity,
    room: [u8; 8],
    members: impl IntoIterator<Item = aura_crypto::MemberId>,
    relay: aura_crypto::MemberId,
) -> anyhow::Result<(MediaEndpoint, Inbox)> {
    let ep = MediaEndpoint::bind(id, "127.0.0.1:0".parse()?, Config::default())?;
    let rx = ep.open_room(
        room,
        members,
        RoomConfig {
            queue: 4_096,
            ..RoomConfig::default()
        },
    )?;
    ep.add_relay(relay)?;
    Ok((ep, rx))
}

/// Starts a relay on loopback with no bandwidth cap and room for
/// `members_per_room` members in one room; `bootstrap`: a relay's
/// [`RelayThread::dht`] to join the DHT through.
pub(crate) fn spawn_relay(
    members_per_room: usize,
    bootstrap: Option<String>,
) -> anyhow::Result<RelayThread> {
    let id = Identity::generate(&mut OsRng);
    let rid = id.clone();
    let (addr_tx, addr_rx) = std::sync::mpsc::sync_channel(1);
    let (start, start_rx) = oneshot::channel::<()>();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let (done_tx, done) = oneshot::channel();
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = addr_tx.send(Err(anyhow::anyhow!(e)));
                return;
            }
        };
        rt.block_on(async move {
            let mut cfg = aura_relay::config::Config::default();
            cfg.listen.libp2p = vec!["/ip4/127.0.0.1/tcp/0".into()];
            cfg.listen.metrics = None;
            cfg.listen.media = ([127, 0, 0, 1], 0).into();
            cfg.limits.connections_per_ip = 1_000_000;
            // The bench process hosts every client too: its RSS is not the relay's.
            cfg.limits.memory_mb = 1 << 20;
            cfg.limits.media_bytes_per_s = 0;
            cfg.limits.members_per_room = members_per_room;
            cfg.limits.media_sessions = members_per_room.max(4_096);
            cfg.dht.bootstrap = bootstrap.into_iter().collect();
            let server = match Server::spawn(rid, cfg).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = addr_tx.send(Err(anyhow::anyhow!(e)));
                    return;
                }
            };
            let dht = server
                .listen_addrs()
                .first()
                .map(|a| format!("{a}/p2p/{}", server.peer_id()))
                .unwrap_or_default();
            let _ = addr_tx.send(Ok((server.media_addr(), dht)));
            let _ = start_rx.await;
            let (cpu0, f0) = (thread_cpu_s(), server.metrics().forwarded_packets.get());
            let d0: Vec<u64> = DROP_REASONS
                .iter()
                .map(|r| server.metrics().drops_for(r))
                .collect();
            let _ = stop_rx.await;
            let cpu = thread_cpu_s() - cpu0;
            let fwd = server.metrics().forwarded_packets.get() - f0;
            let m = server.metrics();
            let drops_by: Vec<(&'static str, u64)> = DROP_REASONS
                .iter()
                .zip(&d0)
                .map(|(r, n0)| (*r, m.drops_for(r).saturating_sub(*n0)))
                .filter(|(_, n)| *n > 0)
                .collect();
            let drops = drops_by
                .iter()
                .filter(|(r, _)| *r != "not_selected")
                .map(|(_, n)| n)
                .sum();
            let _ = done_tx.send(RelayFigures {
                cpu_s: cpu,
                forwarded: fwd,
                drops,
                drops_by,
            });
            server.shutdown().await;
        });
    });
    let (media, dht) = addr_rx.recv()??;
    Ok(RelayThread {
        media,
        id,
        dht,
        start,
        stop,
        done,
    })
}

/// A voice-shaped sealed frame whose opaque body starts with its send time.
pub(crate) fn frame(
    room: [u8; 8],
    sender: &Identity,
    counter: u32,
    len: usize,
    base: Instant,
) -> Bytes {
    let h = FrameHeader {
        kind: FrameKind::Voice,
        room,
        sender: sender.member_id().short_id(),
        epoch: 1,
        counter,
    };
    let mut b = Vec::with_capacity(len.max(HEADER_LEN + 24));
    b.extend_from_slice(&h.to_bytes());
    b.extend_from_slice(&(base.elapsed().as_nanos() as u64).to_be_bytes());
    b.resize(len.max(HEADER_LEN + 24), 0xa5);
    Bytes::from(b)
}

/// A room's incoming queue on a listener's endpoint.
pub(crate) type Inbox = tokio::sync::mpsc::Receiver<aura_media::Incoming>;

/// Receives on `rx` until `end`: each frame's one-way delay (ns), from the
/// send time at the start of its body ([`frame`]).
pub(crate) fn spawn_receiver(
    ep: MediaEndpoint,
    mut rx: Inbox,
    base: Instant,
    end: Instant,
) -> tokio::task::JoinHandle<Vec<u64>> {
    tokio::spawn(async move {
        let mut delays = Vec::new();
        while let Ok(Some(inc)) = tokio::time::timeout_at(end.into(), rx.recv()).await {
            let now = base.elapsed().as_nanos() as u64;
            if let Some(b) = inc.frame.get(HEADER_LEN..HEADER_LEN + 8) {
                let mut t = [0u8; 8];
                t.copy_from_slice(b);
                delays.push(now.saturating_sub(u64::from_be_bytes(t)));
            }
        }
        drop(ep);
        delays
    })
}

/// Waits for the talkers (frames sent, endpoints kept open until the end)
/// and the receivers (their delays, sorted).
pub(crate) async fn collect(
    send_tasks: Vec<tokio::task::JoinHandle<(u64, MediaEndpoint, Inbox)>>,
    recv_tasks: Vec<tokio::task::JoinHandle<Vec<u64>>>,
) -> anyhow::Result<(u64, Vec<(MediaEndpoint, Inbox)>, Vec<u64>)> {
    let mut sent = 0u64;
    let mut keep = Vec::new();
    for t in send_tasks {
        let (s, ep, rx) = t.await?;
        sent += s;
        keep.push((ep, rx));
    }
    let mut delays = Vec::new();
    for t in recv_tasks {
        delays.extend(t.await?);
    }
    delays.sort_unstable();
    Ok((sent, keep, delays))
}

/// The `p` quantile of sorted delays (ns), in ms.
pub(crate) fn pct_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1e6
}

/// One pair: the talker's and the listener's endpoints and room queues.
struct Pair {
    talker: MediaEndpoint,
    id: Identity,
    room: [u8; 8],
    _talker_rx: Inbox,
    /// Kept open for the whole run.
    _listener: MediaEndpoint,
    listener_id: aura_crypto::MemberId,
    rx: Inbox,
}

/// What one phase measured: frames sent, and delays (ns, sorted).
struct Phase {
    sent: u64,
    delays: Vec<u64>,
}

impl Phase {
    fn loss(&self) -> f64 {
        1.0 - self.delays.len() as f64 / self.sent.max(1) as f64
    }
}

/// Every talker sends `args.frames_per_tick` frames every 20 ms for the
/// window, to the relay (`via`) or straight to its listener (`None`); each
/// listener records the one-way delays. Gives the pairs back.
async fn phase(
    pairs: Vec<Pair>,
    via: Option<aura_crypto::MemberId>,
    args: &Args,
    base: Instant,
) -> anyhow::Result<(Vec<Pair>, Phase)> {
    let window = Duration::from_secs(args.seconds);
    let (n, len) = (args.frames_per_tick, args.frame_bytes);
    let mut tasks = Vec::new();
    for mut p in pairs {
        tasks.push(tokio::spawn(async move {
            let to = via.unwrap_or(p.listener_id);
            let end = Instant::now() + window;
            let talk = async {
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                let (mut sent, mut counter) = (0u64, 0u32);
                while Instant::now() < end {
                    tick.tick().await;
                    for _ in 0..n {
                        counter += 1;
                        if p.talker
                            .send(&to, frame(p.room, &p.id, counter, len, base))
                            .is_ok()
                        {
                            sent += 1;
                        }
                    }
                }
                sent
            };
            let listen = async {
                let mut delays = Vec::new();
                let until = end + Duration::from_millis(500);
                while let Ok(Some(inc)) = tokio::time::timeout_at(until.into(), p.rx.recv()).await {
                    let now = base.elapsed().as_nanos() as u64;
                    if let Some(b) = inc.frame.get(HEADER_LEN..HEADER_LEN + 8) {
                        let mut t = [0u8; 8];
                        t.copy_from_slice(b);
                        delays.push(now.saturating_sub(u64::from_be_bytes(t)));
                    }
                }
                delays
            };
            let (sent, delays) = tokio::join!(talk, listen);
            (p, sent, delays)
        }));
    }
    let mut back = Vec::new();
    let mut out = Phase {
        sent: 0,
        delays: Vec::new(),
    };
    for t in tasks {
        let (p, sent, delays) = t.await?;
        out.sent += sent;
        out.delays.extend(delays);
        back.push(p);
    }
    out.delays.sort_unstable();
    Ok((back, out))
}

/// Runs the suite and prints its figures: first the same pairs talking
/// directly (the baseline), then through the relay.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let relay = spawn_relay(1_024, None)?;
    let rid = relay.id.member_id();
    let base = Instant::now();
    let window = Duration::from_secs(args.seconds);
    let mut pairs = Vec::new();
    for p in 0..args.pairs {
        let room = (p as u64 + 1).to_be_bytes();
        let (a, b) = (
            Identity::generate(&mut OsRng),
            Identity::generate(&mut OsRng),
        );
        let members = [a.member_id(), b.member_id()];
        let mut eps = Vec::new();
        for id in [&a, &b] {
            let (ep, rx) = relayed_endpoint(id, room, members, rid)?;
            ep.connect(rid, relay.media).await?;
            ep.send(&rid, Bytes::from(RelayControl::Join(room).to_vec()))?;
            eps.push((ep, rx));
        }
        let (listener, rx) = eps.pop().ok_or_else(|| anyhow::anyhow!("endpoint"))?;
        let (talker, talker_rx) = eps.pop().ok_or_else(|| anyhow::anyhow!("endpoint"))?;
        // The direct path of the baseline.
        talker
            .connect(b.member_id(), listener.local_addr()?)
            .await?;
        pairs.push(Pair {
            talker,
            id: a,
            room,
            _talker_rx: talker_rx,
            _listener: listener,
            listener_id: b.member_id(),
            rx,
        });
    }
    // Joins are datagrams: let them land before measuring.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (pairs, direct) = phase(pairs, None, &args, base).await?;
    let _ = relay.start.send(());
    let cpu0 = crate::bench::process_cpu_s();
    let t0 = Instant::now();
    let (pairs, relayed) = phase(pairs, Some(rid), &args, base).await?;
    let elapsed = t0.elapsed().as_secs_f64();
    let _ = relay.stop.send(());
    let RelayFigures {
        cpu_s: relay_cpu,
        forwarded,
        drops,
        ..
    } = relay.done.await?;
    let proc_cpu = crate::bench::process_cpu_s() - cpu0;
    let (pct, dpct) = (
        |p: f64| pct_ms(&relayed.delays, p),
        |p: f64| pct_ms(&direct.delays, p),
    );
    let received = relayed.delays.len() as u64;
    let sent = relayed.sent;
    let loss = relayed.loss();
    let pps = forwarded as f64 / window.as_secs_f64();
    let per_core = forwarded as f64 / relay_cpu.max(1e-9);
    let us_per_packet = relay_cpu * 1e6 / forwarded.max(1) as f64;
    let out = serde_json::json!({
        "suite": "relay",
        "pairs": args.pairs,
        "frames_per_tick": args.frames_per_tick,
        "frame_bytes": args.frame_bytes,
        "seconds": args.seconds,
        "sent": sent,
        "forwarded": forwarded,
        "received": received,
        "loss": loss,
        "relay_drops": drops,
        "forwarded_per_s": pps,
        "relay_cpu_s": relay_cpu,
        "relay_cpu_share": relay_cpu / elapsed,
        "forwarded_per_cpu_s": per_core,
        "relay_cpu_us_per_packet": us_per_packet,
        "process_cpu_s": proc_cpu,
        "delay_ms_p50": pct(0.5),
        "delay_ms_p99": pct(0.99),
        "delay_ms_max": pct(1.0),
        "direct_delay_ms_p50": dpct(0.5),
        "direct_delay_ms_p99": dpct(0.99),
        "direct_delay_ms_max": dpct(1.0),
        "direct_loss": direct.loss(),
        "added_delay_ms_p50": pct(0.5) - dpct(0.5),
        "added_delay_ms_p99": pct(0.99) - dpct(0.99),
    });
    if args.json {
        println!("{out}");
    } else {
        println!(
            "relay: {} pairs x {} frames/20 ms of {} B for {} s (direct first, then through the relay)\n\
             forwarded {forwarded} ({pps:.0}/s), received {received} of {sent} sent (loss {:.3} %, direct {:.3} %), relay drops {drops}\n\
             relay thread CPU {relay_cpu:.2} s ({:.0} % of one core): {per_core:.0} forwarded per CPU-second, {us_per_packet:.1} us per packet\n\
             one-way delay p50 / p99 / max: direct {:.2} / {:.2} / {:.2} ms, relayed {:.2} / {:.2} / {:.2} ms, added p50 {:.2} ms, p99 {:.2} ms",
            args.pairs,
            args.frames_per_tick,
            args.frame_bytes,
            args.seconds,
            loss * 100.0,
            direct.loss() * 100.0,
            relay_cpu / elapsed * 100.0,
            dpct(0.5),
            dpct(0.99),
            dpct(1.0),
            pct(0.5),
            pct(0.99),
            pct(1.0),
            pct(0.5) - dpct(0.5),
            pct(0.99) - dpct(0.99),
        );
    }
    drop(pairs);
    Ok(())
}
