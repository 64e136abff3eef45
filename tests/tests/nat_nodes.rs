//! Real Aura nodes in the NAT lab (root only; skipped, saying so,
//! elsewhere). Topology (`tests/lab/mod.rs`): member A on h1 behind
//! r1, member B on h2 behind r2, relays in the WAN. Each member knows the
//! relays from its config, reserves on them (AutoNAT cannot confirm a
//! public address here: 100.64/10 is not global), and reaches the other
//! through a circuit; each test asserts the path it ends on.
//!
//! - full-cone NATs: DCUtR turns the relayed connection into a direct one;
//! - symmetric NATs: hole punching fails, the members stay relayed;
//! - two relays, the one in use killed while A shares its location: B
//!   hears A again through the other relay; the gap is printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lab;

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use aura_crypto::Identity;
use aura_node::{
    config::Config,
    location::{Position, Precision},
    Event, Node, Path,
};
use aura_relay::server::Server;
use lab::voice::{assert_relay_opens_nothing, LabVoice, VoiceProgress, VoiceSeen};
use lab::{spawn_in, Lab, Nat};
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot, watch};

/// One lab at a time: the gap measured must not share the CPU with another lab.
static SERIAL: Mutex<()> = Mutex::new(());

/// A relay running in the WAN namespace on a thread of its own.
struct Relay {
    peer: PeerId,
    udp: u16,
    tcp: u16,
    /// `true`: shut down gracefully; `false` (or dropped): killed, its
    /// runtime and sockets dropped with no goodbye.
    stop: oneshot::Sender<bool>,
    /// Gives the media forwarder's forwarded-packet counter at the end.
    thread: std::thread::JoinHandle<u64>,
    id: Identity,
}

