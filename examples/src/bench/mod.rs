//! System benchmark suites: each prints human figures, or one JSON object with `--json`.

pub mod ledger;
pub mod location;
pub mod voice_latency;
