//! Real audio devices through cpal (feature `cpal`): a [`Microphone`] (an
//! [`AudioSource`]) and a [`Speaker`] (an [`AudioSink`]) at 48 kHz.
//!
//! The device callbacks never block: they exchange whole 20 ms frames with
//! the engine over bounded queues, dropping (microphone, queue full) or
//! playing silence (speaker, queue empty) and counting it. cpal streams are
//! not `Send` on every platform, so each stream lives on its own thread,
//! which ends when the handle is dropped. A device that cannot run at
//! 48 kHz is refused with [`AudioError::Rate`] (nothing is resampled).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample, StreamConfig, SupportedStreamConfig};

use super::signal::{AudioError, AudioSink, AudioSource};
use super::SAMPLE_RATE;

/// Frames queued between a device callback and the engine (20 ms each).
pub const DEVICE_QUEUE: usize = 8;

/// How long [`Microphone::read_frame`] waits for the device before it
/// hands out silence (a stalled device does not stall the caller).
const READ_WAIT: Duration = Duration::from_millis(200);

/// Counters of a device.
#[derive(Debug, Default)]
pub struct DeviceStats {
    /// Frames moved between the device and the engine.
    pub frames: AtomicU64,
    /// Microphone frames dropped (engine behind) or speaker frames
    /// dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Speaker callbacks (or microphone reads) that found nothing queued
    /// and used silence.
    pub underruns: AtomicU64,
    /// Errors the device reported.
    pub errors: AtomicU64,
}

/// Keeps a stream alive on its own thread until dropped.
#[derive(Debug)]
struct StreamThread {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for StreamThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// Builds a stream on a new thread with `build`, plays it and keeps it
/// until the returned guard is dropped. Returns the build error, if any.
fn spawn_stream<F>(build: F) -> Result<StreamThread, AudioError>
where
    F: FnOnce() -> Result<cpal::Stream, AudioError> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), AudioError>>(1);
    let s = stop.clone();
    let thread = std::thread::Builder::new()
        .name("aura-audio".into())
        .spawn(move || {
            let stream = match build().and_then(|st| {
                st.play()
                    .map_err(|e| AudioError::Device(format!("cannot start stream: {e}")))?;
                Ok(st)
            }) {
                Ok(st) => st,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            while !s.load(Ordering::Relaxed) {
                std::thread::park_timeout(Duration::from_millis(500));
            }
            drop(stream);
        })
        .map_err(|e| AudioError::Device(format!("audio thread: {e}")))?;
    let guard = StreamThread {
        stop,
        thread: Some(thread),
    };
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(guard),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(AudioError::Device("audio thread ended".into())),
    }
}

