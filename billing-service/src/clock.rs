//! Time as an input, so tests can move days forward without sleeping.
use std::sync::{
    atomic::{AtomicI64, Ordering},
    Arc,
};

/// A source of the current time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_us: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock::default()
    }

    /// Unix microseconds (plus any test offset).
    pub fn now_us(&self) -> i64 {
        let sys = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        sys.saturating_add(self.offset_us.load(Ordering::Relaxed))
    }

    /// Unix seconds.
    pub fn now_s(&self) -> i64 {
        self.now_us().div_euclid(1_000_000)
    }

    /// Moves this clock (and its clones) forward by `secs` (tests).
    pub fn advance(&self, secs: i64) {
        self.offset_us
            .fetch_add(secs.saturating_mul(1_000_000), Ordering::Relaxed);
    }
}
