//! Helpers for voice tests through real `Node`s: a group of three with
//! voice joined and the media plane connected, warm-up, and recorders.
//! Include with `#[path = "media_support/nodes.rs"] mod nodes;` next to
//! `mod common;`.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aura_crypto::GroupId;
use aura_node::voice::signal::{best_correlation, speech_like};
use aura_node::voice_api::{VoiceConfig, VoiceHandle};
use tokio::sync::mpsc;

use crate::common::{start, within, TestNode};

/// Collects a handle's mixed playout in the background.
pub fn record(h: &VoiceHandle) -> tokio::task::JoinHandle<Vec<i16>> {
    let mut rx: mpsc::Receiver<Vec<i16>> = h.take_playout().unwrap();
    tokio::spawn(async move {
        let mut out = Vec::new();
        while let Some(f) = rx.recv().await {
            out.extend_from_slice(&f);
        }
        out
    })
}

/// Collects a handle's mixed playout into a shared buffer (read it while
/// it grows).
pub fn record_shared(h: &VoiceHandle) -> Arc<Mutex<Vec<i16>>> {
    let mut rx: mpsc::Receiver<Vec<i16>> = h.take_playout().unwrap();
    let buf: Arc<Mutex<Vec<i16>>> = Arc::default();
    let b = buf.clone();
    tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            b.lock().unwrap().extend_from_slice(&f);
        }
    });
    buf
}

/// Three nodes in one group, voice joined with `cfg(i)` for node `i`, and
/// everyone connected to everyone on the media plane.
pub async fn trio(
    cfg: impl Fn(usize) -> VoiceConfig,
) -> (Vec<TestNode>, GroupId, Vec<Arc<VoiceHandle>>) {
    let nodes = vec![start().await, start().await, start().await];
    let gid = nodes[0].node.create_group("voice").await.unwrap();
    let invite = nodes[0].node.invite(gid, 5, 600_000).await.unwrap();
    for n in &nodes[1..] {
        n.node.join(&invite).await.unwrap();
    }
    let mut handles = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        handles.push(n.node.join_voice(gid, cfg(i)).await.unwrap());
    }
    within(20, async {
        loop {
            let mut ok = true;
            for h in &handles {
                ok &= h.stats().await.unwrap().connected.len() == 2;
            }
            if ok {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    (nodes, gid, handles)
}

/// Talks until every listener has opened the talker's frames (keys
/// delivered), then lets the warm-up drain out of the buffers.
pub async fn warm_up(talker: &Arc<VoiceHandle>, listeners: &[Arc<VoiceHandle>]) {
    talker.set_ptt(true).await.unwrap();
    let warm = speech_like(1.0, 3);
    within(20, async {
        loop {
            talker.talk_samples(warm.clone()).await.unwrap();
            let mut ok = true;
            for l in listeners {
                ok &= l.stats().await.unwrap().room.voice_in > 10;
            }
            if ok {
                return;
            }
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
}

/// Correlation of `input` with `out`, second by second (each second's best
/// lag within half a second), sorted ascending.
pub fn correlation_per_second(input: &[i16], out: &[i16]) -> Vec<(f64, usize)> {
    let mut corr: Vec<(f64, usize)> = input
        .chunks(48_000)
        .enumerate()
        .map(|(k, a)| best_correlation(a, out.get(k * 48_000..).unwrap_or(&[]), 48_000 / 2))
        .collect();
    corr.sort_by(|x, y| x.0.total_cmp(&y.0));
    corr
}

/// Shuts everything down.
pub async fn finish(nodes: Vec<TestNode>, handles: &[Arc<VoiceHandle>]) {
    for h in handles {
        h.leave().await;
    }
    for n in nodes {
        n.node.shutdown().await;
    }
}
