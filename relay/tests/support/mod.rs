//! Shared by the relay's tests: an in-process relay on loopback, a real
//! group (aura-crypto sessions with exchanged sender keys), and members'
//! media endpoints (the node's `aura-media` endpoint) connected to the relay.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::future::Future;
use std::time::Duration;

use aura_crypto::{GroupSession, Identity, MemberId, Role, Roster};
use aura_media::{
    Config as MediaConfig, Incoming, MediaEndpoint, RelayControl, RoomConfig, RoomId,
};
use aura_relay::config::Config;
use aura_relay::server::Server;
use bytes::Bytes;
use rand::rngs::OsRng;
use tokio::sync::mpsc;

pub const NOW: u64 = 1_700_000_000_000;

/// Fails the test if `f` takes more than `secs`.
pub async fn within<T>(secs: u64, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("timed out")
}

/// A relay config on loopback, port 0 everywhere.
pub fn loopback_config() -> Config {
    let mut c = Config::default();
    c.listen.libp2p = vec!["/ip4/127.0.0.1/tcp/0".into()];
    c.listen.media = "127.0.0.1:0".parse().unwrap();
    c.listen.metrics = Some("127.0.0.1:0".parse().unwrap());
    c
}

/// Starts a relay in-process.
pub async fn relay(cfg: Config) -> (Server, Identity) {
    let id = Identity::generate(&mut OsRng);
    (Server::spawn(id.clone(), cfg).await.unwrap(), id)
}

/// `n` members of one group, every pair holding each other's sender key.
pub fn group(n: usize) -> Vec<GroupSession> {
    let ids: Vec<Identity> = (0..n).map(|_| Identity::generate(&mut OsRng)).collect();
    let (mut owner, _) = GroupSession::create(ids[0].clone(), "relay", NOW, &mut OsRng).unwrap();
    for id in &ids[1..] {
        owner
            .add_member(id.member_id(), Role::Member, None, NOW)
            .unwrap();
    }
    let ops: Vec<_> = owner.roster().ops().cloned().collect();
    let mut sessions = vec![owner];
    for id in &ids[1..] {
        let roster = Roster::from_ops(ops.clone()).unwrap();
        sessions.push(GroupSession::from_roster(
            id.clone(),
            roster,
            NOW,
            &mut OsRng,
        ));
    }
    for i in 0..n {
        for j in 0..n {
            if i != j {
                let to = sessions[j].member_id();
                let env = sessions[i].envelope_for(to, &mut OsRng).unwrap();
                sessions[j].accept_envelope(&env).unwrap();
            }
        }
    }
    sessions
}

/// A member's media endpoint that reaches the room through the relay only.
pub struct Member {
    pub id: MemberId,
    pub ep: MediaEndpoint,
    pub rx: mpsc::Receiver<Incoming>,
    pub relay: MemberId,
}

impl Member {
    /// Binds `identity`'s endpoint with `room` open to `members`, connects
    /// to the relay and joins the room there.
    pub async fn join(
        identity: &Identity,
        room: RoomId,
        members: Vec<MemberId>,
        relay: &Server,
        relay_id: MemberId,
    ) -> Self {
        let ep = MediaEndpoint::bind(
            identity,
            "127.0.0.1:0".parse().unwrap(),
            MediaConfig::default(),
        )
        .unwrap();
        let rx = ep.open_room(room, members, RoomConfig::default()).unwrap();
        ep.add_relay(relay_id).unwrap();
        ep.connect(relay_id, relay.media_addr()).await.unwrap();
        let m = Self {
            id: identity.member_id(),
            ep,
            rx,
            relay: relay_id,
        };
        m.send(RelayControl::Join(room).to_vec());
        m
    }

    /// Sends raw bytes to the relay.
    pub fn send(&self, bytes: Vec<u8>) {
        self.ep.send(&self.relay, Bytes::from(bytes)).unwrap();
    }
}

/// Waits until the relay counts `n` joins (polls its gauge, 2 ms apart).
pub async fn joined(relay: &Server, n: i64) {
    within(10, async {
        while relay.metrics().media_joins.get() < n {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}
