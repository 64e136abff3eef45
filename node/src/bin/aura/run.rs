//! `aura run`: keep the node online, serve the control socket (and with
//! `--web` the node's web page), print events.

use std::{collections::HashMap, io::Write, net::SocketAddr, path::Path, time::Duration};

use anyhow::{Context, Result};
use aura_crypto::GroupId;
use aura_node::{web::WebServer, Event, Node};

use crate::{control, exec::clock};

/// Runs until Ctrl-C or SIGTERM, then shuts the node down cleanly.
pub(crate) async fn run(node: Node, data_dir: &Path, web: Option<SocketAddr>) -> Result<()> {
    let mut events = node.events();
    let sock = control::serve(data_dir, node.clone())?;
    let web = match web {
        Some(addr) => Some(serve_web(&node, addr).await?),
        None => None,
    };
    let mut names: HashMap<GroupId, String> = node.groups().await?.into_iter().collect();
    let stdout = std::io::stdout();
    {
        let mut o = stdout.lock();
        writeln!(o, "aura node {} running", node.peer_id())?;
        writeln!(o, "member id {}", hex::encode(node.member_id().0))?;
        // Listeners come up asynchronously; give them a moment.
        for _ in 0..50 {
            if !node.listen_addrs().await?.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for a in node.listen_addrs().await? {
            writeln!(o, "listening on {a}")?;
        }
        for (g, n) in &names {
            writeln!(o, "in group {n} ({g})")?;
        }
        writeln!(
            o,
            "control socket {} (other aura commands use it)",
            sock.display()
        )?;
        if let Some(w) = &web {
            writeln!(
                o,
                "web page {} (the token in it is the key: share it with no one)",
                w.url()
            )?;
        }
        writeln!(o, "ready; Ctrl-C stops")?;
        o.flush()?;
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            ev = events.next() => match ev {
                Some(Event::Missed { count }) => println!("({count} events skipped: output too slow)"),
                Some(e) => {
                    if let Event::Joined { group, name } = &e {
                        names.insert(*group, name.clone());
                    }
                    if let Some(line) = describe(&e, &names) {
                        let mut o = stdout.lock();
                        writeln!(o, "{line}")?;
                        o.flush()?;
                    }
                }
                None => break,
            },
        }
    }
    println!("stopping");
    if let Some(w) = web {
        w.shutdown().await;
    }
    node.shutdown().await;
    let _ = std::fs::remove_file(&sock);
    Ok(())
}

/// Binds `addr` and serves the web page there.
async fn serve_web(node: &Node, addr: SocketAddr) -> Result<WebServer> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} for the web page; pick another with --web ADDR")
    })?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: the web page listens on {addr}, beyond this machine; \
             anyone holding its URL controls this node"
        );
    }
    Ok(WebServer::start(node.clone(), listener)?)
}

fn describe(e: &Event, names: &HashMap<GroupId, String>) -> Option<String> {
    let g = |id: &GroupId| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let now = clock(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    );
    let text = match e {
        Event::Joined { group, name } => format!("[{name}] you are in group {name} ({group})"),
        Event::MemberJoined { group, label, .. } => format!("[{}] {label} joined", g(group)),
        Event::MemberLeft { group, label, .. } => {
            format!("[{}] {label} left or was removed", g(group))
        }
        Event::Profile {
            group,
            member,
            label,
            profile,
        } => format!(
            "[{}] {member} is now {label}{}",
            g(group),
            profile
                .status
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default()
        ),
        Event::RemovedFromGroup { group } => {
            format!("[{}] you were removed from this group", g(group))
        }
        Event::GroupQuarantined { group, reason } => {
            format!("[{group}] could not be loaded and was set aside: {reason}")
        }
        Event::Location {
            group,
            label: member,
            fix,
            ..
        } => format!(
            "[{}] {member} at {:.6},{:.6} (±{:.0} m)",
            g(group),
            fix.pos.lat,
            fix.pos.lon,
            fix.precision.uncertainty_m()
        ),
        Event::Geofence {
            group,
            label: member,
            fence,
            entered,
            ..
        } => format!(
            "[{}] {member} {} {fence}",
            g(group),
            if *entered { "entered" } else { "left" }
        ),
        Event::Proximity {
            group,
            label: member,
            near,
            distance_m,
            uncertainty_m,
            ..
        } => format!(
            "[{}] {member} is {} ({distance_m:.0} m ±{uncertainty_m:.0} m)",
            g(group),
            if *near { "near you" } else { "no longer near" }
        ),
        Event::Chat {
            group,
            label: from,
            text,
            at_ms,
            ..
        } => {
            format!("[{}] {} {from}: {text}", g(group), clock(*at_ms))
        }
        Event::Gift {
            group,
            label: from,
            receipt,
            ..
        } => format!(
            "[{}] {from} sent {} to {} ({} coins, {} diamonds)",
            g(group),
            receipt.gift,
            receipt.receiver.get(..8).unwrap_or(&receipt.receiver),
            receipt.coins,
            receipt.diamonds
        ),
        Event::KeysReceived {
            group,
            sender,
            epoch,
        } => {
            format!("[{}] keys of {sender} (epoch {epoch})", g(group))
        }
        Event::VoiceNotAuthentic {
            group,
            sender,
            counter,
            forged,
        } => format!(
            "[{}] voice claiming to be {sender} (frame {counter}) was {}",
            g(group),
            if *forged { "FORGED" } else { "not verified" }
        ),
        Event::PeerConnected { peer, relayed } => format!(
            "peer {peer} connected{}",
            if *relayed { " via relay" } else { "" }
        ),
        Event::PeerDisconnected { peer } => format!("peer {peer} disconnected"),
        Event::GossipRejected { peer, reason } => {
            format!("rejected gossip from {peer}: {reason}")
        }
        _ => return None,
    };
    Some(format!("{now} {text}"))
}
