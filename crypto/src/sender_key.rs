//! Sender keys: one hash-ratcheted chain per member per epoch.
//!
//! Counters are grouped in steps of [`STEP`] frames. Step `s` uses the frame
//! key `HKDF(chain_s, "aura frame key")`; the next chain key is
//! `HKDF(chain_s, "aura chain")`. Old chain and frame keys are overwritten,
//! so a device compromised now cannot decrypt frames from steps it has
//! already passed (the sender keeps one step, a receiver keeps
//! [`REORDER_STEPS`] older steps for reordering).

use std::collections::VecDeque;

use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::OpenError;
use crate::replay::ReplayWindow;

/// Frames per ratchet step (about 5 s of 20 ms voice).
pub const STEP: u32 = 256;
/// Older steps a receiver keeps keys for (covers the replay window).
pub const REORDER_STEPS: u32 = 4;
/// Most steps a receiver derives forward for one frame (~22 min of voice;
/// bounds the work a forged far-ahead header can cause to 512 HKDFs). A
/// receiver further behind needs a fresh key envelope.
pub const MAX_FORWARD_STEPS: u32 = 256;
/// Hard cap on frames per epoch; sealing beyond it requires a rotation.
pub const MAX_COUNTER: u32 = 1 << 24;

/// A 32-byte key, zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Key32(pub(crate) [u8; 32]);

impl std::fmt::Debug for Key32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key32(..)")
    }
}

fn kdf(chain: &Key32, info: &[u8]) -> Key32 {
    let hk = Hkdf::<Sha256>::new(None, &chain.0);
    let mut out = Key32([0u8; 32]);
    // 32 bytes is far below HKDF's 255*32 limit: expand cannot fail.
    if hk.expand(info, &mut out.0).is_err() {
        tracing::error!("hkdf expand failed");
    }
    out
}

pub(crate) fn frame_key(chain: &Key32) -> Key32 {
    kdf(chain, b"aura frame key")
}

pub(crate) fn next_chain(chain: &Key32) -> Key32 {
    kdf(chain, b"aura chain")
}

/// When a sender starts a new epoch even without a removal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationPolicy {
    /// Rotate after this long (ms). Default one hour.
    pub max_age_ms: u64,
    /// Rotate after this many frames. Default 2^20.
    pub max_frames: u32,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        Self {
            max_age_ms: 3_600_000,
            max_frames: 1 << 20,
        }
    }
}

/// What a new holder of a sender key receives: epoch, step and that step's chain key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyShare {
    pub(crate) epoch: u16,
    pub(crate) step: u32,
    pub(crate) chain: Key32,
}

/// The sending half: our own chain for the current epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct OwnSenderKey {
    pub(crate) epoch: u16,
    pub(crate) next_counter: u32,
    step: u32,
    chain: Key32,
    step_key: Key32,
    pub(crate) created_at_ms: u64,
}

impl OwnSenderKey {
    pub(crate) fn new<R: RngCore + CryptoRng>(epoch: u16, now: u64, rng: &mut R) -> Self {
        let mut chain = Key32([0u8; 32]);
        rng.fill_bytes(&mut chain.0);
        Self::from_chain(epoch, chain, now)
    }

    /// Deterministic constructor (vectors, tests).
    pub(crate) fn from_chain(epoch: u16, chain: Key32, now: u64) -> Self {
        let step_key = frame_key(&chain);
        Self {
            epoch,
            next_counter: 0,
            step: 0,
            chain,
            step_key,
            created_at_ms: now,
        }
    }

    fn advance_to(&mut self, step: u32) {
        while self.step < step {
            self.chain = next_chain(&self.chain);
            self.step += 1;
        }
        self.step_key = frame_key(&self.chain);
    }

    /// Takes the next counter and its frame key; `None` when exhausted.
    pub(crate) fn next(&mut self) -> Option<(u32, &Key32)> {
        let c = self.next_counter;
        if c >= MAX_COUNTER {
            return None;
        }
        let s = c / STEP;
        if s != self.step {
            self.advance_to(s);
        }
        self.next_counter = c + 1;
        Some((c, &self.step_key))
    }

    /// Moves to the start of the next step (so a new member cannot read
    /// frames already sent in this one) and returns the share for it.
    pub(crate) fn share_next_step(&mut self) -> KeyShare {
        let s = self.next_counter.div_ceil(STEP);
        if s != self.step {
            self.advance_to(s);
        }
        self.next_counter = s.saturating_mul(STEP);
        self.share()
    }

    /// Share of the current step (for members who already saw this epoch).
    pub(crate) fn share(&self) -> KeyShare {
        KeyShare {
            epoch: self.epoch,
            step: self.step,
            chain: self.chain.clone(),
        }
    }
}

/// The receiving half for one sender epoch: frame keys for the newest steps
/// plus the chain key of the next step, and the replay window.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ReceiverChain {
    pub(crate) epoch: u16,
    lo: u32,
    keys: VecDeque<Key32>,
    next_chain: Key32,
    pub(crate) window: ReplayWindow,
}

