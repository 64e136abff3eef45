//! Payment-provider webhook signatures, the way Stripe does them: the header
//! `Aura-Signature: t=<unix s>,v1=<hex>[,v1=<hex>...]` carries HMAC-SHA256
//! over `"<t>.<raw body>"`; the receiver accepts any of its current secrets
//! (rotation), compares in constant time and then refuses stale timestamps.
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header name.
pub const HEADER: &str = "aura-signature";

/// Why a webhook signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// No header, or no `t=` / `v1=` parts.
    #[error("malformed signature header")]
    Malformed,
    /// The timestamp is outside the tolerance.
    #[error("timestamp outside tolerance")]
    Stale,
    /// No `v1` signature matches any secret.
    #[error("no matching signature")]
    NoMatch,
}

/// HMAC-SHA256 keyed with `key`.
pub(crate) fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    #[allow(clippy::expect_used)]
    // HMAC is defined for keys of every length: this never fails.
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length")
}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut m = hmac_sha256(secret);
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// Builds the header value for `body` signed at `t` with `secret`.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let tag = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(tag))
}

/// Verifies a header against the raw body with any of `secrets`.
pub fn verify(
    header: &str,
    body: &[u8],
    secrets: &[Vec<u8>],
    now_s: i64,
    tolerance_s: i64,
) -> Result<i64, SignatureError> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',').take(16) {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => {
                let mut b = [0u8; 32];
                if hex::decode_to_slice(v, &mut b).is_ok() {
                    sigs.push(b);
                }
            }
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // The MAC first: nothing about an unauthenticated timestamp is computed.
    let matched = secrets.iter().any(|secret| {
        sigs.iter()
            // `verify_slice` compares in constant time.
            .any(|s| mac(secret, t, body).verify_slice(s).is_ok())
    });
    if !matched {
        return Err(SignatureError::NoMatch);
    }
    if now_s.abs_diff(t) > tolerance_s.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_rotation_and_staleness() {
        let body = br#"{"id":"evt_1"}"#;
        let h = sign(b"old", 1000, body);
        let secrets = vec![b"new".to_vec(), b"old".to_vec()];
        assert_eq!(verify(&h, body, &secrets, 1010, 300), Ok(1000));
        assert_eq!(
            verify(&h, body, &[b"new".to_vec()], 1010, 300),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(&h, body, &secrets, 2000, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify("v1=00", body, &secrets, 1000, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&h, br#"{ "id":"evt_1"}"#, &secrets, 1000, 300),
            Err(SignatureError::NoMatch)
        );
    }

    /// `(now - t).abs()` overflowed (a panic in debug builds) before any MAC check.
    #[test]
    fn extreme_timestamp_header_is_refused_without_panic() {
        let body = b"{}";
        let secrets = vec![b"s".to_vec()];
        for t in [i64::MIN, i64::MAX, i64::MIN + 1] {
            let h = format!("t={t},v1={}", "00".repeat(32));
            assert!(verify(&h, body, &secrets, 1000, 300).is_err());
            let signed = sign(b"s", t, body);
            assert_eq!(
                verify(&signed, body, &secrets, 1000, 300),
                Err(SignatureError::Stale)
            );
            let far = if t < 0 { i64::MAX } else { i64::MIN };
            assert_eq!(
                verify(&signed, body, &secrets, far, 300),
                Err(SignatureError::Stale)
            );
        }
    }
}
