//! Real Aura nodes in the NAT lab: a relay on a thread of its own in the
//! WAN namespace, and two members (A creates the group, B joins) that
//! share their location, chat and talk while the test watches their
//! paths, hole punches and voice. Used by `nat_nodes.rs`.

use std::time::{Duration, Instant};

use aura_crypto::Identity;
use aura_node::{
    config::Config,
    location::{Position, Precision},
    Event, Node, Path,
};
use aura_relay::server::Server;
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot, watch};

use super::voice::{assert_relay_opens_nothing, LabVoice, VoiceProgress, VoiceSeen};
use super::{spawn_in, spawn_in_with, Lab};
/// A relay running in the WAN namespace on a thread of its own.
pub struct Relay {
    pub peer: PeerId,
    pub udp: u16,
    pub tcp: u16,
    /// `true`: shut down gracefully; `false` (or dropped): killed, its
    /// runtime and sockets dropped with no goodbye.
    pub stop: oneshot::Sender<bool>,
    /// Gives the media forwarder's forwarded-packet counter at the end.
    pub thread: std::thread::JoinHandle<u64>,
    pub id: Identity,
    /// The relay's counters, live.
    pub metrics: aura_relay::server::metrics::Metrics,
    /// Its media forwarder's UDP port.
    pub media: u16,
}

impl Relay {
    pub fn start(lab: &Lab, seed: u8) -> Self {
        let id = Identity::from_secret_bytes(&[seed; 32]);
        let key = id.clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let (stop, stop_rx) = oneshot::channel::<bool>();
        let thread = spawn_in_with(lab.ns("wan"), 2, move || async move {
            let mut cfg = aura_relay::config::Config::default();
            cfg.listen.libp2p = vec![
                "/ip4/0.0.0.0/udp/0/quic-v1".into(),
                "/ip4/0.0.0.0/tcp/0".into(),
            ];
            cfg.listen.media = "0.0.0.0:0".parse().unwrap();
            cfg.listen.metrics = None;
            let server = Server::spawn(id, cfg).await.unwrap();
            let port = |udp: bool| {
                server
                    .listen_addrs()
                    .iter()
                    .find_map(|a| {
                        let mut it = a.iter();
                        match (it.next(), it.next()) {
                            (_, Some(libp2p::multiaddr::Protocol::Udp(p))) if udp => Some(p),
                            (_, Some(libp2p::multiaddr::Protocol::Tcp(p))) if !udp => Some(p),
                            _ => None,
                        }
                    })
                    .unwrap()
            };
            tx.send((
                server.peer_id(),
                port(true),
                port(false),
                server.metrics().clone(),
                server.media_addr().port(),
            ))
            .unwrap();
            let graceful = matches!(stop_rx.await, Ok(true));
            let forwarded = server.metrics().forwarded_packets.get();
            if graceful {
                server.shutdown().await;
            }
            forwarded
            // Otherwise the runtime, the relay's tasks and sockets go with
            // this thread: a crash, as the members see it.
        });
        let (peer, udp, tcp, metrics, media) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
        Relay {
            peer,
            udp,
            tcp,
            stop,
            thread,
            id: key,
            metrics,
            media,
        }
    }

    /// The relay's address as member `i` (1 or 2) reaches it.
    pub fn quic_addr(&self, i: u8) -> String {
        format!(
            "/ip4/100.64.{i}.1/udp/{}/quic-v1/p2p/{}",
            self.udp, self.peer
        )
    }

    pub fn tcp_addr(&self, i: u8) -> String {
        format!("/ip4/100.64.{i}.1/tcp/{}/p2p/{}", self.tcp, self.peer)
    }

    /// Silences the relay (its libp2p and media ports dropped by nftables
    /// in the WAN: no close, no reset, as on a power cut); it keeps running.
    pub fn silence(&self, lab: &Lab) {
        lab.silence("wan", &[self.udp, self.media], &[self.tcp]);
    }

    /// Kills the relay (no graceful close) and waits for its thread;
    /// returns how many media datagrams it forwarded.
    pub fn kill(self) -> u64 {
        let _ = self.stop.send(false);
        self.thread.join().unwrap()
    }
}

/// What a member saw.
#[derive(Debug, Default)]
pub struct Report {
    /// The final path to the other member.
    pub path: Option<Path>,
    /// Every path to the other member, in order.
    pub paths: Vec<Path>,
    /// When each location of the other member arrived.
    pub locations: Vec<Instant>,
    /// Chats heard from the other member, and when.
    pub chats: Vec<(Instant, String)>,
    /// Hole punches that succeeded and failed.
    pub punched: (u64, u64),
    /// What its voice saw.
    pub voice: VoiceSeen,
}

