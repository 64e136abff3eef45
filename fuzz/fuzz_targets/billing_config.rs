//! Fuzzes the ledger's TOML config parser and the start-up checks on it.
#![no_main]

use aura_billing::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Config::from_toml(text) {
        let _ = c.checked_webhook_secrets();
        let _ = c.database_url();
        let _ = format!("{c:?}");
    }
});
