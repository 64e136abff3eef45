//! The phone's side of the `idle` suite: its own network namespace joined by
//! a veth pair (whose counters are its traffic), and its CPU and memory read
//! from `/proc`.

use std::{path::PathBuf, process::Command};

use anyhow::{bail, Context};

/// The phone's own network namespace and the veth pair to it.
pub(super) struct Netns {
    pub(super) name: String,
    pub(super) host_if: String,
    pub(super) host_ip: String,
    pub(super) phone_ip: String,
}

pub(super) fn sh(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {args:?}"))?;
    if !out.status.success() {
        bail!("{args:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Netns {
    pub(super) fn create() -> anyhow::Result<Self> {
        let id = std::process::id() % 10_000;
        let name = format!("aura-idle-{id}");
        let (host_if, phone_if) = (format!("aidl{id}h"), format!("aidl{id}p"));
        let net = format!("10.77.{}", id % 250);
        let (host_ip, phone_ip) = (format!("{net}.1"), format!("{net}.2"));
        let ns = Self {
            name: name.clone(),
            host_if: host_if.clone(),
            host_ip: host_ip.clone(),
            phone_ip: phone_ip.clone(),
        };
        let inns = |cmd: &[&str]| {
            let mut full = vec!["ip", "netns", "exec", &name];
            full.extend_from_slice(cmd);
            sh(&full)
        };
        sh(&["ip", "netns", "add", &name])?;
        sh(&[
            "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &phone_if,
        ])?;
        sh(&["ip", "link", "set", &phone_if, "netns", &name])?;
        let no_v6 = format!("net.ipv6.conf.{host_if}.disable_ipv6=1");
        let _ = sh(&["sysctl", "-qw", &no_v6]);
        let no_v6 = format!("net.ipv6.conf.{phone_if}.disable_ipv6=1");
        let _ = inns(&["sysctl", "-qw", &no_v6]);
        sh(&[
            "ip",
            "addr",
            "add",
            &format!("{host_ip}/30"),
            "dev",
            &host_if,
        ])?;
        sh(&["ip", "link", "set", &host_if, "up"])?;
        inns(&[
            "ip",
            "addr",
            "add",
            &format!("{phone_ip}/30"),
            "dev",
            &phone_if,
        ])?;
        inns(&["ip", "link", "set", &phone_if, "up"])?;
        inns(&["ip", "link", "set", "lo", "up"])?;
        // Static neighbours: no ARP in the counters.
        let host_mac = sh(&["cat", &format!("/sys/class/net/{host_if}/address")])?;
        let phone_mac = inns(&["cat", &format!("/sys/class/net/{phone_if}/address")])?;
        sh(&[
            "ip",
            "neigh",
            "replace",
            &phone_ip,
            "lladdr",
            &phone_mac,
            "dev",
            &host_if,
            "nud",
            "permanent",
        ])?;
        inns(&[
            "ip",
            "neigh",
            "replace",
            &host_ip,
            "lladdr",
            &host_mac,
            "dev",
            &phone_if,
            "nud",
            "permanent",
        ])?;
        Ok(ns)
    }

    /// (packets sent by the phone, bytes sent, packets received, bytes received).
    pub(super) fn counters(&self) -> anyhow::Result<[u64; 4]> {
        let read = |f: &str| -> anyhow::Result<u64> {
            let p = format!("/sys/class/net/{}/statistics/{f}", self.host_if);
            Ok(std::fs::read_to_string(&p)?.trim().parse()?)
        };
        // The host end receives what the phone sends.
        Ok([
            read("rx_packets")?,
            read("rx_bytes")?,
            read("tx_packets")?,
            read("tx_bytes")?,
        ])
    }

    /// What the phone sent, by transport, from its namespace's own
    /// counters: (UDP datagrams: QUIC; TCP segments; of which delayed ACKs,
    /// the pure acknowledgements sent when nothing else left in time).
    pub(super) fn transport_counters(&self) -> anyhow::Result<[u64; 3]> {
        let snmp = sh(&["ip", "netns", "exec", &self.name, "cat", "/proc/net/snmp"])?;
        let netstat = sh(&[
            "ip",
            "netns",
            "exec",
            &self.name,
            "cat",
            "/proc/net/netstat",
        ])?;
        let field = |text: &str, table: &str, name: &str| {
            proc_net_field(text, table, name).with_context(|| format!("{table} {name}"))
        };
        Ok([
            field(&snmp, "Udp", "OutDatagrams")?,
            field(&snmp, "Tcp", "OutSegs")?,
            field(&netstat, "TcpExt", "DelayedACKs")?,
        ])
    }
}

/// One counter of `/proc/net/snmp` or `/proc/net/netstat`: each table is a
/// line of names (`Tcp: RtoAlgorithm ... OutSegs ...`) followed by a line
/// of values with the same prefix.
pub(super) fn proc_net_field(text: &str, table: &str, name: &str) -> Option<u64> {
    let prefix = format!("{table}:");
    let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
    let names = lines.next()?;
    let values = lines.next()?;
    let i = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(i)?.parse().ok()
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.name]);
    }
}

/// The `idle-phone` binary beside this one (the measured node, linking
/// nothing else). Under `cargo run` (which sets `CARGO`) it is built first,
/// with this binary's profile and target directory, so the suite's one
/// command keeps working; otherwise it must already be there (`--bins`).
pub(super) fn phone_exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the bench binary has no directory")?;
    let phone = dir.join(format!("idle-phone{}", std::env::consts::EXE_SUFFIX));
    if let (Some(cargo), Some(target_dir), Some(profile)) = (
        std::env::var_os("CARGO"),
        dir.parent(),
        dir.file_name().and_then(|p| p.to_str()),
    ) {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let mut build = Command::new(cargo);
        build
            .args([
                "build",
                "-q",
                "--bin",
                "idle-phone",
                "--manifest-path",
                manifest,
            ])
            .arg("--target-dir")
            .arg(target_dir);
        match profile {
            "debug" => {}
            "release" => {
                build.arg("--release");
            }
            other => {
                build.args(["--profile", other]);
            }
        }
        let status = build.status().context("building idle-phone")?;
        if !status.success() {
            bail!("building idle-phone failed ({status})");
        }
    }
    if !phone.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p aura-examples --bins`",
            phone.display()
        );
    }
    Ok(phone)
}

/// On-CPU nanoseconds of every thread of `pid`.
pub(super) fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// RSS of `pid`, bytes.
pub(super) fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::proc_net_field;

    #[test]
    fn a_proc_net_counter_is_read_from_the_value_line_of_its_table() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 2 64\n\
                    Tcp: RtoAlgorithm OutSegs RetransSegs\nTcp: 1 1234 5\n\
                    Udp: InDatagrams OutDatagrams\nUdp: 7 99\n";
        assert_eq!(proc_net_field(snmp, "Tcp", "OutSegs"), Some(1234));
        assert_eq!(proc_net_field(snmp, "Udp", "OutDatagrams"), Some(99));
        assert_eq!(proc_net_field(snmp, "Udp", "NoPorts"), None);
        assert_eq!(proc_net_field(snmp, "UdpLite", "OutDatagrams"), None);
    }
}
