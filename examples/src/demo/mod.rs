//! Shared pieces of the demo and the location benchmark: a local mesh of
//! in-process nodes on loopback that form one group by invite.

pub mod gift;
pub mod room;
pub mod voice;

use std::time::Duration;

use anyhow::Context;
use aura_crypto::GroupId;
use aura_node::{
    config::Config,
    location::{Position, Precision},
    Node,
};

/// A started node and the temp dir holding its data.
pub struct MeshNode {
    /// The node.
    pub node: Node,
    /// Its data dir (deleted on drop).
    pub dir: tempfile::TempDir,
    /// Its identity secret (the same device key logs in to the billing ledger).
    pub secret: [u8; 32],
}

/// Starts one loopback node.
pub async fn start_node(heartbeat_ms: u64) -> anyhow::Result<MeshNode> {
    start_node_with(heartbeat_ms, None).await
}

/// The billing ledger a demo node uses: its address and the key it pins.
#[derive(Clone, Copy, Debug)]
pub struct LedgerAt<'a> {
    /// Base URL.
    pub url: &'a str,
    /// The ledger's signing key (hex), pinned by every node.
    pub key: &'a str,
}

/// Starts one loopback node that uses `ledger` (gifts, receipts checked
/// with its key).
pub async fn start_node_with(
    heartbeat_ms: u64,
    ledger: Option<LedgerAt<'_>>,
) -> anyhow::Result<MeshNode> {
    let dir = tempfile::tempdir()?;
    let mut cfg = Config::loopback(dir.path().to_path_buf());
    cfg.heartbeat_ms = heartbeat_ms;
    cfg.billing_service_key = ledger.map(|l| l.key.to_owned());
    cfg.billing_url = ledger.map(|l| l.url.to_owned());
    // The demo shows exact positions unless it chooses a coarser precision
    // for a member, whose cell then changes every 2 s at most (the demo
    // walks 600 m in 10 s; a real member's cell changes every 15 s at most).
    cfg.default_precision = Precision::Exact;
    cfg.publish.coarse_slot_ms = 2_000;
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    let node = Node::builder()
        .config(cfg)
        .identity_secret(secret)
        .start()
        .await?;
    for _ in 0..500 {
        if node.listen_addrs().await?.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(MeshNode { node, dir, secret })
}

/// Starts `n` nodes; the first creates group `name`, the others join by invite.
pub async fn start_group(
    n: usize,
    name: &str,
    heartbeat_ms: u64,
) -> anyhow::Result<(Vec<MeshNode>, GroupId, String)> {
    start_group_with(n, name, heartbeat_ms, None).await
}

/// As [`start_group`], with every node using `ledger`.
pub async fn start_group_with(
    n: usize,
    name: &str,
    heartbeat_ms: u64,
    ledger: Option<LedgerAt<'_>>,
) -> anyhow::Result<(Vec<MeshNode>, GroupId, String)> {
    let mut nodes = Vec::with_capacity(n);
    for _ in 0..n {
        nodes.push(start_node_with(heartbeat_ms, ledger).await?);
    }
    let first = nodes.first().context("no nodes")?;
    let gid = first.node.create_group(name).await?;
    let invite = first.node.invite(gid, n as u32, 3_600_000).await?;
    for m in nodes.iter().skip(1) {
        tokio::time::timeout(Duration::from_secs(20), m.node.join(&invite))
            .await
            .context("join timed out")??;
    }
    Ok((nodes, gid, invite))
}

/// The demo's base point (Chamonix).
pub fn base() -> Position {
    Position {
        lat: 45.9237,
        lon: 6.8694,
    }
}

/// A built-in route: position at step `t` for route number `i` (each starts
/// 600 m away in a different direction and walks towards the hut at the base).
pub fn route(i: usize, t: f64, steps: f64) -> Position {
    let angle = i as f64 * std::f64::consts::TAU / 4.0 + 0.3;
    let r = 600.0 * (1.0 - (t / steps).min(1.0)) + 20.0;
    base().offset_m(r * angle.sin(), r * angle.cos())
}
