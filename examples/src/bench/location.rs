//! The `location` benchmark suite: an N-member group on loopback; every member
//! moves every 500 ms; we measure how long each location update takes to reach
//! every other member (sender timestamp to receiver event, same clock) and the
//! gossip bytes each node publishes per second.

use std::time::{Duration, Instant};

use aura_node::Event;
use tokio::sync::mpsc;

use crate::demo::{route, start_group};

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
}

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

/// Runs the suite and prints its figures.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let n = args.nodes.max(2);
    let setup = Instant::now();
    let (nodes, gid, _) = start_group(n, "bench", 200).await?;
    for m in &nodes {
        m.node.share_location(gid, true).await?;
    }
    // Warm-up: let keys spread until every node hears from every other.
    let (tx, mut rx) = mpsc::channel::<(usize, u64)>(65_536);
    let measuring = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for m in &nodes {
        let mut ev = m.node.events();
        let tx = tx.clone();
        let measuring = measuring.clone();
        tokio::spawn(async move {
            let mut idx = 0usize;
            loop {
                match ev.recv().await {
                    Ok(Event::Location { fix, .. }) => {
                        idx += 1;
                        if measuring.load(std::sync::atomic::Ordering::Relaxed) {
                            let _ = tx.try_send((idx, now_ms().saturating_sub(fix.at_ms)));
                        }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                }
            }
        });
    }
    drop(tx);
    let mut step = 0.0;
    let warm_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < warm_until {
        step += 1.0;
        for (i, m) in nodes.iter().enumerate() {
            m.node
                .update_position(route(i, step, 1e6).offset_m(step * 5.0, 0.0))
                .await?;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let bytes_before: u64 = {
        let mut b = 0;
        for m in &nodes {
            b += m.node.stats().await?.bytes_published;
        }
        b
    };
    measuring.store(true, std::sync::atomic::Ordering::Relaxed);
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < Duration::from_secs(args.seconds) {
        step += 1.0;
        for (i, m) in nodes.iter().enumerate() {
            m.node
                .update_position(route(i, step, 1e6).offset_m(step * 5.0, 0.0))
                .await?;
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    measuring.store(false, std::sync::atomic::Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let mut bytes_after = 0;
    for m in &nodes {
        bytes_after += m.node.stats().await?.bytes_published;
    }
    let mut lat = Vec::new();
    while let Ok((_, l)) = rx.try_recv() {
        lat.push(l);
    }
    lat.sort_unstable();
    let expected = sent * (n as u64 - 1);
    let bytes_per_node_per_s = (bytes_after - bytes_before) as f64 / n as f64 / elapsed;
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
                "deliveries": lat.len(), "expected_deliveries": expected,
            })
        );
    } else {
        println!(
            "location: {n} nodes, setup {:.1}s, measured {elapsed:.1}s",
            setup.elapsed().as_secs_f64()
        );
        println!("  deliveries {} of {expected} expected", lat.len());
        println!("  propagation latency p50 {p50:.0} ms, p99 {p99:.0} ms");
        println!("  gossip bytes published per node per second {bytes_per_node_per_s:.0}");
    }
    Ok(())
}
