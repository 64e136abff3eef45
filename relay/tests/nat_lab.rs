//! NAT lab on real network namespaces and nftables (root only; skipped,
//! saying so, elsewhere). Topology:
//!
//! ```text
//!  h1 10.1.0.2 ── r1 (symmetric NAT) ── 100.64.1.0/24 ──┐
//!                                                     wan: the relay (100.64.1.1, 100.64.2.1)
//!  h2 10.2.0.2 ── r2 (symmetric NAT) ── 100.64.2.0/24 ──┘
//! ```
//!
//! Each router masquerades with a random port per connection
//! (`masquerade random`: a new mapping per destination, symmetric) and
//! drops unsolicited traffic from the WAN in its forward chain. The WAN has
//! no route to the private networks, so every reply a member gets crossed
//! its NAT.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::sync::mpsc::sync_channel;
use std::time::Duration;

use aura_crypto::{FrameKind, GroupSession, Identity, MemberId};
use aura_media::{Config as MediaConfig, Hop, MediaEndpoint, RelayControl, RoomConfig, RoomId};
use aura_relay::server::Server;
use bytes::Bytes;
use support::*;

fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn in_ns(ns: &str, args: &[&str]) -> Result<(), String> {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(args);
    sh(&v)
}

/// The namespaces of one lab; deleted on drop.
struct Lab {
    prefix: String,
}

impl Lab {
    fn ns(&self, n: &str) -> String {
        format!("{}{n}", self.prefix)
    }

    /// Builds the topology; `None` (after saying why) when the machine cannot.
    fn symmetric() -> Option<Self> {
        let root = nix::unistd::Uid::effective().is_root();
        let tools = sh(&["nft", "--version"]).is_ok() && sh(&["ip", "-V"]).is_ok();
        if !root || !tools {
            eprintln!("SKIPPED: the NAT lab needs root, ip and nft (.ci/run installs nftables)");
            return None;
        }
        let lab = Lab {
            prefix: format!("aura{}", std::process::id() % 100_000),
        };
        if let Err(e) = lab.build() {
            panic!("building the NAT lab: {e}");
        }
        Some(lab)
    }

