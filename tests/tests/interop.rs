//! Interop with other libp2p implementations and with plain libp2p relays:
//! a js-libp2p client (`tests/interop-js/`, no Aura code) reserves a slot on
//! the Aura relay, a plain rust-libp2p peer reaches it through the relay
//! circuit and pings it, and the JS client's Kademlia query is answered by
//! the relay; an Aura node reserves on a plain rust-libp2p relay and is
//! reached through it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aura_node::{config::Config, Node};
use futures::StreamExt;
use libp2p::{
    identify, kad, multiaddr::Protocol, noise, ping, relay, swarm::NetworkBehaviour,
    swarm::SwarmEvent, tcp, yamux, Multiaddr, Swarm,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;

/// Fails the test if `f` takes more than `secs`.
async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("timed out")
}

/// A plain rust-libp2p peer: relay client, identify, ping, Kademlia server.
#[derive(NetworkBehaviour)]
struct Peer {
    relay: relay::client::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
}

fn plain_peer() -> Swarm<Peer> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|key, relay| {
            let id = key.public().to_peer_id();
            let mut kad = kad::Behaviour::new(id, kad::store::MemoryStore::new(id));
            kad.set_mode(Some(kad::Mode::Server));
            Peer {
                relay,
                identify: identify::Behaviour::new(identify::Config::new(
                    "/ipfs/id/1.0.0".into(),
                    key.public(),
                )),
                ping: ping::Behaviour::new(
                    ping::Config::new().with_interval(Duration::from_millis(200)),
                ),
                kad,
            }
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build()
}

fn is_circuit(a: &Multiaddr) -> bool {
    a.iter().any(|p| p == Protocol::P2pCircuit)
}
/// Dials `target` (a circuit address of `id`) and waits for a ping to `id`
/// answered over a relayed connection; returns its round trip.
async fn ping_through_circuit(
    peer: &mut Swarm<Peer>,
    target: Multiaddr,
    id: libp2p::PeerId,
) -> Duration {
    peer.dial(target).unwrap();
    let mut relayed = Vec::new();
    within(30, async {
        loop {
            match peer.select_next_some().await {
                SwarmEvent::ConnectionEstablished {
                    peer_id,
                    connection_id,
                    endpoint,
                    ..
                } if peer_id == id && is_circuit(endpoint.get_remote_address()) => {
                    relayed.push(connection_id)
                }
                SwarmEvent::Behaviour(PeerEvent::Ping(ping::Event {
                    peer,
                    connection,
                    result: Ok(rtt),
                })) if peer == id => {
                    assert!(
                        relayed.contains(&connection),
                        "pinged over a direct connection"
                    );
                    break rtt;
                }
                _ => {}
            }
        }
    })
    .await
}

/// The JS project, with `npm ci` run once (its `node_modules` is kept).
/// `None` (the test is skipped, saying so) when node or npm is absent.
fn js_project() -> Option<PathBuf> {
    for tool in ["node", "npm"] {
        if std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("SKIPPED: `{tool}` is not installed; the js-libp2p interop test needs Node.js and npm");
            return None;
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop-js");
    // A copy of the lock file that `npm ci` installed from.
    let installed = dir.join("node_modules/.aura-installed-lock.json");
    let lock = std::fs::read(dir.join("package-lock.json")).unwrap();
    if std::fs::read(&installed).ok().as_deref() != Some(&lock[..]) {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "npm ci failed in {}", dir.display());
        std::fs::write(&installed, &lock).unwrap();
    }
    Some(dir)
}

/// The running JS client: its stdin (commands) and stdout (answers).
struct JsClient {
    _child: Child,
    stdin: ChildStdin,
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl JsClient {
    fn spawn(dir: &Path, relay: &Multiaddr) -> Self {
        let mut child = Command::new("node")
            .arg("client.mjs")
            .arg(relay.to_string())
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            _child: child,
            stdin,
            lines,
        }
    }

