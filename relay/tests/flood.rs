//! A flood on the relay from one address (thousands of QUIC connection
//! attempts, junk datagrams) while a call goes through it from another:
//! the relay refuses by its per-IP limit, stays well within its memory
//! bound, and the call loses nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use aura_crypto::{FrameKind, Identity};
use aura_media::tls;
use rand::rngs::OsRng;
use rand::RngCore;
use support::*;

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1 << 20) as f64
}

/// `n` QUIC handshakes from 127.0.0.2, each with its own identity, 64 at
/// a time; returns how many were accepted (and keeps those open).
async fn connection_flood(target: std::net::SocketAddr, n: usize) -> usize {
    let ep = quinn::Endpoint::client("127.0.0.2:0".parse().unwrap()).unwrap();
    let config = || {
        let id = Identity::generate(&mut OsRng);
        let crypto = tls::client_crypto(&id, None).unwrap();
        quinn::ClientConfig::new(Arc::new(crypto))
    };
    let mut accepted = 0;
    let mut held = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
        let tries: Vec<_> = chunk
            .iter()
            .map(|_| ep.connect_with(config(), target, "aura-media").unwrap())
            .collect();
        for t in tries {
            if let Ok(Ok(c)) = tokio::time::timeout(Duration::from_secs(5), t).await {
                accepted += 1;
                held.push(c);
            }
        }
    }
    accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_from_one_address_is_refused_and_a_call_loses_nothing() {
    let mut cfg = loopback_config();
    cfg.limits.connections_per_ip = 4;
    let (relay, relay_id) = relay(cfg).await;
    let mut sessions = group(2);
    let room = sessions[0].group_id().room();
    let members: Vec<_> = sessions.iter().map(|s| s.member_id()).collect();
    let a = Member::join(
        sessions[0].identity(),
        room,
        members.clone(),
        &relay,
        relay_id.member_id(),
    )
    .await;
    let mut b = Member::join(
        sessions[1].identity(),
        room,
        members.clone(),
        &relay,
        relay_id.member_id(),
    )
    .await;
    joined(&relay, 2).await;
    let rss0 = rss_mib();
    let target = relay.media_addr();

    // The flood, from another address.
    let flood = tokio::spawn(async move {
        let junk = tokio::net::UdpSocket::bind("127.0.0.2:0").await.unwrap();
        let mut buf = [0u8; 1200];
        for _ in 0..20_000 {
            OsRng.fill_bytes(&mut buf[..64]);
            let _ = junk.send_to(&buf, target).await;
        }
        connection_flood(target, 2_000).await
    });
    // The call: a frame every 20 ms for as long as the flood lasts (at least 2 s).
    let mut sent = 0u32;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while sent < 100 || !flood.is_finished() {
        tick.tick().await;
        let f = sessions[0]
            .seal(FrameKind::Chat, &sent.to_be_bytes(), NOW)
            .unwrap();
        a.send(f);
        sent += 1;
    }
    let accepted = flood.await.unwrap();
    let mut got = 0u32;
    while got < sent {
        let inc = within(10, b.rx.recv()).await.unwrap();
        sessions[1].open(&inc.frame, NOW).unwrap();
        got += 1;
    }
    let refused = relay.metrics().refusals_for("media", "connections_per_ip");
    let rss1 = rss_mib();
    eprintln!(
        "flood: 20000 junk datagrams, 2000 handshakes from one address: {accepted} accepted, \
         {refused} refused; call: {got}/{sent} frames; process RSS {rss0:.0} -> {rss1:.0} MiB"
    );
    assert_eq!(accepted, 4);
    assert_eq!(refused, 1_996);
    assert_eq!(got, sent);
    assert!(rss1 < 512.0, "above the default memory bound");
    relay.shutdown().await;
}
