//! The NAT lab: real network namespaces and nftables (root only; a test
//! that gets `None` from [`Lab::new`] is skipped, saying so). Topology:
//!
//! ```text
//!  h1 10.1.0.2 ── r1 (NAT) ── 100.64.1.0/24 ──┐
//!                                            wan (100.64.1.1, 100.64.2.1): relays
//!  h2 10.2.0.2 ── r2 (NAT) ── 100.64.2.0/24 ──┘
//! ```
//!
//! The WAN has no route to the private networks, so every reply a host
//! gets crossed its NAT. Shared by `nat_lab.rs` (the relay's media forwarder) and the node
//! tests in `tests/tests/nat_nodes.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::process::Command;

/// How a router maps and filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Endpoint-independent mapping and no filtering (full cone), for UDP:
    /// a dynamic map from the public port to the private address and port,
    /// filled by outgoing packets (postrouting) and read by unsolicited
    /// incoming ones (prerouting DNAT); ports are preserved. TCP is
    /// masqueraded and filtered.
    FullCone,
    /// A random port per connection (`masquerade random`: a new mapping per
    /// destination) and unsolicited WAN traffic dropped.
    Symmetric,
}

impl Nat {
    /// The nftables rules of a router whose WAN interface is `wan`.
    fn rules(self, wan: &str) -> String {
        match self {
            Nat::Symmetric => format!(
                "table ip nat {{\n chain outbound {{\n  type nat hook postrouting priority 100;\n  \
                 oifname \"{wan}\" masquerade random\n }}\n}}\n\
                 table ip filter {{\n chain guard {{\n  type filter hook forward priority 0; policy accept;\n  \
                 ct state established,related accept\n  iifname \"{wan}\" drop\n }}\n}}\n"
            ),
            Nat::FullCone => format!(
                "table ip nat {{\n map fullcone {{\n  type inet_service : ipv4_addr . inet_service\n  \
                 flags dynamic,timeout\n  timeout 10m\n }}\n\
                 chain inbound {{\n  type nat hook prerouting priority -100; policy accept;\n  \
                 iifname \"{wan}\" meta l4proto udp dnat ip to udp dport map @fullcone\n }}\n\
                 chain outbound {{\n  type nat hook postrouting priority 100; policy accept;\n  \
                 oifname \"{wan}\" meta l4proto udp update @fullcone {{ udp sport : ip saddr . udp sport }}\n  \
                 oifname \"{wan}\" masquerade\n }}\n}}\n\
                 table ip filter {{\n chain guard {{\n  type filter hook forward priority 0; policy accept;\n  \
                 ct state established,related accept\n  ct status dnat accept\n  iifname \"{wan}\" drop\n }}\n}}\n"
            ),
        }
    }
}

pub mod lan;
pub mod nodes;
pub mod voice;

/// Runs a command; its stderr on failure.
pub fn sh(args: &[&str]) -> Result<(), String> {
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

/// Runs a command inside namespace `ns`.
pub fn in_ns(ns: &str, args: &[&str]) -> Result<(), String> {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(args);
    sh(&v)
}

/// The namespaces of one lab; deleted on drop.
pub struct Lab {
    prefix: String,
}

impl Lab {
    /// The full name of namespace `n` (`wan`, `r1`, `r2`, `h1`, `h2`).
    pub fn ns(&self, n: &str) -> String {
        format!("{}{n}", self.prefix)
    }

    /// Builds the topology with both routers of kind `nat`; `None` (after
    /// saying why) when the machine cannot. `tag` keeps the namespaces of
    /// tests running at once apart.
    pub fn new(nat: Nat, tag: &str) -> Option<Self> {
        let root = nix::unistd::Uid::effective().is_root();
        let tools = sh(&["nft", "--version"]).is_ok() && sh(&["ip", "-V"]).is_ok();
        if !root || !tools {
            eprintln!("SKIPPED: the NAT lab needs root, ip and nft (.ci/run installs nftables)");
            return None;
        }
        let lab = Lab {
            prefix: format!("a{}{tag}", std::process::id() % 100_000),
        };
        if let Err(e) = lab.build(nat) {
            panic!("building the NAT lab: {e}");
        }
        Some(lab)
    }

    fn build(&self, nat: Nat) -> Result<(), String> {
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
            let link = |a: &str, na: &str, b: &str, nb: &str| {
                sh(&[
                    "ip", "link", "add", a, "netns", na, "type", "veth", "peer", "name", b,
                    "netns", nb,
                ])
            };
            link(&w, &wan, &u, r)?;
            link(&l, r, &e, h)?;
            let addr = |ns: &str, a: String, dev: &str| -> Result<(), String> {
                in_ns(ns, &["ip", "addr", "add", &a, "dev", dev])?;
                in_ns(ns, &["ip", "link", "set", dev, "up"])
            };
            addr(&wan, format!("100.64.{i}.1/24"), &w)?;
            addr(r, format!("100.64.{i}.2/24"), &u)?;
            addr(r, format!("10.{i}.0.1/24"), &l)?;
            addr(h, format!("10.{i}.0.2/24"), &e)?;
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
                &[
                    "ip",
                    "route",
                    "add",
                    "default",
                    "via",
                    &format!("10.{i}.0.1"),
                ],
            )?;
            let file = std::env::temp_dir().join(format!("{}-{i}.nft", self.prefix));
            std::fs::write(&file, nat.rules(&u)).map_err(|e| e.to_string())?;
            let loaded = in_ns(r, &["nft", "-f", &file.display().to_string()]);
            let _ = std::fs::remove_file(file);
            loaded?;
        }
        // The WAN routes between the two routers (the internet).
        in_ns(&wan, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        Ok(())
    }
}

