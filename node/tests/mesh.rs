//! Real swarms on loopback: joining by invite, location propagation, removal,
//! joins through another admin, refused invites.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::{HashMap, HashSet};

use aura_crypto::{MemberId, Role};
use aura_node::{location::Precision, Event, NodeError};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_join_by_invite_and_see_each_others_location() {
    let mut nodes = Vec::new();
    for _ in 0..5 {
        nodes.push(start().await);
    }
    let gid = nodes[0].node.create_group("five").await.unwrap();
    let invite = nodes[0].node.invite(gid, 10, 600_000).await.unwrap();
    for n in &nodes[1..] {
        assert_eq!(n.node.join(&invite).await.unwrap(), gid);
    }
    assert_eq!(nodes[0].node.members(gid).await.unwrap().len(), 5);
    let ids: Vec<MemberId> = nodes.iter().map(|n| n.node.member_id()).collect();
    for n in &nodes {
        n.node.set_precision(gid, Precision::Exact).await.unwrap();
        n.node.share_location(gid, true).await.unwrap();
    }
    // Everyone moves (repeatedly, so updates sent before keys arrived are superseded)
    // until each node has seen every other member's location.
    let started = std::time::Instant::now();
    let mut seen: Vec<HashSet<MemberId>> = vec![HashSet::new(); 5];
    let mut step = 0.0;
    while seen.iter().any(|s| s.len() < 4) {
        assert!(
            started.elapsed().as_secs() < 20,
            "locations not propagated: {seen:?}"
        );
        step += 20.0;
        for (i, n) in nodes.iter().enumerate() {
            n.node
                .update_position(base().offset_m(step, i as f64 * 100.0))
                .await
                .unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        for (i, n) in nodes.iter_mut().enumerate() {
            while let Some(e) = n.events.try_next() {
                if let Event::Location { member, group, .. } = e {
                    assert_eq!(group, gid);
                    assert_ne!(member, ids[i]);
                    seen[i].insert(member);
                }
            }
        }
    }
    // Last known positions agree with what was sent (exact precision).
    let last: HashMap<_, _> = nodes[1]
        .node
        .last_positions(gid)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(last.len(), 4);
    for n in nodes {
        n.node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_member_cannot_read_after_removal_and_others_still_can() {
    let a = start().await;
    let mut b = start().await;
    let mut c = start().await;
    let gid = a.node.create_group("trio").await.unwrap();
    let invite = a.node.invite(gid, 5, 600_000).await.unwrap();
    b.node.join(&invite).await.unwrap();
    c.node.join(&invite).await.unwrap();
    // Wait until b and c can read a's chat.
    let mut round = 0;
    loop {
        round += 1;
        assert!(round < 100, "chat never arrived");
        a.node
            .send_chat(gid, &format!("hello {round}"))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let got_b = drain_chat(&mut b);
        let got_c = drain_chat(&mut c);
        if got_b.iter().any(|t| t.starts_with("hello"))
            && got_c.iter().any(|t| t.starts_with("hello"))
        {
            break;
        }
    }
    a.node.remove_member(gid, c.node.member_id()).await.unwrap();
    wait_for(&mut c.events, 10, |e| {
        matches!(e, Event::RemovedFromGroup { .. }).then_some(())
    })
    .await;
    let before = c.node.stats().await.unwrap().frames_unreadable;
    // After removal: b reads, c does not.
    for i in 0..20 {
        a.node.send_chat(gid, &format!("secret {i}")).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let got_b = wait_for(&mut b.events, 10, |e| match e {
        Event::Chat { text, .. } if text.starts_with("secret") => Some(text.clone()),
        _ => None,
    })
    .await;
    assert!(got_b.starts_with("secret"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(drain_chat(&mut c).iter().all(|t| !t.starts_with("secret")));
    let after = c.node.stats().await.unwrap().frames_unreadable;
    assert!(
        after > before,
        "removed node should have received unreadable frames ({before} -> {after})"
    );
    assert!(matches!(
        c.node.send_chat(gid, "still here?").await,
        Err(NodeError::NotMember)
    ));
}

fn drain_chat(n: &mut TestNode) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(e) = n.events.try_next() {
        if let Event::Chat { text, .. } = e {
            out.push(text);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_works_when_inviter_is_offline_and_another_admin_is_online() {
    let a = start().await;
    let b = start().await;
    let c = start().await;
    let d = start().await;
    let gid = a.node.create_group("relay team").await.unwrap();
    let inv = a.node.invite(gid, 5, 600_000).await.unwrap();
    b.node.join(&inv).await.unwrap();
    a.node
        .set_role(gid, b.node.member_id(), Role::Admin)
        .await
        .unwrap();
    // b learns it is admin through gossip.
    within(10, async {
        loop {
            let m = b.node.members(gid).await.unwrap();
            if m.iter()
                .any(|(id, r)| *id == b.node.member_id() && *r == Role::Admin)
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    // a's invite names b too (a knows b's address); then a goes offline.
    let inv = a.node.invite(gid, 1, 600_000).await.unwrap();
    a.node.shutdown().await;
    assert_eq!(c.node.join(&inv).await.unwrap(), gid);
    assert!(b
        .node
        .members(gid)
        .await
        .unwrap()
        .iter()
        .any(|(m, _)| *m == c.node.member_id()));
    // Used up: max_uses was 1.
    let err = d.node.join(&inv).await.unwrap_err().to_string();
    assert!(err.contains("used"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_forged_invites_are_refused_with_a_clear_error() {
    let a = start().await;
    let b = start().await;
    let gid = a.node.create_group("g").await.unwrap();
    let inv = a.node.invite(gid, 5, 1).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let e = b.node.join(&inv).await.unwrap_err();
    assert!(
        matches!(e, NodeError::Invite(aura_crypto::InviteError::Expired)),
        "{e}"
    );
    // Forged: flip a character in the body.
    let good = a.node.invite(gid, 5, 600_000).await.unwrap();
    let mut chars: Vec<char> = good.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
    let forged: String = chars.into_iter().collect();
    let e = b.node.join(&forged).await.unwrap_err();
    assert!(matches!(e, NodeError::Invite(_)), "{e}");
    // Signed by a non-admin (b's own group, claiming a's group id) is refused by a.
    let e = b.node.join("xyz1abc").await.unwrap_err();
    assert!(e.to_string().contains("invite rejected"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_keeps_a_track_point_every_25_m_of_a_member_riding_past() {
    let a = start().await;
    let b = start().await;
    let gid = a.node.create_group("track").await.unwrap();
    let invite = a.node.invite(gid, 5, 600_000).await.unwrap();
    b.node.join(&invite).await.unwrap();
    b.node.set_precision(gid, Precision::Exact).await.unwrap();
    b.node.share_location(gid, true).await.unwrap();
    let mut a_events = a.node.events();
    // b rides north 5 m every 50 ms until a hears it, then 60 steps more (300 m).
    let mut step = 0.0;
    let mut heard = 0usize;
    let mut after_first = None;
    while after_first.is_none_or(|n| n < 60) {
        step += 5.0;
        b.node
            .update_position(base().offset_m(step, 0.0))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        heard += drain_locations(&mut a_events);
        after_first = match after_first {
            None if heard > 0 => Some(0),
            None => {
                assert!(step < 2_000.0, "a never heard b");
                None
            }
            Some(n) => Some(n + 1),
        };
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    heard += drain_locations(&mut a_events);
    let points = a
        .node
        .history_gpx(gid)
        .await
        .unwrap()
        .matches("<trkpt")
        .count();
    // ~300 m at one point per 25 m (b's own history is on b's device).
    assert!(heard >= 55, "a heard {heard} updates");
    assert!(
        (10..=16).contains(&points),
        "{points} track points from {heard} updates"
    );
    let own = b
        .node
        .history_gpx(gid)
        .await
        .unwrap()
        .matches("<trkpt")
        .count();
    assert!(own >= 10 && own < heard, "b stored {own} of its own points");
}

/// Location events received so far on `rx` (without waiting).
fn drain_locations(rx: &mut aura_node::EventStream) -> usize {
    let mut n = 0;
    while let Some(e) = rx.try_next() {
        n += usize::from(matches!(e, Event::Location { .. }));
    }
    n
}
