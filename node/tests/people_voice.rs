//! Blocking in the voice room: a blocked member's frames are dropped on the
//! header, before any key work or decoding, and its stream ends; unblocking
//! lets its voice through again.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::media_support;

use aura_node::media::{MediaRoom, RoomError};
use aura_node::voice::signal::speech_like;
use media_support::*;

#[test]
fn blocked_members_voice_is_dropped_before_decode() {
    let g = group(2);
    let mut room_a = MediaRoom::new(g[0].clone());
    let mut room_b = MediaRoom::new(g[1].clone());
    let mut sender = open_mic_sender();
    let mut frames = Vec::new();
    for chunk in speech_like(0.4, 5).chunks(960) {
        if let Some(p) = sender.process(chunk).unwrap() {
            frames.extend(room_a.seal(&p, NOW).unwrap());
        }
    }
    assert!(frames.len() >= 10, "{} frames", frames.len());
    let (first, rest) = frames.split_at(4);
    for f in first {
        let _ = room_b.on_frame(f, 0, NOW);
    }
    assert!(room_b.streams().iter().any(|(m, _)| *m == member(&g[0])));

    room_b.set_blocked(&[member(&g[0])]);
    assert!(
        room_b.streams().is_empty(),
        "the blocked member's stream ends"
    );
    let voice_in = room_b.stats().voice_in;
    let (during, after) = rest.split_at(rest.len() / 2);
    for f in during {
        assert!(matches!(
            room_b.on_frame(f, 0, NOW),
            Err(RoomError::Blocked)
        ));
    }
    assert_eq!(room_b.stats().voice_in, voice_in);
    assert_eq!(room_b.stats().blocked, during.len() as u64);
    assert_eq!(room_b.stats().unopenable, 0, "nothing was even opened");

    room_b.set_blocked(&[]);
    let heard = after
        .iter()
        .filter(|f| matches!(room_b.on_frame(f, 0, NOW), Ok(Some(_))))
        .count();
    assert!(heard > 0, "unblocked voice is heard again");
}