/// Picks a 48 kHz configuration, preferring `want` channels and i16/f32.
fn pick(
    configs: Vec<cpal::SupportedStreamConfigRange>,
    want: u16,
    device: &str,
) -> Result<SupportedStreamConfig, AudioError> {
    let rate = cpal::SampleRate(SAMPLE_RATE);
    let usable = |c: &cpal::SupportedStreamConfigRange| {
        c.min_sample_rate() <= rate
            && rate <= c.max_sample_rate()
            && matches!(c.sample_format(), SampleFormat::I16 | SampleFormat::F32)
    };
    let best = configs
        .iter()
        .filter(|c| usable(c))
        .min_by_key(|c| (c.channels() != want, c.channels()));
    match best {
        Some(c) => Ok((*c).with_sample_rate(rate)),
        None => Err(AudioError::Rate {
            device: device.to_string(),
            offered: configs
                .iter()
                .map(|c| {
                    format!(
                        "{}-{} Hz {:?} x{}",
                        c.min_sample_rate().0,
                        c.max_sample_rate().0,
                        c.sample_format(),
                        c.channels()
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn device_err(what: &str) -> impl Fn(cpal::StreamError) + Send + 'static {
    let what = what.to_string();
    move |e| tracing::warn!(device = %what, error = %e, "audio device error")
}

/// The default microphone, delivering 20 ms mono frames at 48 kHz.
#[derive(Debug)]
pub struct Microphone {
    rx: Receiver<Vec<i16>>,
    stats: Arc<DeviceStats>,
    _stream: StreamThread,
}

impl Microphone {
    /// Opens the default input device; frames of `frame_len` mono samples.
    pub fn open(frame_len: usize) -> Result<Self, AudioError> {
        let host = cpal::default_host();
        let dev = host
            .default_input_device()
            .ok_or_else(|| AudioError::NoDevice("no default input device".into()))?;
        let name = dev.name().unwrap_or_else(|_| "input".into());
        let configs = dev
            .supported_input_configs()
            .map_err(|e| AudioError::Device(format!("{name}: {e}")))?
            .collect();
        let cfg = pick(configs, 1, &name)?;
        let (tx, rx) = mpsc::sync_channel(DEVICE_QUEUE);
        let stats = Arc::new(DeviceStats::default());
        let st = stats.clone();
        let frame_len = frame_len.max(1);
        let stream = spawn_stream(move || {
            let format = cfg.sample_format();
            let config: StreamConfig = cfg.config();
            match format {
                SampleFormat::F32 => input::<f32>(&dev, &config, tx, st, frame_len, &name),
                _ => input::<i16>(&dev, &config, tx, st, frame_len, &name),
            }
        })?;
        Ok(Self {
            rx,
            stats,
            _stream: stream,
        })
    }

    /// Counters.
    pub fn stats(&self) -> &DeviceStats {
        &self.stats
    }

    /// The next frame if one is ready (never waits).
    pub fn try_read(&mut self) -> Option<Vec<i16>> {
        self.rx.try_recv().ok()
    }
}

fn input<T>(
    dev: &cpal::Device,
    config: &StreamConfig,
    tx: SyncSender<Vec<i16>>,
    stats: Arc<DeviceStats>,
    frame_len: usize,
    name: &str,
) -> Result<cpal::Stream, AudioError>
where
    T: SizedSample,
    i16: FromSample<T>,
{
    let ch = usize::from(config.channels.max(1));
    let mut acc: Vec<i16> = Vec::with_capacity(frame_len);
    dev.build_input_stream(
        config,
        move |data: &[T], _: &cpal::InputCallbackInfo| {
            // Down-mix to mono, cut into frames, hand over without waiting.
            for f in data.chunks(ch) {
                let sum: i32 = f.iter().map(|s| i32::from(s.to_sample::<i16>())).sum();
                acc.push((sum / ch as i32) as i16);
                if acc.len() == frame_len {
                    let frame = std::mem::replace(&mut acc, Vec::with_capacity(frame_len));
                    match tx.try_send(frame) {
                        Ok(()) => stats.frames.fetch_add(1, Ordering::Relaxed),
                        Err(TrySendError::Full(_)) => stats.dropped.fetch_add(1, Ordering::Relaxed),
                        Err(TrySendError::Disconnected(_)) => 0,
                    };
                }
            }
        },
        device_err(name),
        None,
    )
    .map_err(|e| AudioError::Device(format!("{name}: {e}")))
}

impl AudioSource for Microphone {
    fn channels(&self) -> usize {
        1
    }

    /// Waits (up to 200 ms) for the next frame; a stalled device gives
    /// silence, a closed one ends the source.
    fn read_frame(&mut self, buf: &mut [i16]) -> bool {
        match self.rx.recv_timeout(READ_WAIT) {
            Ok(f) => {
                let n = f.len().min(buf.len());
                buf[..n].copy_from_slice(&f[..n]);
                buf[n..].fill(0);
                true
            }
            Err(RecvTimeoutError::Timeout) => {
                self.stats.underruns.fetch_add(1, Ordering::Relaxed);
                buf.fill(0);
                true
            }
            Err(RecvTimeoutError::Disconnected) => {
                buf.fill(0);
                false
            }
        }
    }
}

/// The default speaker, playing 48 kHz PCM (mono or stereo interleaved).
#[derive(Debug)]
pub struct Speaker {
    tx: SyncSender<Vec<i16>>,
    stats: Arc<DeviceStats>,
    _stream: StreamThread,
}

impl Speaker {
    /// Opens the default output device for `channels` (1 or 2) input.
    pub fn open(channels: usize) -> Result<Self, AudioError> {
        let host = cpal::default_host();
        let dev = host
            .default_output_device()
            .ok_or_else(|| AudioError::NoDevice("no default output device".into()))?;
        let name = dev.name().unwrap_or_else(|_| "output".into());
        let in_ch = channels.clamp(1, 2);
        let configs = dev
            .supported_output_configs()
            .map_err(|e| AudioError::Device(format!("{name}: {e}")))?
            .collect();
        let cfg = pick(configs, in_ch as u16, &name)?;
        let (tx, rx) = mpsc::sync_channel(DEVICE_QUEUE);
        let stats = Arc::new(DeviceStats::default());
        let st = stats.clone();
        let stream = spawn_stream(move || {
            let format = cfg.sample_format();
            let config: StreamConfig = cfg.config();
            match format {
                SampleFormat::F32 => output::<f32>(&dev, &config, rx, st, in_ch, &name),
                _ => output::<i16>(&dev, &config, rx, st, in_ch, &name),
            }
        })?;
        Ok(Self {
            tx,
            stats,
            _stream: stream,
        })
    }

    /// Counters.
    pub fn stats(&self) -> &DeviceStats {
        &self.stats
    }
}

fn output<T>(
    dev: &cpal::Device,
    config: &StreamConfig,
    rx: Receiver<Vec<i16>>,
    stats: Arc<DeviceStats>,
    in_ch: usize,
    name: &str,
) -> Result<cpal::Stream, AudioError>
where
    T: SizedSample + FromSample<i16>,
{
    let out_ch = usize::from(config.channels.max(1));
    let mut cur: Vec<i16> = Vec::new();
    let mut pos = 0;
    dev.build_output_stream(
        config,
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
            let mut starved = false;
            for f in data.chunks_mut(out_ch) {
                if pos + in_ch > cur.len() {
                    match rx.try_recv() {
                        Ok(next) => (cur, pos) = (next, 0),
                        Err(_) => {
                            starved = true;
                            (cur, pos) = (Vec::new(), 0);
                        }
                    }
                }
                let (l, r) = match cur.get(pos..pos + in_ch) {
                    Some([m]) => (*m, *m),
                    Some([l, r]) => (*l, *r),
                    _ => (0, 0),
                };
                pos += in_ch;
                for (i, s) in f.iter_mut().enumerate() {
                    let v = match (out_ch, i) {
                        (1, _) => ((i32::from(l) + i32::from(r)) / 2) as i16,
                        (_, 0) => l,
                        (_, 1) => r,
                        _ => 0,
                    };
                    *s = T::from_sample(v);
                }
            }
            if starved {
                stats.underruns.fetch_add(1, Ordering::Relaxed);
            }
        },
        device_err(name),
        None,
    )
    .map_err(|e| AudioError::Device(format!("{name}: {e}")))
}

impl AudioSink for Speaker {
    /// Queues samples for the device without waiting; when the device is
    /// behind, the samples are dropped (counted).
    fn write(&mut self, pcm: &[i16]) -> Result<(), AudioError> {
        match self.tx.try_send(pcm.to_vec()) {
            Ok(()) => {
                self.stats.frames.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Disconnected(_)) => {
                Err(AudioError::Device("output stream ended".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpal::{SampleRate, SupportedBufferSize, SupportedStreamConfigRange};

    fn range(ch: u16, lo: u32, hi: u32, f: SampleFormat) -> SupportedStreamConfigRange {
        SupportedStreamConfigRange::new(
            ch,
            SampleRate(lo),
            SampleRate(hi),
            SupportedBufferSize::Unknown,
            f,
        )
    }

    #[test]
    fn picks_48k_with_the_wanted_channels_or_refuses() -> Result<(), Box<dyn std::error::Error>> {
        let offered = vec![
            range(2, 8_000, 96_000, SampleFormat::F32),
            range(1, 8_000, 96_000, SampleFormat::I16),
            range(1, 8_000, 96_000, SampleFormat::U8),
        ];
        let c = pick(offered.clone(), 1, "card")?;
        assert_eq!((c.channels(), c.sample_rate().0), (1, 48_000));
        assert_eq!(c.sample_format(), SampleFormat::I16);
        assert_eq!(pick(offered, 2, "card")?.channels(), 2);
        // A 44.1 kHz-only device is refused with a clear error.
        let e = pick(vec![range(2, 44_100, 44_100, SampleFormat::I16)], 2, "usb").unwrap_err();
        assert!(
            matches!(&e, AudioError::Rate { device, offered } if device == "usb" && offered.contains("44100")),
            "{e}"
        );
        Ok(())
    }
}
