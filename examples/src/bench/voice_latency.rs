//! The `voice_latency` benchmark suite: capture-to-playout latency between
//! two members on loopback, over the real media plane (Opus 20 ms frames,
//! aura-crypto sealing, quinn datagrams, adaptive jitter buffer).
//!
//! A frame's first sample is "captured" 20 ms before the frame is handed to
//! the encoder (paced by a real timer); it "leaves the decoder for playout"
//! when the jitter buffer releases the decoded slot, plus the Opus lookahead
//! (the decoder emits each sample that much later). Latency is the
//! difference. CPU is this process's user+system time per stream (one
//! stream = sender + receiver work for one talker).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aura_crypto::{GroupSession, Identity, MemberId, Role, Roster};
use aura_media::{Config, Incoming, MediaEndpoint, RoomConfig};
use aura_node::media::MediaRoom;
use aura_node::voice::signal::speech_like;
use aura_node::voice::{SlotKind, TalkMode, VoiceSender};
use rand::rngs::OsRng;

/// Command-line options of this suite.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object instead of human-readable figures.
    #[arg(long)]
    pub json: bool,
    /// Seconds of speech to stream.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Release slots on the runtime's 1 ms timer only (no precise wait
    /// near the due time), for comparison.
    #[arg(long)]
    pub timer_wheel: bool,
}

const NOW: u64 = 1_700_000_000_000;

fn endpoint(
    s: &Arc<Mutex<GroupSession>>,
) -> anyhow::Result<(MediaEndpoint, tokio::sync::mpsc::Receiver<Incoming>)> {
    let (id, room, members) = {
        let s = s.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let members: Vec<MemberId> = s.roster().members().map(|(m, _)| m).collect();
        (s.identity().clone(), s.group_id().room(), members)
    };
    let ep = MediaEndpoint::bind(&id, "127.0.0.1:0".parse()?, Config::default())?;
    let rx = ep.open_room(room, members, RoomConfig::default())?;
    Ok((ep, rx))
}

/// A slot due this soon (µs) is waited for with a precise sleep instead
/// of the runtime's millisecond timer.
const PRECISE_US: u64 = 1_500;

/// Runs the suite and prints its figures.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let a = Identity::generate(&mut OsRng);
    let b = Identity::generate(&mut OsRng);
    let (mut sa, _) = GroupSession::create(a, "bench", NOW, &mut OsRng)?;
    sa.add_member(b.member_id(), Role::Member, None, NOW)?;
    let mut sb = GroupSession::from_roster(
        b,
        Roster::from_ops(sa.roster().ops().cloned().collect())?,
        NOW,
        &mut OsRng,
    );
    sb.accept_envelope(&sa.envelope_for(sb.member_id(), &mut OsRng)?)?;
    let (bm, sa, sb) = (
        sb.member_id(),
        Arc::new(Mutex::new(sa)),
        Arc::new(Mutex::new(sb)),
    );
    let (ea, _ra) = endpoint(&sa)?;
    let (eb, mut rb) = endpoint(&sb)?;
    ea.connect(bm, eb.local_addr()?).await?;

    let mut sender = VoiceSender::voice(Default::default(), TalkMode::PushToTalk)?;
    sender.gate.key_down = true;
    let lookahead_ms = sender.lookahead()? as f64 / 48.0;
    let speech = speech_like(args.seconds as f32, 5);
    let captured: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let start = Instant::now();
    let cpu0 = super::process_cpu_s();

    let cap = captured.clone();
    let talker = tokio::spawn(async move {
        let mut room = MediaRoom::new(sa);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        for chunk in speech.chunks(960) {
            tick.tick().await;
            let handed = Instant::now();
            let mut f = chunk.to_vec();
            f.resize(960, 0);
            if let Ok(Some(p)) = sender.process(&f) {
                if let Ok(mut c) = cap.lock() {
                    c.insert(u64::from(p.ts), handed - Duration::from_millis(20));
                }
                if let Ok(frames) = room.seal(&p, NOW) {
                    for fr in frames {
                        ea.broadcast(&room.room_id(), &fr.into());
                    }
                }
            }
        }
        ea
    });

    let mut room = MediaRoom::new(sb);
    let mut lat = Vec::new();
    let end = start + Duration::from_secs(args.seconds) + Duration::from_millis(500);
    let mut base = None;
    let precise_us = if args.timer_wheel { 0 } else { PRECISE_US };
    while Instant::now() < end {
        let now_us = start.elapsed().as_micros() as u64;
        match room.next_due_us() {
            // Due within the runtime timer's granularity: wait for it with
            // the OS's high-resolution sleep (the 1 ms timer wheel would
            // release it up to a millisecond late), then take what arrived.
            Some(d) if d <= now_us + precise_us => {
                let left = d.saturating_sub(now_us);
                if left > 0 {
                    std::thread::sleep(Duration::from_micros(left));
                }
                while let Ok(inc) = rb.try_recv() {
                    let t = inc.at.duration_since(start).as_micros() as u64;
                    let _ = room.on_frame(&inc.frame, t, NOW);
                }
            }
            due => {
                let wait = due
                    .map(|d| Duration::from_micros(d - now_us - precise_us))
                    .unwrap_or(Duration::from_millis(2))
                    .min(Duration::from_millis(2));
                if let Ok(Some(inc)) = tokio::time::timeout(wait, rb.recv()).await {
                    let t = inc.at.duration_since(start).as_micros() as u64;
                    let _ = room.on_frame(&inc.frame, t, NOW);
                }
            }
        }
        let now_us = start.elapsed().as_micros() as u64;
        for (_, slot) in room.poll(now_us) {
            let released = Instant::now();
            let b = *base.get_or_insert(slot.ts & !0xffff_ffff);
            if slot.kind == SlotKind::Decoded {
                if let Some(c) = captured
                    .lock()
                    .ok()
                    .and_then(|c| c.get(&(slot.ts - b)).copied())
                {
                    lat.push(released.duration_since(c).as_secs_f64() * 1_000.0 + lookahead_ms);
                }
            }
        }
    }
    let _ = talker.await;
    let rq = room
        .reports()
        .into_iter()
        .next()
        .map(|(_, q)| q)
        .unwrap_or_default();
    let wall = start.elapsed().as_secs_f64();
    let cpu_pct = (super::process_cpu_s() - cpu0) / wall * 100.0;
    lat.sort_by(|x, y| x.total_cmp(y));
    anyhow::ensure!(!lat.is_empty(), "no frame was played");
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    let (p50, p99) = (q(0.5), q(0.99));
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "suite": "voice-latency",
                "p50_ms": (p50 * 100.0).round() / 100.0,
                "p99_ms": (p99 * 100.0).round() / 100.0,
                "cpu_pct_per_stream": (cpu_pct * 100.0).round() / 100.0,
                "frames": lat.len(),
                "playout_delay_ms": (rq.playout_delay_ms * 100.0).round() / 100.0,
                "jitter_ms": (rq.jitter_ms * 100.0).round() / 100.0,
                "concealed": rq.concealed,
                "late": rq.late,
            })
        );
    } else {
        println!("voice-latency: {} frames, capture-to-playout p50 {p50:.1} ms, p99 {p99:.1} ms, CPU {cpu_pct:.2}% per stream; jitter buffer {:.1} ms above the path, jitter {:.2} ms, {} concealed, {} late", lat.len(), rq.playout_delay_ms, rq.jitter_ms, rq.concealed, rq.late);
    }
    Ok(())
}
