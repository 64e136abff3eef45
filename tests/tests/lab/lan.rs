//! A LAN with no WAN at all: one bridge in its own namespace (`lan`) and
//! hosts `h1`, `h2` on it (192.168.77.0/24), no router, no relay, no
//! bootstrap node. Root only, like [`super::Lab`].

use super::{in_ns, sh};

/// The namespaces of one LAN; deleted on drop.
pub struct Lan {
    prefix: String,
}

impl Lan {
    /// The full name of namespace `n` (`lan`, `h1`, `h2`).
    pub fn ns(&self, n: &str) -> String {
        format!("{}{n}", self.prefix)
    }

    /// Builds the LAN with h1 at 192.168.77.2 and h2 at .3; `None` (after
    /// saying why) when the machine cannot.
    pub fn new(tag: &str) -> Option<Self> {
        let root = nix::unistd::Uid::effective().is_root();
        if !root || sh(&["ip", "-V"]).is_err() {
            eprintln!("SKIPPED: the LAN lab needs root and ip");
            return None;
        }
        let lan = Lan {
            prefix: format!("l{}{tag}", std::process::id() % 100_000),
        };
        if let Err(e) = lan.build() {
            panic!("building the LAN: {e}");
        }
        Some(lan)
    }

    fn build(&self) -> Result<(), String> {
        let bridge = self.ns("lan");
        sh(&["ip", "netns", "add", &bridge])?;
        in_ns(&bridge, &["ip", "link", "add", "br0", "type", "bridge"])?;
        in_ns(&bridge, &["ip", "link", "set", "br0", "up"])?;
        for i in [1u8, 2] {
            let h = self.ns(&format!("h{i}"));
            let (port, dev) = (format!("p{i}"), format!("e{i}"));
            sh(&["ip", "netns", "add", &h])?;
            in_ns(&h, &["ip", "link", "set", "lo", "up"])?;
            sh(&[
                "ip", "link", "add", &port, "netns", &bridge, "type", "veth", "peer", "name", &dev,
                "netns", &h,
            ])?;
            in_ns(&bridge, &["ip", "link", "set", &port, "master", "br0"])?;
            in_ns(&bridge, &["ip", "link", "set", &port, "up"])?;
            in_ns(&h, &["ip", "link", "set", &dev, "up"])?;
            self.set_addr(i, &format!("192.168.77.{}", i + 1))?;
        }
        Ok(())
    }

    /// Gives host `i` (1 or 2) the address `ip`/24 instead of its own
    /// (a DHCP renewal, another network), with a multicast route for mDNS.
    pub fn set_addr(&self, i: u8, ip: &str) -> Result<(), String> {
        let (h, dev) = (self.ns(&format!("h{i}")), format!("e{i}"));
        in_ns(&h, &["ip", "addr", "flush", "dev", &dev])?;
        in_ns(&h, &["ip", "addr", "add", &format!("{ip}/24"), "dev", &dev])?;
        in_ns(&h, &["ip", "route", "replace", "224.0.0.0/4", "dev", &dev])
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for n in ["h1", "h2", "lan"] {
            let _ = sh(&["ip", "netns", "del", &self.ns(n)]);
        }
    }
}
