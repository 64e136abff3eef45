//! Members attacking the location plane: forged and invalid geofences, a
//! flood of fences, positions dated far in the future. Each attacker seals
//! with its own (genuine) group session, bypassing its node's local checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aura_crypto::{FrameKind, GroupId, MemberId, Role};
use aura_node::{
    location::{FenceError, Fix, Geofence, Position, Precision, Shape, MAX_FENCES},
    store::Store,
    wire::{self, ControlMsg, GossipMsg, LocationMsg},
    Event, Node, NodeError, NodeStats,
};
use common::*;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn circle(name: &str, radius_m: f64) -> Geofence {
    Geofence {
        name: name.into(),
        shape: Shape::Circle {
            center: base(),
            radius_m,
        },
    }
}

/// Seals `payload` with `node`'s own group session and publishes it as is.
async fn seal_and_publish(node: &Node, gid: GroupId, kind: FrameKind, payload: &[u8]) {
    let session = node.group_session(gid).await.unwrap();
    let frame = session
        .lock()
        .unwrap()
        .seal(kind, payload, now_ms())
        .unwrap();
    let msg = wire::encode(&GossipMsg::Frame(frame));
    within(10, async {
        while node.publish_raw(gid, msg.clone()).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

async fn forge_control(node: &Node, gid: GroupId, msg: &ControlMsg) {
    seal_and_publish(node, gid, FrameKind::Control, &wire::encode(msg)).await;
}

/// Chats from `a` until `b` has it (so `b` holds `a`'s sender key).
async fn chat_until_received(a: &TestNode, b: &mut TestNode, gid: GroupId, text: &str) {
    for _ in 0..100 {
        a.node.send_chat(gid, text).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut got = false;
        while let Some(e) = b.events.try_next() {
            got |= matches!(e, Event::Chat { text: t, .. } if t == text);
        }
        if got {
            return;
        }
    }
    panic!("chat never arrived");
}

/// Waits until `node`'s stats satisfy `done`.
async fn stats_until(node: &Node, done: impl Fn(&NodeStats) -> bool) -> NodeStats {
    within(20, async {
        loop {
            let s = node.stats().await.unwrap();
            if done(&s) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Waits until `node` holds exactly `n` geofences in `gid`.
async fn fences_until(node: &Node, gid: GroupId, n: usize) -> Vec<Geofence> {
    within(60, async {
        loop {
            let f = node.geofences(gid).await.unwrap();
            if f.len() == n {
                return f;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// `n` nodes in one group created by the first; everyone holds everyone's key.
async fn group_of(n: usize) -> (Vec<TestNode>, GroupId) {
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(start().await);
    }
    let gid = nodes[0].node.create_group("fences").await.unwrap();
    let invite = nodes[0].node.invite(gid, 10, 600_000).await.unwrap();
    for m in &nodes[1..] {
        m.node.join(&invite).await.unwrap();
    }
    for i in 0..n {
        for j in 0..n {
            if i != j {
                let (a, b) = if i < j {
                    let (l, r) = nodes.split_at_mut(j);
                    (&l[i], &mut r[0])
                } else {
                    let (l, r) = nodes.split_at_mut(i);
                    (&r[0], &mut l[j])
                };
                chat_until_received(a, b, gid, &format!("{i} to {j}")).await;
            }
        }
    }
    (nodes, gid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_members_forged_fence_is_ignored_by_others() {
    let (nodes, gid) = group_of(3).await;
    let (owner, mallory, carol) = (&nodes[0].node, &nodes[1].node, &nodes[2].node);
    owner.add_geofence(gid, circle("hut", 150.0)).await.unwrap();
    fences_until(carol, gid, 1).await;
    fences_until(mallory, gid, 1).await;

    // Mallory's own node refuses, whatever it is asked.
    let e = mallory
        .add_geofence(gid, circle("trap", 80.0))
        .await
        .unwrap_err();
    assert!(
        matches!(e, NodeError::Geofence(FenceError::NotAdmin)),
        "{e}"
    );
    let e = mallory.remove_geofence(gid, "hut").await.unwrap_err();
    assert!(
        matches!(e, NodeError::Geofence(FenceError::NotAdmin)),
        "{e}"
    );

    // So Mallory seals the changes herself: a new fence and the hut removed.
    forge_control(mallory, gid, &ControlMsg::Fence(circle("trap", 80.0))).await;
    forge_control(mallory, gid, &ControlMsg::FenceRemoved("hut".into())).await;
    for n in [owner, carol] {
        stats_until(n, |s| s.fences_refused_not_admin == 2).await;
        assert_eq!(n.geofences(gid).await.unwrap(), vec![circle("hut", 150.0)]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_fence_from_an_admin_is_refused_with_a_typed_reason() {
    let (nodes, gid) = group_of(3).await;
    let (owner, admin, carol) = (&nodes[0].node, &nodes[1].node, &nodes[2].node);
    owner
        .set_role(gid, admin.member_id(), Role::Admin)
        .await
        .unwrap();
    let is_admin = |m: Vec<(MemberId, Role)>| {
        m.iter()
            .any(|(id, r)| *id == admin.member_id() && *r == Role::Admin)
    };
    for n in [admin, carol] {
        within(10, async {
            while !is_admin(n.members(gid).await.unwrap()) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
    // An admin's valid fence is applied everywhere.
    admin.add_geofence(gid, circle("camp", 60.0)).await.unwrap();
    fences_until(owner, gid, 1).await;
    fences_until(carol, gid, 1).await;

    // Its node refuses an invalid one...
    let e = admin
        .add_geofence(gid, circle("void", -5.0))
        .await
        .unwrap_err();
    assert!(
        matches!(e, NodeError::Geofence(FenceError::BadRadius)),
        "{e}"
    );
    // ... and so does every member when the admin seals it itself.
    let off_the_map = Geofence {
        name: "nowhere".into(),
        shape: Shape::Circle {
            center: Position {
                lat: 200.0,
                lon: 6.0,
            },
            radius_m: 10.0,
        },
    };
    let line = Geofence {
        name: "line".into(),
        shape: Shape::Polygon(vec![base(), base().offset_m(10.0, 0.0)]),
    };
    let bad = [
        circle("void", -5.0),
        circle("infinite", f64::INFINITY),
        off_the_map,
        line,
        circle(&"x".repeat(500), 10.0),
    ];
    for f in &bad {
        forge_control(admin, gid, &ControlMsg::Fence(f.clone())).await;
    }
    for n in [owner, carol] {
        let s = stats_until(n, |s| s.fences_refused_invalid == bad.len() as u64).await;
        assert_eq!(
            (s.fences_refused_not_admin, s.fences_refused_too_many),
            (0, 0)
        );
        assert_eq!(n.geofences(gid).await.unwrap(), vec![circle("camp", 60.0)]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_1001st_fence_is_refused() {
    let (nodes, gid) = group_of(2).await;
    let (owner, bob) = (&nodes[0].node, &nodes[1].node);
    for i in 0..MAX_FENCES {
        owner
            .add_geofence(gid, circle(&format!("f{i}"), 100.0))
            .await
            .unwrap();
        if i % 200 == 199 {
            fences_until(bob, gid, i + 1).await;
        }
    }
    fences_until(bob, gid, MAX_FENCES).await;
    let e = owner
        .add_geofence(gid, circle("one too many", 100.0))
        .await
        .unwrap_err();
    assert!(matches!(e, NodeError::Geofence(FenceError::TooMany)), "{e}");
    forge_control(
        owner,
        gid,
        &ControlMsg::Fence(circle("one too many", 100.0)),
    )
    .await;
    stats_until(bob, |s| s.fences_refused_too_many == 1).await;
    let held = bob.geofences(gid).await.unwrap();
    assert_eq!(held.len(), MAX_FENCES);
    assert!(held.iter().all(|f| f.name != "one too many"));
    // Replacing a fence of a full group is still a change, not a new fence.
    owner.add_geofence(gid, circle("f3", 300.0)).await.unwrap();
    within(20, async {
        while !bob
            .geofences(gid)
            .await
            .unwrap()
            .contains(&circle("f3", 300.0))
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_dated_far_in_the_future_is_pruned_after_retention() {
    let (mut nodes, gid) = group_of(2).await;
    let mallory = nodes.pop().unwrap();
    let mut alice = nodes.pop().unwrap();
    let ten_years_ms = 10 * 365 * 86_400_000u64;
    let sent_ms = now_ms();
    let fix = Fix {
        pos: base(),
        at_ms: sent_ms + ten_years_ms,
        precision: Precision::Exact,
    };
    let msg = wire::encode(&LocationMsg::from_fix(&fix));
    seal_and_publish(&mallory.node, gid, FrameKind::Location, &msg).await;
    let at_ms = wait_for(&mut alice.events, 10, |e| match e {
        Event::Location { member, fix, .. } if *member == mallory.node.member_id() => {
            Some(fix.at_ms)
        }
        _ => None,
    })
    .await;
    let received_by = now_ms();
    assert!(
        at_ms <= received_by + 60_000,
        "shown dated {} s ahead",
        (at_ms - received_by) / 1000
    );
    // The point is in alice's history; a day after retention, it is gone.
    assert!(alice
        .node
        .history_gpx(gid)
        .await
        .unwrap()
        .contains("<trkpt"));
    alice.node.shutdown().await;
    mallory.node.shutdown().await;
    let store = Store::open(&alice.dir.path().join("store")).unwrap();
    assert_eq!(store.locations(&gid.0).unwrap().len(), 1);
    let one_day_past_expiry_ms = received_by + 86_400_000;
    store.prune_locations(one_day_past_expiry_ms).unwrap();
    assert!(
        store.locations(&gid.0).unwrap().is_empty(),
        "a point outlived its retention"
    );
}
