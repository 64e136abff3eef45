//! Node configuration: a TOML file with sane defaults.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{
    link::{BackgroundConfig, LinkTiming},
    location::{HistoryPolicy, Precision, PublishPolicy},
};

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source} (create it or pass --config)")]
    Read {
        /// File.
        path: String,
        /// Error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("config file {path} is invalid: {source} (fix the named key or delete the file to use defaults)")]
    Parse {
        /// File.
        path: String,
        /// Error.
        source: toml::de::Error,
    },
}

/// Node settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the identity key and the store live.
    pub data_dir: PathBuf,
    /// Multiaddrs to listen on (QUIC first, TCP fallback).
    pub listen: Vec<String>,
    /// Kademlia bootstrap nodes (`/ip4/../tcp/../p2p/<peer id>`).
    pub bootstrap: Vec<String>,
    /// Circuit relays to reserve a slot on (`/ip4/../p2p/<relay id>`).
    pub relays: Vec<String>,
    /// Discover peers on the LAN with mDNS.
    pub mdns: bool,
    /// Location publish policy.
    pub publish: PublishPolicy,
    /// The precision a new group (created or joined) is shared at, until
    /// changed for that group: `Exact`, `Approx100m` (default) or `Approx1km`.
    pub default_precision: Precision,
    /// Location history retention, days.
    pub retention_days: u64,
    /// Which received fixes become history track points.
    pub history: HistoryPolicy,
    /// Proximity alert threshold, metres.
    pub proximity_m: f64,
    /// Hysteresis for geofences and proximity, metres.
    pub hysteresis_m: f64,
    /// Gossipsub heartbeat, milliseconds.
    pub heartbeat_ms: u64,
    /// Keep-alives, pings and re-dials in the foreground (see [`crate::link`]).
    pub link: LinkTiming,
    /// What changes in background mode (`[background]`: publish policy,
    /// heartbeat, connection timing).
    pub background: BackgroundConfig,
    /// Serve the Kademlia DHT even with no bootstrap nodes of our own (a
    /// bootstrap or relay node). Kademlia always runs when `bootstrap` is
    /// set; without either it is off (a LAN mesh found by mDNS and invites).
    pub dht_server: bool,
    /// The billing ledger's ed25519 public key (64 hex digits), pinned to
    /// check gift receipts offline; without it gift receipts are not shown.
    pub billing_service_key: Option<String>,
    /// The billing ledger's base URL (e.g. `https://ledger.example`), for
    /// `aura wallet` and `aura gift`.
    pub billing_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            listen: vec![
                "/ip4/0.0.0.0/udp/0/quic-v1".into(),
                "/ip4/0.0.0.0/tcp/0".into(),
            ],
            bootstrap: vec![],
            relays: vec![],
            mdns: true,
            publish: PublishPolicy::default(),
            default_precision: Precision::default(),
            retention_days: 7,
            history: HistoryPolicy::default(),
            proximity_m: 200.0,
            hysteresis_m: 25.0,
            heartbeat_ms: 700,
            link: LinkTiming::default(),
            background: BackgroundConfig::default(),
            dht_server: false,
            billing_service_key: None,
            billing_url: None,
        }
    }
}

/// `$AURA_HOME`, else `$HOME/.aura`, else `./.aura`.
pub fn default_data_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("AURA_HOME") {
        return PathBuf::from(h);
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".aura"))
        .unwrap_or_else(|| ".aura".into())
}

impl Config {
    /// Loads `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        Self::parse(&text, path)
    }

    /// Parses the text of a config file (`path` only names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    /// The settings the transport runs with: these, or in background mode
    /// these with the background heartbeat and connection timing.
    pub fn for_mode(&self, background: bool) -> Self {
        let mut c = self.clone();
        if background {
            c.heartbeat_ms = self.background.heartbeat_ms;
            c.link = self.background.link;
        }
        c
    }

    /// Settings for loopback tests: loopback listeners, no mDNS, fast heartbeat.
    pub fn loopback(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            listen: vec![
                "/ip4/127.0.0.1/udp/0/quic-v1".into(),
                "/ip4/127.0.0.1/tcp/0".into(),
            ],
            mdns: false,
            heartbeat_ms: 100,
            publish: PublishPolicy {
                min_distance_m: 1.0,
                min_interval_ms: 0,
                max_interval_ms: 5_000,
                ..PublishPolicy::default()
            },
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_file_keeps_defaults_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("aura.toml");
        std::fs::write(
            &p,
            "retention_days = 3\nbootstrap = [\"/ip4/1.2.3.4/tcp/1\"]\n",
        )
        .unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(
            (c.retention_days, c.proximity_m, c.bootstrap.len()),
            (3, 200.0, 1)
        );
        std::fs::write(&p, "retention = 3\n").unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(e.contains("retention"), "{e}");
        assert!(Config::load(&dir.path().join("none.toml")).unwrap().mdns);
    }
}
