//! The `location` benchmark suite: an N-member group on loopback; every member
//! moves every 500 ms; we measure how long each location update takes to reach
//! every other member (sender timestamp to receiver event, same clock) and the
//! bytes each node sends per second.
//!
//! **Phases.** By default member `i` moves at offset `i x 500 ms / N` within
//! each 500 ms period (same period, same total rate), as independent devices
//! with their own GPS clocks do. `--lockstep` moves all N members at the same
//! instant every 500 ms (a burst of N publishes x N-1 deliveries on 2 cores),
//! the worst case; BENCHMARKS.md reports both.
//!
//! Members join concurrently, at most `--join-concurrency` at a time.
//!
//! Setup waits until the group is fully keyed (every member holds every other
//! member's sender key) before measuring. Bytes are what each node wrote to its
//! libp2p streams (gossip it publishes and forwards, identify, ping, kad...;
//! before Noise/QUIC encryption and framing), from the transport's bandwidth
//! counters.

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use aura_node::{Event, NodeStats};
use tokio::sync::mpsc;

use crate::demo::{route, start_node, MeshNode};
/// Command-line options of this suite.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Group size.
    #[arg(long, default_value_t = 50)]
    pub nodes: usize,
    /// Measurement time, seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Print one JSON object instead of human-readable figures.
    #[arg(long)]
    pub json: bool,
    /// Move every member at the same instant (default: spread over the period).
    #[arg(long)]
    pub lockstep: bool,
    /// Joins in flight at once (1 = one after another).
    #[arg(long, default_value_t = 4)]
    pub join_concurrency: usize,
    /// Gossipsub heartbeat, ms (default: the node's own default, as on a phone).
    #[arg(long, default_value_t = aura_node::config::Config::default().heartbeat_ms)]
    pub heartbeat_ms: u64,
}

/// Publish period of every member.
const PERIOD: Duration = Duration::from_millis(500);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64
}

/// The measurement window: updates stamped inside it are timed.
#[derive(Default)]
struct Window {
    start_ms: AtomicU64,
    end_ms: AtomicU64,
    /// Moves (one location update each) made inside the window.
    moves: AtomicU64,
    /// Moves whose call straddled a window boundary (member, called at,
    /// returned at): the node stamps the fix in between, inside or not.
    edges: std::sync::Mutex<Vec<(usize, u64, u64)>>,
}

impl Window {
    fn open(&self, start_ms: u64, len_ms: u64) {
        self.end_ms.store(start_ms + len_ms, Ordering::Relaxed);
        self.start_ms.store(start_ms, Ordering::Relaxed);
    }

    fn contains(&self, at_ms: u64) -> bool {
        let start = self.start_ms.load(Ordering::Relaxed);
        start > 0 && at_ms >= start && at_ms < self.end_ms.load(Ordering::Relaxed)
    }
}

async fn totals(nodes: &[MeshNode]) -> anyhow::Result<NodeStats> {
    let mut t = NodeStats::default();
    for m in nodes {
        let s = m.node.stats().await?;
        t.bytes_sent += s.bytes_sent;
        t.bytes_published += s.bytes_published;
        t.locations_published += s.locations_published;
        t.gossip_rejected += s.gossip_rejected;
        t.member_dials_failed += s.member_dials_failed;
        t.duplicate_connections += s.duplicate_connections;
        t.members_not_subscribed += s.members_not_subscribed;
    }
    Ok(t)
}

