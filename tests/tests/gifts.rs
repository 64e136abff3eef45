//! Gifts end to end: a member pays through the real billing ledger (SQLite,
//! in-process on port 0, coins bought through the signed-webhook checkout),
//! broadcasts the signed receipt in the group, and every member shows it
//! once. A forging member's receipts (tampered amount, self-signed, someone
//! else's gift claimed as its own) are refused and counted; a replayed
//! receipt is shown once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aura_billing::{
    client::BillingClient,
    config::{Config as BillingConfig, Secret},
    server, test_provider,
};
use aura_crypto::{FrameKind, GroupId};
use aura_node::{
    config::Config,
    wire::{self, ControlMsg, GossipMsg},
    Event, Node,
};
use ed25519_dalek::SigningKey;
use rand::{rngs::OsRng, RngCore};

const SECRET: &str = "whsec_gifts_test";

struct Billing {
    url: String,
    _dir: tempfile::TempDir,
    _server: server::LocalServer,
}

async fn start_billing() -> Billing {
    let dir = tempfile::tempdir().unwrap();
    let c = BillingConfig {
        data_dir: dir.path().to_path_buf(),
        webhook_secrets: vec![Secret(SECRET.into())],
        ..BillingConfig::default()
    };
    let server = server::spawn_local(c).await.unwrap();
    Billing {
        url: server.url.clone(),
        _dir: dir,
        _server: server,
    }
}

struct Member {
    node: Node,
    events: aura_node::EventStream,
    secret: [u8; 32],
    _dir: tempfile::TempDir,
}

async fn start_member(billing_url: &str, service_key: &str) -> Member {
    let dir = tempfile::tempdir().unwrap();
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let mut config = Config::loopback(dir.path().to_path_buf());
    config.billing_service_key = Some(service_key.to_owned());
    config.billing_url = Some(billing_url.to_owned());
    let node = Node::builder()
        .config(config)
        .identity_secret(secret)
        .start()
        .await
        .unwrap();
    let events = node.events();
    within(10, async {
        while node.listen_addrs().await.unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    Member {
        node,
        events,
        secret,
        _dir: dir,
    }
}

async fn within<F: std::future::Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("timed out")
}

/// Gift events seen so far on `rx` (without waiting).
fn drain_gifts(rx: &mut aura_node::EventStream) -> Vec<aura_billing::signed::GiftReceipt> {
    let mut out = Vec::new();
    while let Some(e) = rx.try_next() {
        if let Event::Gift { receipt, .. } = e {
            out.push(receipt);
        }
    }
    out
}

/// Publishes `receipt_json` from `who` as a gift control frame, sealed with
/// its real member keys but without the node's own checks (a forging member).
async fn forge_broadcast(who: &Member, gid: GroupId, receipt_json: Vec<u8>) {
    let session = who.node.group_session(gid).await.unwrap();
    let frame = session
        .lock()
        .unwrap()
        .seal(
            FrameKind::Control,
            &wire::encode(&ControlMsg::Gift(receipt_json)),
            0,
        )
        .unwrap();
    who.node
        .publish_raw(gid, wire::encode(&GossipMsg::Frame(frame)))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gift_receipts_reach_the_room_once_and_forgeries_are_refused() {
    let billing = start_billing().await;
    let mut probe = BillingClient::new(&billing.url, SigningKey::generate(&mut OsRng)).unwrap();
    let service_key = hex::encode(probe.service_key().await.unwrap().to_bytes());

    let alice = start_member(&billing.url, &service_key).await;
    let mut bob = start_member(&billing.url, &service_key).await;
    let mallory = start_member(&billing.url, &service_key).await;

    // Alice buys coins through the provider's signed webhook.
    let mut alice_pay =
        BillingClient::new(&billing.url, SigningKey::from_bytes(&alice.secret)).unwrap();
    alice_pay.login().await.unwrap();
    let co = alice_pay.checkout("coins_100").await.unwrap();
    let ev = test_provider::checkout_completed(
        &alice_pay.account().to_hex(),
        "coins_100",
        Some(&co.checkout_id),
    );
    test_provider::deliver(&billing.url, SECRET, &ev)
        .await
        .unwrap();

    // One group of three.
    let gid = alice.node.create_group("room").await.unwrap();
    let invite = alice.node.invite(gid, 5, 600_000).await.unwrap();
    for m in [&bob, &mallory] {
        within(20, m.node.join(&invite)).await.unwrap();
    }

    // Alice gifts a heart to Bob; the ledger debits her, the room sees it.
    let receipt = alice
        .node
        .send_gift(gid, bob.node.member_id(), "heart", "gift-1")
        .await
        .unwrap();
    assert_eq!(receipt.body.coins, 10);
    assert_eq!(alice_pay.wallet().await.unwrap().coins.available, 90);
    let seen = within(20, async {
        loop {
            let got = drain_gifts(&mut bob.events);
            if !got.is_empty() {
                return got;
            }
            // Keys may still be on their way: re-broadcasting is idempotent.
            alice
                .node
                .broadcast_gift(gid, receipt.clone())
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await;
    assert_eq!(seen.len(), 1, "shown once: {seen:?}");
    assert_eq!(seen[0], receipt.body);
    assert_eq!(seen[0].receiver, hex::encode(bob.node.member_id().0));

    // A replaying member: the same receipt again is not shown again.
    alice
        .node
        .broadcast_gift(gid, receipt.clone())
        .await
        .unwrap();
    forge_broadcast(&mallory, gid, serde_json::to_vec(&receipt).unwrap()).await;

    // A forging member: tampered diamonds, a self-signed receipt.
    let mut tampered = receipt.clone();
    tampered.body.sender = hex::encode(mallory.node.member_id().0);
    tampered.body.diamonds = 1_000_000;
    forge_broadcast(&mallory, gid, serde_json::to_vec(&tampered).unwrap()).await;
    let fake_service = SigningKey::generate(&mut OsRng);
    let self_signed =
        aura_billing::signed::Signed::sign(tampered.body.clone(), &fake_service).unwrap();
    forge_broadcast(&mallory, gid, serde_json::to_vec(&self_signed).unwrap()).await;
    forge_broadcast(&mallory, gid, b"{\"not\":\"a receipt\"}".to_vec()).await;

    within(20, async {
        loop {
            if bob.node.stats().await.unwrap().gifts_refused >= 4 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        drain_gifts(&mut bob.events).is_empty(),
        "nothing else shown"
    );
    let stats = bob.node.stats().await.unwrap();
    assert_eq!(stats.gifts_received, 1);
    assert_eq!(
        stats.gifts_refused, 4,
        "claimed, tampered, self-signed, junk"
    );
    let history = bob.node.gifts(gid).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0], receipt);
    // Bob's diamonds arrived in the ledger (heart: 10, minus the platform share).
    let mut bob_pay =
        BillingClient::new(&billing.url, SigningKey::from_bytes(&bob.secret)).unwrap();
    bob_pay.login().await.unwrap();
    assert_eq!(
        bob_pay.wallet().await.unwrap().diamonds.available,
        receipt.body.diamonds
    );
    assert!(receipt.body.diamonds > 0);

    for m in [&alice, &bob, &mallory] {
        m.node.shutdown().await;
    }
}
