//! NAT lab on real network namespaces and nftables (root only; skipped,
//! saying so, elsewhere; topology in `lab/mod.rs`): two members each
//! behind a symmetric NAT talk through the relay's media forwarder only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::lab;

use std::sync::mpsc::sync_channel;
use std::time::Duration;

use aura_crypto::{FrameKind, GroupSession, Identity, MemberId, Role, Roster};
use aura_media::{Config as MediaConfig, Hop, MediaEndpoint, RelayControl, RoomConfig, RoomId};
use aura_relay::config::Config as RelayConfig;
use aura_relay::server::Server;
use bytes::Bytes;
use lab::{spawn_in, Lab, Nat};
use rand::rngs::OsRng;

const NOW: u64 = 1_700_000_000_000;

/// Fails the test if `f` takes more than `secs`.
async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("timed out")
}

/// Two members of one group, each holding the other's sender key.
fn pair() -> (GroupSession, GroupSession) {
    let (a, b) = (
        Identity::generate(&mut OsRng),
        Identity::generate(&mut OsRng),
    );
    let (mut sa, _) = GroupSession::create(a, "lab", NOW, &mut OsRng).unwrap();
    sa.add_member(b.member_id(), Role::Member, None, NOW)
        .unwrap();
    let roster = Roster::from_ops(sa.roster().ops().cloned().collect()).unwrap();
    let mut sb = GroupSession::from_roster(b, roster, NOW, &mut OsRng);
    let to_b = sa.envelope_for(sb.member_id(), &mut OsRng).unwrap();
    sb.accept_envelope(&to_b).unwrap();
    let to_a = sb.envelope_for(sa.member_id(), &mut OsRng).unwrap();
    sa.accept_envelope(&to_a).unwrap();
    (sa, sb)
}

/// A member behind its NAT: connects to the relay, joins, sends one frame,
/// and returns what it received (opened) and whether a direct dial to the
/// other member's NAT succeeded.
async fn member(
    mut session: GroupSession,
    members: Vec<MemberId>,
    relay: MemberId,
    relay_addr: std::net::SocketAddr,
    other: (MemberId, std::net::SocketAddr),
) -> (Vec<u8>, Hop, bool) {
    let room: RoomId = session.group_id().room();
    let ep = MediaEndpoint::bind(
        session.identity(),
        "0.0.0.0:4100".parse().unwrap(),
        MediaConfig::default(),
    )
    .unwrap();
    let mut rx = ep.open_room(room, members, RoomConfig::default()).unwrap();
    // No direct path: the other member's router drops what it did not ask for.
    let direct = tokio::time::timeout(Duration::from_secs(3), ep.connect(other.0, other.1))
        .await
        .is_ok_and(|r| r.is_ok());
    ep.add_relay(relay).unwrap();
    within(10, ep.connect(relay, relay_addr)).await.unwrap();
    let me = session.member_id();
    let said = format!("voice of {me}");
    // Joins are soft state: repeat join and frame until the other's frame arrives.
    let got = within(20, async {
        loop {
            ep.send(&relay, Bytes::from(RelayControl::Join(room).to_vec()))
                .unwrap();
            let f = session.seal(FrameKind::Chat, said.as_bytes(), NOW).unwrap();
            ep.send(&relay, Bytes::from(f)).unwrap();
            if let Ok(Some(inc)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await
            {
                return inc;
            }
        }
    })
    .await;
    let opened = session.open(&got.frame, NOW).unwrap();
    // Keep sending a little so the other side gets ours too.
    for _ in 0..10 {
        let f = session.seal(FrameKind::Chat, said.as_bytes(), NOW).unwrap();
        let _ = ep.send(&relay, Bytes::from(f));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (opened.payload, got.hop, direct)
}

#[test]
fn members_behind_symmetric_nats_talk_through_the_relay_only() {
    let Some(lab) = Lab::new(Nat::Symmetric, "s") else {
        return;
    };
    let relay_id = Identity::from_secret_bytes(&[42; 32]);
    let (addr_tx, addr_rx) = sync_channel(1);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let rid = relay_id.clone();
    let relay = spawn_in(lab.ns("wan"), move || async move {
        let mut cfg = RelayConfig::default();
        cfg.listen.libp2p = vec!["/ip4/0.0.0.0/tcp/0".into()];
        cfg.listen.media = "0.0.0.0:0".parse().unwrap();
        cfg.listen.metrics = None;
        let server = Server::spawn(rid, cfg).await.unwrap();
        addr_tx.send(server.media_addr().port()).unwrap();
        let _ = stop_rx.await;
        let forwarded = server.metrics().forwarded_packets.get();
        server.shutdown().await;
        forwarded
    });
    let port = addr_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let relay_addr: std::net::SocketAddr = format!("100.64.1.1:{port}").parse().unwrap();
    let (s1, s2) = pair();
    let members: Vec<MemberId> = vec![s1.member_id(), s2.member_id()];
    let (m, rid) = (members.clone(), relay_id.member_id());
    let h2_public = (members[1], "100.64.2.2:4100".parse().unwrap());
    let a = spawn_in(lab.ns("h1"), move || {
        member(s1, m, rid, relay_addr, h2_public)
    });
    let m = members.clone();
    let h1_public = (members[0], "100.64.1.2:4100".parse().unwrap());
    let b = spawn_in(lab.ns("h2"), move || {
        member(s2, m, rid, relay_addr, h1_public)
    });
    let (got_a, hop_a, direct_a) = a.join().unwrap();
    let (got_b, hop_b, direct_b) = b.join().unwrap();
    let _ = stop_tx.send(());
    let forwarded = relay.join().unwrap();
    assert!(
        !direct_a && !direct_b,
        "a direct path through symmetric NATs"
    );
    assert_eq!((hop_a, hop_b), (Hop::Relay, Hop::Relay));
    assert_eq!(got_a, format!("voice of {}", members[1]).into_bytes());
    assert_eq!(got_b, format!("voice of {}", members[0]).into_bytes());
    assert!(forwarded >= 2);
    eprintln!("path: relayed (symmetric NAT both sides); relay forwarded {forwarded} frames");
}
