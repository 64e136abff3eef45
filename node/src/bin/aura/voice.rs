//! `aura talk GROUP` and `aura listen GROUP`: group voice from the terminal.
//! Both keep the node online for their duration, print a stats line that
//! is updated live, and stop on Ctrl-C (or after `--seconds`).
//!
//! Built with the `cpal` feature, the default microphone and speaker are
//! used unless `--input` / `--output` name WAV files; without it, WAV files
//! stand in for both.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aura_crypto::MemberId;
use aura_node::voice::signal::{write_wav, WavSource};
use aura_node::voice::TalkMode;
use aura_node::voice_api::{VoiceConfig, VoiceHandle, VoiceStats};
use aura_node::Node;
use clap::{Args, Subcommand};

/// Voice commands (flattened into the top-level commands).
#[derive(Debug, Subcommand)]
pub(crate) enum VoiceCmd {
    /// Talk in a group's voice: Enter toggles push-to-talk (or --open-mic
    /// sends whenever you speak); what you hear can be recorded too.
    Talk(TalkArgs),
    /// Listen to a group's voice and write what you hear to a WAV file.
    Listen(ListenArgs),
}

/// Options shared by talk and listen.
#[derive(Debug, Args)]
pub(crate) struct Common {
    /// Group name or id prefix.
    group: String,
    /// Media (voice) socket to bind; announced to the group.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Address to announce if it differs from --bind (e.g. your LAN address).
    #[arg(long)]
    advertise: Option<SocketAddr>,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    seconds: Option<u64>,
}

/// `aura talk`.
#[derive(Debug, Args)]
pub(crate) struct TalkArgs {
    #[command(flatten)]
    common: Common,
    /// The "microphone": a 48 kHz 16-bit mono WAV file, looped (default
    /// with the `cpal` feature: the default input device).
    #[arg(long, value_name = "WAV")]
    input: Option<PathBuf>,
    /// Open mic: send whenever voice is detected (no key).
    #[arg(long)]
    open_mic: bool,
    /// Write what you hear to this WAV file (default with the `cpal`
    /// feature: play it on the default output device).
    #[arg(long, value_name = "WAV")]
    output: Option<PathBuf>,
}

/// `aura listen`.
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    #[command(flatten)]
    common: Common,
    /// Write what you hear to this WAV file (48 kHz mono); required
    /// unless built with the `cpal` feature (then the speaker plays it).
    #[arg(long, value_name = "WAV")]
    output: Option<PathBuf>,
}

/// Where talk audio comes from.
enum Mic {
    /// A WAV file's samples, looped.
    Wav(Vec<i16>),
    /// The default input device.
    #[cfg(feature = "cpal")]
    Device(aura_node::voice::device::Microphone),
}

/// What feeds the engine, stopped when the session ends.
enum Feeder {
    Task(tokio::task::JoinHandle<()>),
    #[cfg(feature = "cpal")]
    Thread(Arc<std::sync::atomic::AtomicBool>),
}

