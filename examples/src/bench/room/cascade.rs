//! `bench room` through the room control plane, on one relay or a cascade
//! (`--relays N`): relay 0 is the origin (the host creates the room there,
//! the speakers join and take their seats there); relays 1.. are edges
//! that join the DHT through the origin and find the room there when a
//! member first asks them about it, as in production. One probe listener
//! joins the origin and one each edge (which makes the edges attach); the
//! other listeners each ask a relay (round robin) for the room's relays
//! and join the least loaded, as `Node::join_room_least_loaded` does.
//!
//! Speakers seal real voice frames with their sender keys (the two probes
//! open them); each listener notes when each frame arrived at its endpoint
//! and the bench, which noted when each was sent, gives the one-way delay.
//! Each relay runs on its own thread (a current-thread runtime), so its CPU
//! is that thread's; the clients share the rest of this process.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use aura_crypto::room::{Access, RoomId, RoomOp, RoomOpKind, RoomTicket, DEFAULT_SEATS};
use aura_crypto::{FrameHeader, FrameKind, Identity, MemberId, HEADER_LEN};
use aura_media::level::with_level;
use aura_media::room_control::ClientMsg;
use aura_node::rooms::RoomClient;
use bytes::Bytes;
use futures::StreamExt;
use rand::rngs::OsRng;
use rand::RngCore;
use tokio::sync::mpsc;

use super::light::{now_ms, Light};
use super::members::{join_at, join_least_loaded, ns_since, spawn_listener, At, Room, STEP};
use super::report::{self, Joined};
use super::{Args, KeyCost};
use crate::bench::relay::spawn_relay;

/// Bytes a sealed voice frame adds to its payload (header and tag).
const SEAL_OVERHEAD: usize = HEADER_LEN + 16;

/// The host's task: answers joins (sealing the room key to each) and
/// sends the ops it is handed, until `ops` closes.
fn spawn_host(
    mut host: Light,
    mut ops: mpsc::Receiver<RoomOpKind>,
) -> tokio::task::JoinHandle<anyhow::Result<Light>> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                n = host.read_bytes() => host.handle(n?).await?,
                op = ops.recv() => match op {
                    Some(k) => host.act(k).await?,
                    None => return Ok(host),
                },
            }
        }
    })
}

/// Creates the room at the origin; the host's task and the room.
async fn create(
    origin: At,
    speakers: &[Identity],
) -> anyhow::Result<(
    mpsc::Sender<RoomOpKind>,
    tokio::task::JoinHandle<anyhow::Result<Light>>,
    Room,
)> {
    anyhow::ensure!(
        speakers.len() < usize::from(DEFAULT_SEATS),
        "at most {} speakers",
        DEFAULT_SEATS - 1
    );
    let id = Identity::generate(&mut OsRng);
    let mut nonce = [0u8; 16];
    OsRng.fill_bytes(&mut nonce);
    let create = RoomOp {
        room: RoomId::default(),
        author: id.member_id(),
        at_ms: now_ms(),
        kind: RoomOpKind::Create {
            name: "bench".into(),
            access: Access::Ticket,
            seats: DEFAULT_SEATS,
            vip_seats: 0,
            vip_only: false,
            nonce,
        },
    }
    .sign(&id)?;
    let room = create
        .created_room()
        .ok_or_else(|| anyhow::anyhow!("not a create op"))?;
    let seated: Vec<MemberId> = speakers.iter().map(Identity::member_id).collect();
    let client = RoomClient::host(id.clone(), &create)?;
    let mut host = Light::connect(&id, client, &seated, origin.id, origin.addr).await?;
    host.send(&ClientMsg::Op(create.encode()?)).await?;
    anyhow::ensure!(
        host.pump_until(STEP, |l| l.client.view().is_some()).await?,
        "the origin never welcomed the host (refused {:?})",
        host.refused
    );
    let ticket = RoomTicket::issue(room, &id, now_ms() + 3_600_000);
    let (tx, rx) = mpsc::channel(16);
    let task = spawn_host(host, rx);
    Ok((
        tx,
        task,
        Room {
            id: room,
            ticket,
            seated,
        },
    ))
}

