//! The demo's room part: a voice room through a local relay. A host, two
//! seated speakers and fifty listeners (all real nodes); the speakers take
//! turns, then talk together; the terminal shows who is speaking as a
//! listener hears it, and at the end each listener's quality (the share of
//! each speaker's frames it played).

use std::time::Duration;

use anyhow::Context;
use aura_crypto::{Identity, MemberId};
use aura_node::rooms::{RoomEvent, RoomHandle, RoomSpec};
use aura_relay::server::Server;

use super::{start_node, MeshNode};

/// One 20 ms frame of a tone.
fn tone(freq: f32, amp: f32, frame: u64) -> Vec<i16> {
    (0..960)
        .map(|i| {
            let t = (frame * 960 + i) as f32 / 48_000.0;
            (amp * (t * freq * std::f32::consts::TAU).sin()) as i16
        })
        .collect()
}

async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(30), async {
        while !ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .with_context(|| format!("timed out waiting for {what}"))
}

/// Runs the room part with `listeners` listeners.
pub async fn run(listeners: usize) -> anyhow::Result<()> {
    println!(
        "== room: a host, two seated speakers and {listeners} listeners through a local relay =="
    );
    let mut cfg = aura_relay::config::Config::default();
    cfg.listen.libp2p = vec!["/ip4/127.0.0.1/tcp/0".into()];
    cfg.listen.media = "127.0.0.1:0".parse()?;
    cfg.listen.metrics = None;
    // Every member connects from 127.0.0.1 here.
    cfg.limits.connections_per_ip = 256;
    let relay_key = Identity::generate(&mut rand::rngs::OsRng);
    let relay_id = relay_key.member_id();
    let relay = Server::spawn(relay_key, cfg).await?;
    let addr = relay.media_addr();
    let host_node = start_node(100).await?;
    let host = host_node
        .node
        .create_room(relay_id, addr, RoomSpec::ticket("friday stage"))
        .await?;
    wait_for("the room", || host.state().is_some()).await?;
    let ticket = host.ticket(3_600_000)?;
    println!(
        "host created room {}; ticket {}…",
        host.room(),
        &ticket[..40.min(ticket.len())]
    );
    let mut nodes: Vec<MeshNode> = Vec::new();
    let mut rooms: Vec<RoomHandle> = Vec::new();
    for _ in 0..listeners + 2 {
        let n = start_node(100).await?;
        rooms.push(n.node.join_room(&ticket, relay_id, addr).await?);
        nodes.push(n);
    }
    let total = listeners + 3;
    wait_for("every join", || {
        host.state().is_some_and(|s| s.member_count() == total)
    })
    .await?;
    println!(
        "{} members joined by ticket; the host sealed the room key to each",
        total - 1
    );
    let names = ["ana", "ben"];
    for (i, n) in nodes.iter().take(2).enumerate() {
        host.invite(n.node.member_id(), i as u8).await?;
    }
    wait_for("the invitations", || {
        rooms[..2].iter().all(|r| {
            r.state()
                .is_some_and(|s| s.seats().iter().filter(|x| x.invited.is_some()).count() == 2)
        })
    })
    .await?;
    for (i, r) in rooms.iter().take(2).enumerate() {
        r.seat(i as u8).await?;
    }
    wait_for("both seats in every view", || {
        rooms.iter().all(|r| {
            r.state()
                .is_some_and(|s| s.seats().iter().filter(|x| x.occupant.is_some()).count() == 2)
        })
    })
    .await?;
    println!("ana and ben took seats 0 and 1 (invited by the host)");
    let speakers: Vec<MemberId> = nodes.iter().take(2).map(|n| n.node.member_id()).collect();
    let name = |m: &MemberId| {
        speakers
            .iter()
            .position(|s| s == m)
            .map_or("?", |i| names[i])
    };
    let mut events = rooms[2]
        .take_events()
        .context("the first listener's events")?;
    // Ana alone, then Ben alone, then both: 1 s each.
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut sent = [0u64; 2];
    for f in 0..150u64 {
        tick.tick().await;
        let phase = f / 50;
        for (i, r) in rooms.iter().take(2).enumerate() {
            if phase == 2 || phase == i as u64 {
                r.capture(tone(220.0 * (i as f32 + 1.0), 9_000.0, f))?;
                sent[i] += 1;
            }
        }
        while let Ok(e) = events.try_recv() {
            if let RoomEvent::Speaking(who) = e {
                let who: Vec<&str> = who.iter().map(&name).collect();
                let who = if who.is_empty() {
                    "nobody".to_string()
                } else {
                    who.join(" and ")
                };
                println!("  [{:>4} ms] a listener hears: {who}", f * 20);
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    println!(
        "listener quality (frames played of each speaker's {} / {} sent):",
        sent[0], sent[1]
    );
    let mut worst = 1.0f64;
    let mut line = String::new();
    for (i, r) in rooms.iter().enumerate().skip(2) {
        let heard = r.heard();
        let q: Vec<f64> = speakers
            .iter()
            .zip(sent)
            .map(|(s, n)| heard.get(s).copied().unwrap_or(0) as f64 / n.max(1) as f64)
            .collect();
        worst = q.iter().copied().fold(worst, f64::min);
        line.push_str(&format!(
            "  L{:02} {:>3.0}%/{:>3.0}%",
            i - 1,
            q[0] * 100.0,
            q[1] * 100.0
        ));
        if (i - 1) % 5 == 0 {
            println!("{line}");
            line.clear();
        }
    }
    if !line.is_empty() {
        println!("{line}");
    }
    let m = relay.metrics();
    println!(
        "relay forwarded {} packets; it holds no key (envelopes and speaker keys passed through sealed)",
        m.forwarded_packets.get()
    );
    drop(rooms);
    drop(host);
    for n in nodes.iter().chain(std::iter::once(&host_node)) {
        n.node.shutdown().await;
    }
    relay.shutdown().await;
    anyhow::ensure!(
        worst > 0.5,
        "a listener played only {:.0}% of a speaker",
        worst * 100.0
    );
    Ok(())
}
