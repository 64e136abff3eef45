//! Screening key envelopes before signature work.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aura_crypto::{EnvelopeError, KeyEnvelope};
use common::{group, TestRng, NOW};

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

/// An envelope whose signature was tampered with is refused when it comes
/// by gossip or from another member, and taken only from its sender's own
/// authenticated connection (where the connection proves who made it).
#[test]
fn forged_envelope_signature_counts_only_on_the_senders_connection() {
    let mut rng = TestRng(11);
    let mut s = group(3, &mut rng);
    let bob = s[1].member_id();
    let epoch = s[0].start_epoch(NOW, &mut rng).unwrap();
    let mut env = s[0].envelope_for(bob, &mut rng).unwrap();
    env.signature = ed25519_dalek::Signature::from_bytes(&[3u8; 64]);
    let alice = s[0].member_id();
    let carol = s[2].member_id();
    assert!(s[1].accept_envelope(&env).is_err());
    assert!(s[1].accept_envelope_from(&env, Some(carol)).is_err());
    assert_eq!(
        s[1].accept_envelope_from(&env, Some(alice)).unwrap(),
        Some(epoch)
    );
}
