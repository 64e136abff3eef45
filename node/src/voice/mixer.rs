//! Mixing several speakers into one output: per-stream loudness levelling
//! (a quiet member ends up as audible as a loud one), per-member volume,
//! optional positional audio (distance attenuation and stereo panning by
//! bearing) and music mixed under the voices.

use std::collections::HashMap;
use std::hash::Hash;

/// Where a speaker is relative to the listener.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Position {
    /// Distance in metres.
    pub distance_m: f64,
    /// Bearing relative to the listener's heading, degrees (0 = ahead,
    /// 90 = right, -90 = left).
    pub bearing_deg: f64,
}

impl Position {
    /// Where `speaker` is for a listener at `listener` facing `heading_deg`
    /// (degrees clockwise from north; 0 when unknown).
    pub fn relative(
        listener: &crate::location::Position,
        heading_deg: f64,
        speaker: &crate::location::Position,
    ) -> Self {
        let (east, north) = speaker.local_xy(listener);
        let bearing = east.atan2(north).to_degrees() - heading_deg;
        Self {
            distance_m: speaker.distance_m(listener),
            // Normalised to -180..180.
            bearing_deg: (bearing + 540.0).rem_euclid(360.0) - 180.0,
        }
    }

    /// Inverse-distance attenuation beyond `ref_m`, floored at 0.1.
    pub fn attenuation(&self, ref_m: f64) -> f64 {
        (ref_m / self.distance_m.max(ref_m)).max(0.1)
    }

    /// (left, right) gains: inverse-distance attenuation beyond `ref_m`
    /// (floored at 0.1) and equal-power panning by bearing.
    pub fn gains(&self, ref_m: f64) -> (f32, f32) {
        let att = self.attenuation(ref_m);
        let pan = self.bearing_deg.to_radians().sin(); // -1 left .. 1 right
        let theta = (pan + 1.0) * std::f64::consts::FRAC_PI_4;
        ((att * theta.cos()) as f32, (att * theta.sin()) as f32)
    }
}

#[derive(Clone, Debug)]
struct Level {
    loudness: f32,
    volume: f32,
    position: Option<Position>,
}

impl Default for Level {
    fn default() -> Self {
        Self {
            loudness: 0.0,
            volume: 1.0,
            position: None,
        }
    }
}

/// One input of a mix.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a, K> {
    /// Whose audio.
    pub who: &'a K,
    /// Interleaved PCM (one frame).
    pub pcm: &'a [i16],
    /// Channels of `pcm` (1 voice, 2 music).
    pub channels: usize,
}

/// The mixer.
#[derive(Clone, Debug)]
pub struct Mixer<K> {
    stereo: bool,
    levels: HashMap<K, Level>,
    /// RMS every voice is levelled to.
    pub target_rms: f32,
    /// Music gain under voices.
    pub music_gain: f32,
    /// Reference distance for positional attenuation (metres).
    pub ref_distance_m: f64,
}

impl<K: Hash + Eq + Clone> Mixer<K> {
    /// A mixer with mono or stereo output.
    pub fn new(stereo: bool) -> Self {
        Self {
            stereo,
            levels: HashMap::new(),
            target_rms: 3_000.0,
            music_gain: 0.5,
            ref_distance_m: 10.0,
        }
    }

    /// Output channels.
    pub fn channels(&self) -> usize {
        if self.stereo {
            2
        } else {
            1
        }
    }

    /// Sets a member's volume (0 = silent, 1 = normal, up to 4).
    pub fn set_volume(&mut self, who: &K, volume: f32) {
        self.levels.entry(who.clone()).or_default().volume = volume.clamp(0.0, 4.0);
    }

    /// Sets (or clears) a member's position for positional audio.
    pub fn set_position(&mut self, who: &K, pos: Option<Position>) {
        self.levels.entry(who.clone()).or_default().position = pos;
    }

    /// Forgets a member.
    pub fn remove(&mut self, who: &K) {
        self.levels.remove(who);
    }

    /// Mixes one frame of `frame_samples` samples per channel.
    pub fn mix(&mut self, inputs: &[Input<'_, K>], frame_samples: usize) -> Vec<i16> {
        let ch = self.channels();
        let mut acc = vec![0f32; frame_samples * ch];
        for inp in inputs {
            let level = self.levels.entry(inp.who.clone()).or_default();
            let in_ch = inp.channels.clamp(1, 2);
            let frames = (inp.pcm.len() / in_ch).min(frame_samples);
            let (gl, gr, gain) = if in_ch == 2 {
                (1.0, 1.0, self.music_gain * level.volume)
            } else {
                // Loudness levelling on active speech only (slow attack).
                let r = super::signal::rms(inp.pcm) as f32;
                if r > 300.0 {
                    let a = if level.loudness == 0.0 { 1.0 } else { 0.1 };
                    level.loudness = (1.0 - a) * level.loudness + a * r;
                }
                let agc = if level.loudness > 0.0 {
                    (self.target_rms / level.loudness).clamp(0.25, 8.0)
                } else {
                    1.0
                };
                let (l, r) = match (self.stereo, level.position) {
                    (true, Some(p)) => p.gains(self.ref_distance_m),
                    // Mono output: distance attenuation only.
                    (false, Some(p)) => {
                        let a = p.attenuation(self.ref_distance_m) as f32;
                        (a, a)
                    }
                    _ => (1.0, 1.0),
                };
                (l, r, agc * level.volume)
            };
            for i in 0..frames {
                let (l, r) = if in_ch == 2 {
                    (f32::from(inp.pcm[2 * i]), f32::from(inp.pcm[2 * i + 1]))
                } else {
                    let s = f32::from(inp.pcm[i]);
                    (s, s)
                };
                if ch == 2 {
                    acc[2 * i] += l * gl * gain;
                    acc[2 * i + 1] += r * gr * gain;
                } else {
                    acc[i] += 0.5 * (l * gl + r * gr) * gain;
                }
            }
        }
        // Soft limiter so several loud speakers do not clip harshly.
        acc.iter()
            .map(|x| {
                let y = x / 32_768.0;
                let y = if y.abs() > 0.8 {
                    y.signum() * (0.8 + 0.2 * ((y.abs() - 0.8) / 0.2).tanh())
                } else {
                    y
                };
                (y * 32_767.0) as i16
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::Position as Geo;

    #[test]
    fn relative_position_gives_distance_and_bearing() -> Result<(), Box<dyn std::error::Error>> {
        let me = Geo::new(45.9, 6.8).ok_or("bad position")?;
        let east = Position::relative(&me, 0.0, &me.offset_m(0.0, 100.0));
        assert!((east.distance_m - 100.0).abs() < 1.0, "{east:?}");
        assert!((east.bearing_deg - 90.0).abs() < 1.0, "{east:?}");
        // Facing east, that member is ahead; facing north-east, 45° right.
        let ahead = Position::relative(&me, 90.0, &me.offset_m(0.0, 100.0));
        assert!(ahead.bearing_deg.abs() < 1.0, "{ahead:?}");
        let west = Position::relative(&me, 45.0, &me.offset_m(0.0, -100.0));
        assert!((west.bearing_deg + 135.0).abs() < 1.0, "{west:?}");
        let (l, r) = east.gains(10.0);
        assert!(l < 0.01 && (r - 0.1).abs() < 1e-3, "{l} {r}");
        Ok(())
    }
}
