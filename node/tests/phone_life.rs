//! Phone life on real swarms on loopback: a network change (new sockets,
//! every connection dropped) and background mode (frugal location policy,
//! voice left, quiet transport that still carries the group's traffic).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use crate::phone_common::{
    drain, heard, move_until_heard, now_ms, sharing_group, start_with_fast_background,
};

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use aura_node::{voice_api::VoiceConfig, Event, Node};
use common::*;
use libp2p::{multiaddr::Protocol, Multiaddr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_traffic_is_back_within_2_s_of_a_network_change() {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(start().await);
    }
    sharing_group(&mut nodes).await;
    let old: HashSet<_> = nodes[0]
        .node
        .listen_addrs()
        .await
        .unwrap()
        .into_iter()
        .collect();
    let a = nodes[0].node.peer_id();
    for n in nodes.iter_mut() {
        drain(&mut n.events);
    }
    let mut a_events = nodes[0].node.events();
    let changed_at = now_ms();
    nodes[0].node.network_changed().await.unwrap();
    // Both directions: the others hear the changed node, it hears them.
    let took = move_until_heard(&mut nodes, &[0, 1, 2], changed_at, 10).await;
    eprintln!("group traffic back {took:?} after the network change");
    assert!(
        took < Duration::from_secs(2),
        "group traffic back after {took:?}"
    );
    // On new connections (the old transport and its connections are gone).
    let mut reconnected = HashSet::new();
    while let Some(e) = a_events.try_next() {
        if let Event::PeerConnected { peer, .. } = e {
            reconnected.insert(peer);
        }
    }
    let others: HashSet<_> = nodes[1..].iter().map(|n| n.node.peer_id()).collect();
    assert_eq!(reconnected, others);
    // Listening again on every transport it had: on the old ports once the
    // old sockets are free (a closed QUIC endpoint drains its connections
    // first: seconds on a busy machine), else on new ones after the node's
    // wait, which it then announces to its groups.
    let transports = |addrs: &HashSet<Multiaddr>| -> Vec<String> {
        let mut t: Vec<String> = addrs
            .iter()
            .map(|a| {
                a.iter()
                    .map(|p| match p {
                        Protocol::Tcp(_) => "tcp".to_owned(),
                        Protocol::Udp(_) => "udp".to_owned(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        t.sort();
        t
    };
    within(15, async {
        loop {
            let now: HashSet<_> = nodes[0]
                .node
                .listen_addrs()
                .await
                .unwrap()
                .into_iter()
                .collect();
            if transports(&now) == transports(&old) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    for n in &nodes[1..] {
        assert!(n.node.connected_peers().await.unwrap().contains(&a));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_mode_publishes_frugally_leaves_voice_and_still_delivers() {
    let mut nodes = vec![start_with_fast_background().await, start().await];
    let gid = sharing_group(&mut nodes).await;
    let voice = nodes[0]
        .node
        .join_voice(gid, VoiceConfig::default())
        .await
        .unwrap();
    drain(&mut nodes[0].events);
    nodes[0].node.set_background(true).await.unwrap();
    wait_for(&mut nodes[0].events, 5, |e| match e {
        Event::VoiceStopped { group } if *group == gid => Some(()),
        _ => None,
    })
    .await;
    within(5, async {
        while voice.set_ptt(true).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // The first background fix reaches the other member (published at
    // once, or again when the quiet transport is back).
    let a = nodes[0].node.member_id();
    let here = base().offset_m(1_000.0, 0.0);
    nodes[0].node.update_position(here).await.unwrap();
    heard(&mut nodes[1].events, a, here).await;
    // 30 m of jitter is not published; a 300 m move is. A's frames arrive
    // in order, so a published jitter fix would arrive before the move.
    let jitter = here.offset_m(30.0, 0.0);
    nodes[0].node.update_position(jitter).await.unwrap();
    let far = here.offset_m(300.0, 0.0);
    nodes[0].node.update_position(far).await.unwrap();
    let seen = heard(&mut nodes[1].events, a, far).await;
    assert!(
        !seen.contains(&jitter),
        "jitter published in background mode"
    );
    // Back to the foreground: a 30 m move is published again, and voice
    // (left in the background) can be joined and talked on again.
    nodes[0].node.set_background(false).await.unwrap();
    let moved = far.offset_m(30.0, 0.0);
    nodes[0].node.update_position(moved).await.unwrap();
    heard(&mut nodes[1].events, a, moved).await;
    let voice = nodes[0]
        .node
        .join_voice(gid, VoiceConfig::default())
        .await
        .unwrap();
    voice.set_ptt(true).await.unwrap();
}

/// Stream bytes `node` has written (every libp2p protocol).
async fn bytes_sent(node: &Node) -> u64 {
    node.stats().await.unwrap().bytes_sent
}

/// Waits (20 s at most) until `node` has written nothing for `still`.
async fn until_still(node: &Node, still: Duration) {
    within(20, async {
        let (mut last, mut since) = (bytes_sent(node).await, Instant::now());
        while since.elapsed() < still {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = bytes_sent(node).await;
            if now != last {
                (last, since) = (now, Instant::now());
            }
        }
    })
    .await;
}

/// In background mode a group where nobody moves is silent: once the
/// switch's own traffic (re-dials, announcements) is over, a node writes
/// no byte on any libp2p protocol (no Ping, Identify, IHAVE or gossip
/// heartbeat traffic), yet a move is still delivered over the quiet
/// connections; back in the foreground, moves flow at the foreground
/// policy again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_group_is_silent_until_someone_moves_and_foreground_comes_back() {
    let mut nodes = vec![
        start_with_fast_background().await,
        start_with_fast_background().await,
    ];
    let gid = sharing_group(&mut nodes).await;
    for n in &nodes {
        n.node.set_background(true).await.unwrap();
    }
    let a = nodes[0].node.member_id();
    let here = base().offset_m(2_000.0, 0.0);
    nodes[0].node.update_position(here).await.unwrap();
    heard(&mut nodes[1].events, a, here).await;
    // Both in background: one subscribes and carries for the other, which
    // hands it what it publishes and asks for the rest once a minute
    // (`net::carry`). The carried one moves next: its move goes out at once.
    until_still(&nodes[0].node, Duration::from_secs(3)).await;
    until_still(&nodes[1].node, Duration::from_secs(1)).await;
    let carried = if nodes[0].node.stats().await.unwrap().carry_requests > 0 {
        0
    } else {
        1
    };
    let (mover, other) = (carried, 1 - carried);
    assert!(
        nodes[mover].node.stats().await.unwrap().carry_requests > 0,
        "one of two background members is carried by the other"
    );
    let before = bytes_sent(&nodes[mover].node).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        bytes_sent(&nodes[mover].node).await,
        before,
        "a background node with nothing to say wrote to its peers"
    );
    let m = nodes[mover].node.member_id();
    let far = here.offset_m(300.0, 0.0);
    nodes[mover].node.update_position(far).await.unwrap();
    heard(&mut nodes[other].events, m, far).await;
    for n in &nodes {
        n.node.set_background(false).await.unwrap();
    }
    let moved = far.offset_m(30.0, 0.0);
    nodes[0].node.update_position(moved).await.unwrap();
    heard(&mut nodes[1].events, a, moved).await;
    assert!(nodes[1]
        .node
        .groups()
        .await
        .unwrap()
        .iter()
        .any(|(g, _)| *g == gid));
}

/// A phone in background mode in a group of three does not publish to
/// every member: it leaves the group's topic (the others' gossip no longer
/// lists it, so they push it nothing), hands its moves to one foreground
/// member that carries them to the group, and gets the group's moves back
/// in the answer (`net::carry`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_phone_is_carried_by_one_member_both_ways() {
    let mut nodes = vec![
        start_with_fast_background().await,
        start().await,
        start().await,
    ];
    sharing_group(&mut nodes).await;
    nodes[0].node.set_background(true).await.unwrap();
    let phone = nodes[0].node.member_id();
    let here = base().offset_m(1_000.0, 0.0);
    nodes[0].node.update_position(here).await.unwrap();
    heard(&mut nodes[1].events, phone, here).await;
    heard(&mut nodes[2].events, phone, here).await;
    let s = nodes[0].node.stats().await.unwrap();
    assert!(s.carry_requests > 0, "the phone's move went to a carrier");
    let mut carried = 0;
    for n in &nodes[1..] {
        carried += n.node.stats().await.unwrap().messages_carried;
    }
    assert!(
        carried > 0,
        "a foreground member published it for the phone"
    );
    // Members still connected to the phone see it unsubscribed: its carrier
    // at least (the others' connections close once the carrier took its
    // away notice, `net::away`).
    let mut unsubscribed = 0;
    for n in &nodes[1..] {
        let seen = n.node.stats().await.unwrap().members_not_subscribed;
        assert!(seen <= 1, "one member is not subscribed, not {seen}");
        unsubscribed += seen;
    }
    assert!(unsubscribed >= 1, "the phone left the group's topic");
    // A foreground member moves; the phone hears it with its next exchange.
    let b = nodes[1].node.member_id();
    let there = base().offset_m(0.0, 700.0);
    nodes[1].node.update_position(there).await.unwrap();
    // Whichever foreground member carries for the phone holds the move once
    // the group has it (under load gossip can take longer than a fixed wait).
    heard(&mut nodes[2].events, b, there).await;
    // A move the background policy publishes (beyond its 100 m of noise):
    // one exchange with the carrier, whose answer holds B's move.
    let requests = nodes[0].node.stats().await.unwrap().carry_requests;
    nodes[0]
        .node
        .update_position(here.offset_m(250.0, 0.0))
        .await
        .unwrap();
    heard(&mut nodes[0].events, b, there).await;
    let s = nodes[0].node.stats().await.unwrap();
    assert!(
        s.carry_requests > requests,
        "the phone's own move was its exchange"
    );
    // What the carrier kept since is fetched when the phone comes back.
    let later = there.offset_m(0.0, 500.0);
    nodes[1].node.update_position(later).await.unwrap();
    // Longer than gossip's repair keeps a message (it advertises three
    // 700 ms heartbeats, and keeps five).
    tokio::time::sleep(Duration::from_secs(5)).await;
    nodes[0].node.set_background(false).await.unwrap();
    heard(&mut nodes[0].events, b, later).await;
}

/// A whole group in background mode still shares: one member subscribes
/// and carries for the others, and every member's move reaches every other
/// (the carried ones at their next exchange).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_all_in_background_still_delivers_every_move() {
    let mut nodes = vec![
        start_with_fast_background().await,
        start_with_fast_background().await,
        start_with_fast_background().await,
        start_with_fast_background().await,
    ];
    sharing_group(&mut nodes).await;
    for n in &nodes {
        n.node.set_background(true).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let since = now_ms();
    let all = (0..nodes.len()).collect::<Vec<_>>();
    // Every member moves (and so exchanges with its carrier) every 50 ms.
    let took = move_until_heard(&mut nodes, &all, since, 20).await;
    eprintln!("every move heard by every member after {took:?}");
}
