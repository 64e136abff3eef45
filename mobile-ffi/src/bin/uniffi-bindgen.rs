//! The bindings generator, pinned to the UniFFI version `aura-ffi` links:
//! `cargo run -p aura-ffi --features cli --bin uniffi-bindgen -- generate
//! --library <libaura_ffi.so> --language python --out-dir <dir>`.

fn main() {
    uniffi::uniffi_bindgen_main();
}
