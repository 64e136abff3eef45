//! The roster over the network: a group that does not load is quarantined
//! while the node starts; a restarted member that missed a removal gives the
//! removed member no key; a non-member's sync is not answered or synced back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use aura_node::{
    config::Config,
    net::build_swarm,
    store::{GroupRecord, Store},
    wire::{Request, Response},
    Event,
};
use common::*;
use futures::StreamExt;
use libp2p::{request_response, swarm::SwarmEvent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_that_does_not_load_is_quarantined_and_node_starts() {
    let a = start().await;
    let gid = a.node.create_group("kept").await.unwrap();
    a.node.shutdown().await;
    let dir = a.dir;
    drop(a.node);
    {
        let store = Store::open(&dir.path().join("store")).unwrap();
        let broken = GroupRecord {
            session: vec![0xff; 40],
            sharing: false,
            precision: Default::default(),
            fences: vec![],
        };
        store.put_group(&[9; 32], &broken).unwrap();
    }
    let a = start_in(dir).await;
    let groups = a.node.groups().await.unwrap();
    assert_eq!(groups.len(), 1, "the good group still loads");
    assert_eq!(groups[0].0, gid);
    assert_eq!(a.node.stats().await.unwrap().groups_quarantined, 1);
    a.node.shutdown().await;
    let dir = a.dir;
    drop(a.node);
    let store = Store::open(&dir.path().join("store")).unwrap();
    assert_eq!(store.quarantined_groups().unwrap(), vec![[9; 32]]);
    assert_eq!(store.groups().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_member_that_missed_removal_gives_removed_member_no_key() {
    let mut a = start().await;
    let mut b = start().await;
    let c = start().await;
    let gid = a.node.create_group("g").await.unwrap();
    for n in [&b, &c] {
        n.node
            .join(&a.node.invite(gid, 1, 600_000).await.unwrap())
            .await
            .unwrap();
    }
    let (b_id, c_id) = (b.node.member_id(), c.node.member_id());
    for id in [b_id, c_id] {
        wait_for(&mut a.events, 20, |e| {
            matches!(e, Event::KeysReceived { sender, .. } if *sender == id).then_some(())
        })
        .await;
    }
    // C goes away; meanwhile A removes B.
    c.node.shutdown().await;
    let c_dir = c.dir;
    drop(c.node);
    a.node.remove_member(gid, b_id).await.unwrap();
    wait_for(&mut b.events, 20, |e| {
        matches!(e, Event::RemovedFromGroup { .. }).then_some(())
    })
    .await;
    while b.events.try_next().is_some() {}
    // C restarts with the stale roster, reconnects, catches up and hands
    // out its new key: A gets it, B never does.
    let c = start_in(c_dir).await;
    for n in [&a, &b] {
        c.node
            .dial(n.node.listen_addrs().await.unwrap()[0].clone())
            .await
            .unwrap();
    }
    wait_for(&mut a.events, 30, |e| {
        matches!(e, Event::KeysReceived { sender, .. } if *sender == c_id).then_some(())
    })
    .await;
    let members = c.node.members(gid).await.unwrap();
    assert!(
        members.iter().all(|(m, _)| *m != b_id),
        "C learned the removal"
    );
    while let Some(e) = b.events.try_next() {
        assert!(
            !matches!(e, Event::KeysReceived { sender, .. } if sender == c_id),
            "the removed member got the restarted member's new key"
        );
    }
}

/// A non-member asks a member to sync, naming a head the member lacks: the
/// member neither answers nor asks it back (a removed admin used that to
/// slip back-dated ops in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_from_non_member_is_refused_and_not_synced_back() {
    let a = start().await;
    let gid = a.node.create_group("g").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = libp2p::identity::Keypair::generate_ed25519();
    let mut metrics = libp2p::metrics::Registry::default();
    let mut eve = build_swarm(
        key,
        &Config::loopback(dir.path().to_path_buf()),
        &mut metrics,
    )
    .unwrap();
    let a_peer = a.node.peer_id();
    eve.dial(
        libp2p::swarm::dial_opts::DialOpts::peer_id(a_peer)
            .addresses(a.node.listen_addrs().await.unwrap())
            .build(),
    )
    .unwrap();
    let mut sent = false;
    let mut refused = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    loop {
        let ev = tokio::select! {
            ev = eve.select_next_some() => ev,
            _ = tokio::time::sleep_until(deadline) => break,
        };
        match ev {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == a_peer && !sent => {
                sent = true;
                eve.behaviour_mut().rpc.send_request(
                    &a_peer,
                    Request::Sync {
                        group: gid.0,
                        heads: vec![[7; 32]],
                    },
                );
            }
            SwarmEvent::Behaviour(aura_node::net::BehaviourEvent::Rpc(
                request_response::Event::Message { message, .. },
            )) => match message {
                request_response::Message::Response { response, .. } => {
                    refused = matches!(response, Response::Refused(_));
                }
                request_response::Message::Request { request, .. } => {
                    panic!("the member asked a non-member: {request:?}");
                }
            },
            _ => {}
        }
    }
    assert!(sent && refused, "sent {sent}, refused {refused}");
}