/// The speakers join at the origin, are invited and take seats 1...
async fn seat_speakers(
    speakers: &[Identity],
    room: &Room,
    origin: At,
    host: &mpsc::Sender<RoomOpKind>,
) -> anyhow::Result<Vec<Light>> {
    let mut out = Vec::new();
    for (i, id) in speakers.iter().enumerate() {
        let seat = i as u8 + 1;
        let (mut s, t) = join_at(id, room, origin, 0).await?;
        anyhow::ensure!(t.is_some(), "speaker {i} never got the room key");
        host.send(RoomOpKind::InviteToSeat {
            member: id.member_id(),
            seat,
        })
        .await?;
        let me = id.member_id();
        let invited = s
            .pump_until(STEP, |l| {
                l.client.view().is_some_and(|v| {
                    v.seats()
                        .get(usize::from(seat))
                        .is_some_and(|x| x.invited == Some(me))
                })
            })
            .await?;
        anyhow::ensure!(invited, "speaker {i} never saw its invitation");
        s.act(RoomOpKind::TakeSeat { seat }).await?;
        anyhow::ensure!(
            s.pump_until(STEP, |l| l.client.is_seated()).await?,
            "speaker {i} never seated (refused {:?})",
            s.refused
        );
        out.push(s);
    }
    Ok(out)
}

/// A speaker after the window: its client, each voice frame sent (sender
/// short id, counter, sent at ns) and the batch signatures sent.
type Spoke = (Light, Vec<(u32, u32, u64)>, u64);

/// A speaker for the window: seals a frame every 20 ms, sends it with its
/// level, notes when; reads its control stream meanwhile.
fn spawn_speaker(
    mut s: Light,
    level: u8,
    payload: usize,
    base: Instant,
    end: Instant,
) -> tokio::task::JoinHandle<anyhow::Result<Spoke>> {
    tokio::spawn(async move {
        let body = vec![0x5a; payload];
        let (mut sent, mut sigs) = (Vec::new(), 0u64);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut stream_open = true;
        while Instant::now() < end {
            tokio::select! {
                _ = tick.tick() => {
                    for (i, f) in s.client.seal_voice(&body)?.into_iter().enumerate() {
                        let h = FrameHeader::parse(&f)?;
                        let f = if i == 0 { with_level(level, &f) } else { f };
                        if s.ep.send(&s.relay, Bytes::from(f)).is_ok() {
                            if h.kind == FrameKind::Voice {
                                sent.push((h.sender.0, h.counter, ns_since(base, Instant::now())));
                            } else {
                                sigs += 1;
                            }
                        }
                    }
                }
                n = s.read_bytes(), if stream_open => match n {
                    Ok(n) => s.handle(n).await?,
                    Err(_) => stream_open = false,
                },
            }
        }
        Ok((s, sent, sigs))
    })
}

