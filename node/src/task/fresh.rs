//! Freshness of received location fixes: a delayed or replayed message must
//! never show as where a member is now.
//!
//! Tolerance: a fix may be up to [`LOCATION_MAX_AGE_MS`] old (publishers
//! send a fix at least every few minutes while sharing, and gossip may lag
//! behind a partition). A fix dated ahead of our clock is not refused here:
//! it is dated by its receipt (see `location/`).

/// A received location fix older than this is refused, ms.
pub(crate) const LOCATION_MAX_AGE_MS: u64 = 10 * 60_000;

/// Whether a fix taken at `at_ms` may be shown as current at `now`.
pub(crate) fn location_is_fresh(at_ms: u64, now: u64) -> bool {
    now.saturating_sub(at_ms) <= LOCATION_MAX_AGE_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    #[test]
    fn stale_location_is_refused() {
        assert!(location_is_fresh(NOW, NOW));
        assert!(location_is_fresh(NOW - LOCATION_MAX_AGE_MS, NOW));
        assert!(location_is_fresh(NOW + 1_000, NOW));
        // A fix recorded an hour ago and replayed now.
        assert!(!location_is_fresh(NOW - 3_600_000, NOW));
        assert!(!location_is_fresh(NOW - LOCATION_MAX_AGE_MS - 1, NOW));
        assert!(!location_is_fresh(0, NOW));
    }
}
