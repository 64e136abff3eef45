//! A flood on a relay in the NAT lab (root only; skipped, saying so,
//! elsewhere) while a call goes through it: members A and B behind
//! symmetric NATs talk through the relay's media forwarder; an attacker on
//! the WAN (`x`, one address) opens thousands of libp2p TCP connections
//! and QUIC media handshakes (each its own identity) and sends junk
//! datagrams at the media port (5,000 a second). The relay refuses by its per-IP limits
//! (counted by reason), stays within its memory bound, and the call loses
//! no frame.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::lab;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_crypto::Identity;
use aura_media::tls;
use lab::nodes::{pair, runtime, Relay, Relays};
use lab::{spawn_in, Lab, Nat};
use rand::rngs::OsRng;
use rand::RngCore;

/// Junk datagrams, QUIC media handshakes and libp2p TCP connections.
const JUNK: usize = 10_000;
const HANDSHAKES: usize = 2_000;
const TCP: usize = 2_000;
/// Junk datagrams a second.
const JUNK_PER_S: f64 = 5_000.0;

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / f64::from(1 << 20)
}

/// The attacker's flood; returns how many handshakes were accepted.
async fn flood(media: SocketAddr, libp2p: SocketAddr) -> usize {
    // libp2p: TCP connections held open without a handshake.
    let mut held = Vec::new();
    for _ in 0..TCP {
        if let Ok(Ok(mut c)) = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(libp2p),
        )
        .await
        {
            use tokio::io::AsyncWriteExt;
            let _ = c.write_all(b"junk").await;
            held.push(c);
        }
    }
    // Junk at JUNK_PER_S (bursts of 100): what the relay drains; faster,
    // the kernel drops datagrams at its full socket buffer before the
    // relay can tell junk from frames (see BENCHMARKS.md).
    let junk = tokio::net::UdpSocket::bind("0.0.0.0:0").await.unwrap();
    let mut buf = [0u8; 1200];
    let mut tick = tokio::time::interval(Duration::from_secs_f64(100.0 / JUNK_PER_S));
    for _ in 0..JUNK / 100 {
        tick.tick().await;
        for _ in 0..100 {
            OsRng.fill_bytes(&mut buf[..64]);
            let _ = junk.send_to(&buf, media).await;
        }
    }
    let ep = quinn::Endpoint::client("0.0.0.0:0".parse().unwrap()).unwrap();
    let config = || {
        let id = Identity::generate(&mut OsRng);
        quinn::ClientConfig::new(Arc::new(tls::client_crypto(&id, None).unwrap()))
    };
    let mut accepted = Vec::new();
    for chunk in (0..HANDSHAKES).collect::<Vec<_>>().chunks(64) {
        let tries: Vec<_> = chunk
            .iter()
            .map(|_| ep.connect_with(config(), media, "aura-media").unwrap())
            .collect();
        for t in tries {
            if let Ok(Ok(c)) = tokio::time::timeout(Duration::from_secs(5), t).await {
                accepted.push(c);
            }
        }
    }
    accepted.len()
}

#[test]
fn flood_on_the_relay_is_refused_by_its_limits_and_the_call_through_it_loses_nothing() {
    let Some(lab) = Lab::new(Nat::Symmetric, "x") else {
        return;
    };
    let started = Instant::now();
    let attacker = lab.add_attacker();
    let relay = Relay::start(&lab, 31);
    let mut p = pair(
        &lab,
        |i| Relays(vec![relay.quic_addr(i)], vec![relay.id.clone()]),
        1,
    );
    let rt = runtime();
    rt.block_on(p.wait_voice(30, |v| !v.relays.is_empty() && v.heard.len() >= 25));
    let before = p.voice_now();
    let rss0 = rss_mib();
    let (media, tcp) = (
        format!("100.64.3.1:{}", relay.media).parse().unwrap(),
        format!("100.64.3.1:{}", relay.tcp).parse().unwrap(),
    );
    let rcvbuf = |ns: &str| -> u64 {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", ns, "cat", "/proc/net/snmp"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
        let (names, values) = (udp.next().unwrap_or(""), udp.next().unwrap_or(""));
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == "RcvbufErrors")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    };
    let rcv0 = rcvbuf(&lab.ns("wan"));
    let flood_at = Instant::now();
    let accepted = spawn_in(attacker, move || flood(media, tcp))
        .join()
        .unwrap();
    let flood_s = flood_at.elapsed().as_secs_f64();
    // The frames sent during the flood arrive (the jitter buffer's delay).
    std::thread::sleep(Duration::from_millis(500));
    let after = p.voice_now();
    let rcv_dropped = rcvbuf(&lab.ns("wan")) - rcv0;
    eprintln!("relay namespace: {rcv_dropped} datagrams dropped by a full socket buffer");
    let rss1 = rss_mib();
    let m = relay.metrics.clone();
    let refused_media = m.refusals_for("media", "connections_per_ip");
    let refused_libp2p = m.refusals_for("libp2p", "connections_per_ip");
    let refused_memory = m.refusals_for("media", "memory") + m.refusals_for("libp2p", "memory");
    let (a, b) = p.finish();
    let forwarded = relay.kill();
    let per_ip = aura_relay::config::Config::default()
        .limits
        .connections_per_ip as usize;
    eprintln!(
        "flood ({flood_s:.1} s): {TCP} libp2p TCP connections, {JUNK} junk datagrams and \
         {HANDSHAKES} media handshakes from one address: {accepted} handshakes accepted, \
         refused for connections_per_ip: media {refused_media}, libp2p {refused_libp2p}; \
         memory refusals {refused_memory}; test process RSS {rss0:.0} -> {rss1:.0} MiB; \
         call through the relay during the flood: A received {} lost {}, B received {} lost {}; \
         relay forwarded {forwarded}; wall {:.1} s",
        after[0].received - before[0].received,
        after[0].lost - before[0].lost,
        after[1].received - before[1].received,
        after[1].lost - before[1].lost,
        started.elapsed().as_secs_f64()
    );
    assert!(accepted <= per_ip, "{accepted} media handshakes accepted");
    assert!(
        refused_media >= (HANDSHAKES - per_ip) as u64,
        "media refusals {refused_media}"
    );
    assert!(
        refused_libp2p >= (TCP - per_ip) as u64,
        "libp2p refusals {refused_libp2p}"
    );
    assert!(rss1 < 512.0, "above the relay's default memory bound");
    for i in 0..2 {
        let frames = after[i].received - before[i].received;
        // Progress is sampled every half second: the window is approximate.
        assert!(
            frames as f64 >= flood_s * 50.0 * 0.5,
            "member {i} received {frames} frames in {flood_s:.1} s"
        );
        assert_eq!(after[i].lost, before[i].lost, "member {i} lost frames");
    }
    assert!(a.voice.stats.via_relay > 0 && b.voice.stats.via_relay > 0);
}
