//! Fuzzes the key envelope decoder (and its re-encoding).
#![no_main]

use aura_crypto::KeyEnvelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = KeyEnvelope::decode(data) {
        assert_eq!(e.encode(), data);
        assert_eq!(KeyEnvelope::decode(&e.encode()).as_ref(), Ok(&e));
    }
});
