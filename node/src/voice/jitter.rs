//! Adaptive jitter buffer: a sans-IO state machine fed `(frame, arrival time)`
//! and asked what to play at playout time.
//!
//! Time is a virtual clock in microseconds supplied by the caller. Each frame
//! carries its media timestamp (48 kHz samples) and a send sequence number.
//! The buffer keeps the one-way *transit* (`arrival - media time`) of recent
//! frames; the smallest transit among the newest arrivals is the path's base
//! delay and the spread above it is jitter (measured block by block so clock
//! drift does not pass for jitter). A frame with media time `ts` is due at
//! `ts + offset`, where `offset` tracks `base + target` (target = a high
//! percentile of the jitter, plus, only while losses are seen, one frame
//! per frame of the longest recent loss burst (at most two) so the frame
//! after a loss is here to rebuild it: FEC for the frame just before it,
//! DRED for the one before that). On a clean path the target is close to zero, so a frame plays
//! as soon as it arrives; it grows only as jitter demands, and shrinks again by
//! skipping a slot (preferably a missing one) when the path calms down.
//! When the target grows, the next missing slot is pushed back by just the
//! shortfall (not a whole frame), so a clean path stays near its floor.

use std::collections::{BTreeMap, VecDeque};

use super::SAMPLE_RATE;

/// Tuning of the buffer.
#[derive(Clone, Debug)]
pub struct Config {
    /// Samples per frame at 48 kHz (960 for 20 ms, 480 for 10 ms).
    pub frame_samples: u32,
    /// Frames of transit history used for the base delay and jitter estimate.
    pub window: usize,
    /// Jitter percentile the target covers (0..=1).
    pub percentile: f64,
    /// Extra margin added to the target, in microseconds.
    pub margin_us: u64,
    /// Largest target delay, in microseconds.
    pub max_target_us: u64,
    /// Most frames held at once (excess arrivals are refused and counted).
    pub capacity: usize,
    /// Consecutive missing slots after which the stream is considered idle
    /// (the talker stopped) and playout stops until the next frame.
    pub idle_after: u32,
    /// Period (µs) of the playout clock that polls the buffer, when it
    /// polls only on its ticks (0: polled at each slot's due time). A slot
    /// of one tick's length released at a tick after its due time plays at
    /// that tick: the offset moves to the tick, so the delay the buffer
    /// adapts (and shrinks) is the one heard, the tick's wait included.
    pub tick_us: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            frame_samples: 960,
            window: 250,
            percentile: 0.97,
            margin_us: 1_000,
            max_target_us: 400_000,
            capacity: 64,
            idle_after: 10,
            tick_us: 0,
        }
    }
}

/// What to play in one slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Playout {
    /// Decode this frame normally.
    Frame {
        /// Media timestamp of the slot.
        ts: u64,
        /// Encoded frame.
        payload: Vec<u8>,
    },
    /// The slot's frame is missing but the next one is here: decode its
    /// in-band FEC data for this slot.
    Fec {
        /// Media timestamp of the slot.
        ts: u64,
        /// The *next* frame, whose FEC data covers this slot.
        next_payload: Vec<u8>,
    },
    /// The slot's frame and the next are missing but a later frame is
    /// here: rebuild this slot from that frame's DRED data (its deep
    /// redundancy), or conceal if it carries none.
    Dred {
        /// Media timestamp of the slot.
        ts: u64,
        /// Media timestamp of the later frame.
        later_ts: u64,
        /// The later frame.
        later_payload: Vec<u8>,
    },
    /// The slot's frame is missing: conceal (decoder packet-loss concealment).
    Conceal {
        /// Media timestamp of the slot.
        ts: u64,
    },
}

