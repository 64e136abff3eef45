//! Fuzzes the roster op decoder (and its re-encoding) and applying decoded
//! ops to a roster.
#![no_main]

use aura_crypto::{Identity, Roster, SignedOp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(op) = SignedOp::decode(data) {
        let bytes = op.encode().expect("encode");
        assert_eq!(SignedOp::decode(&bytes).as_ref(), Ok(&op));
        let owner = Identity::from_secret_bytes(&[1; 32]);
        if let Ok((mut r, _)) = Roster::create(&owner, "fuzz", 0) {
            let _ = r.apply(op);
        }
    }
});
