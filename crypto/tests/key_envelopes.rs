//! Screening key envelopes before signature work.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aura_crypto::{EnvelopeError, KeyEnvelope};
use common::{group, TestRng};

#[test]
fn forged_envelope_parses_without_signature_work_and_is_refused_on_accept() {
    let mut rng = TestRng(51);
    let mut g = group(2, &mut rng);
    let bob = g[1].member_id();
    let mut bytes = g[0].envelope_for(bob, &mut rng).unwrap().encode();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    // `parse` reads the layout only (a receiver screens group, sender and
    // recipient with it); `decode` checks the signature.
    let env = KeyEnvelope::parse(&bytes).unwrap();
    assert_eq!(env.recipient, bob);
    assert_eq!(
        KeyEnvelope::decode(&bytes),
        Err(EnvelopeError::BadSignature)
    );
    // Accepting verifies it, once.
    assert_eq!(g[1].accept_envelope(&env), Err(EnvelopeError::BadSignature));
    assert_eq!(g[1].stats().envelopes_refused, 1);
}
