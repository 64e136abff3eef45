//! Helpers for multi-node tests: loopback nodes and waiting for events.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aura_node::{config::Config, location::Position, Event, EventStream, Node};

/// A loopback node in its own temp dir.
pub struct TestNode {
    pub node: Node,
    pub events: EventStream,
    pub dir: tempfile::TempDir,
}

pub async fn start() -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir).await
}

pub async fn start_in(dir: tempfile::TempDir) -> TestNode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let node = Node::builder()
        .config(Config::loopback(dir.path().to_path_buf()))
        .start()
        .await
        .unwrap();
    let events = node.events();
    wait_listening(&node).await;
    TestNode { node, events, dir }
}

pub async fn wait_listening(node: &Node) {
    within(10, async {
        loop {
            if node.listen_addrs().await.unwrap().len() >= 2 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

pub async fn within<F: std::future::Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("timed out")
}

/// Waits for the first event matching `pred`.
pub async fn wait_for<T>(
    rx: &mut EventStream,
    secs: u64,
    mut pred: impl FnMut(&Event) -> Option<T>,
) -> T {
    within(secs, async {
        loop {
            match rx.next().await {
                Some(e) => {
                    if let Some(t) = pred(&e) {
                        return t;
                    }
                }
                None => panic!("event stream closed"),
            }
        }
    })
    .await
}

pub fn base() -> Position {
    Position::new(45.9237, 6.8694).unwrap()
}
