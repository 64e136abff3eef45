//! A node restarted from its data dir comes back into its groups.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use aura_node::Event;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_node_rejoins_its_groups_and_reads_again() {
    let mut a = start().await;
    let b = start().await;
    let gid = a.node.create_group("persistent").await.unwrap();
    b.node
        .join(&a.node.invite(gid, 1, 600_000).await.unwrap())
        .await
        .unwrap();
    let b_id = b.node.member_id();
    // Wait until a has b's key (and so b has announced and been identified).
    wait_for(&mut a.events, 10, |e| {
        matches!(e, Event::KeysReceived { sender, .. } if *sender == b_id).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.node.shutdown().await;
    let mut b = start_in(b.dir).await;
    assert_eq!(b.node.member_id(), b_id, "same identity from the key file");
    assert_eq!(b.node.groups().await.unwrap()[0].0, gid);
    // Both directions work again after the restart.
    let mut round = 0;
    loop {
        round += 1;
        assert!(round < 100, "no traffic after restart");
        a.node.send_chat(gid, "welcome back").await.unwrap();
        b.node.send_chat(gid, "i am back").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut b_got = false;
        while let Some(e) = b.events.try_next() {
            b_got |= matches!(e, Event::Chat { ref text, .. } if text == "welcome back");
        }
        let mut a_got = false;
        while let Some(e) = a.events.try_next() {
            a_got |= matches!(e, Event::Chat { ref text, .. } if text == "i am back");
        }
        if a_got && b_got {
            break;
        }
    }
    assert!(b
        .node
        .chat_history(gid)
        .await
        .unwrap()
        .iter()
        .any(|c| c.text == "welcome back"));
}

/// A copy of the store's files taken while the node runs is what a killed
/// process leaves behind: what the node wrote a second ago must be in it
/// (the task flushes after writes; the store has no flusher thread).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_running_node_wrote_a_second_ago_survives_a_kill() {
    let a = start().await;
    let gid = a.node.create_group("durable").await.unwrap();
    a.node.send_chat(gid, "written down").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let copy = tempfile::tempdir().unwrap();
    let from = a.dir.path().join("store");
    for entry in walk(&from) {
        let to = copy.path().join(entry.strip_prefix(&from).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &to).unwrap();
    }
    let store = aura_node::store::Store::open(copy.path()).unwrap();
    let groups: Vec<[u8; 32]> = store.groups().unwrap().into_iter().map(|g| g.0).collect();
    assert!(groups.contains(&gid.0), "the group is not on disk");
    assert!(
        store
            .chat(&gid.0)
            .unwrap()
            .iter()
            .any(|c| c.text == "written down"),
        "the chat line is not on disk"
    );
    a.node.shutdown().await;
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
