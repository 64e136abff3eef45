//! When to dial a group member again after a dial failed or a connection
//! closed: exponential backoff per peer, sans-IO.
//!
//! A group is a full mesh of connections: an author hands each update to
//! every member it is connected to, and a member it is not connected to gets
//! the update only through gossip repair at the next heartbeat (hundreds of
//! milliseconds later). So a member the node failed to reach (a join storm,
//! a handshake that timed out on a busy device, a peer that restarted) is
//! dialled again soon, then less and less often: after 250 ms, 500 ms,
//! 1 s, ... up to every 15 s. The node task reports dial outcomes and asks
//! [`Redial::due`] on its tick which peers to dial now.

use std::collections::HashMap;
use std::hash::Hash;

/// First retry after a failure or a lost connection, ms.
pub const FIRST_RETRY_MS: u64 = 250;
/// Longest wait between two dials of one peer by default, ms (see
/// [`Redial::set_max_wait`]).
pub const MAX_RETRY_MS: u64 = 15_000;
/// Most peers tracked (a group's roster is far smaller; past this, new
/// failures are not retried until an entry is freed).
pub const MAX_PEERS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Backoff {
    /// Dials that failed in a row.
    failures: u32,
    /// When to dial next; `None` while a dial is in flight.
    due_ms: Option<u64>,
}

/// Per-peer redial schedule, keyed by peer id `P` (`libp2p::PeerId` in the node).
#[derive(Debug)]
pub struct Redial<P> {
    peers: HashMap<P, Backoff>,
    max_wait_ms: u64,
}

impl<P> Default for Redial<P> {
    fn default() -> Self {
        Self {
            peers: HashMap::new(),
            max_wait_ms: MAX_RETRY_MS,
        }
    }
}

/// The wait after `failures` failures in a row, at most `max_ms`.
fn wait_ms(failures: u32, max_ms: u64) -> u64 {
    FIRST_RETRY_MS
        .saturating_mul(1u64 << failures.saturating_sub(1).min(16))
        .min(max_ms.max(FIRST_RETRY_MS))
}

impl<P: Hash + Eq + Copy> Redial<P> {
    /// The longest wait between two dials of one peer (a device in the
    /// background dials less often).
    pub fn set_max_wait(&mut self, max_ms: u64) {
        self.max_wait_ms = max_ms;
    }

    /// A dial of `peer` failed at `now_ms`: retry it later, each failure in a
    /// row doubling the wait.
    pub fn dial_failed(&mut self, peer: P, now_ms: u64) {
        if !self.peers.contains_key(&peer) && self.peers.len() >= MAX_PEERS {
            return;
        }
        let b = self.peers.entry(peer).or_insert(Backoff {
            failures: 0,
            due_ms: None,
        });
        b.failures = b.failures.saturating_add(1);
        b.due_ms = Some(now_ms.saturating_add(wait_ms(b.failures, self.max_wait_ms)));
    }

    /// The last connection to `peer` closed at `now_ms`: dial it again soon.
    pub fn disconnected(&mut self, peer: P, now_ms: u64) {
        if !self.peers.contains_key(&peer) && self.peers.len() >= MAX_PEERS {
            return;
        }
        self.peers.insert(
            peer,
            Backoff {
                failures: 0,
                due_ms: Some(now_ms.saturating_add(FIRST_RETRY_MS)),
            },
        );
    }

    /// `peer` should be connected but is not, and nothing is scheduled for
    /// it: dial it at `now_ms` (a member learnt of by its roster op, whose
    /// dial nobody started or whose outcome was lost).
    pub fn ensure(&mut self, peer: P, now_ms: u64) {
        if self.peers.contains_key(&peer) || self.peers.len() >= MAX_PEERS {
            return;
        }
        self.peers.insert(
            peer,
            Backoff {
                failures: 0,
                due_ms: Some(now_ms),
            },
        );
    }

    /// Whether `peer` has a dial scheduled or in flight.
    pub fn tracks(&self, peer: &P) -> bool {
        self.peers.contains_key(peer)
    }

    /// `peer` is connected: nothing to retry.
    pub fn connected(&mut self, peer: &P) {
        self.peers.remove(peer);
    }

    /// `peer` is no longer someone to dial (left every shared group).
    pub fn forget(&mut self, peer: &P) {
        self.peers.remove(peer);
    }

    /// The peers to dial at `now_ms`; each is then in flight until
    /// [`Self::dial_failed`] or [`Self::connected`].
    pub fn due(&mut self, now_ms: u64) -> Vec<P> {
        let mut out = Vec::new();
        for (p, b) in &mut self.peers {
            if b.due_ms.is_some_and(|d| d <= now_ms) {
                b.due_ms = None;
                out.push(*p);
            }
        }
        out
    }

    /// When the next dial falls due, if any.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.peers.values().filter_map(|b| b.due_ms).min()
    }

    /// Peers tracked (waiting or in flight).
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is tracked.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap() {
        let mut r = Redial::default();
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..10 {
            r.dial_failed(1u8, now);
            let due = r.poll_timeout().unwrap_or(u64::MAX);
            waits.push(due - now);
            assert!(r.due(due - 1).is_empty(), "not due before its time");
            assert_eq!(r.due(due), vec![1]);
            assert!(r.due(due + 100_000).is_empty(), "in flight: not due twice");
            now = due + 10;
        }
        assert_eq!(
            waits,
            [250, 500, 1_000, 2_000, 4_000, 8_000, 15_000, 15_000, 15_000, 15_000]
        );
    }

    #[test]
    fn a_connection_clears_the_backoff_and_a_loss_retries_soon() {
        let mut r = Redial::default();
        for t in 0..5 {
            r.dial_failed(7u8, t);
        }
        r.connected(&7);
        assert!(r.is_empty());
        r.disconnected(7, 1_000);
        assert_eq!(r.poll_timeout(), Some(1_000 + FIRST_RETRY_MS));
        r.forget(&7);
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn the_longest_wait_follows_the_setting() {
        let mut r = Redial::default();
        r.set_max_wait(60_000);
        for t in 0..12 {
            r.dial_failed(1u8, t);
        }
        assert_eq!(r.poll_timeout(), Some(11 + 60_000));
    }

    #[test]
    fn ensure_schedules_an_untracked_peer_now_and_keeps_a_backoff() {
        let mut r = Redial::default();
        r.ensure(1u8, 100);
        assert_eq!(r.due(100), vec![1]);
        r.ensure(1, 200); // in flight: unchanged
        assert!(r.due(200).is_empty());
        r.dial_failed(1, 300);
        r.ensure(1, 300); // backing off: unchanged
        assert_eq!(r.poll_timeout(), Some(300 + FIRST_RETRY_MS));
    }

    #[test]
    fn tracked_peers_are_bounded() {
        let mut r = Redial::default();
        for p in 0..(MAX_PEERS as u32 + 10) {
            r.dial_failed(p, 0);
        }
        assert_eq!(r.len(), MAX_PEERS);
    }
}
