//! Built with `runtime-models` (`cargo test -p aura-opus --features
//! runtime-models --test runtime_models`): the library has no models until
//! the app loads them, works without them, and gets deep PLC and DRED from
//! the blob. Its own process: the first blob loaded stays.
#![cfg(feature = "runtime-models")]
#![allow(clippy::unwrap_used)]

mod common;

use aura_opus::{
    models::{self, ModelsError},
    Dred, DredDecoder, Error,
};
use common::*;

#[test]
fn without_models_the_codec_works_and_with_them_gets_deep_plc_and_dred() {
    let pcm = voice(FS as usize * 2);
    let blob = models::builtin();
    assert!(!models::available());

    // Without: classic concealment at any complexity; no DRED.
    let ps = packets(&mut encoder(false, 50), &pcm);
    assert_eq!(conceal(&ps, 5), conceal(&ps, 0), "deep PLC without models");
    let mut dred = Dred::new().unwrap();
    assert_eq!(
        DredDecoder::new()
            .unwrap()
            .parse(&mut dred, &ps[63], 4 * FRAME, FS),
        Err(Error::Unimplemented)
    );

    // A well-formed blob missing models is refused by libopus.
    let padded = i32::from_ne_bytes(blob[16..20].try_into().unwrap());
    let partial = &blob[..64 + padded as usize];
    assert!(matches!(
        models::load(partial),
        Err(ModelsError::Refused(_))
    ));
    assert!(!models::available());

    // With: deep PLC at complexity 5, DRED encoded and decoded.
    models::load(&blob).unwrap();
    assert!(models::available());
    let ps = packets(&mut encoder(false, 50), &pcm);
    let (classic, neural) = (conceal(&ps, 0), conceal(&ps, 5));
    assert!(energy(&neural) > 1e4, "deep PLC produced silence");
    assert_ne!(classic, neural, "complexity 5 did not switch to deep PLC");
    let avail = DredDecoder::new()
        .unwrap()
        .parse(&mut dred, &ps[63], 4 * FRAME, FS)
        .unwrap();
    assert!(avail >= 3 * FRAME, "DRED covers only {avail} samples");
}
