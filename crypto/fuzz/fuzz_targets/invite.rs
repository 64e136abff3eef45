//! Fuzzes the invite decoders (text and binary).
#![no_main]

use aura_crypto::Invite;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Invite::from_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Invite::parse(text, 0);
        let _ = Invite::parse(&format!("aura1{text}"), 0);
    }
});
