//! Fuzzes the webhook signature header check: any header, body, clock and
//! tolerance; a header it accepts must carry a tag made with the secret.
#![no_main]

use aura_billing::webhook_sig::{sign, verify, SignatureError};
use libfuzzer_sys::fuzz_target;

const SECRETS: [&[u8]; 2] = [b"whsec_fuzz_current", b"whsec_fuzz_previous"];

fuzz_target!(|data: &[u8]| {
    if data.len() < 18 {
        return;
    }
    let (clock, rest) = data.split_at(16);
    let now = i64::from_le_bytes(clock[..8].try_into().unwrap_or_default());
    let tolerance = i64::from_le_bytes(clock[8..].try_into().unwrap_or_default());
    let n = usize::from(rest[0]).min(rest.len() - 1);
    let (header, body) = rest[1..].split_at(n);
    let header = String::from_utf8_lossy(header);
    let secrets: Vec<Vec<u8>> = SECRETS.iter().map(|s| s.to_vec()).collect();
    if let Ok(t) = verify(&header, body, &secrets, now, tolerance) {
        let genuine = SECRETS.iter().any(|s| {
            let want = sign(s, t, body);
            let tag = want.rsplit("v1=").next().unwrap_or_default();
            header.to_ascii_lowercase().contains(tag)
        });
        assert!(genuine, "accepted a header no secret made");
    }
    // A genuine header at any time is accepted or refused as stale, never panics.
    let h = sign(SECRETS[0], now, body);
    let r = verify(&h, body, &secrets, now.wrapping_add(tolerance), tolerance);
    assert!(matches!(r, Ok(_) | Err(SignatureError::Stale)), "{r:?}");
});