/// Runs the suite and prints its figures.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let n = args.nodes.max(2);
    let setup = Instant::now();
    let mut nodes = Vec::with_capacity(n);
    for _ in 0..n {
        nodes.push(start_node(args.heartbeat_ms).await?);
    }
    // Per node: how many distinct members' keys it holds; latencies while measuring.
    let keyed: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
    let (tx, mut rx) = mpsc::channel::<(u64, usize, aura_crypto::MemberId, u64)>(1 << 20);
    // Per node: peers connected now, and disconnections seen.
    let peers: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
    let drops = Arc::new(AtomicU64::new(0));
    let lagged = Arc::new(AtomicU64::new(0));
    let window = Arc::new(Window::default());
    for (i, m) in nodes.iter().enumerate() {
        let mut ev = m.node.events();
        let (tx, window, keyed) = (tx.clone(), window.clone(), keyed.clone());
        let (peers, drops, lagged) = (peers.clone(), drops.clone(), lagged.clone());
        tokio::spawn(async move {
            let mut senders = HashSet::new();
            loop {
                match ev.next().await {
                    Some(Event::Location { fix, member, .. }) if window.contains(fix.at_ms) => {
                        let _ =
                            tx.try_send((now_ms().saturating_sub(fix.at_ms), i, member, fix.at_ms));
                    }
                    Some(Event::PeerConnected { .. }) => {
                        peers[i].fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Event::PeerDisconnected { .. }) => {
                        peers[i].fetch_sub(1, Ordering::Relaxed);
                        if window.start_ms.load(Ordering::Relaxed) > 0 {
                            drops.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Event::Missed { count: k }) => {
                        lagged.fetch_add(k, Ordering::Relaxed);
                    }
                    Some(Event::KeysReceived { sender, .. }) => {
                        senders.insert(sender);
                        keyed[i].store(senders.len(), Ordering::Relaxed);
                    }
                    Some(_) => {}
                    None => return,
                }
            }
        });
    }
    drop(tx);
    let first = nodes.first().context("no nodes")?;
    let gid = first.node.create_group("bench").await?;
    let invite = first.node.invite(gid, n as u32, 3_600_000).await?;
    {
        use futures::StreamExt;
        let invite = &invite;
        let mut joins = futures::stream::iter(nodes.iter().skip(1))
            .map(|m| async move {
                // A loaded machine can time a join request out: try again.
                let mut last = None;
                for _ in 0..3 {
                    match tokio::time::timeout(Duration::from_secs(30), m.node.join(invite)).await {
                        Ok(Ok(g)) => return Ok(g),
                        Ok(Err(e)) => last = Some(anyhow::Error::from(e).context("join failed")),
                        Err(e) => last = Some(anyhow::Error::from(e).context("join timed out")),
                    }
                }
                Err(last.unwrap_or_else(|| anyhow::anyhow!("join failed")))
            })
            .buffer_unordered(args.join_concurrency.max(1));
        while let Some(r) = joins.next().await {
            r?;
        }
    }
    let joined = setup.elapsed();
    // Fully keyed: every node holds the keys of the n-1 others.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let short = keyed
            .iter()
            .filter(|k| k.load(Ordering::Relaxed) < n - 1)
            .count();
        if short == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "group not fully keyed after 60 s: {short} of {n} nodes miss keys"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let keyed_after = setup.elapsed();
    for m in &nodes {
        m.node.share_location(gid, true).await?;
    }
    // Every member moves on its own clock, as independent devices do: member
    // `i` at offset `i x PERIOD / n` (spread) or all at once (lockstep).
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut movers = Vec::with_capacity(n);
    for (i, m) in nodes.iter().enumerate() {
        let (node, stop, window) = (m.node.clone(), stop.clone(), window.clone());
        let phase = if args.lockstep {
            Duration::ZERO
        } else {
            PERIOD * i as u32 / n as u32
        };
        movers.push(tokio::spawn(async move {
            // A device that fell behind moves once, at its next slot (no burst).
            let mut every = tokio::time::interval_at(t0 + phase, PERIOD);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut step = 0u32;
            while !stop.load(Ordering::Relaxed) {
                every.tick().await;
                step += 1;
                let s = f64::from(step);
                let before = now_ms();
                node.update_position(route(i, s, 1e6).offset_m(s * 5.0, 0.0))
                    .await?;
                let after = now_ms();
                if window.contains(before) != window.contains(after) {
                    // The node stamped it at a boundary: it counts if its stamp is inside.
                    if let Ok(mut e) = window.edges.lock() {
                        e.push((i, before, after));
                    }
                } else if window.contains(before) {
                    window.moves.fetch_add(1, Ordering::Relaxed);
                }
            }
            anyhow::Ok(())
        }));
    }
    // Warm-up: meshes settle after the join storm.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let short_of_full_mesh = peers
        .iter()
        .filter(|p| p.load(Ordering::Relaxed) < n - 1)
        .count();
    let before = totals(&nodes).await?;
    let wait0 = super::process_run_queue_wait_s();
    let cpu0 = super::process_cpu_s();
    let start = Instant::now();
    window.open(now_ms(), args.seconds * 1000);
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_pct = (super::process_cpu_s() - cpu0) / elapsed * 100.0;
    let after = totals(&nodes).await?;
    let wait_pct = (super::process_run_queue_wait_s() - wait0) / elapsed * 100.0;
    stop.store(true, Ordering::Relaxed);
    for m in movers {
        m.await??;
    }
    // Updates sent in the window still in flight get 2 s more to arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut lat = Vec::new();
    let mut slow_pairs = std::collections::HashMap::<(usize, aura_crypto::MemberId), u64>::new();
    // Which members' fixes arrived with which stamps (for boundary moves).
    let mut stamped = HashSet::new();
    let ids: Vec<aura_crypto::MemberId> = nodes.iter().map(|m| m.node.member_id()).collect();
    while let Ok((l, i, m, at)) = rx.try_recv() {
        lat.push(l);
        stamped.insert((m, at));
        if l > 100 {
            *slow_pairs.entry((i, m)).or_default() += 1;
        }
    }
    lat.sort_unstable();
    let slow: u64 = slow_pairs.values().sum();
    let disconnects = drops.load(Ordering::Relaxed);
    // A boundary move is expected where any member received it stamped inside.
    let edge_moves = window.edges.lock().map(|e| e.clone()).unwrap_or_default();
    let edges_in = edge_moves
        .iter()
        .filter(|(s, b, a)| {
            let id = ids[*s];
            stamped
                .iter()
                .any(|(m, at)| *m == id && (*b..=*a).contains(at))
        })
        .count() as u64;
    let expected = (window.moves.load(Ordering::Relaxed) + edges_in) * (n as u64 - 1);
    let per_node_s = |b: u64| b as f64 / n as f64 / elapsed;
    let bytes_per_node_per_s = per_node_s(after.bytes_sent - before.bytes_sent);
    let own_per_node_per_s = per_node_s(after.bytes_published - before.bytes_published);
    let (p50, p99) = (pct(&lat, 0.50), pct(&lat, 0.99));
    for m in &nodes {
        m.node.shutdown().await;
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "suite": "location", "nodes": n, "p50_ms": p50, "p99_ms": p99,
                "bytes_per_node_per_s": bytes_per_node_per_s.round(),
                "own_gossip_bytes_per_node_per_s": own_per_node_per_s.round(),
                "deliveries": lat.len(), "expected_deliveries": expected,
                "joined_s": joined.as_secs_f64(), "keyed_s": keyed_after.as_secs_f64(),
                "phases": if args.lockstep { "lockstep" } else { "spread" },
                "cpu_pct": cpu_pct.round(), "heartbeat_ms": args.heartbeat_ms,
                "p999_ms": pct(&lat, 0.999), "max_ms": lat.last().copied().unwrap_or(0),
                "over_100ms": slow, "pairs_over_100ms": slow_pairs.len(),
                "nodes_short_of_full_mesh": short_of_full_mesh,
                "disconnects_while_measuring": disconnects,
                "events_lagged": lagged.load(Ordering::Relaxed),
                "run_queue_wait_pct": wait_pct.round(),
                "member_dials_failed": after.member_dials_failed,
                "duplicate_connections": after.duplicate_connections,
                "members_not_subscribed_at_start": before.members_not_subscribed,
                "members_not_subscribed_at_end": after.members_not_subscribed,
            })
        );
    } else {
        println!(
            "location: {n} nodes, all joined {:.1}s, fully keyed {:.1}s, measured {elapsed:.1}s",
            joined.as_secs_f64(),
            keyed_after.as_secs_f64()
        );
        println!("  deliveries {} of {expected} expected", lat.len());
        println!("  propagation latency p50 {p50:.0} ms, p99 {p99:.0} ms");
        println!("  bytes sent per node per second {bytes_per_node_per_s:.0} (all libp2p streams)");
        println!("  own gossip published per node per second {own_per_node_per_s:.0}");
        println!("  process CPU {cpu_pct:.0} % (all {n} nodes; 100 % = one core)");
        println!("  threads runnable but waiting for a CPU {wait_pct:.0} % of the time (summed)");
    }
    Ok(())
}
