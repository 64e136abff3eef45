//! `bench room` with one relay and datagram joins (`--relays 1`, the
//! default): seated speakers send leveled voice frames (the audio level
//! outside the encryption) every 20 ms; the relay forwards the loudest few
//! (its `loudest_speakers`, 3) to every listener, who are light clients
//! speaking the media protocol (one `aura-media` endpoint each, no whole
//! node), joined by a datagram `join` (no room control plane). Delay is
//! one-way, send to receive, so it includes both ends' stacks: an upper
//! bound of what the relay adds. The relay runs on its own thread, so its
//! CPU is one thread's.

use std::time::{Duration, Instant};

use aura_crypto::{Identity, MemberId};
use aura_media::level::with_level;
use aura_media::{MediaEndpoint, RelayControl};
use bytes::Bytes;
use rand::rngs::OsRng;

use super::{Args, KeyCost};
use crate::bench::relay::{
    collect, frame, pct_ms, relayed_endpoint, spawn_receiver, spawn_relay, Inbox, RelayFigures,
};

type Listener = (MediaEndpoint, Inbox);

/// Runs the one-relay room and prints its figures.
pub(super) async fn run(args: Args, keys: KeyCost) -> anyhow::Result<()> {
    let relay = spawn_relay(args.listeners + args.speakers + 8, None)?;
    let rid = relay.id.member_id();
    let base = Instant::now();
    let window = Duration::from_secs(args.seconds);
    let room: [u8; 8] = [0x52; 8];
    let speakers: Vec<Identity> = (0..args.speakers)
        .map(|_| Identity::generate(&mut OsRng))
        .collect();
    let seated: Vec<MemberId> = speakers.iter().map(Identity::member_id).collect();
    let join = |id: &Identity| -> anyhow::Result<Listener> {
        let members = seated.iter().copied().chain([id.member_id()]);
        relayed_endpoint(id, room, members, rid)
    };
    let mut talkers = Vec::new();
    for id in &speakers {
        let (ep, rx) = join(id)?;
        ep.connect(rid, relay.media).await?;
        ep.send(&rid, Bytes::from(RelayControl::Join(room).to_vec()))?;
        talkers.push((ep, id.clone(), rx));
    }
    let t_join = Instant::now();
    let mut listeners = Vec::new();
    for _ in 0..args.listeners {
        let (ep, rx) = join(&Identity::generate(&mut OsRng))?;
        ep.connect(rid, relay.media).await?;
        ep.send(&rid, Bytes::from(RelayControl::Join(room).to_vec()))?;
        listeners.push((ep, rx));
    }
    let join_s = t_join.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = relay.start.send(());
    let cpu0 = crate::bench::process_cpu_s();
    let rcvbuf0 = crate::bench::udp_rcvbuf_errors();
    let socket0 = crate::bench::udp_socket_drops(relay.media.port());
    let t0 = Instant::now();
    let mut send_tasks = Vec::new();
    for (i, (ep, id, rx)) in talkers.into_iter().enumerate() {
        let len = args.frame_bytes;
        // Speaker 0 loudest; all well above silence.
        let level = 10 + 5 * i as u8;
        send_tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let (mut sent, mut counter) = (0u64, 0u32);
            let end = Instant::now() + window;
            while Instant::now() < end {
                tick.tick().await;
                counter += 1;
                let f = frame(room, &id, counter, len, base);
                if ep.send(&rid, Bytes::from(with_level(level, &f))).is_ok() {
                    sent += 1;
                }
            }
            (sent, ep, rx)
        }));
    }
    let end = Instant::now() + window + Duration::from_millis(500);
    let recv_tasks: Vec<_> = listeners
        .into_iter()
        .map(|(ep, rx)| spawn_receiver(ep, rx, base, end))
        .collect();
    let (sent, keep, delays) = collect(send_tasks, recv_tasks).await?;
    let elapsed = t0.elapsed().as_secs_f64();
    let socket_drops = crate::bench::udp_socket_drops(relay.media.port()).saturating_sub(socket0);
    let _ = relay.stop.send(());
    let RelayFigures {
        cpu_s: relay_cpu,
        forwarded,
        drops,
        ..
    } = relay.done.await?;
    let proc_cpu = crate::bench::process_cpu_s() - cpu0;
    let pct = |p: f64| pct_ms(&delays, p);
    // The relay sends each chosen frame to every other member (the
    // listeners and the other speakers): what the listeners should get.
    let fanout = (args.listeners + args.speakers).saturating_sub(1).max(1) as u64;
    let expected = forwarded / fanout * args.listeners as u64;
    let received = delays.len() as u64;
    let loss = 1.0 - received as f64 / expected.max(1) as f64;
    let pps = forwarded as f64 / window.as_secs_f64();
    let per_core = forwarded as f64 / relay_cpu.max(1e-9);
    let out = serde_json::json!({
        "suite": "room",
        "listeners": args.listeners,
        "speakers": args.speakers,
        "seconds": args.seconds,
        "frame_bytes": args.frame_bytes,
        "join_s": join_s,
        "sent": sent,
        "forwarded": forwarded,
        "expected": expected,
        "received": received,
        "loss": loss,
        "relay_drops": drops,
        "forwarded_per_s": pps,
        "relay_cpu_s": relay_cpu,
        "relay_cpu_share": relay_cpu / elapsed,
        "forwarded_per_cpu_s": per_core,
        "process_cpu_s": proc_cpu,
        "delay_ms_p50": pct(0.5),
        "delay_ms_p99": pct(0.99),
        "delay_ms_max": pct(1.0),
        "load_average": super::report::load_average(),
        "udp_rcvbuf_errors": crate::bench::udp_rcvbuf_errors().saturating_sub(rcvbuf0),
        "relay_socket_drops": socket_drops,
        "frames_fanned_out_of_sent": (forwarded / fanout) as f64 / sent.max(1) as f64,
        "key_host_us_per_join": keys.host_per_join_us,
        "key_listener_ready_us": keys.listener_ready_us,
        "key_bytes_per_join": keys.bytes_per_join,
    });
    if args.json {
        println!("{out}");
    } else {
        println!(
            "room: {} listeners, {} speakers (loudest 3 forwarded), {} B frames, {} s; {} listeners joined in {join_s:.1} s\n\
             speakers sent {sent} frames ({:.1} a second each, 50 asked)\n\
             forwarded {forwarded} ({pps:.0}/s), received {received} of {expected} expected (loss {:.3} %), relay drops {drops}\n\
             relay thread CPU {relay_cpu:.2} s ({:.0} % of one core): {per_core:.0} forwarded per CPU-second\n\
             one-way delay through the relay: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n\
             keys per joiner: host {:.0} us, listener ready in {:.0} us of CPU, {} bytes\n\
             load average {}",
            args.listeners,
            args.speakers,
            args.frame_bytes,
            args.seconds,
            args.listeners,
            sent as f64 / args.speakers.max(1) as f64 / elapsed,
            loss * 100.0,
            relay_cpu / elapsed * 100.0,
            pct(0.5),
            pct(0.99),
            pct(1.0),
            keys.host_per_join_us,
            keys.listener_ready_us,
            keys.bytes_per_join,
            out["load_average"],
        );
    }
    drop(keep);
    Ok(())
}
