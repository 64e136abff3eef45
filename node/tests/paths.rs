//! Connection paths as the app sees them (`Node::connections`,
//! `Event::PathChanged`): a direct connection is reported as `Path::Direct`;
//! after a network change the old connections are reported gone and the
//! new ones come back with their path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_node::{Event, Path};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_are_reported_and_a_network_change_reports_the_old_connections_gone() {
    let mut a = start().await;
    let b = start().await;
    let gid = a.node.create_group("paths").await.unwrap();
    let invite = a.node.invite(gid, 1, 600_000).await.unwrap();
    within(20, b.node.join(&invite)).await.unwrap();
    let bp = b.node.peer_id();
    let path = wait_for(&mut a.events, 10, |e| match e {
        Event::PathChanged { peer, path } if *peer == bp => Some(*path),
        _ => None,
    })
    .await;
    assert_eq!(path, Path::Direct);
    assert!(a.node.connections().contains(&(bp, Path::Direct)));

    a.node.network_changed().await.unwrap();
    wait_for(&mut a.events, 10, |e| match e {
        Event::PeerDisconnected { peer } if *peer == bp => Some(()),
        _ => None,
    })
    .await;
    let back = wait_for(&mut a.events, 20, |e| match e {
        Event::PathChanged { peer, path } if *peer == bp => Some(*path),
        _ => None,
    })
    .await;
    assert_eq!(back, Path::Direct);
    a.node.shutdown().await;
    b.node.shutdown().await;
}
