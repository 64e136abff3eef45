//! Media-plane attackers: a non-member (refused at the connection, its frames
//! dropped and counted) and a removed member (receives nothing it can open).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::media_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use aura_crypto::{GroupSession, Identity};
use aura_media::Config;
use aura_node::media::MediaRoom;
use aura_node::voice::signal::speech_like;
use media_support::*;
use rand::rngs::OsRng;

#[tokio::test]
async fn non_member_connection_refused_and_frames_dropped_and_counted() {
    let g = group(2);
    let (eb, _rb) = endpoint(&g[1], Config::default());
    // The outsider runs its own group and its own endpoint.
    let outsider = Identity::generate(&mut OsRng);
    let (mut own, _) = GroupSession::create(outsider.clone(), "evil", NOW, &mut OsRng).unwrap();
    let own_arc = std::sync::Arc::new(std::sync::Mutex::new(
        GroupSession::import_state(&own.export_state().unwrap()).unwrap(),
    ));
    let (eo, _ro) = endpoint(&own_arc, Config::default());
    // It would talk to b (b is in its room), but b does not have it.
    eo.set_members(
        &own.group_id().room(),
        [outsider.member_id(), member(&g[1])],
    )
    .unwrap();
    // Its connection is refused: it is not in b's roster.
    let r = eo.connect(member(&g[1]), eb.local_addr().unwrap()).await;
    let refused_at_b = {
        tokio::time::sleep(Duration::from_millis(200)).await;
        eb.stats().refused_peers.load(Ordering::Relaxed)
    };
    assert!(r.is_err() || refused_at_b == 1, "outsider connected: {r:?}");
    assert!(eb.peers().is_empty());

    // Frames it crafts for b's room (e.g. through a relay) are dropped and counted.
    let mut room_b = MediaRoom::new(g[1].clone());
    let sv = own
        .seal_voice(b"\x00\x00\x01\x00\x00\x00\x00opus", NOW)
        .unwrap();
    let mut forged = sv.frame.clone();
    forged[1..9].copy_from_slice(&room_b.room_id());
    assert!(room_b.on_frame(&forged, 0, NOW).is_err());
    assert_eq!(room_b.stats().non_member, 1);
    assert_eq!(room_b.stats().voice_in, 0);
}

#[tokio::test]
async fn removed_member_receives_no_audio_it_can_decode() {
    let g = group(3);
    let (ea, _ra) = endpoint(&g[0], Config::default());
    let (eb, mut rb) = endpoint(&g[1], Config::default());
    let (ec, mut rc) = endpoint(&g[2], Config::default());
    ea.connect(member(&g[1]), eb.local_addr().unwrap())
        .await
        .unwrap();
    ea.connect(member(&g[2]), ec.local_addr().unwrap())
        .await
        .unwrap();
    // a removes c, everyone applies the op, a rotates and gives b the new key.
    let c = member(&g[2]);
    let op = g[0].lock().unwrap().remove_member(c, NOW).unwrap();
    g[1].lock().unwrap().apply_op(op.clone()).unwrap();
    g[2].lock().unwrap().apply_op(op).unwrap();
    let rot = g[0].lock().unwrap().rotate(NOW, &mut OsRng).unwrap();
    for env in &rot.envelopes {
        let _ = g[1].lock().unwrap().accept_envelope(env);
        let _ = g[2].lock().unwrap().accept_envelope(env);
    }
    // The attacker's connection stays up (worst case): frames still reach it.
    let input = speech_like(1.0, 3);
    let mut room_a = MediaRoom::new(g[0].clone());
    let mut room_b = MediaRoom::new(g[1].clone());
    let mut room_c = MediaRoom::new(g[2].clone());
    let mut sender = open_mic_sender();
    let dur = Duration::from_millis(1_500);
    let len = input.len() + 48_000;
    let (_, hb, hc) = tokio::join!(
        async {
            // Send to both, bypassing the ACL, to model a stale connection.
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            for chunk in input.chunks(960) {
                tick.tick().await;
                if let Some(p) = sender.process(chunk).unwrap() {
                    for f in room_a.seal(&p, NOW).unwrap() {
                        let f: bytes::Bytes = f.into();
                        let _ = ea.send(&member(&g[1]), f.clone());
                        let _ = ea.send(&c, f);
                    }
                }
            }
        },
        listen(&mut rb, &mut room_b, dur, len),
        listen(&mut rc, &mut room_c, dur, len),
    );
    assert!(
        hb.contains_key(&member(&g[0])),
        "remaining member heard nothing"
    );
    assert!(hc.is_empty(), "removed member decoded audio");
    assert_eq!(room_c.stats().voice_in, 0);
    assert!(
        room_c.stats().unopenable + room_c.stats().non_member > 20,
        "{:?}",
        room_c.stats()
    );
}
