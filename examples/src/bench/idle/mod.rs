//! The `idle` footprint suite: what one phone's node costs while its group
//! goes about its day. One node (the "phone") runs in a process of its own
//! (the `idle-phone` binary: the node, a two-thread runtime, the system
//! allocator, as in an app), the other members in this process; only the
//! phone is measured:
//!
//! - CPU: its threads' on-CPU time (`/proc/<pid>/task/*/schedstat`), as % of
//!   one core; RSS from `/proc/<pid>/status`.
//! - Packets and bytes (IP, both ways): the phone runs in a network
//!   namespace of its own, joined by a veth pair whose counters are its
//!   traffic and nothing else (static neighbours, no IPv6: no ARP or ND
//!   noise). Needs root (`ip netns`); without it packets are not measured.
//!
//! Phases, each after a settling time: **foreground** (every member walks,
//! a fix every 10 s, exact precision), **background, alone** (the phone in
//! background mode, a fix every 60 s, the others in the foreground: it is
//! carried by one of them, see `aura_node::net::carry`, and says it is
//! away, keeping only that connection, on TCP: `aura_node::net::away`),
//! **background**
//! (every member in background mode, the phone last: one of the others
//! carries for the others and the phone, the figures say whether the phone
//! is carried or carries), **background,
//! still** (fixes of a phone lying on a desk: GPS noise only). Goals from the issue: foreground
//! <= 0.5 % of a core, <= 25 MB RSS, <= 1 kB/s; background <= 0.1 % of a core
//! and <= 4 packets sent per minute.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, ChildStdin, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use aura_node::{config::Config, location::Position, location::Precision, Event, Node};
use serde::Serialize;

mod attribute;
mod phone_host;
use attribute::attribute;
use phone_host::{cpu_ns, phone_exe, rss_bytes, Netns};

/// Command-line options of this suite.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Group size (the phone and `members - 1` others).
    #[arg(long, default_value_t = 10)]
    pub members: usize,
    /// Measurement time of the foreground phase, seconds.
    #[arg(long, default_value_t = 60)]
    pub foreground_seconds: u64,
    /// Measurement time of each background phase, seconds.
    #[arg(long, default_value_t = 120)]
    pub background_seconds: u64,
    /// Settling time before each phase, seconds.
    #[arg(long, default_value_t = 20)]
    pub settle_seconds: u64,
    /// Print one JSON object instead of human-readable figures.
    #[arg(long)]
    pub json: bool,
}

/// Options of the measured member process (started by the suite itself).
#[derive(Debug, clap::Args)]
pub struct PhoneArgs {
    /// Invite to join.
    #[arg(long)]
    pub invite: String,
    /// Addresses to listen on (multiaddrs; QUIC and TCP, as a phone's node).
    #[arg(long, num_args = 1..)]
    pub listen: Vec<String>,
    /// Members expected in the group (keys to wait for: members - 1).
    #[arg(long)]
    pub members: usize,
}

/// A fix every 10 s in the foreground, every 60 s in the background.
const FOREGROUND_FIX: Duration = Duration::from_secs(10);
const BACKGROUND_FIX: Duration = Duration::from_secs(60);
/// Walking speed, m/s.
const WALK_MPS: f64 = 1.4;

/// How members move in a phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Motion {
    Walk,
    Still,
}

/// Where member `i` starts: 500 m east of the one before.
fn origin(i: usize) -> Position {
    Position {
        lat: 45.9237,
        lon: 6.8694,
    }
    .offset_m(0.0, i as f64 * 500.0)
}

/// Where member `i` is at `t` seconds into its walk (or on its desk, with
/// GPS noise of about 15 m).
fn position(i: usize, motion: Motion, t: f64, rng: &mut impl rand::Rng) -> Position {
    match motion {
        Motion::Walk => origin(i).offset_m(WALK_MPS * t, 0.0),
        Motion::Still => origin(i).offset_m(rng.gen_range(-20.0..20.0), rng.gen_range(-20.0..20.0)),
    }
}