impl Relay {
    fn start(lab: &Lab, seed: u8) -> Self {
        let id = Identity::from_secret_bytes(&[seed; 32]);
        let key = id.clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let (stop, stop_rx) = oneshot::channel::<bool>();
        let thread = spawn_in(lab.ns("wan"), move || async move {
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
            tx.send((server.peer_id(), port(true), port(false)))
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
        let (peer, udp, tcp) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
        Relay {
            peer,
            udp,
            tcp,
            stop,
            thread,
            id: key,
        }
    }

    /// The relay's address as member `i` (1 or 2) reaches it.
    fn quic_addr(&self, i: u8) -> String {
        format!(
            "/ip4/100.64.{i}.1/udp/{}/quic-v1/p2p/{}",
            self.udp, self.peer
        )
    }

    fn tcp_addr(&self, i: u8) -> String {
        format!("/ip4/100.64.{i}.1/tcp/{}/p2p/{}", self.tcp, self.peer)
    }

    /// Kills the relay (no graceful close) and waits for its thread;
    /// returns how many media datagrams it forwarded.
    fn kill(self) -> u64 {
        let _ = self.stop.send(false);
        self.thread.join().unwrap()
    }
}

/// What a member saw.
#[derive(Debug, Default)]
struct Report {
    /// The final path to the other member.
    path: Option<Path>,
    /// Every path to the other member, in order.
    paths: Vec<Path>,
    /// When each location of the other member arrived.
    locations: Vec<Instant>,
    /// Chats heard from the other member, and when.
    chats: Vec<(Instant, String)>,
    /// Hole punches that succeeded and failed.
    punched: (u64, u64),
    /// What its voice saw.
    voice: VoiceSeen,
}

async fn start_node(relays: Vec<String>) -> (Node, tempfile::TempDir) {
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
async fn wait_circuits(node: &Node, n: usize) {
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
struct Relays(Vec<String>, Vec<Identity>);

/// A member's script: A (`invite_tx` set) creates the group and sends the
/// invite; B joins with it. Both share their location every 100 ms, chat
/// every 500 ms once connected, talk (voice bound on `ip`), and record what
/// they hear from the other until `stop` turns true.
#[allow(clippy::too_many_arguments)]
async fn member(
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
struct Pair {
    a: std::thread::JoinHandle<Report>,
    b: std::thread::JoinHandle<Report>,
    /// B's paths to A as they change.
    b_paths: mpsc::Receiver<(Instant, Path)>,
    /// Each member's hole punches (succeeded, failed) and voice, every
    /// half second.
    punches: [watch::Receiver<((u64, u64), VoiceProgress)>; 2],
    stop: watch::Sender<bool>,
}

fn pair(lab: &Lab, relays: impl Fn(u8) -> Relays, circuits: usize) -> Pair {
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
    async fn wait_path(&mut self, secs: u64, ok: impl Fn(&Path) -> bool) -> (Instant, Path) {
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
    async fn wait_punch_failed(&mut self, secs: u64) {
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
    async fn wait_voice(&mut self, secs: u64, ok: impl Fn(&VoiceProgress) -> bool) {
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

    fn finish(self) -> (Report, Report) {
        let _ = self.stop.send(true);
        (self.a.join().unwrap(), self.b.join().unwrap())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn members_behind_full_cone_nats_end_direct_after_hole_punching() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(lab) = Lab::new(Nat::FullCone, "f") else {
        return;
    };
    let relay = Relay::start(&lab, 11);
    let mut p = pair(
        &lab,
        |i| Relays(vec![relay.quic_addr(i)], vec![relay.id.clone()]),
        1,
    );
    let rt = runtime();
    let (_, first) = rt.block_on(p.wait_path(40, |_| true));
    assert!(
        first.is_relayed(),
        "the first path must be the circuit: {first:?}"
    );
    let (direct_at, _) = rt.block_on(p.wait_path(30, |p| *p == Path::Direct));
    // Location, chat and voice after the upgrade: media goes direct and
    // the relay's room is left (at the engine's next 2 s tick).
    rt.block_on(p.wait_voice(20, |v| {
        v.direct == 1 && v.relays.is_empty() && v.heard_after(direct_at) >= 25
    }));
    let (a, b) = p.finish();
    let forwarded = relay.kill();
    assert_eq!(
        b.path,
        Some(Path::Direct),
        "B's final path to A: {:?}",
        b.paths
    );
    assert_eq!(
        a.path,
        Some(Path::Direct),
        "A's final path to B: {:?}",
        a.paths
    );
    assert!(
        b.locations.iter().any(|t| *t > direct_at),
        "no location from A after the direct path: {b:?}"
    );
    assert!(
        b.chats.iter().any(|(_, c)| c.starts_with("hello")),
        "B heard no chat"
    );
    assert!(
        a.chats.iter().any(|(_, c)| c.starts_with("hello")),
        "A heard no chat"
    );
    assert!(
        a.punched.0 + b.punched.0 >= 1,
        "the direct path was not made by hole punching: {:?} {:?}",
        a.punched,
        b.punched
    );
    // Voice over a direct media path (the announced port at the NAT's
    // public IP, which a full cone with preserved ports forwards).
    for (who, r) in [("A", &a), ("B", &b)] {
        let v = &r.voice;
        assert!(
            v.heard_after(direct_at) >= 25,
            "{who} heard {} frames of sound: {:?}",
            v.heard.len(),
            v.stats
        );
    }
    eprintln!(
        "path: {:?} (B's paths to A: {:?}; hole punches ok/failed: A {:?}, B {:?}); \
         voice direct: A heard {} and B {} frames of sound (relay forwarded {forwarded} before)",
        b.path,
        b.paths,
        a.punched,
        b.punched,
        a.voice.heard.len(),
        b.voice.heard.len()
    );
}

#[test]
fn members_behind_symmetric_nats_stay_relayed_and_talk_through_the_relay() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(lab) = Lab::new(Nat::Symmetric, "y") else {
        return;
    };
    let relay = Relay::start(&lab, 12);
    let rp = relay.peer;
    let mut p = pair(
        &lab,
        |i| Relays(vec![relay.quic_addr(i)], vec![relay.id.clone()]),
        1,
    );
    let rt = runtime();
    let (relayed_at, first) = rt.block_on(p.wait_path(40, |_| true));
    assert_eq!(first, Path::Relayed { relay: rp });
    // Hole punching is tried (and fails: a new port per destination).
    rt.block_on(p.wait_punch_failed(40));
    // Voice for a moment through the relay's media forwarder.
    let rm = aura_crypto::MemberId::from_peer_id(&rp).unwrap();
    rt.block_on(p.wait_voice(20, |v| {
        v.relays == [rm] && v.direct == 0 && v.heard_after(relayed_at) >= 25
    }));
    std::thread::sleep(Duration::from_millis(500));
    let (a, b) = p.finish();
    let forwarded = relay.kill();
    assert_eq!(
        b.path,
        Some(Path::Relayed { relay: rp }),
        "B's paths: {:?}",
        b.paths
    );
    assert_eq!(
        a.path,
        Some(Path::Relayed { relay: rp }),
        "A's paths: {:?}",
        a.paths
    );
    assert!(
        !b.paths.contains(&Path::Direct),
        "a direct path through symmetric NATs: {:?}",
        b.paths
    );
    assert!(
        b.locations.iter().any(|t| *t > relayed_at),
        "no location through the relay: {b:?}"
    );
    assert!(
        b.chats.iter().any(|(_, c)| c.starts_with("hello")),
        "B heard no chat"
    );
    assert!(
        a.chats.iter().any(|(_, c)| c.starts_with("hello")),
        "A heard no chat"
    );
    assert!(
        a.punched.1 + b.punched.1 >= 1,
        "no hole punching was tried: {:?} {:?}",
        a.punched,
        b.punched
    );
    // Voice both ways through the relay's media forwarder, and only there
    // (no direct media path while it ran: `wait_voice`).
    for (who, r) in [("A", &a), ("B", &b)] {
        let v = &r.voice;
        assert!(
            v.heard_after(relayed_at) >= 25,
            "{who} heard {} frames of sound: {:?}",
            v.heard.len(),
            v.stats
        );
        assert!(v.stats.via_relay >= 25, "{who}: {:?}", v.stats);
    }
    assert!(forwarded >= 50, "the relay forwarded {forwarded} datagrams");
    eprintln!(
        "path: relayed through {rp} ({} locations heard; hole punches ok/failed: A {:?}, B {:?}); \
         voice through the relay: A heard {} and B {} frames of sound, the relay forwarded {forwarded}",
        b.locations.len(),
        a.punched,
        b.punched,
        a.voice.heard.len(),
        b.voice.heard.len(),
    );
}

#[test]
fn killing_the_relay_in_use_moves_members_to_the_other_relay() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(lab) = Lab::new(Nat::Symmetric, "k") else {
        return;
    };
    let (r1, r2) = (Relay::start(&lab, 21), Relay::start(&lab, 22));
    let (p1, p2) = (r1.peer, r2.peer);
    // TCP to the relays: a relay process that dies closes its sockets, and
    // the members learn it at once (over QUIC only the idle timeout would tell).
    let keys = vec![r1.id.clone(), r2.id.clone()];
    let mut p = pair(
        &lab,
        |i| Relays(vec![r1.tcp_addr(i), r2.tcp_addr(i)], keys.clone()),
        2,
    );
    let rt = runtime();
    let (_, first) = rt.block_on(p.wait_path(40, |_| true));
    let used = first.relay().expect("relayed first");
    // Locations and voice flow for a moment through the first relay.
    rt.block_on(p.wait_voice(20, |v| !v.relays.is_empty() && v.heard.len() >= 25));
    std::thread::sleep(Duration::from_secs(1));
    let (dead, other, alive) = if used == p1 {
        (r1, p2, r2)
    } else {
        (r2, p1, r1)
    };
    let killed_at = Instant::now();
    dead.kill();
    let (moved_at, path) = rt.block_on(p.wait_path(20, |p| p.relay() == Some(other)));
    let om = aura_crypto::MemberId::from_peer_id(&other).unwrap();
    rt.block_on(p.wait_voice(20, |v| v.relays == [om] && v.heard_after(moved_at) >= 25));
    std::thread::sleep(Duration::from_secs(1));
    let (a, b) = p.finish();
    let forwarded = alive.kill();
    let before = b
        .locations
        .iter()
        .filter(|t| **t <= killed_at)
        .max()
        .copied();
    let after = b.locations.iter().find(|t| **t > killed_at).copied();
    let (Some(before), Some(after)) = (before, after) else {
        panic!(
            "locations before and after the kill: {:?}",
            b.locations.len()
        );
    };
    let gap = after - before;
    // Voice resumes through the other relay's media forwarder.
    let voice_gap = |r: &Report| {
        let before = r.voice.heard.iter().filter(|t| **t <= killed_at).max();
        let after = r.voice.heard.iter().find(|t| **t > killed_at);
        match (before, after) {
            (Some(b), Some(a)) => *a - *b,
            _ => panic!("voice before and after the kill: {:?}", r.voice.stats),
        }
    };
    let (va, vb) = (voice_gap(&a), voice_gap(&b));
    eprintln!(
        "failover: path {path:?}; moved {} ms after the kill; location gap {} ms; \
         voice gap A {} ms, B {} ms (the other relay forwarded {forwarded})",
        (moved_at - killed_at).as_millis(),
        gap.as_millis(),
        va.as_millis(),
        vb.as_millis()
    );
    for (who, r) in [("A", &a), ("B", &b)] {
        assert!(
            r.voice.heard_after(moved_at) >= 25,
            "{who}'s voice did not resume: {:?}",
            r.voice.stats
        );
    }
    assert!(forwarded >= 50, "the other relay forwarded {forwarded}");
    assert_eq!(
        b.path,
        Some(Path::Relayed { relay: other }),
        "B's paths: {:?}",
        b.paths
    );
    assert!(
        b.locations.iter().filter(|t| **t > moved_at).count() >= 5,
        "locations did not resume through the other relay"
    );
    assert!(
        b.chats.iter().any(|(t, _)| *t > moved_at),
        "chat did not resume through the other relay"
    );
    assert!(gap < Duration::from_secs(10), "gap {gap:?}");
}
