//! People between real nodes on loopback: names reach the other members
//! and show in events and labels; a member cannot publish a profile in
//! another member's name, nor bring back an older one; avatars are fetched
//! by hash; a block holds across a restart and unblocking restores.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use aura_crypto::{FrameKind, GroupId, Identity, MemberId};
use aura_node::{
    config::Config,
    people::{Profile, SignedProfile},
    wire::{self, ControlMsg, GossipMsg},
    Event, Node,
};
use common::*;

async fn start_as(secret: [u8; 32]) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::builder()
        .config(Config::loopback(dir.path().to_path_buf()))
        .identity_secret(secret)
        .start()
        .await
        .unwrap();
    let events = node.events();
    wait_listening(&node).await;
    TestNode { node, events, dir }
}

/// `who` joins `gid` through `owner`; returns when `owner` has its key.
async fn join(owner: &mut TestNode, who: &TestNode, gid: GroupId) {
    let invite = owner.node.invite(gid, 1, 600_000).await.unwrap();
    who.node.join(&invite).await.unwrap();
    let id = who.node.member_id();
    wait_for(&mut owner.events, 15, |e| {
        matches!(e, Event::KeysReceived { sender, .. } if *sender == id).then_some(())
    })
    .await;
}

/// Waits until `node` shows `member` under `label`.
async fn label_is(node: &Node, gid: GroupId, member: MemberId, label: &str) {
    within(15, async {
        loop {
            let labels = node.member_labels(gid).await.unwrap();
            if labels.iter().any(|(m, l)| *m == member && l == label) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Seals `msg` as a control frame with `node`'s real keys and publishes it
/// raw: a member sending what the node itself never would.
async fn publish_control(node: &Node, gid: GroupId, msg: &ControlMsg) {
    let session = node.group_session(gid).await.unwrap();
    let frame = session
        .lock()
        .unwrap()
        .seal(FrameKind::Control, &wire::encode(msg), now_ms())
        .unwrap();
    node.publish_raw(gid, wire::encode(&GossipMsg::Frame(frame)))
        .await
        .unwrap();
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn stats_until(node: &Node, done: impl Fn(&aura_node::NodeStats) -> bool) {
    within(15, async {
        loop {
            if done(&node.stats().await.unwrap()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

fn png(len: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend((0..len - 8).map(|i| (i % 251) as u8));
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_propagate_and_a_forged_or_replayed_profile_changes_nothing() {
    let ana_key = Identity::from_secret_bytes(&[5; 32]);
    let mut ana = start_as([5; 32]).await;
    let mut ben = start().await;
    let mallory_key = Identity::from_secret_bytes(&[7; 32]);
    let mallory = start_as([7; 32]).await;
    let gid = ana.node.create_group("hut").await.unwrap();
    join(&mut ana, &ben, gid).await;
    join(&mut ana, &mallory, gid).await;
    let (a, m) = (ana.node.member_id(), mallory.node.member_id());

    // A name set after joining reaches the others, in events and labels.
    ana.node
        .set_profile(" Ana ", Some("on the ridge"), None)
        .await
        .unwrap();
    let (label, status) = wait_for(&mut ben.events, 15, |e| match e {
        Event::Profile {
            member,
            label,
            profile,
            ..
        } if *member == a => Some((label.clone(), profile.status.clone())),
        _ => None,
    })
    .await;
    assert_eq!(
        (label.as_str(), status.as_deref()),
        ("Ana", Some("on the ridge"))
    );
    label_is(&mallory.node, gid, a, "Ana").await;
    ana.node.send_chat(gid, "hello").await.unwrap();
    let from = wait_for(&mut ben.events, 15, |e| match e {
        Event::Chat { label, text, .. } if text == "hello" => Some(label.clone()),
        _ => None,
    })
    .await;
    assert_eq!(from, "Ana", "chat events carry the name");

    // Mallory takes the same name: both show with their id prefix.
    mallory.node.set_profile("ana", None, None).await.unwrap();
    let short = |id: &MemberId| hex::encode(&id.0[..4]);
    label_is(&ben.node, gid, m, &format!("ana ({})", short(&m))).await;
    label_is(&ben.node, gid, a, &format!("Ana ({})", short(&a))).await;

    // Attack 1: Mallory sends, as itself, a profile naming Ana, signed with
    // Mallory's key over exactly the bytes Ana would sign.
    let forged = Profile::new(a, u64::MAX - 1, "Ana (admin)", None, None).unwrap();
    let mut signed_bytes = b"aura/profile/v1\0".to_vec();
    signed_bytes.extend(wire::encode(&forged));
    let forged = SignedProfile {
        sig: mallory_key.sign(&signed_bytes).to_bytes().to_vec(),
        profile: forged,
    };
    publish_control(&mallory.node, gid, &ControlMsg::Profile(forged.encode())).await;
    // Attack 2: Mallory relays a profile genuinely signed by Ana (a newer
    // version than Ana's own) under its own frame.
    let genuine = Profile::new(a, u64::MAX - 1, "Ana (admin)", None, None)
        .unwrap()
        .sign(&ana_key)
        .unwrap();
    publish_control(&mallory.node, gid, &ControlMsg::Profile(genuine.encode())).await;
    stats_until(&ben.node, |s| s.profiles_refused >= 2).await;

    // Attack 3: Mallory brings back an older version of its own profile.
    let old = Profile::new(m, 1, "Mallory", None, None)
        .unwrap()
        .sign(&mallory_key)
        .unwrap();
    publish_control(&mallory.node, gid, &ControlMsg::Profile(old.encode())).await;
    stats_until(&ben.node, |s| s.profiles_stale >= 1).await;

    // Nothing changed at Ben's.
    let labels = ben.node.member_labels(gid).await.unwrap();
    let of = |id| labels.iter().find(|(x, _)| *x == id).unwrap().1.clone();
    assert_eq!(of(a), format!("Ana ({})", short(&a)));
    assert_eq!(of(m), format!("ana ({})", short(&m)));
    assert_eq!(ben.node.profile(a).await.unwrap().unwrap().name, "Ana");
    assert_eq!(ben.node.profile(m).await.unwrap().unwrap().name, "ana");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avatar_is_fetched_by_hash_and_names_survive_restart() {
    let mut ana = start().await;
    let ben = start().await;
    let gid = ana.node.create_group("hut").await.unwrap();
    join(&mut ana, &ben, gid).await;
    let image = png(3_000);
    let p = ana
        .node
        .set_profile("Ana", None, Some(image.clone()))
        .await
        .unwrap();
    let hash = p.avatar.unwrap().hash;
    let got = within(15, async {
        loop {
            if let Some(b) = ben.node.avatar(hash).await.unwrap() {
                return b;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(got, image);
    // Too big or not an image: refused before anything is sent.
    assert!(ana
        .node
        .set_profile("Ana", None, Some(png(70_000)))
        .await
        .is_err());
    assert!(ana
        .node
        .set_profile("Ana", None, Some(b"GIF89a..".to_vec()))
        .await
        .is_err());

    // Ben restarts: Ana's name and avatar come back from the store.
    let a = ana.node.member_id();
    ben.node.shutdown().await;
    let ben = start_in(ben.dir).await;
    assert_eq!(ben.node.profile(a).await.unwrap().unwrap().name, "Ana");
    assert_eq!(ben.node.avatar(hash).await.unwrap(), Some(image));
    label_is(&ben.node, gid, a, "Ana").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_holds_across_restart_and_unblock_restores() {
    let mut ana = start().await;
    let mut ben = start().await;
    let cleo = start().await;
    let gid = ana.node.create_group("hut").await.unwrap();
    join(&mut ana, &ben, gid).await;
    let (b, c) = (ben.node.member_id(), cleo.node.member_id());

    // Where Ana is the admin, a blocked member cannot join.
    ana.node.block(c).await.unwrap();
    let invite = ana.node.invite(gid, 1, 600_000).await.unwrap();
    let refused = cleo.node.join(&invite).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(ana.node.stats().await.unwrap().joins_refused_blocked, 1);

    ana.node.block(b).await.unwrap();
    ben.node.share_location(gid, true).await.unwrap();
    ana.node.shutdown().await;
    let mut ana = start_in(ana.dir).await;
    // Ana listens on new ports now: she dials Ben (what this test is about
    // is the block, not how a restarted inviter finds its members).
    for a in ben.node.listen_addrs().await.unwrap() {
        let _ = ana.node.dial(a).await;
    }
    assert_eq!(ana.node.blocked().await.unwrap(), {
        let mut v = vec![b, c];
        v.sort();
        v
    });

    // After the restart Ben's chat and location still do not surface.
    let mut dropped = 0;
    let mut round = 0;
    while dropped < 2 {
        round += 1;
        assert!(round < 600, "Ben's frames never reached Ana");
        ben.node.send_chat(gid, "psst").await.unwrap();
        let p = aura_node::location::Position::new(45.9 + f64::from(round) * 0.01, 6.87).unwrap();
        ben.node.update_position(p).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        dropped = ana.node.stats().await.unwrap().blocked_dropped;
    }
    while let Some(e) = ana.events.try_next() {
        let from_ben = match &e {
            Event::Chat { from, .. } => *from == b,
            Event::Location { member, .. } => *member == b,
            _ => false,
        };
        assert!(!from_ben, "a blocked member surfaced: {e:?}");
    }
    assert!(ana.node.chat_history(gid).await.unwrap().is_empty());
    assert!(ana
        .node
        .last_positions(gid)
        .await
        .unwrap()
        .iter()
        .all(|(m, _)| *m != b));

    // Unblocked, Ben is heard again.
    ana.node.unblock(b).await.unwrap();
    assert_eq!(ana.node.blocked().await.unwrap(), vec![c]);
    let mut round = 0;
    loop {
        round += 1;
        assert!(round < 600, "Ben's chat never came back");
        ben.node.send_chat(gid, "back").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut got = false;
        while let Some(e) = ana.events.try_next() {
            got |= matches!(&e, Event::Chat { from, text, .. } if *from == b && text == "back");
        }
        if got {
            break;
        }
    }
    // Following is a local list that survives a restart too.
    ana.node.follow(b).await.unwrap();
    ana.node.shutdown().await;
    let ana = start_in(ana.dir).await;
    assert_eq!(ana.node.following().await.unwrap(), vec![b]);
    let _ = &mut ben.events;
}