pub async fn start_node(relays: Vec<String>) -> (Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::loopback(dir.path().to_path_buf());
    cfg.listen = vec![
        "/ip4/0.0.0.0/udp/0/quic-v1".into(),
        "/ip4/0.0.0.0/tcp/0".into(),
    ];
    cfg.relays = relays;
    let node = Node::builder().config(cfg).start().await.unwrap();
    (node, dir)
}

/// Waits until `node` listens through `n` relays.
pub async fn wait_circuits(node: &Node, n: usize) {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let addrs = node.listen_addrs().await.unwrap();
            let circuits = addrs
                .iter()
                .filter(|a| {
                    a.iter()
                        .any(|p| p == libp2p::multiaddr::Protocol::P2pCircuit)
                })
                .count();
            if circuits >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("no reservation on the relays");
}

/// How a member reaches the relays: their addresses, and the relays' keys
/// (for the curious-relay check).
pub struct Relays(pub Vec<String>, pub Vec<Identity>);

/// A member's script: A (`invite_tx` set) creates the group and sends the
/// invite; B joins with it. Both share their location every 100 ms, chat
/// every 500 ms once connected, talk (voice bound on `ip`), and record what
/// they hear from the other until `stop` turns true.
#[allow(clippy::too_many_arguments)]
pub async fn member(
    ip: &'static str,
    Relays(relays, relay_keys): Relays,
    circuits: usize,
    invite_tx: Option<std::sync::mpsc::SyncSender<(String, PeerId)>>,
    invite_rx: Option<std::sync::mpsc::Receiver<(String, PeerId)>>,
    paths_tx: mpsc::Sender<(Instant, Path)>,
    punch_tx: watch::Sender<((u64, u64), VoiceProgress)>,
    mut stop: watch::Receiver<bool>,
) -> Report {
    let (node, _dir) = start_node(relays).await;
    let mut events = node.events();
    wait_circuits(&node, circuits).await;
    let (gid, other) = match (invite_tx, invite_rx) {
        (Some(tx), _) => {
            let gid = node.create_group("lab").await.unwrap();
            let invite = node.invite(gid, 1, 600_000).await.unwrap();
            tx.send((invite, node.peer_id())).unwrap();
            (gid, None)
        }
        (None, Some(rx)) => {
            let (invite, a) = tokio::task::spawn_blocking(move || rx.recv().unwrap())
                .await
                .unwrap();
            let gid = tokio::time::timeout(Duration::from_secs(30), node.join(&invite))
                .await
                .expect("join timed out")
                .unwrap_or_else(|e| panic!("join: {e}"));
            (gid, Some(a))
        }
        _ => unreachable!(),
    };
    node.set_precision(gid, Precision::Exact).await.unwrap();
    node.share_location(gid, true).await.unwrap();
    let voice = LabVoice::start(&node, gid, ip).await;
    let me = node.peer_id();
    let mut other: Option<PeerId> = other;
    let mut report = Report::default();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut n = 0u32;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                n += 1;
                if n % 5 == 0 {
                    if let Ok(st) = node.stats().await {
                        let v = voice.progress().await;
                        punch_tx.send_replace(((st.hole_punches, st.hole_punches_failed), v));
                    }
                }
                let pos = Position::new(45.92 + f64::from(n) * 1e-4, 6.87).unwrap();
                let _ = node.update_position(pos).await;
                // A chat every half second once connected to the other.
                if let (Some(o), 0) = (other, n % 5) {
                    if node.connections().iter().any(|(p, _)| *p == o) {
                        let _ = node.send_chat(gid, &format!("hello {n} from {me}")).await;
                    }
                }
            }
            e = events.next() => match e {
                Some(Event::PathChanged { peer, path }) => {
                    if other.is_none() && peer != me {
                        // A learns B when B joins: any member peer.
                        if node.members(gid).await.unwrap().iter().any(|(m, _)| m.peer_id().ok() == Some(peer)) {
                            other = Some(peer);
                        }
                    }
                    if Some(peer) == other {
                        report.paths.push(path);
                        let _ = paths_tx.try_send((Instant::now(), path));
                    }
                }
                Some(Event::Location { member, .. }) if member.peer_id().ok() == other => {
                    report.locations.push(Instant::now());
                }
                Some(Event::Chat { text, .. }) => report.chats.push((Instant::now(), text)),
                Some(Event::MemberJoined { member, .. }) if other.is_none() => {
                    other = member.peer_id().ok();
                    if let Some(o) = other {
                        if let Some((_, p)) = node.connections().into_iter().find(|(p, _)| *p == o) {
                            report.paths.push(p);
                            let _ = paths_tx.try_send((Instant::now(), p));
                        }
                    }
                }
                Some(_) => {}
                None => break,
            },
            _ = stop.changed() => break,
        }
    }
    report.path = other.and_then(|o| {
        node.connections()
            .into_iter()
            .find(|(p, _)| *p == o)
            .map(|(_, p)| p)
    });
    let stats = node.stats().await.unwrap();
    report.punched = (stats.hole_punches, stats.hole_punches_failed);
    report.voice = voice.finish().await;
    for r in &relay_keys {
        assert_relay_opens_nothing(&node, gid, r).await;
    }
    node.shutdown().await;
    report
}

