//! Sliding replay window over frame counters (1024 frames).

use serde::{Deserialize, Serialize};

use crate::error::OpenError;

/// Frames older than this many counters behind the newest are refused.
pub const REPLAY_WINDOW: u32 = 1024;

const WORDS: usize = (REPLAY_WINDOW / 64) as usize;

/// Replay window for one (sender, epoch) stream: a ring bitmap indexed by
/// `counter % REPLAY_WINDOW` plus the highest counter seen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayWindow {
    /// One past the highest counter accepted (0 = none yet).
    top: u64,
    bits: [u64; WORDS],
}

impl ReplayWindow {
    /// A fresh window.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks a counter without recording it: `Replay` if already seen,
    /// `TooOld` if it fell out of the window.
    pub fn check(&self, counter: u32) -> Result<(), OpenError> {
        let c = u64::from(counter);
        if c >= self.top {
            return Ok(());
        }
        if self.top - c > u64::from(REPLAY_WINDOW) {
            return Err(OpenError::TooOld);
        }
        if self.get(c) {
            return Err(OpenError::Replay);
        }
        Ok(())
    }

    /// Records a counter (call only after the frame authenticated).
    pub fn commit(&mut self, counter: u32) {
        let c = u64::from(counter);
        if c >= self.top {
            let advance = c + 1 - self.top;
            if advance >= u64::from(REPLAY_WINDOW) {
                self.bits = [0; WORDS];
            } else {
                for x in self.top..=c {
                    self.clear(x);
                }
            }
            self.top = c + 1;
        }
        self.set(c);
    }

    /// One past the highest counter accepted (0 = none yet).
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Counts every counter below `floor` as seen (restoring a replay
    /// floor after a restart). Never moves the window back.
    pub fn raise_floor(&mut self, floor: u32) {
        let f = u64::from(floor);
        if f > self.top {
            self.bits = [u64::MAX; WORDS];
            self.top = f;
        }
    }

    /// Checks and records in one step.
    pub fn check_and_commit(&mut self, counter: u32) -> Result<(), OpenError> {
        self.check(counter)?;
        self.commit(counter);
        Ok(())
    }

    fn idx(c: u64) -> (usize, u64) {
        let i = (c % u64::from(REPLAY_WINDOW)) as usize;
        (i / 64, 1u64 << (i % 64))
    }
    fn get(&self, c: u64) -> bool {
        let (w, m) = Self::idx(c);
        self.bits[w] & m != 0
    }
    fn set(&mut self, c: u64) {
        let (w, m) = Self::idx(c);
        self.bits[w] |= m;
    }
    fn clear(&mut self, c: u64) {
        let (w, m) = Self::idx(c);
        self.bits[w] &= !m;
    }
}
