//! The service's statement signer. Ed25519 is deterministic, so any correct
//! implementation gives the same signature bytes for the same key and message;
//! the service signs with AWS-LC (assembly-optimized, about half the CPU of
//! `ed25519-dalek` per receipt) when a start-up probe shows it agrees
//! byte-for-byte with `ed25519-dalek`, and with `ed25519-dalek` otherwise.
use ed25519_dalek::{Signer as _, SigningKey};

use crate::signed::{Signed, Statement, VerifyError};

/// Signs receipts and tokens with the service key.
pub(crate) enum Signer {
    /// AWS-LC, checked against `ed25519-dalek` at start.
    AwsLc(aws_lc_rs::signature::Ed25519KeyPair),
    /// `ed25519-dalek`.
    Dalek(SigningKey),
}

impl Signer {
    /// The fastest signer that agrees with `ed25519-dalek` for `key`.
    pub(crate) fn new(key: &SigningKey) -> Self {
        match aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(key.as_bytes()) {
            Ok(kp) => {
                let probe = b"aura-billing signer probe";
                if kp.sign(probe).as_ref() == key.sign(probe).to_bytes().as_slice() {
                    return Signer::AwsLc(kp);
                }
                tracing::warn!("AWS-LC ed25519 disagrees with ed25519-dalek; signing with dalek");
            }
            Err(e) => {
                tracing::warn!(error = %e, "AWS-LC refused the service key; signing with dalek")
            }
        }
        Signer::Dalek(key.clone())
    }

    /// Which implementation signs (for logs and tests).
    pub(crate) fn implementation(&self) -> &'static str {
        match self {
            Signer::AwsLc(_) => "aws-lc",
            Signer::Dalek(_) => "ed25519-dalek",
        }
    }

    /// Signs `body` as a [`Signed`] statement.
    pub(crate) fn sign<T: Statement>(&self, body: T) -> Result<Signed<T>, VerifyError> {
        Signed::sign_with(body, |m| self.sign_bytes(m))
    }

    /// The ed25519 signature of `m`.
    pub(crate) fn sign_bytes(&self, m: &[u8]) -> [u8; 64] {
        match self {
            Signer::AwsLc(kp) => {
                let mut out = [0u8; 64];
                out.copy_from_slice(kp.sign(m).as_ref());
                out
            }
            Signer::Dalek(k) => k.sign(m).to_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use rand::rngs::OsRng;

    use super::*;
    use crate::signed::GiftReceipt;

    fn receipt(n: i64) -> GiftReceipt {
        GiftReceipt {
            v: 1,
            receipt_id: format!("s/{n}"),
            sender: "s".into(),
            receiver: "r".into(),
            room: "room \"1\" ü".into(),
            gift: "rose".into(),
            animation: "anim.rose".into(),
            coins: n,
            diamonds: n / 2,
            ts_ms: 1_700_000_000_000 + n,
        }
    }

    #[test]
    fn aws_lc_signatures_equal_dalek_and_verify() -> Result<(), Box<dyn std::error::Error>> {
        for n in 0..32 {
            let key = SigningKey::generate(&mut OsRng);
            let fast = Signer::new(&key);
            assert_eq!(fast.implementation(), "aws-lc");
            let slow = Signer::Dalek(key.clone());
            let a = fast.sign(receipt(n))?;
            let b = slow.sign(receipt(n))?;
            assert_eq!(a, b);
            a.verify_signature(&key.verifying_key())?;
            let other = SigningKey::generate(&mut OsRng).verifying_key();
            assert_eq!(
                a.verify_signature(&other).unwrap_err(),
                VerifyError::BadSignature
            );
        }
        Ok(())
    }
}