    fn build(&self) -> Result<(), String> {
        let (wan, r1, r2, h1, h2) = (
            self.ns("wan"),
            self.ns("r1"),
            self.ns("r2"),
            self.ns("h1"),
            self.ns("h2"),
        );
        for n in [&wan, &r1, &r2, &h1, &h2] {
            sh(&["ip", "netns", "add", n])?;
            in_ns(n, &["ip", "link", "set", "lo", "up"])?;
        }
        for (i, r, h) in [(1, &r1, &h1), (2, &r2, &h2)] {
            let (w, u, l, e) = (
                format!("w{i}"),
                format!("u{i}"),
                format!("l{i}"),
                format!("e{i}"),
            );
            sh(&[
                "ip", "link", "add", &w, "netns", &wan, "type", "veth", "peer", "name", &u,
                "netns", r,
            ])?;
            sh(&[
                "ip", "link", "add", &l, "netns", r, "type", "veth", "peer", "name", &e, "netns", h,
            ])?;
            in_ns(
                &wan,
                &["ip", "addr", "add", &format!("100.64.{i}.1/24"), "dev", &w],
            )?;
            in_ns(&wan, &["ip", "link", "set", &w, "up"])?;
            in_ns(
                r,
                &["ip", "addr", "add", &format!("100.64.{i}.2/24"), "dev", &u],
            )?;
            in_ns(
                r,
                &["ip", "addr", "add", &format!("10.{i}.0.1/24"), "dev", &l],
            )?;
            in_ns(r, &["ip", "link", "set", &u, "up"])?;
            in_ns(r, &["ip", "link", "set", &l, "up"])?;
            in_ns(
                r,
                &[
                    "ip",
                    "route",
                    "add",
                    "default",
                    "via",
                    &format!("100.64.{i}.1"),
                ],
            )?;
            in_ns(r, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
            in_ns(
                h,
                &["ip", "addr", "add", &format!("10.{i}.0.2/24"), "dev", &e],
            )?;
            in_ns(h, &["ip", "link", "set", &e, "up"])?;
            in_ns(
                h,
                &[
                    "ip",
                    "route",
                    "add",
                    "default",
                    "via",
                    &format!("10.{i}.0.1"),
                ],
            )?;
            let rules = format!(
                "table ip nat {{\n chain outbound {{\n  type nat hook postrouting priority 100;\n  \
                 oifname \"{u}\" masquerade random\n }}\n}}\n\
                 table ip filter {{\n chain guard {{\n  type filter hook forward priority 0; policy accept;\n  \
                 ct state established,related accept\n  iifname \"{u}\" drop\n }}\n}}\n"
            );
            let file = std::env::temp_dir().join(format!("{}-{i}.nft", self.prefix));
            std::fs::write(&file, rules).map_err(|e| e.to_string())?;
            in_ns(r, &["nft", "-f", &file.display().to_string()])?;
            let _ = std::fs::remove_file(file);
        }
        // The WAN routes between the two routers (the internet).
        in_ns(&wan, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in ["h1", "h2", "r1", "r2", "wan"] {
            let _ = sh(&["ip", "netns", "del", &self.ns(n)]);
        }
    }
}

/// Runs `f` on a new thread inside namespace `ns`, on its own runtime:
/// every socket it opens lives in that namespace.
fn spawn_in<T: Send + 'static, F>(
    ns: String,
    f: impl FnOnce() -> F + Send + 'static,
) -> std::thread::JoinHandle<T>
where
    F: std::future::Future<Output = T>,
{
    std::thread::spawn(move || {
        let fd = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
        nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(f())
    })
}

/// A member behind its NAT: connects to the relay, joins, sends one frame,
/// and returns what it received (opened) and whether a direct dial to the
/// other member's NAT succeeded.
async fn member(
    mut session: GroupSession,
    members: Vec<MemberId>,
    relay: MemberId,
    relay_addr: std::net::SocketAddr,
    other: (MemberId, std::net::SocketAddr),
) -> (Vec<u8>, Hop, bool) {
    let room: RoomId = session.group_id().room();
    let ep = MediaEndpoint::bind(
        session.identity(),
        "0.0.0.0:4100".parse().unwrap(),
        MediaConfig::default(),
    )
    .unwrap();
    let mut rx = ep.open_room(room, members, RoomConfig::default()).unwrap();
    // No direct path: the other member's router drops what it did not ask for.
    let direct = tokio::time::timeout(Duration::from_secs(3), ep.connect(other.0, other.1))
        .await
        .is_ok_and(|r| r.is_ok());
    ep.add_relay(relay).unwrap();
    within(10, ep.connect(relay, relay_addr)).await.unwrap();
    let me = session.member_id();
    let said = format!("voice of {me}");
    // Joins are soft state: repeat join and frame until the other's frame arrives.
    let got = within(20, async {
        loop {
            ep.send(&relay, Bytes::from(RelayControl::Join(room).to_vec()))
                .unwrap();
            let f = session.seal(FrameKind::Chat, said.as_bytes(), NOW).unwrap();
            ep.send(&relay, Bytes::from(f)).unwrap();
            if let Ok(Some(inc)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await
            {
                return inc;
            }
        }
    })
    .await;
    let opened = session.open(&got.frame, NOW).unwrap();
    // Keep sending a little so the other side gets ours too.
    for _ in 0..10 {
        let f = session.seal(FrameKind::Chat, said.as_bytes(), NOW).unwrap();
        let _ = ep.send(&relay, Bytes::from(f));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (opened.payload, got.hop, direct)
}

#[test]
fn members_behind_symmetric_nats_talk_through_the_relay_only() {
    let Some(lab) = Lab::symmetric() else {
        return;
    };
    let relay_id = Identity::from_secret_bytes(&[42; 32]);
    let (addr_tx, addr_rx) = sync_channel(1);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let rid = relay_id.clone();
    let relay = spawn_in(lab.ns("wan"), move || async move {
        let mut cfg = loopback_config();
        cfg.listen.libp2p = vec!["/ip4/0.0.0.0/tcp/0".into()];
        cfg.listen.media = "0.0.0.0:0".parse().unwrap();
        cfg.listen.metrics = None;
        let server = Server::spawn(rid, cfg).await.unwrap();
        addr_tx.send(server.media_addr().port()).unwrap();
        let _ = stop_rx.await;
        let forwarded = server.metrics().forwarded_packets.get();
        server.shutdown().await;
        forwarded
    });
    let port = addr_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let relay_addr: std::net::SocketAddr = format!("100.64.1.1:{port}").parse().unwrap();
    let sessions = group(2);
    let members: Vec<MemberId> = sessions.iter().map(|s| s.member_id()).collect();
    let mut it = sessions.into_iter();
    let (s1, s2) = (it.next().unwrap(), it.next().unwrap());
    let (m, rid) = (members.clone(), relay_id.member_id());
    let h2_public = (members[1], "100.64.2.2:4100".parse().unwrap());
    let a = spawn_in(lab.ns("h1"), move || {
        member(s1, m, rid, relay_addr, h2_public)
    });
    let m = members.clone();
    let h1_public = (members[0], "100.64.1.2:4100".parse().unwrap());
    let b = spawn_in(lab.ns("h2"), move || {
        member(s2, m, rid, relay_addr, h1_public)
    });
    let (got_a, hop_a, direct_a) = a.join().unwrap();
    let (got_b, hop_b, direct_b) = b.join().unwrap();
    let _ = stop_tx.send(());
    let forwarded = relay.join().unwrap();
    assert!(
        !direct_a && !direct_b,
        "a direct path through symmetric NATs"
    );
    assert_eq!((hop_a, hop_b), (Hop::Relay, Hop::Relay));
    assert_eq!(got_a, format!("voice of {}", members[1]).into_bytes());
    assert_eq!(got_b, format!("voice of {}", members[0]).into_bytes());
    assert!(forwarded >= 2);
    eprintln!("path: relayed (symmetric NAT both sides); relay forwarded {forwarded} frames");
}
