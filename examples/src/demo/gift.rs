//! The demo's gift round: an embedded billing ledger (SQLite in a temp dir,
//! HTTP on a loopback port, explicit dev mode), a member who buys coins through the test
//! payment provider's signed webhook and sends a gift, and every member's
//! device showing the receipt it checked offline with the ledger's key.

use std::time::Duration;

use anyhow::Context;
use aura_billing::{
    client::BillingClient,
    config::{Config, DEV_WEBHOOK_SECRET},
    server, test_provider,
};
use aura_crypto::{GroupId, MemberId};
use aura_node::Event;
use ed25519_dalek::SigningKey;

use super::MeshNode;

/// A running embedded ledger.
pub struct Ledger {
    /// Its base URL.
    pub url: String,
    /// Its ed25519 public key (hex), pinned by the nodes.
    pub service_key: String,
    _dir: tempfile::TempDir,
    _server: server::LocalServer,
}

/// Starts the ledger on SQLite in a temp dir, listening on a loopback port.
pub async fn start_ledger() -> anyhow::Result<Ledger> {
    let dir = tempfile::tempdir()?;
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        // Explicit dev mode: the test payment provider signs with the public
        // dev secret, and the ledger only listens on loopback.
        dev_mode: true,
        ..Config::default()
    };
    let server = server::spawn_local(config).await?;
    Ok(Ledger {
        url: server.url.clone(),
        service_key: server.service_key.clone(),
        _dir: dir,
        _server: server,
    })
}

/// `nodes[0]` buys 100 coins and gifts a heart to `nodes[1]`; returns how
/// many of the other members showed the checked receipt.
pub async fn gift_round(
    ledger: &Ledger,
    nodes: &[MeshNode],
    gid: GroupId,
    name: impl Fn(&MemberId) -> String,
) -> anyhow::Result<usize> {
    let (buyer, to) = (
        nodes.first().context("no nodes")?,
        nodes.get(1).context("one node")?,
    );
    let mut rx: Vec<_> = nodes.iter().skip(1).map(|n| n.node.events()).collect();
    let mut pay = BillingClient::new(&ledger.url, SigningKey::from_bytes(&buyer.secret))?;
    pay.login().await?;
    let checkout = pay.checkout("coins_100").await?;
    let paid = test_provider::checkout_completed(
        &pay.account().to_hex(),
        "coins_100",
        Some(&checkout.checkout_id),
    );
    test_provider::deliver(&ledger.url, DEV_WEBHOOK_SECRET, &paid).await?;
    println!(
        "{} bought {} coins (test payment provider, signed webhook)",
        name(&buyer.node.member_id()),
        pay.wallet().await?.coins.available
    );
    let receipt = buyer
        .node
        .send_gift(gid, to.node.member_id(), "heart", "demo-gift-1")
        .await?;
    println!(
        "{} sent {} a heart: {} coins debited, {} diamonds credited; the ledger signed the receipt",
        name(&buyer.node.member_id()),
        name(&to.node.member_id()),
        receipt.body.coins,
        receipt.body.diamonds
    );
    let mut shown = vec![false; rx.len()];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut round = 0u32;
    while shown.iter().any(|s| !s) && tokio::time::Instant::now() < deadline {
        round += 1;
        if round % 20 == 0 {
            // A member that missed the frame gets it again; the others drop
            // the duplicate by receipt id.
            buyer.node.broadcast_gift(gid, receipt.clone()).await?;
        }
        for (i, r) in rx.iter_mut().enumerate() {
            while let Some(e) = r.try_next() {
                if let Event::Gift { receipt: g, .. } = e {
                    if g.receipt_id == receipt.body.receipt_id && !shown[i] {
                        shown[i] = true;
                        println!(
                            "  [gift] {}'s device: receipt checked offline, shows \"{}\" ({})",
                            name(&nodes[i + 1].node.member_id()),
                            g.gift,
                            g.animation
                        );
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(shown.iter().filter(|s| **s).count())
}
