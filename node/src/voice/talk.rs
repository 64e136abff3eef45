//! Talk control: push-to-talk, open mic with voice activity detection, mute.

/// How the microphone is gated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TalkMode {
    /// Send only while the talk key is held.
    #[default]
    PushToTalk,
    /// Send whenever voice activity is detected.
    OpenMic,
}

/// A simple energy voice-activity detector with an adaptive noise floor and
/// a hangover so word endings are not clipped.
#[derive(Clone, Debug)]
pub struct Vad {
    noise_floor: f64,
    hangover: u32,
    hang_left: u32,
    /// Active when the frame energy exceeds the floor by this factor.
    pub ratio: f64,
    /// Absolute RMS below which a frame is never voice.
    pub min_rms: f64,
}

impl Default for Vad {
    fn default() -> Self {
        Self {
            noise_floor: 100.0,
            hangover: 15,
            hang_left: 0,
            ratio: 3.0,
            min_rms: 200.0,
        }
    }
}

impl Vad {
    /// Classifies one frame.
    pub fn is_voice(&mut self, pcm: &[i16]) -> bool {
        let level = super::signal::rms(pcm);
        let active = level > self.min_rms && level > self.noise_floor * self.ratio;
        if !active {
            // Track the floor quickly downwards, slowly upwards.
            let a = if level < self.noise_floor { 0.3 } else { 0.02 };
            self.noise_floor = (1.0 - a) * self.noise_floor + a * level.max(1.0);
        }
        if active {
            self.hang_left = self.hangover;
            true
        } else if self.hang_left > 0 {
            self.hang_left -= 1;
            true
        } else {
            false
        }
    }
}

/// The talk gate: mode, key state, mute and VAD together.
#[derive(Clone, Debug, Default)]
pub struct TalkGate {
    /// Mode.
    pub mode: TalkMode,
    /// Push-to-talk key held.
    pub key_down: bool,
    /// Muted (overrides everything).
    pub muted: bool,
    /// Whether the last frame held voice (VAD decision).
    pub last_voice: bool,
    vad: Vad,
}

impl TalkGate {
    /// A gate in `mode`.
    pub fn new(mode: TalkMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }

    /// Whether this frame should be sent.
    pub fn open(&mut self, pcm: &[i16]) -> bool {
        let voice = self.vad.is_voice(pcm);
        self.last_voice = voice;
        if self.muted {
            return false;
        }
        match self.mode {
            TalkMode::PushToTalk => self.key_down,
            TalkMode::OpenMic => voice,
        }
    }
}