/// Runs the room through the control plane and prints its figures.
pub(super) async fn run(args: Args, keys: KeyCost) -> anyhow::Result<()> {
    let n = args.relays.max(1);
    anyhow::ensure!(
        args.listeners >= n,
        "at least one listener per relay (the probes)"
    );
    let cap = args.listeners + args.speakers + 16;
    let t_start = Instant::now();
    let mut relays = vec![spawn_relay(cap, None)?];
    // Edges join the DHT through the origin (as the cascade test does).
    for _ in 1..n {
        relays.push(spawn_relay(cap, Some(relays[0].dht.clone()))?);
    }
    let at: Vec<At> = relays.iter().map(At::from).collect();
    let (mut starts, mut ends) = (Vec::new(), Vec::new());
    for r in relays {
        starts.push(r.start);
        ends.push((r.stop, r.done));
    }
    let index: HashMap<MemberId, usize> = at.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
    let speakers: Vec<Identity> = (0..args.speakers)
        .map(|_| Identity::generate(&mut OsRng))
        .collect();
    let (host_ops, host_task, room) = create(at[0], &speakers)
        .await
        .context("creating the room")?;
    tracing::info!(s = t_start.elapsed().as_secs_f64(), "room created");
    let talkers = seat_speakers(&speakers, &room, at[0], &host_ops)
        .await
        .context("seating the speakers")?;
    tracing::info!(s = t_start.elapsed().as_secs_f64(), "speakers seated");
    // The probes: one at the origin, one at each edge (the edge finds the
    // origin on the DHT and attaches; the time includes that).
    let probes = super::probes::spawn(room.clone(), at.clone());
    let probe_times = probes.keyed.await??;
    tracing::info!(s = t_start.elapsed().as_secs_f64(), "probes keyed");
    let setup_s = t_start.elapsed().as_secs_f64();
    let t_join = Instant::now();
    let joins: Vec<anyhow::Result<(Light, Option<Duration>)>> =
        futures::stream::iter(0..args.listeners - n)
            .map(|k| {
                let room = &room;
                let entry = at[k % n];
                async move { join_least_loaded(room, entry).await }
            })
            .buffer_unordered(args.join_parallel.max(1))
            .collect()
            .await;
    let join_s = t_join.elapsed().as_secs_f64();
    let mut joined = Joined::default();
    let mut listeners = Vec::new();
    joined.probe_ms = probe_times.iter().map(|t| t.as_secs_f64() * 1e3).collect();
    for j in joins {
        match j {
            Ok((l, t)) => {
                match t {
                    Some(t) => joined.ready_ms.push(t.as_secs_f64() * 1e3),
                    None => joined.not_ready += 1,
                }
                let r = index.get(&l.relay).copied().unwrap_or(0);
                listeners.push((l, r));
            }
            Err(e) => {
                joined.failed += 1;
                joined.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    // The window: speakers talk, every listener notes arrivals.
    let base = Instant::now();
    let window = Duration::from_secs(args.seconds);
    let end = base + window;
    let cap_frames = (args.seconds as usize + 2) * 50 * args.speakers.max(1) * 2;
    let until = end + Duration::from_millis(500);
    let _ = probes.go.send((base, until, cap_frames));
    let recv_tasks: Vec<_> = listeners
        .into_iter()
        .map(|(l, r)| spawn_listener(l, r, false, base, until, cap_frames))
        .collect();
    for s in starts.drain(..) {
        let _ = s.send(());
    }
    let cpu0 = crate::bench::process_cpu_s();
    let rcvbuf0 = crate::bench::udp_rcvbuf_errors();
    let socket_drops = |at: &[At]| -> Vec<u64> {
        at.iter()
            .map(|a| crate::bench::udp_socket_drops(a.addr.port()))
            .collect()
    };
    let drops0 = socket_drops(&at);
    let payload = args.frame_bytes.saturating_sub(SEAL_OVERHEAD).max(1);
    let send_tasks: Vec<_> = talkers
        .into_iter()
        .enumerate()
        .map(|(i, s)| spawn_speaker(s, 10 + 5 * i as u8, payload, base, end))
        .collect();
    let (mut sent, mut sig_frames) = (Vec::new(), 0);
    let mut keep = Vec::new();
    for t in send_tasks {
        let (s, frames, sigs) = t.await??;
        sent.extend(frames);
        sig_frames += sigs;
        keep.push(s);
    }
    // The probes first, in the order of the relays (the report's hop).
    let mut heard = probes.done.await?;
    for t in recv_tasks {
        let (l, h) = t.await?;
        heard.push(h);
        keep.push(l);
    }
    let elapsed = base.elapsed().as_secs_f64();
    let proc_cpu = crate::bench::process_cpu_s() - cpu0;
    let rcvbuf_errors = crate::bench::udp_rcvbuf_errors().saturating_sub(rcvbuf0);
    let relay_socket_drops: Vec<u64> = socket_drops(&at)
        .iter()
        .zip(&drops0)
        .map(|(d, d0)| d.saturating_sub(*d0))
        .collect();
    drop(host_ops);
    keep.push(host_task.await??);
    let mut figures = Vec::new();
    for (stop, done) in ends.drain(..) {
        let _ = stop.send(());
        figures.push(done.await?);
    }
    let selected: HashSet<(u32, u32)> = heard
        .iter()
        .flat_map(|h| h.arrivals.iter().map(|a| (a.sender, a.counter)))
        .collect();
    let out = report::Report {
        args: &args,
        keys: &keys,
        setup_s,
        join_s,
        joined,
        sent,
        sig_frames,
        selected: selected.len(),
        heard,
        relays: figures,
        window_s: window.as_secs_f64(),
        elapsed_s: elapsed,
        process_cpu_s: proc_cpu,
        rcvbuf_errors,
        relay_socket_drops,
    };
    out.print(args.json);
    drop(keep);
    Ok(())
}
