//! The Aura demo: a local mesh of 4 nodes on loopback. Alice creates a group,
//! the others join by invite, everyone walks a built-in route towards the hut
//! while sharing location; the terminal shows members, distances, geofence and
//! proximity events live. Then Dave is removed and the demo shows he can no
//! longer read anything. Alice also talks over the voice plane: the others
//! write what they hear to WAV files (`$AURA_DEMO_OUT`, else the temp dir's
//! `aura-demo/`), and after his removal dave decodes none of her voice.
//! Before that, alice buys coins from the embedded billing ledger and gifts
//! bob a heart; every member shows the receipt it checked offline. Last, a
//! voice room through a local relay: a host, two seated speakers and fifty
//! listeners, showing who is speaking and each listener's quality.
//! Every member names itself in a signed profile (shared end-to-end
//! encrypted inside the group): the terminal shows names, not ids.
//! Finishes by itself and exits 0.
use std::{collections::HashMap, time::Duration};

use anyhow::Context;

use aura_crypto::MemberId;
use aura_examples::demo::{base, gift, route, start_group_with, LedgerAt};
use aura_node::{
    location::{Geofence, Precision, Shape},
    Event, EventStream,
};

const NAMES: [&str; 4] = ["alice", "bob", "carol", "dave"];
/// The display names the members give themselves, and their status lines.
const PROFILES: [(&str, &str); 4] = [
    ("Alice", "leading the way"),
    ("Bob", "bringing the stove"),
    ("Carol", "photos"),
    ("Dave", "late again"),
];
const STEPS: usize = 40;

fn drain(rx: &mut EventStream) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(e) = rx.try_next() {
        out.push(e);
    }
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    println!("== Aura demo: 4 nodes on loopback, one group, end-to-end encrypted ==");
    let ledger = gift::start_ledger().await?;
    let (nodes, gid, invite) = start_group_with(
        4,
        "hikers",
        100,
        Some(LedgerAt {
            url: &ledger.url,
            key: &ledger.service_key,
        }),
    )
    .await?;
    let names: HashMap<MemberId, &str> = nodes
        .iter()
        .zip(NAMES)
        .map(|(n, name)| (n.node.member_id(), name))
        .collect();
    let name = |m: &MemberId| names.get(m).copied().unwrap_or("?");
    println!(
        "alice created group \"hikers\"; invite ({} chars): {}…",
        invite.len(),
        &invite[..48.min(invite.len())]
    );
    println!("bob, carol and dave joined by invite over the network");
    for (n, (display, status)) in nodes.iter().zip(PROFILES) {
        n.node.set_profile(display, Some(status), None).await?;
    }
    let labels = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let labels = nodes[0].node.member_labels(gid).await?;
            if labels
                .iter()
                .all(|(m, l)| names.get(m).is_some_and(|n| n.eq_ignore_ascii_case(l)))
            {
                return anyhow::Ok(labels);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .context("profiles did not reach alice")??;
    let shown: Vec<String> = labels.iter().map(|(_, l)| l.clone()).collect();
    println!(
        "each member signed a profile; alice's device shows {}",
        shown.join(", ")
    );
    let labels: HashMap<MemberId, String> = labels.into_iter().collect();
    let label = |m: &MemberId| labels.get(m).cloned().unwrap_or_else(|| name(m).to_owned());
    let mut rx: Vec<EventStream> = nodes.iter().map(|n| n.node.events()).collect();
    let alice = &nodes[0].node;
    alice
        .add_geofence(
            gid,
            Geofence {
                name: "hut".into(),
                shape: Shape::Circle {
                    center: base(),
                    radius_m: 150.0,
                },
            },
        )
        .await?;
    nodes[1]
        .node
        .set_precision(gid, Precision::Approx100m)
        .await?;
    for n in &nodes {
        n.node.share_location(gid, true).await?;
    }
    println!("geofence \"hut\" (150 m circle); bob shares at ~100 m precision, others exact\n");

    for step in 0..=STEPS {
        for (i, n) in nodes.iter().enumerate() {
            n.node
                .update_position(route(i, step as f64, STEPS as f64))
                .await?;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        // Alice's device shows what happens; the others' queues are drained.
        for e in drain(&mut rx[0]) {
            match e {
                Event::Geofence { label, fence, entered, .. } => println!(
                    "  [geofence] {label} {} \"{fence}\"",
                    if entered { "entered" } else { "left" }
                ),
                Event::Proximity { label, near: true, distance_m, uncertainty_m, .. } => println!(
                    "  [proximity] {label} is within 200 m of Alice ({distance_m:.0} m ± {uncertainty_m:.0} m)"
                ),
                _ => {}
            }
        }
        for r in rx.iter_mut().skip(1) {
            drain(r);
        }
        if step % 10 == 0 {
            let me = route(0, step as f64, STEPS as f64);
            let mut line = format!("t={:>4.1}s members seen by alice:", step as f64 * 0.25);
            for (m, fix) in alice.last_positions(gid).await? {
                line += &format!(" {}={:.0}m", label(&m), me.distance_m(&fix.pos));
            }
            println!("{line}");
        }
    }

    println!("\nvoice: alice talks, the others play what they hear to WAV files");
    let mut voice = aura_examples::demo::voice::talk(&nodes, gid, 4.0).await?;
    voice
        .report(&NAMES, &aura_examples::demo::voice::out_dir())
        .await?;

    println!(
        "\ngifts: the billing ledger runs embedded (SQLite, {}); members pin its key",
        ledger.url
    );
    let shown = gift::gift_round(&ledger, &nodes, gid, label).await?;
    anyhow::ensure!(shown == 3, "the gift receipt reached {shown} of 3 members");

    println!("\nalice removes dave; every remaining member rotates its sender key");
    let dave = nodes[3].node.member_id();
    alice.remove_member(gid, dave).await?;
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if drain(&mut rx[3])
                .iter()
                .any(|e| matches!(e, Event::RemovedFromGroup { .. }))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drain(&mut rx[1]);
    let before = nodes[3].node.stats().await?.frames_unreadable;
    for step in 0..12 {
        for (i, n) in nodes.iter().enumerate().take(3) {
            n.node
                .update_position(
                    route(i, STEPS as f64 + 2.0 * step as f64, STEPS as f64)
                        .offset_m(30.0 * step as f64, 0.0),
                )
                .await?;
        }
        alice
            .send_chat(gid, &format!("regroup at the hut ({step})"))
            .await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bob_read = drain(&mut rx[1])
        .iter()
        .filter(|e| matches!(e, Event::Location { .. } | Event::Chat { .. }))
        .count();
    let dave_read = drain(&mut rx[3])
        .iter()
        .filter(|e| matches!(e, Event::Location { .. } | Event::Chat { .. }))
        .count();
    let unreadable = nodes[3].node.stats().await?.frames_unreadable - before;
    println!("after removal: bob read {bob_read} updates; dave received {unreadable} frames and could read {dave_read}");
    let members: Vec<String> = alice
        .member_labels(gid)
        .await?
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    println!("members now: {}", members.join(", "));
    let dave_decoded = voice.after_removal(&NAMES, 3).await?;
    voice.finish().await;
    anyhow::ensure!(
        dave_decoded == 0,
        "dave decoded {dave_decoded} voice frames after removal"
    );
    for n in &nodes {
        n.node.shutdown().await;
    }
    if dave_read > 0 || bob_read == 0 {
        anyhow::bail!("removal check failed: dave read {dave_read}, bob read {bob_read}");
    }
    aura_examples::demo::room::run(50).await?;
    println!("== demo finished ==");
    Ok(())
}