/// Keys derived while opening a frame ahead of the known steps; committed
/// only if the frame authenticates.
pub(crate) struct Advance {
    new_hi: u32,
    keys: Vec<Key32>,
    next_chain: Key32,
}

/// A frame key found for a counter, possibly needing an [`Advance`] commit.
pub(crate) enum Lookup<'a> {
    Known(&'a Key32),
    Ahead(Key32, Advance),
}

impl ReceiverChain {
    pub(crate) fn new(share: &KeyShare) -> Self {
        let mut keys = VecDeque::with_capacity(REORDER_STEPS as usize + 1);
        keys.push_back(frame_key(&share.chain));
        Self {
            epoch: share.epoch,
            lo: share.step,
            keys,
            next_chain: next_chain(&share.chain),
            window: ReplayWindow::new(),
        }
    }

    /// Jumps forward to a later share of the same epoch (a receiver that fell
    /// more than [`MAX_FORWARD_STEPS`] behind); keeps the replay window.
    /// Returns false if the share is not ahead.
    pub(crate) fn refresh(&mut self, share: &KeyShare) -> bool {
        if share.epoch != self.epoch || share.step <= self.hi() {
            return false;
        }
        let window = std::mem::take(&mut self.window);
        *self = Self::new(share);
        self.window = window;
        true
    }

    /// First counter of the oldest step held.
    pub(crate) fn known_start(&self) -> u64 {
        u64::from(self.lo) * u64::from(STEP)
    }

    fn hi(&self) -> u32 {
        self.lo + self.keys.len() as u32 - 1
    }

    pub(crate) fn lookup(&self, counter: u32) -> Result<Lookup<'_>, OpenError> {
        let s = counter / STEP;
        if s < self.lo {
            return Err(OpenError::TooOld);
        }
        if let Some(k) = self.keys.get((s - self.lo) as usize) {
            return Ok(Lookup::Known(k));
        }
        let ahead = s - self.hi();
        if ahead > MAX_FORWARD_STEPS {
            return Err(OpenError::TooFarAhead);
        }
        let keep = (REORDER_STEPS + 1).min(ahead) as usize;
        let mut chain = self.next_chain.clone();
        let mut keys = Vec::with_capacity(keep);
        for i in 0..ahead {
            if ahead - i <= keep as u32 {
                keys.push(frame_key(&chain));
            }
            chain = next_chain(&chain);
        }
        let key = keys.last().cloned().unwrap_or_else(|| frame_key(&chain));
        Ok(Lookup::Ahead(
            key,
            Advance {
                new_hi: s,
                keys,
                next_chain: chain,
            },
        ))
    }

    pub(crate) fn commit(&mut self, adv: Advance) {
        if adv.new_hi <= self.hi() {
            return; // already advanced by another frame
        }
        if adv.new_hi - self.hi() != adv.keys.len() as u32 {
            // Jumped past everything we held: the old keys are too old now.
            self.keys.clear();
        }
        self.keys.extend(adv.keys);
        self.next_chain = adv.next_chain;
        self.lo = adv.new_hi + 1 - self.keys.len() as u32;
        while self.keys.len() > REORDER_STEPS as usize + 1 {
            self.keys.pop_front();
            self.lo += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_step_keys_are_gone() {
        let share = KeyShare {
            epoch: 0,
            step: 0,
            chain: Key32([9; 32]),
        };
        let step0 = frame_key(&share.chain);
        let mut r = ReceiverChain::new(&share);
        let Ok(Lookup::Ahead(_, adv)) = r.lookup(10 * STEP) else {
            panic!("expected forward derivation");
        };
        r.commit(adv);
        assert!(matches!(r.lookup(0), Err(OpenError::TooOld)));
        assert_eq!(r.keys.len(), REORDER_STEPS as usize + 1);
        assert!(r.keys.iter().all(|k| *k != step0));
        // The sender likewise keeps only the current step's chain.
        let mut s = OwnSenderKey::from_chain(0, share.chain.clone(), 0);
        s.next_counter = 3 * STEP;
        let _ = s.next();
        assert_ne!(s.share().chain, share.chain);
        assert_ne!(s.step_key, step0);
        assert_eq!(s.share().step, 3);
    }

    #[test]
    fn receiver_matches_sender_across_steps() {
        let mut s = OwnSenderKey::from_chain(2, Key32([3; 32]), 0);
        let mut r = ReceiverChain::new(&s.share());
        for _ in 0..(3 * STEP + 7) {
            let (c, k) = s.next().unwrap_or_else(|| panic!("exhausted"));
            let k = k.clone();
            match r.lookup(c) {
                Ok(Lookup::Known(rk)) => assert_eq!(*rk, k),
                Ok(Lookup::Ahead(rk, adv)) => {
                    assert_eq!(rk, k);
                    r.commit(adv);
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}
