//! What the phone-life tests share: a group sharing locations, moving its
//! members until they hear each other, and a node with a quick background
//! policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use aura_crypto::{GroupId, MemberId};
use aura_node::{
    config::Config,
    location::{Position, Precision},
    Event, EventStream, Node,
};
use common::*;
/// A group of `nodes` sharing exact locations, each having seen every other's.
pub(crate) async fn sharing_group(nodes: &mut [TestNode]) -> GroupId {
    let gid = nodes[0].node.create_group("phones").await.unwrap();
    let invite = nodes[0].node.invite(gid, 10, 600_000).await.unwrap();
    for n in &nodes[1..] {
        assert_eq!(n.node.join(&invite).await.unwrap(), gid);
    }
    for n in nodes.iter() {
        n.node.set_precision(gid, Precision::Exact).await.unwrap();
        n.node.share_location(gid, true).await.unwrap();
    }
    let since = now_ms();
    let all = (0..nodes.len()).collect::<Vec<_>>();
    let took = move_until_heard(nodes, &all, since, 30).await;
    assert!(took < Duration::from_secs(30));
    gid
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Moves every node each 50 ms until every node has heard, from each of the
/// nodes `from`, a location stamped at or after `since_ms`; returns how
/// long that took (fails after `secs`).
pub(crate) async fn move_until_heard(
    nodes: &mut [TestNode],
    from: &[usize],
    since_ms: u64,
    secs: u64,
) -> Duration {
    let started = Instant::now();
    let ids: Vec<MemberId> = nodes.iter().map(|n| n.node.member_id()).collect();
    let want: Vec<HashSet<MemberId>> = (0..nodes.len())
        .map(|i| from.iter().filter(|&&j| j != i).map(|&j| ids[j]).collect())
        .collect();
    let mut heard: Vec<HashSet<MemberId>> = vec![HashSet::new(); nodes.len()];
    let mut step = 0.0;
    while heard.iter().zip(&want).any(|(h, w)| !w.is_subset(h)) {
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "traffic not back after {secs} s: heard {heard:?}"
        );
        step += 5.0;
        for (i, n) in nodes.iter().enumerate() {
            n.node
                .update_position(base().offset_m(step, i as f64 * 100.0))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        for (i, n) in nodes.iter_mut().enumerate() {
            while let Some(e) = n.events.try_next() {
                if let Event::Location { member, fix, .. } = e {
                    if fix.at_ms >= since_ms {
                        heard[i].insert(member);
                    }
                }
            }
        }
    }
    started.elapsed()
}

/// Waits (5 s at most) until `rx` gets `pos` from `member`; returns every
/// position of `member` seen on the way.
pub(crate) async fn heard(rx: &mut EventStream, member: MemberId, pos: Position) -> Vec<Position> {
    let mut seen = Vec::new();
    wait_for(rx, 5, |e| match e {
        Event::Location { member: m, fix, .. } if *m == member => {
            seen.push(fix.pos);
            (fix.pos.distance_m(&pos) < 1.0).then_some(())
        }
        _ => None,
    })
    .await;
    seen
}

pub(crate) fn drain(events: &mut EventStream) {
    while events.try_next().is_some() {}
}

/// A loopback node whose background policy ignores moves under 100 m but
/// has no minimum interval (so the test need not wait a minute).
pub(crate) async fn start_with_fast_background() -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::loopback(dir.path().to_path_buf());
    cfg.background.publish.min_interval_ms = 0;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let node = Node::builder().config(cfg).start().await.unwrap();
    let events = node.events();
    wait_listening(&node).await;
    TestNode { node, events, dir }
}
