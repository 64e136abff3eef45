//! Away notices on real swarms on loopback: a phone in background mode
//! keeps only its carrier's connection, and nobody can make a member look
//! away (`net::away`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use crate::phone_common::{
    drain, heard, move_until_heard, now_ms, sharing_group, start_with_fast_background,
};

use std::time::Duration;

use aura_crypto::FrameKind;
use aura_node::{
    wire::{self, ControlMsg, GossipMsg},
    Node,
};
use common::*;
use libp2p::PeerId;

/// How many of `others` the node is connected to.
async fn connected_to(node: &Node, others: &[PeerId]) -> usize {
    let peers = node.connected_peers().await.unwrap();
    peers.iter().filter(|p| others.contains(p)).count()
}

/// Members of `nodes` that hold some member for away.
async fn holding_away(nodes: &[TestNode]) -> u64 {
    let mut n = 0;
    for t in nodes {
        n += t.node.stats().await.unwrap().members_away;
    }
    n
}

/// A phone in background mode among foreground members says it is away:
/// once its carrier took the notice it keeps that one connection (the
/// others hold it for away and do not dial it again), still hears the
/// group through the carrier, and back in the foreground the full mesh and
/// group traffic are back within 2 s (`net::away`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_away_phone_keeps_one_connection_and_the_mesh_is_back_within_2_s() {
    let mut nodes = vec![
        start_with_fast_background().await,
        start().await,
        start().await,
        start().await,
    ];
    sharing_group(&mut nodes).await;
    let others: Vec<PeerId> = nodes[1..].iter().map(|n| n.node.peer_id()).collect();
    nodes[0].node.set_background(true).await.unwrap();
    within(20, async {
        while connected_to(&nodes[0].node, &others).await != 1 || holding_away(&nodes).await != 3 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(nodes[0].node.stats().await.unwrap().away_links_closed >= 2);
    // Longer than the members' first redials (250 ms, then doubling).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        connected_to(&nodes[0].node, &others).await,
        1,
        "a member dialled the away phone again"
    );
    // It still hears the group, with its next exchange.
    let b = nodes[1].node.member_id();
    let there = base().offset_m(0.0, 700.0);
    nodes[1].node.update_position(there).await.unwrap();
    heard(&mut nodes[2].events, b, there).await;
    heard(&mut nodes[3].events, b, there).await;
    nodes[0]
        .node
        .update_position(base().offset_m(1_000.0, 0.0))
        .await
        .unwrap();
    heard(&mut nodes[0].events, b, there).await;
    // Back in the foreground: every member heard, and hears it, within 2 s.
    for n in nodes.iter_mut() {
        drain(&mut n.events);
    }
    let back_at = now_ms();
    nodes[0].node.set_background(false).await.unwrap();
    let took = move_until_heard(&mut nodes, &[0, 1, 2, 3], back_at, 10).await;
    eprintln!("group traffic back {took:?} after the away phone came back");
    assert!(took < Duration::from_secs(2), "traffic back after {took:?}");
    within(5, async {
        while connected_to(&nodes[0].node, &others).await != 3 || holding_away(&nodes).await != 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// Seals `msg` with `session` (whoever's it is) as a gossip message.
fn sealed_control(session: &mut aura_crypto::GroupSession, msg: &ControlMsg) -> Vec<u8> {
    let frame = session
        .seal(FrameKind::Control, &wire::encode(msg), now_ms())
        .unwrap();
    wire::encode(&GossipMsg::Frame(frame))
}

/// Nobody can make a member look away: a notice in another member's
/// name (the attacker's own frame with the victim's sender id) is refused,
/// and the victim's own old "away" (captured and published again after it
/// came back) changes nothing; the victim's genuine notices do work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_replayed_away_notice_does_not_make_a_member_look_away() {
    let mut nodes = vec![
        start_with_fast_background().await,
        start().await,
        start().await,
    ];
    let gid = sharing_group(&mut nodes).await;
    let (victim, attacker, witness) = (&nodes[0], &nodes[1], &nodes[2]);
    let refused = |s: &aura_node::NodeStats| s.rejected_forged + s.gossip_ignored;
    // The attacker's own notice, re-addressed to the victim's sender id.
    let before = refused(&witness.node.stats().await.unwrap());
    let session = attacker.node.group_session(gid).await.unwrap();
    let mut forged = session
        .lock()
        .unwrap()
        .seal(
            FrameKind::Control,
            &wire::encode(&ControlMsg::Presence {
                away: true,
                at_ms: now_ms(),
            }),
            now_ms(),
        )
        .unwrap();
    forged[9..13].copy_from_slice(&victim.node.member_id().short_id().0.to_be_bytes());
    let msg = wire::encode(&GossipMsg::Frame(forged));
    attacker.node.publish_raw(gid, msg).await.unwrap();
    within(10, async {
        while refused(&witness.node.stats().await.unwrap()) == before {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(
        witness.node.stats().await.unwrap().members_away,
        0,
        "a forged notice made the victim look away"
    );
    // The victim's genuine away and back.
    let victim_session = victim.node.group_session(gid).await.unwrap();
    let went_at = now_ms();
    let old_away = sealed_control(
        &mut victim_session.lock().unwrap(),
        &ControlMsg::Presence {
            away: true,
            at_ms: went_at,
        },
    );
    victim.node.set_background(true).await.unwrap();
    within(20, async {
        while witness.node.stats().await.unwrap().members_away != 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    victim.node.set_background(false).await.unwrap();
    within(10, async {
        while witness.node.stats().await.unwrap().members_away != 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // An away notice of the victim's from before it came back, published
    // again by the attacker: stale.
    let stale = witness.node.stats().await.unwrap().presence_stale;
    within(10, async {
        while attacker
            .node
            .publish_raw(gid, old_away.clone())
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    within(10, async {
        while witness.node.stats().await.unwrap().presence_stale == stale {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(
        witness.node.stats().await.unwrap().members_away,
        0,
        "an old away notice made the victim look away again"
    );
}
