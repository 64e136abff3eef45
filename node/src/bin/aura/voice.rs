//! `aura talk GROUP` and `aura listen GROUP`: group voice from the terminal.
//! Both keep the node online for their duration, print a stats line that
//! is updated live, and stop on Ctrl-C (or after `--seconds`).

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
    /// The "microphone": a 48 kHz 16-bit mono WAV file, looped.
    #[arg(long, value_name = "WAV")]
    input: PathBuf,
    /// Open mic: send whenever voice is detected (no key).
    #[arg(long)]
    open_mic: bool,
    /// Also write what you hear to this WAV file.
    #[arg(long, value_name = "WAV")]
    output: Option<PathBuf>,
}

/// `aura listen`.
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    #[command(flatten)]
    common: Common,
    /// Write what you hear to this WAV file (48 kHz mono).
    #[arg(long, value_name = "WAV")]
    output: PathBuf,
}

/// Most audio kept for `--output` (10 minutes); older audio is not written.
const MAX_RECORD: usize = 48_000 * 600;

/// Runs a voice command on a started node.
pub(crate) async fn run(node: &Node, cmd: VoiceCmd) -> Result<()> {
    match cmd {
        VoiceCmd::Talk(a) => talk(node, a).await,
        VoiceCmd::Listen(a) => {
            let output = Some(a.output.clone());
            session(node, &a.common, TalkMode::PushToTalk, None, output).await
        }
    }
}

async fn talk(node: &Node, a: TalkArgs) -> Result<()> {
    let src = WavSource::open(&a.input)
        .with_context(|| format!("cannot use {} as the microphone", a.input.display()))?;
    anyhow::ensure!(
        src.samples().len() >= 960,
        "{} holds less than one 20 ms frame",
        a.input.display()
    );
    let mode = if a.open_mic {
        TalkMode::OpenMic
    } else {
        TalkMode::PushToTalk
    };
    session(
        node,
        &a.common,
        mode,
        Some(src.samples().to_vec()),
        a.output,
    )
    .await
}

async fn session(
    node: &Node,
    c: &Common,
    mode: TalkMode,
    mic: Option<Vec<i16>>,
    output: Option<PathBuf>,
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
    let mut heard = Vec::new();
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
            Some(f) = rec.recv() => {
                if output.is_some() && heard.len() + f.len() <= MAX_RECORD {
                    heard.extend_from_slice(&f);
                }
            }
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
        f.abort();
    }
    voice.leave().await;
    if let Some(path) = output {
        write_wav(&path, &heard, 1).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!(
            "wrote {:.1} s of what you heard to {}",
            heard.len() as f64 / 48_000.0,
            path.display()
        );
    }
    Ok(())
}

/// Feeds the looped "microphone" at capture pace.
fn feed(voice: Arc<VoiceHandle>, mic: Vec<i16>) -> tokio::task::JoinHandle<()> {
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
