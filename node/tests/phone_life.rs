//! Phone life on real swarms on loopback: a network change (new sockets,
//! every connection dropped) and background mode (frugal location policy,
//! voice left, quiet transport that still carries the group's traffic).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use aura_crypto::{FrameKind, GroupId, MemberId};
use aura_node::{
    config::Config,
    location::{Position, Precision},
    voice_api::VoiceConfig,
    wire::{self, ControlMsg, GossipMsg},
    Event, EventStream, Node,
};
use common::*;
use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};

/// A group of `nodes` sharing exact locations, each having seen every other's.
async fn sharing_group(nodes: &mut [TestNode]) -> GroupId {
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

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Moves every node each 50 ms until every node has heard, from each of the
/// nodes `from`, a location stamped at or after `since_ms`; returns how
/// long that took (fails after `secs`).
async fn move_until_heard(
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
async fn heard(rx: &mut EventStream, member: MemberId, pos: Position) -> Vec<Position> {
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

fn drain(events: &mut EventStream) {
    while events.try_next().is_some() {}
}

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

/// A loopback node whose background policy ignores moves under 100 m but
/// has no minimum interval (so the test need not wait a minute).
async fn start_with_fast_background() -> TestNode {
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