    /// The next stdout line that starts with `prefix `, without it.
    async fn line(&mut self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .next_line()
                .await
                .unwrap()
                .expect("JS client exited");
            if let Some(rest) = line.strip_prefix(&format!("{prefix} ")) {
                return rest.to_string();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_libp2p_client_reserves_on_the_relay_and_is_pinged_through_it() {
    let Some(dir) = js_project() else { return };
    let mut rcfg = aura_relay::config::Config::default();
    rcfg.listen.libp2p = vec!["/ip4/127.0.0.1/tcp/0".into()];
    rcfg.listen.media = "127.0.0.1:0".parse().unwrap();
    rcfg.listen.metrics = None;
    let id = aura_crypto::Identity::generate(&mut rand::rngs::OsRng);
    let server = aura_relay::server::Server::spawn(id, rcfg).await.unwrap();
    let relay_id = server.peer_id();
    let relay_addr = server.listen_addrs()[0]
        .clone()
        .with(Protocol::P2p(relay_id));

    // The JS client reserves and prints its circuit address.
    let mut js = JsClient::spawn(&dir, &relay_addr);
    let circuit: Multiaddr = within(60, js.line("circuit")).await.parse().unwrap();
    let Some(Protocol::P2p(js_id)) = circuit.iter().last() else {
        panic!("{circuit} does not end with the JS peer id")
    };
    assert!(
        is_circuit(&circuit) && circuit.iter().any(|p| p == Protocol::P2p(relay_id)),
        "{circuit} is not through the relay"
    );

    // A plain rust-libp2p peer dials the circuit address and pings the JS peer.
    let mut peer = plain_peer();
    let peer_id = *peer.local_peer_id();
    peer.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    // Listening before the dial: the relay learns the address by identify.
    within(10, async {
        while !matches!(
            peer.select_next_some().await,
            SwarmEvent::NewListenAddr { .. }
        ) {}
    })
    .await;
    let rtt = ping_through_circuit(&mut peer, circuit.clone(), js_id).await;
    eprintln!("ping to the js-libp2p peer through the relay: {rtt:?}");
    let m = server.metrics();
    assert!(m.reservations_accepted.get() >= 1);
    assert_eq!(m.reservations.get(), 1);
    assert_eq!(m.circuits_accepted.get(), 1);
    assert_eq!(m.circuits.get(), 1);
    tokio::spawn(async move {
        loop {
            peer.select_next_some().await;
        }
    });

    // The JS client's FIND_NODE is answered by the relay's Kademlia, which
    // knows the rust peer (a DHT server) from identify. The relay's identify
    // of it may finish after the ping: ask again until it does (bounded).
    let mut answer = String::new();
    for _ in 0..50 {
        js.stdin.write_all(b"kad\n").await.unwrap();
        answer = within(20, js.line("kad")).await;
        if answer.contains(&peer_id.to_string()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        answer.starts_with(&format!("from={relay_id} closer=")),
        "no Kademlia answer from the relay: {answer}"
    );
    assert!(answer.contains(&peer_id.to_string()), "{answer}");
    drop(js);
    server.shutdown().await;
}

/// A plain rust-libp2p relay: circuit relay v2 server with libp2p's
/// defaults, identify and ping; no Aura code.
#[derive(NetworkBehaviour)]
struct PlainRelay {
    relay: relay::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

/// Starts a plain relay on loopback TCP: its address (with its peer id) and
/// its relay events.
async fn plain_relay() -> (Multiaddr, mpsc::Receiver<relay::Event>) {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| PlainRelay {
            relay: relay::Behaviour::new(key.public().to_peer_id(), relay::Config::default()),
            identify: identify::Behaviour::new(identify::Config::new(
                "/ipfs/id/1.0.0".into(),
                key.public(),
            )),
            ping: ping::Behaviour::default(),
        })
        .unwrap()
        .build();
    let id = *swarm.local_peer_id();
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let addr = within(10, async {
        loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        }
    })
    .await;
    // An operator states the relay's public address; here, its loopback one.
    swarm.add_external_address(addr.clone());
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(PlainRelayEvent::Relay(e)) = swarm.select_next_some().await
            {
                let _ = tx.try_send(e);
            }
        }
    });
    (addr.with(Protocol::P2p(id)), rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aura_node_reserves_on_a_plain_libp2p_relay_and_is_reached_through_it() {
    let (relay_addr, mut relay_events) = plain_relay().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::loopback(dir.path().to_path_buf());
    cfg.relays = vec![relay_addr.to_string()];
    let node = Node::builder().config(cfg).start().await.unwrap();
    let node_id = node.peer_id();
    let circuit = within(20, async {
        loop {
            let addrs = node.listen_addrs().await.unwrap();
            if let Some(c) = addrs.into_iter().find(is_circuit) {
                break c;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        circuit.to_string().starts_with(&relay_addr.to_string()),
        "{circuit} is not through {relay_addr}"
    );

    // A plain rust-libp2p peer reaches the node through the relay and pings it.
    let mut peer = plain_peer();
    let target = match circuit.iter().last() {
        Some(Protocol::P2p(_)) => circuit.clone(),
        _ => circuit.clone().with(Protocol::P2p(node_id)),
    };
    ping_through_circuit(&mut peer, target, node_id).await;
    let (mut reservations, mut circuits) = (0, 0);
    while let Ok(e) = relay_events.try_recv() {
        match e {
            relay::Event::ReservationReqAccepted { src_peer_id, .. } if src_peer_id == node_id => {
                reservations += 1
            }
            relay::Event::CircuitReqAccepted { dst_peer_id, .. } if dst_peer_id == node_id => {
                circuits += 1
            }
            _ => {}
        }
    }
    assert!(reservations >= 1, "the plain relay saw no reservation");
    assert!(circuits >= 1, "the plain relay saw no circuit");
    node.shutdown().await;
}
