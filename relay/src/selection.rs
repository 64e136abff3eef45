//! Which seats of a room the relay forwards (sans-IO): at most
//! [`Selection::max_speakers`] at once, the loudest by the level each frame
//! carries outside its encryption ([`aura_media::level`]). A chosen speaker
//! keeps its place for [`Selection::hold`] unless it falls silent for
//! [`Selection::idle`], so the choice does not flap between two voices.

use std::time::{Duration, Instant};

use aura_crypto::ShortId;
use aura_media::level::SILENCE;

/// How the loudest speakers are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Speakers forwarded at once (default 3).
    pub max_speakers: usize,
    /// Shortest time a chosen speaker keeps its place (default 400 ms).
    pub hold: Duration,
    /// A speaker with no frame for this long is no longer chosen (Opus DTX
    /// sends nothing in silence; default 300 ms).
    pub idle: Duration,
}

impl Default for Selection {
    fn default() -> Self {
        Self {
            max_speakers: 3,
            hold: Duration::from_millis(400),
            idle: Duration::from_millis(300),
        }
    }
}

/// Most talkers tracked per room (seats are at most 16).
const MAX_TALKERS: usize = 32;

#[derive(Debug)]
struct Talker {
    sender: ShortId,
    /// Smoothed loudness, 0 (silence) ..= 127 (0 dBov).
    loudness: f32,
    last: Instant,
    chosen_since: Option<Instant>,
}

/// One room's choice of speakers.
#[derive(Debug, Default)]
pub struct Selector {
    talkers: Vec<Talker>,
}

impl Selector {
    /// A frame of `sender` with `level` arrived at `now`: whether to forward it.
    pub fn on_frame(&mut self, cfg: &Selection, sender: ShortId, level: u8, now: Instant) -> bool {
        let loud = f32::from(SILENCE - level.min(SILENCE));
        for t in &mut self.talkers {
            if t.chosen_since.is_some() && now.saturating_duration_since(t.last) > cfg.idle {
                t.chosen_since = None;
            }
        }
        let i = match self.talkers.iter().position(|t| t.sender == sender) {
            Some(i) => i,
            None => self.track(sender, loud, now),
        };
        let t = &mut self.talkers[i];
        t.loudness = 0.7 * t.loudness + 0.3 * loud;
        t.last = now;
        if t.chosen_since.is_some() {
            return true;
        }
        let me = t.loudness;
        let chosen = self
            .talkers
            .iter()
            .filter(|t| t.chosen_since.is_some())
            .count();
        if chosen < cfg.max_speakers {
            self.talkers[i].chosen_since = Some(now);
            return true;
        }
        // Replace the quietest chosen speaker that held its place long enough.
        let weakest = self
            .talkers
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                t.chosen_since
                    .is_some_and(|s| now.saturating_duration_since(s) >= cfg.hold)
            })
            .min_by(|a, b| a.1.loudness.total_cmp(&b.1.loudness))
            .map(|(j, t)| (j, t.loudness));
        match weakest {
            Some((j, l)) if l < me => {
                self.talkers[j].chosen_since = None;
                self.talkers[i].chosen_since = Some(now);
                true
            }
            _ => false,
        }
    }

    /// Starts tracking `sender`, forgetting the longest-silent talker when full.
    fn track(&mut self, sender: ShortId, loud: f32, now: Instant) -> usize {
        if self.talkers.len() >= MAX_TALKERS {
            if let Some(j) = (0..self.talkers.len()).min_by_key(|j| self.talkers[*j].last) {
                self.talkers.swap_remove(j);
            }
        }
        self.talkers.push(Talker {
            sender,
            loudness: loud,
            last: now,
            chosen_since: None,
        });
        self.talkers.len() - 1
    }

    /// The speakers chosen now.
    pub fn chosen(&self) -> impl Iterator<Item = ShortId> + '_ {
        self.talkers
            .iter()
            .filter(|t| t.chosen_since.is_some())
            .map(|t| t.sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five speakers at levels 10, 20, .. 50 (10 loudest), 20 ms apart for 1 s.
    fn five_speakers(sel: &mut Selector, cfg: &Selection, t0: Instant) -> Vec<u32> {
        let mut forwarded = vec![0u32; 5];
        for tick in 0..50u32 {
            let now = t0 + Duration::from_millis(u64::from(tick) * 20);
            for s in 0..5u32 {
                let level = 10 + 10 * s as u8;
                if sel.on_frame(cfg, ShortId(s), level, now) && tick >= 25 {
                    forwarded[s as usize] += 1;
                }
            }
        }
        forwarded
    }

    #[test]
    fn only_the_three_loudest_of_five_are_forwarded() {
        let cfg = Selection::default();
        let mut sel = Selector::default();
        // The quiet ones speak first: they get the places, then lose them.
        let t0 = Instant::now();
        for s in (0..5u32).rev() {
            sel.on_frame(&cfg, ShortId(s), 10 + 10 * s as u8, t0);
        }
        let forwarded = five_speakers(&mut sel, &cfg, t0 + Duration::from_millis(20));
        assert_eq!(forwarded, vec![25, 25, 25, 0, 0]);
        let mut chosen: Vec<u32> = sel.chosen().map(|s| s.0).collect();
        chosen.sort_unstable();
        assert_eq!(chosen, vec![0, 1, 2]);
    }

    #[test]
    fn a_speaker_that_falls_silent_gives_its_place_at_once() {
        let cfg = Selection::default();
        let mut sel = Selector::default();
        let t0 = Instant::now();
        five_speakers(&mut sel, &cfg, t0);
        // Speaker 0 stops (DTX: no frames); 3 is next loudest.
        let later = t0 + Duration::from_millis(1_000) + cfg.idle + Duration::from_millis(20);
        for s in 1..5u32 {
            sel.on_frame(&cfg, ShortId(s), 10 + 10 * s as u8, later);
        }
        let mut chosen: Vec<u32> = sel.chosen().map(|s| s.0).collect();
        chosen.sort_unstable();
        assert_eq!(chosen, vec![1, 2, 3]);
    }

    #[test]
    fn a_louder_newcomer_waits_for_the_hold_before_taking_a_place() {
        let cfg = Selection::default();
        let mut sel = Selector::default();
        let t0 = Instant::now();
        for s in 0..3u32 {
            assert!(sel.on_frame(&cfg, ShortId(s), 40, t0));
        }
        let mut t = t0;
        while t < t0 + cfg.hold {
            t += Duration::from_millis(20);
            for s in 0..3u32 {
                sel.on_frame(&cfg, ShortId(s), 40, t);
            }
            if t == t0 + Duration::from_millis(100) {
                assert!(!sel.on_frame(&cfg, ShortId(9), 0, t), "inside the hold");
            }
        }
        assert!(sel.on_frame(&cfg, ShortId(9), 0, t));
        assert_eq!(sel.chosen().count(), 3);
    }

    #[test]
    fn tracking_is_bounded() {
        let cfg = Selection::default();
        let mut sel = Selector::default();
        let t0 = Instant::now();
        for s in 0..1_000u32 {
            sel.on_frame(
                &cfg,
                ShortId(s),
                50,
                t0 + Duration::from_millis(u64::from(s)),
            );
        }
        assert!(sel.talkers.len() <= MAX_TALKERS);
        assert!(sel.chosen().count() <= cfg.max_speakers);
    }
}