fn loopback_config(dir: &std::path::Path, listen: &[String]) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        listen: listen.to_vec(),
        mdns: false,
        default_precision: Precision::Exact,
        ..Config::default()
    }
}

/// The measured member: joins, then follows commands on stdin (`fg`,
/// `bg`, `still`, `report`, `quit`), printing one JSON line per `report`.
pub async fn run_phone(args: PhoneArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let node = Node::builder()
        .config(loopback_config(dir.path(), &args.listen))
        .start()
        .await?;
    let mut events = node.events();
    let received = Arc::new(AtomicU64::new(0));
    let keys = Arc::new(AtomicU64::new(0));
    {
        let (received, keys) = (received.clone(), keys.clone());
        tokio::spawn(async move {
            let mut senders = std::collections::HashSet::new();
            while let Some(e) = events.next().await {
                match e {
                    Event::Location { .. } => {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    Event::KeysReceived { sender, .. } => {
                        senders.insert(sender);
                        keys.store(senders.len() as u64, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        });
    }
    let gid = node.join(&args.invite).await?;
    node.set_precision(gid, Precision::Exact).await?;
    node.share_location(gid, true).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while keys.load(Ordering::Relaxed) < args.members.saturating_sub(1) as u64 {
        if Instant::now() > deadline {
            bail!("phone not keyed after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("ready");
    let (cmd_tx, mut cmd_rx) = tokio::sync::mpsc::channel::<String>(8);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if cmd_tx.blocking_send(line).is_err() {
                return;
            }
        }
    });
    let mut every = FOREGROUND_FIX;
    let mut motion = Motion::Walk;
    let started = Instant::now();
    let mut next_fix = tokio::time::Instant::now();
    let mut rng = rand::thread_rng();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_fix) => {
                let t = started.elapsed().as_secs_f64();
                // The phone is member index `members` (the others are 0..).
                let pos = position(args.members, motion, t, &mut rng);
                node.update_position(pos).await?;
                next_fix += every;
            }
            cmd = cmd_rx.recv() => match cmd.as_deref() {
                Some("fg") => {
                    node.set_background(false).await?;
                    (every, motion) = (FOREGROUND_FIX, Motion::Walk);
                }
                Some("bg") => {
                    node.set_background(true).await?;
                    (every, motion) = (BACKGROUND_FIX, Motion::Walk);
                }
                Some("still") => motion = Motion::Still,
                Some("report") => {
                    let s = node.stats().await?;
                    let peers = node.connected_peers().await?.len();
                    println!(
                        "{}",
                        serde_json::json!({
                            "published": s.locations_published,
                            "received": received.load(Ordering::Relaxed),
                            "peers": peers,
                            "carry_requests": s.carry_requests,
                            "messages_carried": s.messages_carried,
                            "away_links_closed": s.away_links_closed,
                        })
                    );
                }
                Some("quit") | None => break,
                Some(other) => bail!("unknown command {other:?}"),
            }
        }
        std::io::stdout().flush()?;
    }
    node.shutdown().await;
    Ok(())
}

/// Figures of one phase.
#[derive(Debug, Serialize)]
pub struct Phase {
    pub name: &'static str,
    pub seconds: f64,
    pub fix_every_s: u64,
    pub cpu_pct_of_core: f64,
    pub rss_mb: f64,
    pub bytes_out_per_s: Option<f64>,
    pub bytes_in_per_s: Option<f64>,
    pub packets_sent_per_min: Option<f64>,
    pub packets_received_per_min: Option<f64>,
    /// Of the packets sent per minute: UDP datagrams (QUIC), TCP segments,
    /// and of those the delayed ACKs (the phone's namespace's counters).
    pub udp_sent_per_min: Option<f64>,
    pub tcp_sent_per_min: Option<f64>,
    pub tcp_delayed_acks_per_min: Option<f64>,
    /// Locations the phone published per minute (each goes to every member).
    pub published_per_min: f64,
    /// Locations the phone received per minute.
    pub received_per_min: f64,
    /// Members the phone was connected to at the end.
    pub peers: u64,
    /// Other members that held the phone for away at the end (it said so
    /// entering background mode: they do not dial it).
    pub others_holding_phone_away: u64,
    /// Connections to members the phone closed while away, in the phase.
    pub away_links_closed: u64,
    /// Requests the phone sent its carrier per minute (background mode).
    pub carry_requests_per_min: f64,
    /// Messages of other members the phone published for them per minute
    /// (it was their carrier).
    pub carried_for_others_per_min: f64,
    /// Where the packets it sent come from (see `attribute`).
    pub sent_by: Vec<(String, f64)>,
    pub goals: Vec<(String, bool)>,
}

/// The measured process and its pipes.
struct Phone {
    child: Child,
    stdin: ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Phone {
    fn send(&mut self, cmd: &str) -> anyhow::Result<()> {
        writeln!(self.stdin, "{cmd}")?;
        Ok(self.stdin.flush()?)
    }

    fn report(&mut self) -> anyhow::Result<serde_json::Value> {
        self.send("report")?;
        let line = self.lines.next().context("phone exited")??;
        Ok(serde_json::from_str(&line)?)
    }
}

/// Runs the suite and prints its figures.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let n = args.members.max(2);
    let netns = match Netns::create() {
        Ok(ns) => Some(ns),
        Err(e) => {
            eprintln!("no network namespace ({e:#}): packets are not measured");
            None
        }
    };
    let host_ip = netns.as_ref().map_or("127.0.0.1", |ns| ns.host_ip.as_str());
    let phone_ip = netns
        .as_ref()
        .map_or("127.0.0.1", |ns| ns.phone_ip.as_str());
    // QUIC and TCP, as the node's default listen addresses: a carried
    // phone moves its carrier's connection to TCP (`aura_node::net::away`).
    let listen = |ip: &str| {
        vec![
            format!("/ip4/{ip}/udp/0/quic-v1"),
            format!("/ip4/{ip}/tcp/0"),
        ]
    };
    // The other members, in this process.
    let mut dirs = Vec::new();
    let mut others = Vec::new();
    for _ in 0..n - 1 {
        let dir = tempfile::tempdir()?;
        let node = Node::builder()
            .config(loopback_config(dir.path(), &listen(host_ip)))
            .start()
            .await?;
        others.push(node);
        dirs.push(dir);
    }
    let first = others.first().context("no members")?;
    let gid = first.create_group("idle").await?;
    for o in &others[1..] {
        let invite = first.invite(gid, 1, 600_000).await?;
        o.join(&invite).await?;
    }
    for o in &others {
        o.set_precision(gid, Precision::Exact).await?;
        o.share_location(gid, true).await?;
    }
    let invite = first.invite(gid, 1, 600_000).await?;
    let exe = phone_exe()?;
    let mut cmd = match &netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &ns.name]).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    cmd.args(["--invite", &invite, "--listen"])
        .args(listen(phone_ip))
        .args(["--members", &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().context("starting the phone process")?;
    let pid = child.id();
    let stdin = child.stdin.take().context("phone stdin")?;
    let stdout = child.stdout.take().context("phone stdout")?;
    let mut phone = Phone {
        child,
        stdin,
        lines: BufReader::new(stdout).lines(),
    };
    // Joining and keying can take the others' fixes too: they move from now.
    let background = Arc::new(AtomicBool::new(false));
    let still = Arc::new(AtomicBool::new(false));
    let mover = {
        let (others, background, still) = (others.clone(), background.clone(), still.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let k = others.len() as u32;
            let mut rng = rand::rngs::StdRng::from_entropy();
            let mut tick = tokio::time::interval(FOREGROUND_FIX / k.max(1));
            let mut turn = 0usize;
            let mut last = vec![None::<Instant>; others.len()];
            loop {
                tick.tick().await;
                let i = turn % others.len();
                turn += 1;
                let every = if background.load(Ordering::Relaxed) {
                    BACKGROUND_FIX
                } else {
                    FOREGROUND_FIX
                };
                if last[i]
                    .is_some_and(|t: Instant| t.elapsed() + Duration::from_millis(100) < every)
                {
                    continue;
                }
                last[i] = Some(Instant::now());
                let motion = if still.load(Ordering::Relaxed) {
                    Motion::Still
                } else {
                    Motion::Walk
                };
                let pos = position(i, motion, started.elapsed().as_secs_f64(), &mut rng);
                let _ = others[i].update_position(pos).await;
            }
        })
    };
    use rand::SeedableRng;
    let ready = tokio::task::spawn_blocking(move || {
        let line = phone.lines.next();
        (phone, line)
    });
    let (mut phone, line) = tokio::time::timeout(Duration::from_secs(120), ready)
        .await
        .context("phone not ready in 120 s")??;
    match line {
        Some(Ok(l)) if l == "ready" => {}
        other => bail!("phone failed to join: {other:?}"),
    }
    let fg = Config::default();
    let mut phases = Vec::new();
    for (name, secs) in [
        ("foreground", args.foreground_seconds),
        ("background, alone", args.background_seconds),
        ("background", args.background_seconds),
        ("background, still", args.background_seconds),
    ] {
        match name {
            "background, alone" => phone.send("bg")?,
            "background" => {
                for o in &others {
                    o.set_background(true).await?;
                }
                background.store(true, Ordering::Relaxed);
                // The phone enters background after the others, as most
                // phones of such a group do: one of the others has become
                // the carrier of last resort by then, and carries for it.
                tokio::time::sleep(Duration::from_secs(3)).await;
                phone.send("fg")?;
                tokio::time::sleep(Duration::from_secs(1)).await;
                phone.send("bg")?;
            }
            "background, still" => {
                still.store(true, Ordering::Relaxed);
                phone.send("still")?;
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_secs(args.settle_seconds)).await;
        eprintln!(
            "idle: {name}: measuring {secs} s from unix time {}",
            unix_now()
        );
        let (cpu0, net0, kinds0, t0) = (
            cpu_ns(pid),
            netns.as_ref().map(Netns::counters).transpose()?,
            netns.as_ref().map(Netns::transport_counters).transpose()?,
            Instant::now(),
        );
        let r0 = phone.report()?;
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let r1 = phone.report()?;
        let (cpu1, net1, kinds1, dt) = (
            cpu_ns(pid),
            netns.as_ref().map(Netns::counters).transpose()?,
            netns.as_ref().map(Netns::transport_counters).transpose()?,
            t0.elapsed().as_secs_f64(),
        );
        let kinds = kinds0
            .zip(kinds1)
            .map(|(a, b)| [0, 1, 2].map(|i| b[i].saturating_sub(a[i]) as f64 / dt * 60.0));
        let delta = |k: &str| {
            r1[k]
                .as_u64()
                .unwrap_or(0)
                .saturating_sub(r0[k].as_u64().unwrap_or(0)) as f64
        };
        let net = net0
            .zip(net1)
            .map(|(a, b)| [0, 1, 2, 3].map(|i| b[i].saturating_sub(a[i]) as f64));
        let bg = name != "foreground";
        let cpu_pct = (cpu1.saturating_sub(cpu0)) as f64 / 1e9 / dt * 100.0;
        let rss = rss_bytes(pid) as f64 / 1e6;
        let sent_pm = net.map(|c| c[0] / dt * 60.0);
        let (pub_pm, rcv_pm) = (
            delta("published") / dt * 60.0,
            delta("received") / dt * 60.0,
        );
        let mode = fg.for_mode(bg);
        let peers = r1["peers"].as_u64().unwrap_or(0);
        let carry_pm = delta("carry_requests") / dt * 60.0;
        let carried_pm = delta("messages_carried") / dt * 60.0;
        let mut others_holding_phone_away = 0;
        for o in &others {
            // Only the phone is away in the phase that counts (alone).
            others_holding_phone_away += o.stats().await?.members_away.min(1);
        }
        let sent_by = attribute(
            mode.link,
            mode.heartbeat_ms,
            peers as f64,
            pub_pm,
            rcv_pm,
            carry_pm,
            sent_pm,
        );
        let out_bps = net.map(|c| c[1] / dt);
        let goals = if bg {
            vec![
                ("cpu <= 0.1 % of a core".to_owned(), cpu_pct <= 0.1),
                (
                    "<= 4 packets sent per minute".to_owned(),
                    sent_pm.is_some_and(|p| p <= 4.0),
                ),
            ]
        } else {
            vec![
                ("cpu <= 0.5 % of a core".to_owned(), cpu_pct <= 0.5),
                ("rss <= 25 MB".to_owned(), rss <= 25.0),
                (
                    "<= 1 kB/s (out)".to_owned(),
                    out_bps.is_some_and(|b| b <= 1000.0),
                ),
            ]
        };
        phases.push(Phase {
            name,
            seconds: dt,
            fix_every_s: if bg { 60 } else { 10 },
            cpu_pct_of_core: cpu_pct,
            rss_mb: rss,
            bytes_out_per_s: out_bps,
            bytes_in_per_s: net.map(|c| c[3] / dt),
            packets_sent_per_min: sent_pm,
            packets_received_per_min: net.map(|c| c[2] / dt * 60.0),
            udp_sent_per_min: kinds.map(|k| k[0]),
            tcp_sent_per_min: kinds.map(|k| k[1]),
            tcp_delayed_acks_per_min: kinds.map(|k| k[2]),
            published_per_min: pub_pm,
            received_per_min: rcv_pm,
            peers,
            others_holding_phone_away,
            away_links_closed: delta("away_links_closed") as u64,
            carry_requests_per_min: carry_pm,
            carried_for_others_per_min: carried_pm,
            sent_by,
            goals,
        });
    }
    mover.abort();
    let _ = phone.send("quit");
    let _ = tokio::task::spawn_blocking(move || phone.child.wait()).await;
    for o in &others {
        o.shutdown().await;
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "suite": "idle",
                "members": n,
                "packets_measured": netns.is_some(),
                "phases": phases,
            })
        );
    } else {
        for p in &phases {
            println!(
                "{:<18} cpu {:.3} % of a core, rss {:.1} MB, out {} B/s, in {} B/s, sent {} packets/min (received {}), published {:.1}/min, received {:.1}/min, peers {}, others holding it away {}, carry requests {:.1}/min, carried for others {:.1}/min",
                p.name,
                p.cpu_pct_of_core,
                p.rss_mb,
                fmt(p.bytes_out_per_s),
                fmt(p.bytes_in_per_s),
                fmt(p.packets_sent_per_min),
                fmt(p.packets_received_per_min),
                p.published_per_min,
                p.received_per_min,
                p.peers,
                p.others_holding_phone_away,
                p.carry_requests_per_min,
                p.carried_for_others_per_min,
            );
            println!(
                "    sent: UDP {}/min, TCP {}/min (of which delayed ACKs {}/min)",
                fmt(p.udp_sent_per_min),
                fmt(p.tcp_sent_per_min),
                fmt(p.tcp_delayed_acks_per_min),
            );
            for (what, n) in &p.sent_by {
                println!("    {n:>7.1}/min  {what}");
            }
            for (goal, met) in &p.goals {
                println!("    goal {goal}: {}", if *met { "met" } else { "NOT met" });
            }
        }
    }
    Ok(())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1}"))
}
