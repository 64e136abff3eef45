//! Rate limits keyed by something a stranger controls (a client address, an
//! account key): GCRA token buckets in a bounded LRU map, driven by the time
//! passed in. A flood of new keys evicts the least recently seen ones (which
//! then start with a full burst again) instead of growing memory.
use std::{hash::Hash, net::IpAddr, sync::Mutex};

use hashlink::LruCache;

/// Keys one limiter remembers at most.
pub(crate) const MAX_KEYS: usize = 65_536;

/// A keyed limiter: `burst` at once, then one every `interval_us`.
pub(crate) struct KeyedLimiter<K: Hash + Eq> {
    /// Theoretical arrival time (unix µs) per key.
    tat: Mutex<LruCache<K, i64>>,
    interval_us: i64,
    /// How far `tat` may run ahead of now: `(burst - 1) * interval_us`.
    tolerance_us: i64,
}

impl<K: Hash + Eq> KeyedLimiter<K> {
    /// `per_minute` events a minute with `burst`; `None` when `per_minute` is 0 (off).
    pub(crate) fn per_minute(per_minute: u32, burst: u32, capacity: usize) -> Option<Self> {
        (per_minute > 0).then(|| Self::new(60_000_000 / i64::from(per_minute), burst, capacity))
    }

    /// `per_s` events a second with `burst`; `None` when `per_s` is 0 (off).
    pub(crate) fn per_second(per_s: u32, burst: u32, capacity: usize) -> Option<Self> {
        (per_s > 0).then(|| Self::new(1_000_000 / i64::from(per_s), burst, capacity))
    }

    fn new(interval_us: i64, burst: u32, capacity: usize) -> Self {
        let interval_us = interval_us.max(1);
        KeyedLimiter {
            tat: Mutex::new(LruCache::new(capacity.max(1))),
            interval_us,
            tolerance_us: i64::from(burst.max(1) - 1).saturating_mul(interval_us),
        }
    }

    /// Counts one event of `key` at `now_us`; false when over the limit.
    pub(crate) fn check(&self, key: K, now_us: i64) -> bool {
        let Ok(mut map) = self.tat.lock() else {
            return false;
        };
        let tat = map.get(&key).copied().unwrap_or(now_us).max(now_us);
        if tat - now_us > self.tolerance_us {
            return false;
        }
        map.insert(key, tat.saturating_add(self.interval_us));
        true
    }
}

/// The rate-limit key of a client address: IPv4 whole, IPv6 by /64 (one
/// subscriber usually holds a whole /64).
pub(crate) fn address_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(u32::from(v4)),
            // The low 64 bits cleared: never equal to an IPv4 key but for `::`.
            None => u128::from(v6) & !u128::from(u64::MAX),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate_then_refill() {
        let l = KeyedLimiter::per_second(10, 3, 16).unwrap();
        let t = 1_000_000_000;
        assert!((0..3).all(|_| l.check(1u8, t)));
        assert!(!l.check(1u8, t));
        assert!(l.check(2u8, t), "another key has its own bucket");
        assert!(l.check(1u8, t + 100_000));
        assert!(!l.check(1u8, t + 100_000));
        assert!((0..3).all(|_| l.check(1u8, t + 10_000_000)));
        assert!(KeyedLimiter::<u8>::per_minute(0, 3, 16).is_none());
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_keys() {
        let l = KeyedLimiter::per_second(1, 1, 100).unwrap();
        for k in 0..10_000u32 {
            l.check(k, 0);
        }
        assert_eq!(l.tat.lock().unwrap().len(), 100);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(v4), address_key(mapped));
    }
}
