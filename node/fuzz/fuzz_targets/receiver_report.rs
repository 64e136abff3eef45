//! Fuzzes receiver reports (media datagrams from listeners): the decoder,
//! with an exact re-encoding check, and the talker's book of reports.
#![no_main]

use aura_node::voice::{FeedbackBook, ReceiverReport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The report's own room, so the decoder gets past the room check.
    let mut room = [0u8; 8];
    if data.len() >= 9 {
        room.copy_from_slice(&data[1..9]);
    }
    if let Ok(r) = ReceiverReport::parse(data, room) {
        assert_eq!(r.to_bytes()[..], data[..], "report re-encodes");
        let l = r.loss();
        assert!((0.0..=1.0).contains(&l), "loss {l}");
        let _ = r.jitter_ms();
    }
    let mut book = FeedbackBook::default();
    for (i, chunk) in data.chunks(17).enumerate() {
        let _ = book.on_datagram(i % 3, chunk, room);
    }
    let _ = book.take_losses();
});
