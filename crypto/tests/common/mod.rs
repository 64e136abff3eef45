//! Shared helpers for the integration tests: a deterministic RNG and groups
//! with several members that have exchanged sender keys.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use aura_crypto::{GroupSession, Identity, Role, Roster};
use rand_core::{CryptoRng, RngCore};

/// Fixed start time for tests (unix ms).
pub const NOW: u64 = 1_700_000_000_000;

/// Deterministic byte stream for known-answer vectors and repeatable tests:
/// SplitMix64 output. NOT a secure RNG; only marked `CryptoRng` so tests can
/// drive the API deterministically.
pub struct TestRng(pub u64);

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for TestRng {}

/// Identity from a one-byte seed.
pub fn ident(seed: u8) -> Identity {
    Identity::from_secret_bytes(&[seed; 32])
}

/// A group of `n` members (member 0 owns it, member 1 is admin, the rest are
/// members), all rosters in sync and every member holding every other
/// member's sender key.
pub fn group(n: usize, rng: &mut TestRng) -> Vec<GroupSession> {
    let ids: Vec<Identity> = (0..n).map(|i| ident(i as u8 + 1)).collect();
    let (mut owner, _) = GroupSession::create(ids[0].clone(), "test", NOW, rng).unwrap();
    for (i, id) in ids.iter().enumerate().skip(1) {
        let role = if i == 1 { Role::Admin } else { Role::Member };
        owner.add_member(id.member_id(), role, None, NOW).unwrap();
    }
    let ops: Vec<_> = owner.roster().ops().cloned().collect();
    let mut sessions = vec![owner];
    for id in ids.iter().skip(1) {
        let roster = Roster::from_ops(ops.clone()).unwrap();
        sessions.push(GroupSession::from_roster(id.clone(), roster, NOW, rng));
    }
    exchange_keys(&mut sessions, rng);
    sessions
}

/// Every session sends its current key to every other.
pub fn exchange_keys(sessions: &mut [GroupSession], rng: &mut TestRng) {
    let n = sessions.len();
    for i in 0..n {
        for j in 0..n {
            if i == j {
                continue;
            }
            let to = sessions[j].member_id();
            if !sessions[i].roster().is_member(&to)
                || !sessions[j].roster().is_member(&sessions[i].member_id())
            {
                continue;
            }
            let env = sessions[i].envelope_for(to, rng).unwrap();
            sessions[j].accept_envelope(&env).unwrap();
        }
    }
}

/// Broadcasts a roster op to all sessions but `from`.
pub fn broadcast_op(sessions: &mut [GroupSession], from: usize, op: &aura_crypto::SignedOp) {
    for (i, s) in sessions.iter_mut().enumerate() {
        if i != from {
            s.apply_op(op.clone()).unwrap();
        }
    }
}
