//! The relay's limits on real sockets: connections per IP on the media
//! plane, and junk datagrams, each refused or dropped by its reason while a
//! member's frames keep flowing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use aura_crypto::{FrameKind, Identity};
use aura_media::{Config as MediaConfig, MediaEndpoint};
use rand::rngs::OsRng;
use support::*;

#[tokio::test]
async fn media_connections_beyond_the_per_ip_limit_are_refused_and_counted() {
    let mut cfg = loopback_config();
    cfg.limits.connections_per_ip = 2;
    let (relay, relay_id) = relay(cfg).await;
    let mut sessions = group(2);
    let room = sessions[0].group_id().room();
    let members: Vec<_> = sessions.iter().map(|s| s.member_id()).collect();
    let a = Member::join(
        sessions[0].identity(),
        room,
        members.clone(),
        &relay,
        relay_id.member_id(),
    )
    .await;
    let mut b = Member::join(
        sessions[1].identity(),
        room,
        members.clone(),
        &relay,
        relay_id.member_id(),
    )
    .await;
    // A third connection from the same address is refused before its handshake.
    let x = Identity::generate(&mut OsRng);
    let ep =
        MediaEndpoint::bind(&x, "127.0.0.1:0".parse().unwrap(), MediaConfig::default()).unwrap();
    ep.add_relay(relay_id.member_id()).unwrap();
    assert!(ep
        .connect(relay_id.member_id(), relay.media_addr())
        .await
        .is_err());
    assert_eq!(
        relay.metrics().refusals_for("media", "connections_per_ip"),
        1
    );
    // Junk from a member is dropped and counted; its next frame still flows.
    joined(&relay, 2).await;
    for junk in [vec![0x77; 40], vec![0x11; 3], vec![0xA3, 1, 2]] {
        a.send(junk);
    }
    let frame = sessions[0]
        .seal(FrameKind::Chat, b"still here", NOW)
        .unwrap();
    a.send(frame);
    let got = within(10, b.rx.recv()).await.unwrap();
    assert_eq!(
        sessions[1].open(&got.frame, NOW).unwrap().payload,
        b"still here"
    );
    within(10, async {
        while relay.metrics().drops_for("malformed") < 3 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    relay.shutdown().await;
}
