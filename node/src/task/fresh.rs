//! Freshness of received location fixes: a delayed or replayed message must
//! never show as where a member is now.
//!
//! Tolerance: a fix may be up to [`LOCATION_MAX_AGE_MS`] old (publishers
//! send a fix at least every few minutes while sharing, and gossip may lag
//! behind a partition) and up to [`LOCATION_MAX_SKEW_MS`] ahead of our clock
//! (phone clocks drift; more than that is a lie or a broken clock).

/// A received location fix older than this is refused, ms.
pub(crate) const LOCATION_MAX_AGE_MS: u64 = 10 * 60_000;
/// Clock skew tolerated for a fix that claims a time ahead of ours, ms.
pub(crate) const LOCATION_MAX_SKEW_MS: u64 = 2 * 60_000;

/// Whether a fix taken at `at_ms` may be shown as current at `now`.
pub(crate) fn location_is_fresh(at_ms: u64, now: u64) -> bool {
    at_ms <= now.saturating_add(LOCATION_MAX_SKEW_MS)
        && now.saturating_sub(at_ms) <= LOCATION_MAX_AGE_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    #[test]
    fn stale_or_future_location_is_refused() {
        assert!(location_is_fresh(NOW, NOW));
        assert!(location_is_fresh(NOW - LOCATION_MAX_AGE_MS, NOW));
        assert!(location_is_fresh(NOW + LOCATION_MAX_SKEW_MS, NOW));
        // A fix recorded an hour ago and replayed now.
        assert!(!location_is_fresh(NOW - 3_600_000, NOW));
        assert!(!location_is_fresh(NOW - LOCATION_MAX_AGE_MS - 1, NOW));
        // A fix dated ahead to stay "current" forever.
        assert!(!location_is_fresh(NOW + LOCATION_MAX_SKEW_MS + 1, NOW));
        assert!(!location_is_fresh(u64::MAX, NOW));
        assert!(!location_is_fresh(0, NOW));
    }
}