/// Counters of the buffer (for quality monitoring).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames accepted into the buffer.
    pub received: u64,
    /// Frames lost in transit (sequence gaps).
    pub lost: u64,
    /// Frames that arrived after their slot was played.
    pub late: u64,
    /// Duplicate frames refused.
    pub duplicates: u64,
    /// Frames refused because the buffer was full.
    pub overflow: u64,
    /// Slots played from a frame.
    pub played: u64,
    /// Slots recovered from the next frame's FEC data.
    pub fec_recovered: u64,
    /// Slots handed out for rebuilding from a later frame's DRED data.
    pub dred_recovered: u64,
    /// Slots concealed.
    pub concealed: u64,
    /// Slots skipped to shrink the delay.
    pub skipped: u64,
    /// Times the sender's clock jumped (restart) and the buffer started over.
    pub resyncs: u64,
    /// Times a slot was pushed back (by up to a frame) to grow the delay.
    pub stretched: u64,
}

/// Slots the delay must stay a whole frame above the target before a
/// missing slot is skipped to shrink it (a present frame is dropped only
/// after twice as long).
const SHRINK_HOLD_SLOTS: u32 = 25;

/// Most frames the buffer waits beyond the jitter target for a frame that
/// can rebuild lost ones.
const MAX_RECOVERY_WAIT: u64 = 2;

/// A transit jump this large (microseconds) means the sender restarted.
const RESYNC_US: u64 = 2_000_000;

/// Arrivals per block for the drift-following base delay and jitter.
const DRIFT_BLOCK: usize = 25;

#[derive(Clone, Copy, Debug)]
struct Transit {
    seq: u64,
    transit_us: i64,
}

/// The adaptive jitter buffer.
#[derive(Debug)]
pub struct JitterBuffer {
    cfg: Config,
    frames: BTreeMap<u64, (u64, Vec<u8>)>,
    history: VecDeque<Transit>,
    /// Next slot to play (media timestamp), once playing.
    next_ts: Option<u64>,
    /// Playout offset: slot `ts` is due at `media_us(ts) + offset`.
    offset_us: i64,
    /// Consecutive missing slots.
    misses: u32,
    pending_misses: u32,
    /// Send sequence of the last frame played (or FEC-recovered).
    last_out_seq: Option<u64>,
    shrink_streak: u32,
    highest_seq: Option<u64>,
    last_ts: Option<u64>,
    last_seq16: Option<u16>,
    last_ts32: Option<u32>,
    stats: Stats,
}

/// Converts 48 kHz samples to microseconds.
pub fn samples_to_us(samples: u64) -> i64 {
    (samples as i128 * 1_000_000 / SAMPLE_RATE as i128) as i64
}