impl Lab {
    /// Adds namespace `x`, an attacker on the WAN at 100.64.3.2 (no NAT);
    /// returns its name.
    pub fn add_attacker(&self) -> String {
        let (wan, x) = (self.ns("wan"), self.ns("x"));
        let r: Result<(), String> = (|| {
            sh(&["ip", "netns", "add", &x])?;
            in_ns(&x, &["ip", "link", "set", "lo", "up"])?;
            sh(&[
                "ip", "link", "add", "w3", "netns", &wan, "type", "veth", "peer", "name", "u3",
                "netns", &x,
            ])?;
            in_ns(&wan, &["ip", "addr", "add", "100.64.3.1/24", "dev", "w3"])?;
            in_ns(&wan, &["ip", "link", "set", "w3", "up"])?;
            in_ns(&x, &["ip", "addr", "add", "100.64.3.2/24", "dev", "u3"])?;
            in_ns(&x, &["ip", "link", "set", "u3", "up"])?;
            in_ns(&x, &["ip", "route", "add", "default", "via", "100.64.3.1"])
        })();
        if let Err(e) = r {
            panic!("adding the attacker: {e}");
        }
        x
    }
}

impl Lab {
    /// Drops every packet to and from these local UDP and TCP ports in
    /// namespace `ns` (nftables): what was listening there goes silent
    /// with no close and no reset, as a relay does on a power cut.
    pub fn silence(&self, ns: &str, udp: &[u16], tcp: &[u16]) {
        let list = |p: &[u16]| {
            p.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (u, t) = (list(udp), list(tcp));
        let rules = format!(
            "table inet silent {{\n chain in {{\n  type filter hook input priority -10; policy accept;\n  \
             udp dport {{ {u} }} drop\n  tcp dport {{ {t} }} drop\n }}\n\
             chain out {{\n  type filter hook output priority -10; policy accept;\n  \
             udp sport {{ {u} }} drop\n  tcp sport {{ {t} }} drop\n }}\n}}\n"
        );
        let file = std::env::temp_dir().join(format!("{}-silent.nft", self.prefix));
        std::fs::write(&file, rules).unwrap();
        let loaded = in_ns(&self.ns(ns), &["nft", "-f", &file.display().to_string()]);
        let _ = std::fs::remove_file(file);
        if let Err(e) = loaded {
            panic!("silencing ports: {e}");
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in ["h1", "h2", "r1", "r2", "x", "wan"] {
            let _ = sh(&["ip", "netns", "del", &self.ns(n)]);
        }
    }
}

/// Runs `f` on a new thread inside namespace `ns`, on its own runtime:
/// every socket it opens lives in that namespace. The runtime (and every
/// socket it holds) is dropped when `f` returns.
pub fn spawn_in<T: Send + 'static, F>(
    ns: String,
    f: impl FnOnce() -> F + Send + 'static,
) -> std::thread::JoinHandle<T>
where
    F: std::future::Future<Output = T>,
{
    spawn_in_with(ns, 0, f)
}

/// [`spawn_in`] on a runtime of `workers` threads (0: the current thread),
/// as a relay runs in production. The workers are spawned from inside the
/// namespace, so their sockets live there too.
pub fn spawn_in_with<T: Send + 'static, F>(
    ns: String,
    workers: usize,
    f: impl FnOnce() -> F + Send + 'static,
) -> std::thread::JoinHandle<T>
where
    F: std::future::Future<Output = T>,
{
    std::thread::spawn(move || {
        let fd = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
        nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let rt = match workers {
            0 => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            n => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(n)
                .enable_all()
                .build()
                .unwrap(),
        };
        rt.block_on(f())
    })
}
