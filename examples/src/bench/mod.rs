//! System benchmark suites: each prints human figures, or one JSON object with `--json`.