impl Feeder {
    fn stop(self) {
        match self {
            Feeder::Task(t) => t.abort(),
            #[cfg(feature = "cpal")]
            Feeder::Thread(stop) => stop.store(true, std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// Where heard audio goes.
enum Out {
    None,
    Wav(PathBuf, Vec<i16>),
    #[cfg(feature = "cpal")]
    Device(aura_node::voice::device::Speaker),
}

/// The output: the WAV file if named, else the speaker (with `cpal`).
fn output(path: Option<PathBuf>, required: bool) -> Result<Out> {
    if let Some(p) = path {
        return Ok(Out::Wav(p, Vec::new()));
    }
    #[cfg(feature = "cpal")]
    {
        let _ = required;
        let spk = aura_node::voice::device::Speaker::open(1)
            .context("cannot open the speaker; name a WAV file with --output")?;
        Ok(Out::Device(spk))
    }
    #[cfg(not(feature = "cpal"))]
    {
        anyhow::ensure!(
            !required,
            "--output WAV is required (this build has no audio devices; build with --features cpal)"
        );
        Ok(Out::None)
    }
}

/// Most audio kept for `--output` (10 minutes); older audio is not written.
const MAX_RECORD: usize = 48_000 * 600;

/// Runs a voice command on a started node.
pub(crate) async fn run(node: &Node, cmd: VoiceCmd) -> Result<()> {
    match cmd {
        VoiceCmd::Talk(a) => talk(node, a).await,
        VoiceCmd::Listen(a) => {
            let out = output(a.output.clone(), true)?;
            session(node, &a.common, TalkMode::PushToTalk, None, out).await
        }
    }
}

fn microphone(input: Option<&PathBuf>) -> Result<Mic> {
    let Some(input) = input else {
        #[cfg(feature = "cpal")]
        {
            let mic = aura_node::voice::device::Microphone::open(960)
                .context("cannot open the microphone; name a WAV file with --input")?;
            return Ok(Mic::Device(mic));
        }
        #[cfg(not(feature = "cpal"))]
        anyhow::bail!(
            "--input WAV is required (this build has no audio devices; build with --features cpal)"
        );
    };
    let src = WavSource::open(input)
        .with_context(|| format!("cannot use {} as the microphone", input.display()))?;
    anyhow::ensure!(
        src.samples().len() >= 960,
        "{} holds less than one 20 ms frame",
        input.display()
    );
    Ok(Mic::Wav(src.samples().to_vec()))
}

async fn talk(node: &Node, a: TalkArgs) -> Result<()> {
    let mic = microphone(a.input.as_ref())?;
    let out = if a.output.is_some() || cfg!(feature = "cpal") {
        output(a.output, false)?
    } else {
        Out::None
    };
    let mode = if a.open_mic {
        TalkMode::OpenMic
    } else {
        TalkMode::PushToTalk
    };
    session(node, &a.common, mode, Some(mic), out).await
}

async fn session(
    node: &Node,
    c: &Common,
    mode: TalkMode,
    mic: Option<Mic>,
    mut out: Out,
) -> Result<()> {
    let (gid, name) = crate::resolve::group(node, &c.group).await?;
    let cfg = VoiceConfig {
        bind: c.bind,
        advertise: c.advertise,
        mode,
        ..VoiceConfig::default()
    };
    let voice = node.join_voice(gid, cfg).await?;
    let members = node.members(gid).await?;
    eprintln!(
        "voice in {name}: media endpoint {}; {} other members",
        voice.local_addr(),
        members.len().saturating_sub(1)
    );
    let talking = mic.is_some();
    if talking && mode == TalkMode::PushToTalk {
        eprintln!("press Enter to start/stop talking; Ctrl-C quits");
    }
    let (key_tx, mut key_rx) = tokio::sync::mpsc::channel::<()>(8);
    if talking && mode == TalkMode::PushToTalk {
        std::thread::spawn(move || {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
                line.clear();
                if key_tx.blocking_send(()).is_err() {
                    return;
                }
            }
        });
    }
    let feeder = mic.map(|m| feed(voice.clone(), m));
    let mut rec = voice.take_playout().context("playout taken")?;
    let deadline = c.seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut key_down = false;
    loop {
        let until_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            () = until_deadline => break,
            Some(()) = key_rx.recv() => {
                key_down = !key_down;
                voice.set_ptt(key_down).await?;
            }
            Some(f) = rec.recv() => match &mut out {
                Out::None => {}
                Out::Wav(_, heard) => {
                    if heard.len() + f.len() <= MAX_RECORD {
                        heard.extend_from_slice(&f);
                    }
                }
                #[cfg(feature = "cpal")]
                Out::Device(spk) => {
                    use aura_node::voice::AudioSink;
                    spk.write(&f)?;
                }
            },
            _ = tick.tick() => {
                let s = voice.stats().await?;
                let state = match (talking, mode, key_down) {
                    (false, _, _) => "listening",
                    (true, TalkMode::OpenMic, _) => "open mic",
                    (true, _, true) => "TALKING",
                    (true, _, false) => "push Enter to talk",
                };
                eprint!("\r{}\x1b[K", stats_line(state, &s, &members));
                let _ = std::io::stderr().flush();
            }
        }
    }
    eprintln!();
    if let Some(f) = feeder {
        f.stop();
    }
    voice.leave().await;
    if let Out::Wav(path, heard) = out {
        write_wav(&path, &heard, 1).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!(
            "wrote {:.1} s of what you heard to {}",
            heard.len() as f64 / 48_000.0,
            path.display()
        );
    }
    Ok(())
}

/// Feeds the engine from the microphone: a device from its own thread at
/// the device's pace, a WAV file at capture pace.
fn feed(voice: Arc<VoiceHandle>, mic: Mic) -> Feeder {
    match mic {
        Mic::Wav(samples) => Feeder::Task(feed_wav(voice, samples)),
        #[cfg(feature = "cpal")]
        Mic::Device(mut dev) => {
            use aura_node::voice::AudioSource;
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let s = stop.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0i16; voice.frame_len()];
                while !s.load(std::sync::atomic::Ordering::Relaxed) && dev.read_frame(&mut buf) {
                    // A full queue drops the frame (the engine is behind).
                    if let Err(aura_node::voice_api::VoiceError::Stopped) =
                        voice.capture(buf.clone())
                    {
                        return;
                    }
                }
            });
            Feeder::Thread(stop)
        }
    }
}

/// Feeds the looped WAV "microphone" at capture pace.
fn feed_wav(voice: Arc<VoiceHandle>, mic: Vec<i16>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let n = voice.frame_len();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut pos = 0;
        loop {
            tick.tick().await;
            let mut f = Vec::with_capacity(n);
            while f.len() < n {
                let take = (n - f.len()).min(mic.len() - pos);
                f.extend_from_slice(&mic[pos..pos + take]);
                pos = (pos + take) % mic.len();
            }
            if voice.capture(f).is_err() {
                return;
            }
        }
    })
}

fn short(m: &MemberId) -> String {
    hex::encode(&m.0[..4])
}

fn stats_line(state: &str, s: &VoiceStats, members: &[(MemberId, aura_crypto::Role)]) -> String {
    let mut line = format!(
        "[{state}] sent {} | connected {}/{}",
        s.sender.frames_sent,
        s.connected.len(),
        members.len().saturating_sub(1)
    );
    for (m, q) in &s.voice {
        line.push_str(&format!(
            " | {}: rx {} loss {:.1}% late {} jit {:.1}ms rtt {:.1}ms buf {:.0}ms plc {} fec {} MOS {:.2}",
            short(m),
            q.received,
            q.loss * 100.0,
            q.late,
            q.jitter_ms,
            q.rtt_ms,
            q.playout_delay_ms,
            q.concealed,
            q.fec_recovered,
            q.mos
        ));
    }
    line
}
