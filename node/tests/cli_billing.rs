//! `aura wallet` and `aura gifts --catalog` against the real billing ledger
//! (SQLite, in-process on a loopback port), logging in with the node's own
//! identity key; and the error that says what to set when no ledger is
//! configured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::Path, process::Command};

use aura_billing::{
    config::{Config, Secret},
    server, test_provider,
};

const SECRET: &str = "whsec_cli_test";

fn aura(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_aura"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("AURA_HOME")
        .env_remove("AURA_CONFIG")
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn wallet_and_catalog_through_the_ledger_with_the_node_key() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let ledger_dir = tempfile::tempdir().unwrap();
    let ledger = rt.block_on(async {
        let config = Config {
            data_dir: ledger_dir.path().to_path_buf(),
            webhook_secrets: vec![Secret(SECRET.into())],
            ..Config::default()
        };
        server::spawn_local(config).await.unwrap()
    });
    let (url, service_key) = (ledger.url.clone(), ledger.service_key.clone());

    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (ok, out, err) = aura(d, &["init", "--no-mdns"]);
    assert!(ok, "{out}{err}");
    let me = out
        .lines()
        .find_map(|l| l.strip_prefix("member id "))
        .unwrap()
        .trim()
        .to_owned();

    // No ledger configured: the error names the settings to add.
    let (ok, _, err) = aura(d, &["wallet"]);
    assert!(!ok);
    assert!(err.contains("billing_url"), "{err}");

    let cfg = d.join("aura.toml");
    // Top-level keys go before the file's first [table].
    let text = format!(
        "billing_url = \"{url}\"\nbilling_service_key = \"{service_key}\"\n{}",
        std::fs::read_to_string(&cfg).unwrap()
    );
    std::fs::write(&cfg, text).unwrap();

    // Coins bought through the provider's signed webhook for this node's key.
    rt.block_on(async {
        let ev = test_provider::checkout_completed(&me, "coins_100", None);
        test_provider::deliver(&url, SECRET, &ev).await.unwrap();
    });
    let (ok, out, err) = aura(d, &["wallet"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains(&format!("account:  {me}")), "{out}");
    assert!(out.contains("coins:    100 available"), "{out}");
    let (ok, out, err) = aura(d, &["gifts", "--catalog"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("heart"), "{out}");

    // A pinned key that is not the ledger's: refused, saying what to fix.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(&service_key, &hex::encode([9u8; 32]));
    std::fs::write(&cfg, text).unwrap();
    let (ok, _, err) = aura(d, &["wallet"]);
    assert!(!ok, "a wrong pinned ledger key must fail");
    assert!(err.contains("not the pinned billing service key"), "{err}");
    assert!(err.contains("billing_service_key in aura.toml"), "{err}");
}
