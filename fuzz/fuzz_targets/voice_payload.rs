//! Fuzzes the voice payload decoder (media header + Opus packet), with an
//! exact re-encoding check.
#![no_main]

use aura_node::voice::VoicePayload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = VoicePayload::parse(data) {
        assert_eq!(p.to_bytes(), data, "payload re-encodes");
    }
});
