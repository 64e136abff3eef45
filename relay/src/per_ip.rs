//! Connections per IP address (sans-IO): each plane keeps one, acquiring a
//! slot when a connection arrives and releasing it when it ends.

use std::collections::HashMap;
use std::net::IpAddr;

/// Live connections per IP, at most `max` each.
#[derive(Debug)]
pub struct IpLimit {
    max: u32,
    counts: HashMap<IpAddr, u32>,
}

impl IpLimit {
    /// At most `max` connections per address (0: none at all).
    pub fn new(max: u32) -> Self {
        Self {
            max,
            counts: HashMap::new(),
        }
    }

    /// Takes a slot for `ip`; false when it already holds `max`.
    pub fn try_acquire(&mut self, ip: IpAddr) -> bool {
        let n = self.counts.entry(ip).or_insert(0);
        if *n >= self.max {
            if *n == 0 {
                self.counts.remove(&ip);
            }
            return false;
        }
        *n += 1;
        true
    }

    /// Gives back a slot of `ip`.
    pub fn release(&mut self, ip: IpAddr) {
        if let Some(n) = self.counts.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.counts.remove(&ip);
            }
        }
    }

    /// Addresses holding at least one slot.
    pub fn addresses(&self) -> usize {
        self.counts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_at_most_max_slots_and_gets_them_back() {
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let mut l = IpLimit::new(2);
        assert!(l.try_acquire(a) && l.try_acquire(a));
        assert!(!l.try_acquire(a));
        assert!(l.try_acquire(b));
        l.release(a);
        assert!(l.try_acquire(a));
        l.release(a);
        l.release(a);
        l.release(b);
        assert_eq!(l.addresses(), 0);
        assert!(!IpLimit::new(0).try_acquire(a));
    }
}
