//! Device-style playout, sans-IO: decoded slots queue per stream and a
//! playout clock (the sound card, or a timer) pulls one mixed frame per
//! frame period, so several speakers and music play side by side.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use super::mixer::{Input, Mixer};
use super::receiver::Slot;

/// Most slots queued per stream; older ones are dropped (and counted) so a
/// stalled output never builds up delay.
pub const MAX_QUEUE: usize = 8;

/// Slots a stream queues before it starts (or restarts after running dry)
/// when slots are released on another clock than the pulls': one frame of
/// slack so slot release and output clock may drift in phase without an
/// underrun shifting the audio by a frame. Slots released on the pulling
/// clock itself ([`Playout::fed_at_pull`]) need none.
pub const PRIME: usize = 2;

/// What one stream played last: its media position (for sync checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// Media timestamp (48 kHz samples) of the last slot pulled.
    pub ts: u64,
    /// The caller's clock (microseconds) at the pull that mixed it.
    pub at_us: u64,
}

/// Per-stream queues and the mixer.
#[derive(Debug)]
pub struct Playout<K> {
    mixer: Mixer<K>,
    queues: HashMap<K, (bool, VecDeque<Slot>)>,
    positions: HashMap<K, Position>,
    frame_samples: usize,
    frames_out: u64,
    dropped: u64,
    prime: usize,
}

impl<K: Hash + Eq + Clone> Playout<K> {
    /// Playout of `frame_samples` samples per channel per pull, mono or
    /// stereo output.
    pub fn new(frame_samples: usize, stereo: bool) -> Self {
        Self {
            mixer: Mixer::new(stereo),
            queues: HashMap::new(),
            positions: HashMap::new(),
            frame_samples,
            frames_out: 0,
            dropped: 0,
            prime: PRIME,
        }
    }

    /// As [`Self::new`] for slots released on the pulling clock itself
    /// (each stream's slot for a pull is queued just before it): a stream
    /// plays from its first slot, with no frame of slack.
    pub fn fed_at_pull(frame_samples: usize, stereo: bool) -> Self {
        Self {
            prime: 1,
            ..Self::new(frame_samples, stereo)
        }
    }

    /// The mixer (volumes, positions, music gain).
    pub fn mixer_mut(&mut self) -> &mut Mixer<K> {
        &mut self.mixer
    }

    /// Output channels.
    pub fn channels(&self) -> usize {
        self.mixer.channels()
    }

    /// Queues a decoded slot of stream `key`.
    pub fn push(&mut self, key: K, slot: Slot) {
        let (_, q) = self.queues.entry(key).or_default();
        if q.len() >= MAX_QUEUE {
            q.pop_front();
            self.dropped += 1;
        }
        q.push_back(slot);
    }

    /// Forgets a stream (member removed).
    pub fn remove(&mut self, key: &K) {
        self.queues.remove(key);
        self.positions.remove(key);
        self.mixer.remove(key);
    }

    /// Mixes the next output frame from the head of every queue (silence if
    /// none has anything); `now_us` (the caller's clock) is recorded in the
    /// streams' [`Position`]s.
    pub fn pull(&mut self, now_us: u64) -> Vec<i16> {
        self.frames_out += 1;
        let mut heads = Vec::new();
        for (k, (started, q)) in &mut self.queues {
            *started = (*started || q.len() >= self.prime) && !q.is_empty();
            if !*started {
                continue;
            }
            if let Some(s) = q.pop_front() {
                self.positions.insert(
                    k.clone(),
                    Position {
                        ts: s.ts,
                        at_us: now_us,
                    },
                );
                heads.push((k.clone(), s));
            }
        }
        let inputs: Vec<Input<'_, K>> = heads
            .iter()
            .map(|(k, s)| Input {
                who: k,
                pcm: &s.pcm,
                channels: s.channels,
            })
            .collect();
        self.mixer.mix(&inputs, self.frame_samples)
    }

    /// Where stream `key` is in its media.
    pub fn position(&self, key: &K) -> Option<Position> {
        self.positions.get(key).copied()
    }

    /// Output frames pulled so far.
    pub fn frames_out(&self) -> u64 {
        self.frames_out
    }

    /// Slots dropped because a queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voice::SlotKind;

    fn slot(ts: u64, v: i16, channels: usize) -> Slot {
        Slot {
            ts,
            pcm: vec![v; 960 * channels],
            channels,
            kind: SlotKind::Decoded,
        }
    }

    #[test]
    fn two_streams_are_mixed_and_positions_tracked() {
        let mut p = Playout::new(960, true);
        p.push(1u8, slot(0, 3_000, 1));
        p.push(2u8, slot(960, 2_000, 2));
        // One slot each: still priming.
        assert_eq!(p.pull(0).iter().map(|s| s.unsigned_abs()).max(), Some(0));
        p.push(1u8, slot(960, 3_000, 1));
        p.push(2u8, slot(1920, 2_000, 2));
        let out = p.pull(0);
        assert_eq!(out.len(), 1920);
        assert!(out[0] > 3_000, "both heard: {}", out[0]);
        assert_eq!(p.position(&2).map(|x| x.ts), Some(960));
        // Primed: the second slots play on the next pull, then silence.
        let loudest = |v: Vec<i16>| v.iter().map(|s| s.unsigned_abs()).max();
        assert_ne!(loudest(p.pull(20_000)), Some(0));
        assert_eq!(p.position(&1).map(|x| (x.ts, x.at_us)), Some((960, 20_000)));
        assert_eq!(loudest(p.pull(40_000)), Some(0));
    }

    #[test]
    fn fed_at_pull_plays_a_slot_at_the_pull_it_was_queued_for() {
        let mut p = Playout::fed_at_pull(960, false);
        p.push(1u8, slot(0, 3_000, 1));
        assert_ne!(p.pull(0).iter().map(|s| s.unsigned_abs()).max(), Some(0));
        assert_eq!(p.position(&1).map(|x| x.ts), Some(0));
        assert!(p.pull(20_000).iter().all(|&s| s == 0));
    }

    #[test]
    fn a_stalled_output_drops_old_slots() {
        let mut p = Playout::new(960, false);
        for i in 0..20 {
            p.push(1u8, slot(i * 960, 100, 1));
        }
        assert_eq!(p.dropped(), 20 - MAX_QUEUE as u64);
        p.pull(0);
        assert_eq!(p.position(&1).map(|x| x.ts), Some(12 * 960));
    }
}
