//! A member holding another member's sender key forges voice as them: on a
//! direct connection the frame is dropped; through a relay it plays until
//! the claimed sender's batch signature, then the app is told, by name.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::media_support;

use aura_crypto::{FrameKind, Verdict};
use aura_node::media::{MediaRoom, RoomError};
use aura_node::voice::payload::VoicePayload;
use media_support::*;

fn payload(seq: u16) -> Vec<u8> {
    VoicePayload {
        flags: 0,
        seq,
        ts: u32::from(seq) * 960,
        opus: vec![0xf8, 0xff, 0xfe],
    }
    .to_bytes()
}

#[test]
fn frame_claiming_another_sender_on_direct_connection_is_dropped() {
    let g = group(3);
    let (alice, mallory) = (member(&g[0]), member(&g[2]));
    let mut room_b = MediaRoom::new(g[1].clone());
    let next = g[0].lock().unwrap().seal_voice(&payload(0), NOW).unwrap();
    let c = aura_crypto::FrameHeader::parse(&next.frame)
        .unwrap()
        .counter;
    // Mallory, connected to Bob herself, sends voice sealed as Alice.
    let forged = g[2]
        .lock()
        .unwrap()
        .forge_as(alice, FrameKind::Voice, c + 1, &payload(1))
        .unwrap();
    let r = room_b.on_frame_from(&mallory, &forged, 0, NOW);
    assert!(matches!(r, Err(RoomError::WrongSender)), "{r:?}");
    assert_eq!(room_b.stats().wrong_sender, 1);
    assert_eq!(room_b.stats().voice_in, 0);
    // Alice's own frames on her own connection play.
    assert_eq!(
        room_b.on_frame_from(&alice, &next.frame, 0, NOW).unwrap(),
        Some(alice)
    );
}

#[test]
fn forged_voice_through_relay_is_reported_naming_the_claimed_sender() {
    let g = group(3);
    let alice = member(&g[0]);
    g[0].lock().unwrap().set_voice_batch(4);
    let mut room_b = MediaRoom::new(g[1].clone());
    // Through a relay the connection peer is the relay: no sender check.
    let forged = g[2]
        .lock()
        .unwrap()
        .forge_as(alice, FrameKind::Voice, 1, &payload(100))
        .unwrap();
    assert_eq!(room_b.on_frame(&forged, 0, NOW).unwrap(), Some(alice));
    assert!(room_b.take_alerts().is_empty());
    // Alice's next batch signature exposes it.
    for seq in 0..4 {
        let sv = g[0].lock().unwrap().seal_voice(&payload(seq), NOW).unwrap();
        let r = room_b.on_frame(&sv.frame, 0, NOW);
        assert!(r.is_ok(), "seq {seq}: {r:?}");
        if let Some(sig) = sv.sig_frame {
            room_b.on_frame(&sig, 0, NOW).unwrap();
        }
    }
    let alerts = room_b.take_alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].sender, alice);
    assert_eq!(alerts[0].counter, 1);
    assert_eq!(alerts[0].verdict, Verdict::Forged);
    assert_eq!(room_b.stats().forged, 1);
    // Alice's four genuine frames all played.
    assert_eq!(room_b.stats().voice_in, 5);
}
