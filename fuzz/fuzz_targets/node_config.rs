//! Fuzzes the node config file parser (TOML), with a write → parse round
//! trip, then what the node parses out of it at start (listen, relay and
//! bootstrap multiaddrs, the pinned billing service key).
#![no_main]

use std::path::Path;

use aura_node::{config::Config, gift};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("aura.toml");
    let Ok(cfg) = Config::parse(text, path) else {
        return;
    };
    let written = toml::to_string(&cfg).expect("config serialises");
    let again = Config::parse(&written, path).expect("written config parses");
    assert_eq!(
        toml::to_string(&again).expect("again"),
        written,
        "config round trip"
    );
    for a in cfg.listen.iter().chain(&cfg.relays).chain(&cfg.bootstrap) {
        let _ = a.parse::<libp2p::Multiaddr>();
    }
    if let Some(k) = &cfg.billing_service_key {
        let _ = gift::parse_service_key(k);
    }
});
