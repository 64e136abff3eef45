//! The media forwarder on real sockets: members (the node's `aura-media`
//! endpoint) send sealed frames to an in-process relay, which forwards them
//! to the room's other members, reading the header only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use aura_crypto::{FrameKind, GroupSession, Identity};
use aura_media::Hop;
use rand::rngs::OsRng;
use support::*;

/// Three members of a group on one relay; returns them with their sessions.
async fn room_of_three() -> (aura_relay::server::Server, Vec<GroupSession>, Vec<Member>) {
    let (relay, relay_id) = relay(loopback_config()).await;
    let sessions = group(3);
    let room = sessions[0].group_id().room();
    let members: Vec<_> = sessions.iter().map(|s| s.member_id()).collect();
    let mut ms = Vec::new();
    for s in &sessions {
        ms.push(
            Member::join(
                s.identity(),
                room,
                members.clone(),
                &relay,
                relay_id.member_id(),
            )
            .await,
        );
    }
    joined(&relay, 3).await;
    (relay, sessions, ms)
}

#[tokio::test]
async fn forwarder_carries_sealed_frames_to_every_other_member() {
    let (relay, mut sessions, mut ms) = room_of_three().await;
    let frame = sessions[0]
        .seal(FrameKind::Chat, b"over the relay", NOW)
        .unwrap();
    ms[0].send(frame.clone());
    for i in [1, 2] {
        let got = within(10, ms[i].rx.recv()).await.unwrap();
        assert_eq!(
            (got.hop, got.sender, got.from),
            (Hop::Relay, ms[0].id, ms[0].relay)
        );
        assert_eq!(&got.frame[..], &frame[..], "the relay changed the frame");
        let opened = sessions[i].open(&got.frame, NOW).unwrap();
        assert_eq!(opened.payload, b"over the relay");
    }
    assert_eq!(relay.metrics().forwarded_packets.get(), 2);
    let text = relay.metrics_text();
    assert!(
        text.contains("aura_relay_forwarded_packets_total 2"),
        "{text}"
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn frame_whose_sender_is_not_the_connection_is_dropped() {
    let (relay, mut sessions, mut ms) = room_of_three().await;
    // Member 2 replays member 0's genuine frame on its own connection, and
    // sends a frame of its own after it.
    let forged = sessions[0]
        .seal(FrameKind::Chat, b"member 0 said", NOW)
        .unwrap();
    let own = sessions[2]
        .seal(FrameKind::Chat, b"member 2 said", NOW)
        .unwrap();
    ms[2].send(forged);
    ms[2].send(own.clone());
    let got = within(10, ms[1].rx.recv()).await.unwrap();
    assert_eq!(got.sender, ms[2].id);
    assert_eq!(&got.frame[..], &own[..], "the forged frame came through");
    within(10, async {
        while relay.metrics().drops_for("wrong_sender") < 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(relay.metrics().forwarded_packets.get(), 2);
    relay.shutdown().await;
}

#[tokio::test]
async fn curious_relay_and_outsider_hold_nothing_that_opens_a_frame() {
    let (relay, relay_id) = relay(loopback_config()).await;
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
    // An outsider who learned the room id joins it on the relay: it is
    // forwarded ciphertext (a join is not checked against a roster).
    let outsider = Identity::generate(&mut OsRng);
    let mut o = Member::join(
        &outsider,
        room,
        vec![outsider.member_id(), members[0]],
        &relay,
        relay_id.member_id(),
    )
    .await;
    joined(&relay, 2).await;
    let frame = sessions[0]
        .seal(FrameKind::Location, b"52.52,13.40", NOW)
        .unwrap();
    a.send(frame.clone());
    let got = within(10, o.rx.recv()).await.unwrap();
    assert_eq!(&got.frame[..], &frame[..]);
    // Everything the relay and the outsider hold: their own identities, the
    // roster (public), the frame. None of it opens the frame.
    let roster = sessions[0].roster().clone();
    for who in [relay_id, outsider] {
        let mut curious = GroupSession::from_roster(who, roster.clone(), NOW, &mut OsRng);
        assert!(
            curious.open(&got.frame, NOW).is_err(),
            "a non-member opened a frame"
        );
    }
    // The plaintext is nowhere in the bytes; a member opens them.
    assert!(!got.frame.windows(5).any(|w| w == b"52.52"));
    assert_eq!(
        sessions[1].open(&got.frame, NOW).unwrap().payload,
        b"52.52,13.40"
    );
    relay.shutdown().await;
}
