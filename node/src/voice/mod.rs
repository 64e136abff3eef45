//! Voice: the audio pipeline (capture, Opus, jitter buffer, mixing, playout).
//!
//! Everything here is sans-IO: a [`VoiceSender`] turns captured PCM frames
//! into [`VoicePayload`]s (which the media plane seals and sends), and a
//! [`VoiceReceiver`] per incoming stream takes payloads with their arrival
//! time and hands back decoded slots when they are due. The [`Mixer`] sums
//! the streams with loudness evened out, per-member volume and an optional
//! positional (stereo) placement.

pub mod codec;
#[cfg(feature = "cpal")]
pub mod device;
pub mod feedback;
pub mod jitter;
pub mod mixer;
pub mod payload;
pub mod playout;
pub mod quality;
pub mod rate;
pub mod receiver;
pub mod sender;
pub mod signal;
pub mod talk;

pub use codec::{CodecError, FrameDuration};
pub use feedback::{FeedbackBook, LossMeter, ReceiverReport, ReportQuality};
pub use mixer::{Input as MixInput, Mixer, Position};
pub use payload::{PayloadError, VoicePayload};
pub use playout::Playout;
pub use quality::QualityReport;
pub use receiver::{Slot, SlotKind, VoiceReceiver};
pub use sender::{SenderStats, VoiceSender};
pub use signal::{AudioError, AudioSink, AudioSource};
pub use talk::{TalkGate, TalkMode};

/// Sample rate of every Aura audio stream.
pub const SAMPLE_RATE: u32 = 48_000;