impl JitterBuffer {
    /// A new, empty buffer.
    pub fn new(cfg: Config) -> Self {
        Self {
            cfg,
            frames: BTreeMap::new(),
            history: VecDeque::new(),
            next_ts: None,
            offset_us: 0,
            misses: 0,
            pending_misses: 0,
            last_out_seq: None,
            shrink_streak: 0,
            highest_seq: None,
            last_ts: None,
            last_seq16: None,
            last_ts32: None,
            stats: Stats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Frames currently held.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is held.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Whether a talk spurt is being played out.
    pub fn is_playing(&self) -> bool {
        self.next_ts.is_some()
    }

    fn frame_us(&self) -> i64 {
        samples_to_us(u64::from(self.cfg.frame_samples))
    }

    /// Unwraps the 16-bit sequence number and 32-bit timestamp of the wire.
    fn unwrap(&mut self, seq: u16, ts: u32) -> (u64, u64) {
        let seq = match (self.highest_seq, self.last_seq16) {
            (Some(h), Some(l)) => {
                let d = seq.wrapping_sub(l) as i16 as i64;
                (h as i64 + d).max(0) as u64
            }
            _ => u64::from(seq) + (1 << 16),
        };
        let ts64 = match (self.last_ts, self.last_ts32) {
            (Some(h), Some(l)) => {
                let d = ts.wrapping_sub(l) as i32 as i64;
                (h as i64 + d).max(0) as u64
            }
            _ => u64::from(ts) + (1 << 32),
        };
        (seq, ts64)
    }

    /// Feeds one arrived frame (wire `seq`/`ts`, encoded payload) at `now_us`.
    /// Returns `false` if it was refused (late, duplicate or full).
    pub fn push(&mut self, seq: u16, ts: u32, payload: Vec<u8>, now_us: u64) -> bool {
        let (mut seq64, mut ts64) = self.unwrap(seq, ts);
        // A sender that restarted (rejoined voice, new media clock) shows up
        // as a transit jump far beyond any jitter: start over on its clock.
        let transit = now_us as i64 - samples_to_us(ts64);
        if !self.history.is_empty()
            && (transit - self.base_us()).unsigned_abs() > RESYNC_US
            && (self.next_ts.is_none() || self.frames.is_empty())
        {
            self.resync();
            (seq64, ts64) = self.unwrap(seq, ts);
        }
        if self.frames.contains_key(&ts64) {
            self.stats.duplicates += 1;
            return false;
        }
        match self.highest_seq {
            Some(h) if seq64 > h => {
                self.stats.lost += seq64 - h - 1;
                self.highest_seq = Some(seq64);
                self.last_seq16 = Some(seq);
            }
            Some(_) => {
                // A reordered frame fills a gap counted as lost.
                self.stats.lost = self.stats.lost.saturating_sub(1);
            }
            None => {
                self.highest_seq = Some(seq64);
                self.last_seq16 = Some(seq);
            }
        }
        if self.last_ts.is_none_or(|l| ts64 > l) {
            self.last_ts = Some(ts64);
            self.last_ts32 = Some(ts);
        }
        // Late frames count for the jitter estimate too: they are the ones
        // the target must cover.
        let transit_us = now_us as i64 - samples_to_us(ts64);
        self.history.push_back(Transit {
            seq: seq64,
            transit_us,
        });
        while self.history.len() > self.cfg.window {
            self.history.pop_front();
        }
        if let Some(next) = self.next_ts {
            if ts64 < next {
                self.stats.late += 1;
                return false;
            }
        }
        if self.frames.len() >= self.cfg.capacity {
            self.stats.overflow += 1;
            return false;
        }
        self.stats.received += 1;
        self.frames.insert(ts64, (seq64, payload));
        if self.next_ts.is_none() {
            // Start of a talk spurt: anchor so this frame waits only `target`.
            self.next_ts = self.frames.keys().next().copied();
            self.offset_us = self.base_us() + self.target_us() as i64;
            self.misses = 0;
        }
        true
    }

    /// Smallest transit in the window (path base delay + clock offset).
    ///
    /// Taken over the most recent block of [`DRIFT_BLOCK`] arrivals so it
    /// follows sender/receiver clock drift instead of lagging a whole window.
    fn base_us(&self) -> i64 {
        self.history
            .iter()
            .rev()
            .take(DRIFT_BLOCK)
            .map(|t| t.transit_us)
            .min()
            .unwrap_or(0)
    }

    /// Each arrival's transit above the minimum of its block of
    /// [`DRIFT_BLOCK`] arrivals (blocks counted from the newest): jitter
    /// without the slope that clock drift adds across the window.
    fn deviations(&self) -> Vec<i64> {
        let mut out = Vec::with_capacity(self.history.len());
        let newest_first: Vec<i64> = self.history.iter().rev().map(|t| t.transit_us).collect();
        for block in newest_first.chunks(DRIFT_BLOCK) {
            let min = block.iter().copied().min().unwrap_or(0);
            out.extend(block.iter().map(|t| t - min));
        }
        out
    }

    /// Current target delay above the base, in microseconds.
    pub fn target_us(&self) -> u64 {
        let mut d = self.deviations();
        if d.is_empty() {
            return self.cfg.margin_us;
        }
        d.sort_unstable();
        let idx = ((d.len() - 1) as f64 * self.cfg.percentile).round() as usize;
        let jitter = d[idx.min(d.len() - 1)].max(0) as u64;
        let mut target = jitter + self.cfg.margin_us;
        // Losses seen recently: wait as many more frames as the longest
        // recent burst (at most MAX_RECOVERY_WAIT), so the frame after a
        // burst is here in time to rebuild it (FEC for the last lost frame,
        // DRED for the ones before). A clean path waits for nothing.
        if self.recent_loss() > 0.01 {
            target += self.frame_us() as u64 * self.recent_burst().min(MAX_RECOVERY_WAIT);
        }
        target.min(self.cfg.max_target_us)
    }

    /// Longest run of consecutive missing sequence numbers in the window.
    fn recent_burst(&self) -> u64 {
        let mut seqs: Vec<u64> = self.history.iter().map(|t| t.seq).collect();
        seqs.sort_unstable();
        seqs.dedup();
        seqs.windows(2)
            .map(|w| w[1] - w[0] - 1)
            .max()
            .unwrap_or(0)
            .max(1)
    }

    fn recent_loss(&self) -> f64 {
        let (Some(first), Some(last)) = (self.history.front(), self.history.back()) else {
            return 0.0;
        };
        let span = last.seq.saturating_sub(first.seq) + 1;
        if span < 10 {
            return 0.0;
        }
        1.0 - (self.history.len() as f64 / span as f64).min(1.0)
    }

    /// Current playout delay above the base path delay, in microseconds.
    pub fn playout_delay_us(&self) -> i64 {
        self.offset_us - self.base_us()
    }

    /// When the next slot is due (virtual microseconds), if playing.
    pub fn next_due_us(&self) -> Option<u64> {
        self.next_ts
            .map(|ts| (samples_to_us(ts) + self.offset_us).max(0) as u64)
    }

    /// Forgets the stream's clock and history (counters are kept).
    fn resync(&mut self) {
        self.frames.clear();
        self.history.clear();
        self.next_ts = None;
        self.misses = 0;
        self.pending_misses = 0;
        self.last_out_seq = None;
        self.shrink_streak = 0;
        self.highest_seq = None;
        self.last_ts = None;
        self.last_seq16 = None;
        self.last_ts32 = None;
        self.stats.resyncs += 1;
    }

    /// Settles the missing slots before a frame with send sequence `seq`
    /// comes out: only as many as the sender really sent in between (the
    /// sequence gap) were concealment; the rest were silence (DTX).
    fn settle_misses(&mut self, seq: u64) {
        let sent_between = match self.last_out_seq {
            Some(l) if seq > l => seq - l - 1,
            Some(_) => 0,
            None => u64::from(self.pending_misses),
        };
        self.stats.concealed += sent_between.min(u64::from(self.pending_misses));
        self.pending_misses = 0;
        self.last_out_seq = Some(seq);
    }

    /// On a ticking playout clock, a slot due `late_us` before the tick
    /// that polls it plays at that tick: its due time (and the offset of
    /// every later slot) moves there. A catch-up after a stall (late by a
    /// tick or more) moves nothing.
    fn align_to_tick(&mut self, late_us: u64) {
        if self.ticking() && late_us > 0 && late_us < self.cfg.tick_us {
            self.offset_us += late_us as i64;
        }
    }

    /// Whether a ticking playout clock of one slot's period polls the
    /// buffer (see [`Config::tick_us`]); a clock of another period releases
    /// slots at their due times.
    fn ticking(&self) -> bool {
        self.cfg.tick_us > 0 && self.cfg.tick_us == self.frame_us() as u64
    }

    /// Returns the next slot to play if it is due at `now_us`.
    pub fn poll(&mut self, now_us: u64) -> Option<Playout> {
        loop {
            let due = self.next_due_us()?;
            if now_us < due {
                return None;
            }
            self.align_to_tick(now_us - due);
            let ts = self.next_ts?;
            let step = u64::from(self.cfg.frame_samples);
            let want = self.base_us() + self.target_us() as i64;
            let frame = self.frame_us();
            let present = self.frames.contains_key(&ts);
            // Delay could drop a whole frame and still cover the target: after
            // a hold-off (no hunting), skip a missing slot, or later a frame.
            if self.offset_us - frame >= want {
                self.shrink_streak += 1;
            } else {
                self.shrink_streak = 0;
            }
            let shrink = (!present && self.shrink_streak >= SHRINK_HOLD_SLOTS)
                || self.shrink_streak >= 2 * SHRINK_HOLD_SLOTS;
            if shrink {
                self.offset_us -= frame;
                self.next_ts = Some(ts + step);
                self.frames.remove(&ts);
                self.shrink_streak = 0;
                self.stats.skipped += 1;
                continue;
            }
            // Delay below the target and this slot's frame is not here yet:
            // push this slot back by exactly the shortfall (at most a frame)
            // and wait for it. Growing by the shortfall rather than a whole
            // concealed frame keeps a clean path's delay near its floor when
            // the jitter estimate creeps up by a fraction of a millisecond;
            // in a silence (DTX) the shift is inaudible.
            if self.offset_us < want && self.stats.played > 0 && !present {
                if self.ticking() {
                    // On a ticking clock the slot can only move a whole
                    // tick: conceal this tick and play the slot at the next.
                    self.offset_us += frame;
                    self.stats.stretched += 1;
                    return Some(Playout::Conceal { ts });
                }
                self.offset_us += (want - self.offset_us).min(frame);
                self.stats.stretched += 1;
                continue;
            }
            self.next_ts = Some(ts + step);
            if let Some((seq, payload)) = self.frames.remove(&ts) {
                self.misses = 0;
                self.stats.played += 1;
                self.settle_misses(seq);
                return Some(Playout::Frame { ts, payload });
            }
            self.misses += 1;
            if self.frames.is_empty() && self.misses >= self.cfg.idle_after {
                // The talker stopped (DTX, push-to-talk released): go idle.
                // Trailing misses were the end of the spurt, not losses.
                self.next_ts = None;
                self.pending_misses = 0;
                return None;
            }
            if let Some((seq, next)) = self.frames.get(&(ts + step)) {
                let (seq, next_payload) = (*seq, next.clone());
                self.stats.fec_recovered += 1;
                // The recovered slot stands for the frame sent just before.
                self.settle_misses(seq.saturating_sub(1));
                return Some(Playout::Fec { ts, next_payload });
            }
            // A later frame within DRED's reach (up to MAX_RECOVERY_WAIT +
            // 1 slots on) may carry this slot's speech as deep redundancy.
            let reach = ts + step * (MAX_RECOVERY_WAIT + 1);
            let later = self.frames.range(ts + 2 * step..=reach).next();
            // Only for a frame the sender really sent (a sequence gap), not
            // for a silence it did not send (DTX).
            let sent = |later_seq: u64, back: u64| {
                self.last_out_seq
                    .is_none_or(|l| later_seq.saturating_sub(l + 1) >= back)
            };
            if let Some((&later_ts, (seq, later))) =
                later.filter(|(t, (q, _))| sent(*q, (**t - ts) / step))
            {
                let (later_seq, later_payload) = (*seq, later.clone());
                let back = (later_ts - ts) / step;
                self.stats.dred_recovered += 1;
                self.settle_misses(later_seq.saturating_sub(back));
                return Some(Playout::Dred {
                    ts,
                    later_ts,
                    later_payload,
                });
            }
            // Loss, or a silence the sender did not send (DTX): decided by
            // the sequence numbers when the next frame comes out.
            self.pending_misses += 1;
            return Some(Playout::Conceal { ts });
        }
    }
}
