//! Voice: the audio pipeline (capture, Opus, jitter buffer, mixing, playout).
