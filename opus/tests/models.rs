//! The models blob: libopus's format, what the compiled-in models dump to,
//! and damaged blobs refused with a typed error.
#![allow(clippy::unwrap_used)]

use aura_opus::models::{self, ModelsError};

/// The first record of `blob` alone (a well-formed blob missing models).
fn first_record(blob: &[u8]) -> Vec<u8> {
    let padded = i32::from_ne_bytes(blob[16..20].try_into().unwrap());
    blob[..64 + padded as usize].to_vec()
}

#[test]
fn the_compiled_in_models_dump_to_a_blob_that_loads() {
    let blob = models::builtin();
    assert!(blob.len() > 3_000_000, "{} bytes", blob.len());
    assert_eq!(blob.len() % 64, 0);
    assert_eq!(&blob[..4], b"DNNw");
    models::load(&blob).unwrap();
    assert!(models::available());
    // A second blob is checked and changes nothing.
    models::load(&blob).unwrap();
}

#[test]
fn a_damaged_blob_is_refused_with_a_typed_error() {
    let blob = models::builtin();
    let malformed = |b: &[u8]| matches!(models::load(b), Err(ModelsError::Malformed(_)));
    assert!(malformed(&[]), "empty");
    assert!(malformed(&blob[..100]), "cut inside a record");
    assert!(malformed(&blob[..blob.len() - 1]), "cut at the end");
    let mut bad = blob.clone();
    bad[0] = b'X';
    assert!(malformed(&bad), "bad magic");
    let mut bad = first_record(&blob);
    bad[16..20].copy_from_slice(&i32::MAX.to_ne_bytes());
    assert!(malformed(&bad), "a size past the end");
    let mut bad = first_record(&blob);
    bad[12..16].copy_from_slice(&(-1i32).to_ne_bytes());
    assert!(malformed(&bad), "a negative size");
    let mut bad = first_record(&blob);
    bad[63] = b'x';
    assert!(malformed(&bad), "a name not ended by a zero");
    assert_eq!(
        models::load(&vec![0u8; models::MAX_MODELS_BYTES + 64]),
        Err(ModelsError::TooLarge)
    );
}