/// The two members, started in h1 and h2.
pub struct Pair {
    pub a: std::thread::JoinHandle<Report>,
    pub b: std::thread::JoinHandle<Report>,
    /// B's paths to A as they change.
    pub b_paths: mpsc::Receiver<(Instant, Path)>,
    /// Each member's hole punches (succeeded, failed) and voice, every
    /// half second.
    pub punches: [watch::Receiver<((u64, u64), VoiceProgress)>; 2],
    pub stop: watch::Sender<bool>,
}

pub fn pair(lab: &Lab, relays: impl Fn(u8) -> Relays, circuits: usize) -> Pair {
    let (inv_tx, inv_rx) = std::sync::mpsc::sync_channel(1);
    let (stop, stop_rx) = watch::channel(false);
    let (a_paths, _a_rx) = mpsc::channel(64);
    let (b_paths_tx, b_paths) = mpsc::channel(64);
    let (ra, rb) = (relays(1), relays(2));
    let (pa_tx, pa) = watch::channel(Default::default());
    let (pb_tx, pb) = watch::channel(Default::default());
    let s = stop_rx.clone();
    let a = spawn_in(lab.ns("h1"), move || {
        member(
            "10.1.0.2",
            ra,
            circuits,
            Some(inv_tx),
            None,
            a_paths,
            pa_tx,
            s,
        )
    });
    let b = spawn_in(lab.ns("h2"), move || {
        member(
            "10.2.0.2",
            rb,
            circuits,
            None,
            Some(inv_rx),
            b_paths_tx,
            pb_tx,
            stop_rx,
        )
    });
    Pair {
        a,
        b,
        b_paths,
        punches: [pa, pb],
        stop,
    }
}

impl Pair {
    /// Waits for B's path to A to satisfy `ok`.
    pub async fn wait_path(&mut self, secs: u64, ok: impl Fn(&Path) -> bool) -> (Instant, Path) {
        tokio::time::timeout(Duration::from_secs(secs), async {
            loop {
                let (at, p) = self.b_paths.recv().await.expect("member stopped");
                if ok(&p) {
                    return (at, p);
                }
            }
        })
        .await
        .expect("path not reached in time")
    }

    /// Waits until a member's hole punching failed.
    pub async fn wait_punch_failed(&mut self, secs: u64) {
        let [a, b] = &mut self.punches;
        tokio::time::timeout(Duration::from_secs(secs), async {
            loop {
                if a.borrow().0 .1 + b.borrow().0 .1 >= 1 {
                    return;
                }
                tokio::select! {
                    r = a.changed() => r.expect("member stopped"),
                    r = b.changed() => r.expect("member stopped"),
                }
            }
        })
        .await
        .expect("no hole punching attempt failed in time")
    }

    /// Waits until both members' voice satisfies `ok`.
    pub async fn wait_voice(&mut self, secs: u64, ok: impl Fn(&VoiceProgress) -> bool) {
        let [a, b] = &mut self.punches;
        let waited = tokio::time::timeout(Duration::from_secs(secs), async {
            loop {
                if ok(&a.borrow().1) && ok(&b.borrow().1) {
                    return;
                }
                tokio::select! {
                    r = a.changed() => r.expect("member stopped"),
                    r = b.changed() => r.expect("member stopped"),
                }
            }
        })
        .await;
        if waited.is_err() {
            let (pa, pb) = (&a.borrow().1, &b.borrow().1);
            panic!(
                "voice not there in time: A direct {} relays {:?} heard {}; B direct {} relays {:?} heard {}",
                pa.direct,
                pa.relays,
                pa.heard.len(),
                pb.direct,
                pb.relays,
                pb.heard.len()
            );
        }
    }

    /// Both members' voice as last reported (every half second).
    pub fn voice_now(&self) -> [VoiceProgress; 2] {
        let [a, b] = &self.punches;
        [a.borrow().1.clone(), b.borrow().1.clone()]
    }

    pub fn finish(self) -> (Report, Report) {
        let _ = self.stop.send(true);
        (self.a.join().unwrap(), self.b.join().unwrap())
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
