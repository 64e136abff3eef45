//! Fuzzes the voice models blob as `load_voice_models` takes it (an asset
//! the app ships or downloads): any bytes give `Ok` or a typed error, never
//! a panic or a read outside the blob.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = aura_node::voice_api::load_voice_models(data);
});
