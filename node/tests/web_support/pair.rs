//! Two loopback nodes in one group (optionally with the billing ledger)
//! and node A's web page.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use aura_billing::server::LocalServer;
use aura_crypto::{GroupId, MemberId};
use aura_node::{config::Config, web::WebServer, Event, Node};

use crate::common::{wait_for, wait_listening, TestNode};

/// A, B in one group (B joined by A's invite, A holds B's key), and A's page.
pub struct Pair {
    pub a: TestNode,
    pub b: TestNode,
    pub gid: GroupId,
    pub web: WebServer,
}

/// A loopback node, configured with `ledger` (URL, pinned key) when given.
pub async fn node(ledger: Option<&LocalServer>) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::loopback(dir.path().to_path_buf());
    if let Some(l) = ledger {
        config.billing_url = Some(l.url.clone());
        config.billing_service_key = Some(l.service_key.clone());
    }
    let node = Node::builder().config(config).start().await.unwrap();
    let events = node.events();
    wait_listening(&node).await;
    TestNode { node, events, dir }
}

/// The billing ledger, in-process on SQLite, with the test provider's secret.
pub async fn ledger(dir: &std::path::Path) -> LocalServer {
    let config = aura_billing::config::Config {
        data_dir: dir.to_path_buf(),
        webhook_secrets: vec![aura_billing::config::Secret(WEBHOOK_SECRET.into())],
        ..aura_billing::config::Config::default()
    };
    aura_billing::server::spawn_local(config).await.unwrap()
}

pub const WEBHOOK_SECRET: &str = "whsec_web_test";

pub async fn pair(ledger: Option<&LocalServer>) -> Pair {
    let mut a = node(ledger).await;
    let mut b = node(ledger).await;
    let gid = a.node.create_group("hikers").await.unwrap();
    let invite = a.node.invite(gid, 1, 600_000).await.unwrap();
    assert_eq!(b.node.join(&invite).await.unwrap(), gid);
    let bid = b.node.member_id();
    wait_for(&mut a.events, 15, |e| match e {
        Event::KeysReceived { sender, .. } if *sender == bid => Some(()),
        _ => None,
    })
    .await;
    let aid = a.node.member_id();
    wait_for(&mut b.events, 15, |e| match e {
        Event::KeysReceived { sender, .. } if *sender == aid => Some(()),
        _ => None,
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web = WebServer::start(a.node.clone(), listener).unwrap();
    Pair { a, b, gid, web }
}

pub fn hex_id(m: MemberId) -> String {
    hex::encode(m.0)
}
