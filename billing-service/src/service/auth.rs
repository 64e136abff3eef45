//! Challenge–response login with the device's ed25519 key and short-lived
//! session tokens (HMAC-SHA256 under a key derived from the service key, so
//! they survive restarts and work across instances).
use ed25519_dalek::Signature;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::{Service, ServiceError};
use crate::{
    api::{ChallengeRequest, ChallengeResponse, LoginRequest, LoginResponse},
    ids::DeviceKey,
    login::{signed_message, Challenge, CHALLENGE_PREFIX},
};

const CHALLENGE_TTL_S: i64 = 60;

impl Service {
    fn mac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut m = crate::webhook_sig::hmac_sha256(&self.session_key);
        for p in parts {
            m.update(&(p.len() as u64).to_le_bytes());
            m.update(p);
        }
        m
    }

    fn mac_ok(&self, parts: &[&[u8]], tag_hex: &str) -> bool {
        let mut tag = [0u8; 32];
        hex::decode_to_slice(tag_hex, &mut tag).is_ok()
            && self.mac(parts).verify_slice(&tag).is_ok()
    }

    /// Issues a single-use challenge for `account` to sign.
    pub fn challenge(&self, req: &ChallengeRequest) -> Result<ChallengeResponse, ServiceError> {
        let key = DeviceKey::parse_hex(&req.account)
            .map_err(|_| ServiceError::BadRequest("account is not a hex ed25519 key".into()))?;
        let mut nonce = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut nonce);
        let exp = self.clock.now_s() + CHALLENGE_TTL_S;
        let (acct, exp_s, nonce_hex) = (key.to_hex(), exp.to_string(), hex::encode(nonce));
        let tag = self.mac(&[
            b"challenge",
            acct.as_bytes(),
            exp_s.as_bytes(),
            nonce_hex.as_bytes(),
        ]);
        let tag = hex::encode(tag.finalize().into_bytes());
        Ok(ChallengeResponse {
            challenge: format!("{CHALLENGE_PREFIX}:{acct}:{exp_s}:{nonce_hex}:{tag}"),
            expires_at: exp,
        })
    }

    /// Checks a signed challenge and issues a session token. The nonce store
    /// is bounded by `login_nonce_capacity`; the per-address login limit
    /// (checked by the HTTP layer) keeps one client to a small share of it.
    pub fn login(&self, req: &LoginRequest) -> Result<LoginResponse, ServiceError> {
        let fail = |reason: &'static str| {
            self.metrics.auth_failure(reason);
            tracing::info!(reason, "login refused");
            ServiceError::Unauthorized(reason)
        };
        let key = DeviceKey::parse_hex(&req.account).map_err(|_| fail("bad_account"))?;
        let ch = Challenge::parse(&req.challenge).map_err(|_| fail("malformed_challenge"))?;
        if ch.account != key.to_hex()
            || !self.mac_ok(
                &[
                    b"challenge",
                    ch.account.as_bytes(),
                    ch.expires_at.as_bytes(),
                    ch.nonce.as_bytes(),
                ],
                ch.tag,
            )
        {
            return Err(fail("forged_challenge"));
        }
        let exp = ch.expiry();
        let now = self.clock.now_s();
        if now >= exp {
            return Err(fail("expired_challenge"));
        }
        let mut sig = [0u8; 64];
        hex::decode_to_slice(&req.signature, &mut sig).map_err(|_| fail("bad_signature"))?;
        let vk = key.verifying_key().map_err(|_| fail("bad_account"))?;
        vk.verify_strict(
            &signed_message(&req.challenge),
            &Signature::from_bytes(&sig),
        )
        .map_err(|_| fail("bad_signature"))?;
        // Counted per account only once the key holder has signed: nobody
        // else can spend an account's login budget.
        self.check_keyed(self.login_account_limiter.as_ref(), key)?;
        let mut nonce = [0u8; 16];
        hex::decode_to_slice(ch.nonce, &mut nonce).map_err(|_| fail("malformed_challenge"))?;
        {
            let mut used = self
                .used_nonces
                .lock()
                .map_err(|_| ServiceError::Internal)?;
            let capacity = self.config.login_nonce_capacity;
            if used.len() >= capacity {
                used.retain(|_, e| *e > now);
                if used.len() >= capacity {
                    tracing::warn!(capacity, "login nonce store full");
                    return Err(ServiceError::Unavailable);
                }
            }
            if used.insert(nonce, exp).is_some() {
                return Err(fail("replayed_challenge"));
            }
        }
        let exp = now + self.config.session_ttl_s;
        let (acct, exp_s) = (key.to_hex(), exp.to_string());
        let tag = hex::encode(
            self.mac(&[b"session", acct.as_bytes(), exp_s.as_bytes()])
                .finalize()
                .into_bytes(),
        );
        tracing::info!(account = %acct, "login");
        Ok(LoginResponse {
            token: format!("{acct}.{exp_s}.{tag}"),
            expires_at: exp,
        })
    }

    /// Checks a bearer token and returns its account.
    pub fn authenticate(&self, token: &str) -> Result<DeviceKey, ServiceError> {
        let fail = |reason: &'static str| {
            self.metrics.auth_failure(reason);
            ServiceError::Unauthorized(reason)
        };
        let mut it = token.splitn(3, '.');
        let (Some(acct), Some(exp_s), Some(tag)) = (it.next(), it.next(), it.next()) else {
            return Err(fail("malformed_token"));
        };
        if !self.mac_ok(&[b"session", acct.as_bytes(), exp_s.as_bytes()], tag) {
            return Err(fail("forged_token"));
        }
        let exp: i64 = exp_s.parse().map_err(|_| fail("malformed_token"))?;
        if self.clock.now_s() >= exp {
            return Err(fail("expired_token"));
        }
        // The MAC proves this key was validated at login.
        DeviceKey::parse_hex_unchecked(acct).map_err(|_| fail("malformed_token"))
    }

    pub(super) fn prune_nonces(&self) {
        let now = self.clock.now_s();
        if let Ok(mut used) = self.used_nonces.lock() {
            used.retain(|_, e| *e > now);
        }
    }
}
