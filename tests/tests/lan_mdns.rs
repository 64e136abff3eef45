//! LAN only, no WAN at all (root only; skipped, saying so, elsewhere): two
//! members on one bridge (`tests/lab/lan.rs`), no relay, no bootstrap
//! node, mDNS on. They form a group (A invites, B joins) and hear each
//! other's locations; then both restart on new addresses (and new ports),
//! so neither's stored address for the other is any use: they find each
//! other again by mDNS and locations flow, with no new invite.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::lab;

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::{Duration, Instant};

use aura_crypto::GroupId;
use aura_node::{
    config::Config,
    location::{Position, Precision},
    Event, Node,
};
use lab::lan::Lan;
use lab::spawn_in;
use tokio::sync::watch;

/// How a member starts.
enum Role {
    /// Creates the group and hands out the invite.
    Create(SyncSender<String>),
    /// Joins with the invite.
    Join(Receiver<String>),
    /// Restarts, already a member.
    Resume(GroupId),
}

/// A member on the LAN: shares its location every 100 ms and reports when
/// it hears the other's, until `stop`.
async fn member(
    dir: PathBuf,
    role: Role,
    heard: SyncSender<Instant>,
    mut stop: watch::Receiver<bool>,
) -> GroupId {
    let mut cfg = Config::loopback(dir);
    cfg.listen = vec![
        "/ip4/0.0.0.0/udp/0/quic-v1".into(),
        "/ip4/0.0.0.0/tcp/0".into(),
    ];
    cfg.mdns = true;
    let node = Node::builder().config(cfg).start().await.unwrap();
    let mut events = node.events();
    // Listening on the LAN before an invite names our addresses.
    tokio::time::timeout(Duration::from_secs(10), async {
        while !node
            .listen_addrs()
            .await
            .unwrap()
            .iter()
            .any(|a| a.to_string().contains("/192.168.77."))
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("not listening on the LAN");
    let gid = match role {
        Role::Create(tx) => {
            let gid = node.create_group("lan").await.unwrap();
            tx.send(node.invite(gid, 1, 600_000).await.unwrap())
                .unwrap();
            gid
        }
        Role::Join(rx) => {
            let invite = tokio::task::spawn_blocking(move || rx.recv().unwrap())
                .await
                .unwrap();
            tokio::time::timeout(Duration::from_secs(30), node.join(&invite))
                .await
                .expect("join timed out")
                .unwrap()
        }
        Role::Resume(gid) => gid,
    };
    node.set_precision(gid, Precision::Exact).await.unwrap();
    node.share_location(gid, true).await.unwrap();
    let me = node.peer_id();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut n = 0u32;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                n += 1;
                let pos = Position::new(45.92 + f64::from(n) * 1e-4, 6.87).unwrap();
                let _ = node.update_position(pos).await;
            }
            e = events.next() => match e {
                Some(Event::Location { member, .. }) if member.peer_id().ok() != Some(me) => {
                    let _ = heard.try_send(Instant::now());
                }
                Some(_) => {}
                None => break,
            },
            _ = stop.changed() => break,
        }
    }
    node.shutdown().await;
    gid
}

/// Both members run until each heard the other (or `secs` pass); returns
/// the group and how long until both heard each other.
fn run(lan: &Lan, dirs: [PathBuf; 2], roles: [Role; 2], secs: u64) -> (GroupId, Duration) {
    let start = Instant::now();
    let (stop, stop_rx) = watch::channel(false);
    let mut threads = Vec::new();
    let mut heard = Vec::new();
    for (i, (dir, role)) in dirs.into_iter().zip(roles).enumerate() {
        let (tx, rx) = sync_channel(1_024);
        heard.push(rx);
        let s = stop_rx.clone();
        threads.push(spawn_in(lan.ns(&format!("h{}", i + 1)), move || {
            member(dir, role, tx, s)
        }));
    }
    let deadline = start + Duration::from_secs(secs);
    let mut last = start;
    for (i, rx) in heard.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(t) => last = last.max(t),
            Err(_) => {
                let _ = stop.send(true);
                panic!("member {} heard nothing from the other in {secs} s", i + 1);
            }
        }
    }
    let _ = stop.send(true);
    let gids: Vec<GroupId> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(gids[0], gids[1]);
    (gids[0], last - start)
}

#[test]
fn lan_members_find_each_other_by_mdns_again_after_both_change_address() {
    let Some(lan) = Lan::new("m") else {
        return;
    };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let paths = || [dirs[0].path().to_path_buf(), dirs[1].path().to_path_buf()];
    let (tx, rx) = sync_channel(1);
    let (gid, formed) = run(&lan, paths(), [Role::Create(tx), Role::Join(rx)], 40);
    // Both move to new addresses (and restart on new ports).
    lan.set_addr(1, "192.168.77.12").unwrap();
    lan.set_addr(2, "192.168.77.13").unwrap();
    let (_, again) = run(&lan, paths(), [Role::Resume(gid), Role::Resume(gid)], 30);
    eprintln!(
        "LAN by mDNS: group formed and locations both ways in {} ms; after both \
         restarted on new addresses, locations both ways again in {} ms (no invite)",
        formed.as_millis(),
        again.as_millis()
    );
}
