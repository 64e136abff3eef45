//! The embeddable API: `Node::builder()...start()` gives a cheap-to-clone
//! handle; commands are async methods, what happens arrives as [`Event`]s.

use std::{path::PathBuf, sync::Arc};

use aura_crypto::{GroupId, GroupSession, Identity, MemberId, Role};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{broadcast, mpsc, oneshot, Mutex};

use crate::{
    billing::Ledger,
    command::Command,
    config::Config,
    events::{spawn_listener, Event, EventListener, EventStream, ListenerHandle, EVENT_QUEUE},
    keyfile,
    location::{Fix, Geofence, Position, Precision},
    relay_pass::RelayPass,
    stats::NodeStats,
    store::{ChatRecord, Store},
    task::Task,
    NodeError,
};

/// Bound of the command queue.
const COMMAND_QUEUE: usize = 256;

/// Builds a [`Node`].
#[derive(Debug, Default)]
pub struct Builder {
    config: Config,
    identity: Option<[u8; 32]>,
}

impl Builder {
    /// Uses this configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Sets the data dir (identity key, store).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.data_dir = dir.into();
        self
    }

    /// Uses this identity secret instead of the key file's (it is written to the key file if none exists).
    pub fn identity_secret(mut self, secret: [u8; 32]) -> Self {
        self.identity = Some(secret);
        self
    }

    /// Opens the data dir, starts the swarm and its task, and returns the handle.
    pub async fn start(self) -> Result<Node, NodeError> {
        let cfg = self.config;
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
            NodeError::BadInput(format!(
                "cannot create data dir {}: {e}",
                cfg.data_dir.display()
            ))
        })?;
        let key_path = cfg.data_dir.join("identity.key");
        let secret = match (keyfile::read_secret(&key_path)?, self.identity) {
            (Some(s), _) => s,
            (None, given) => {
                let id = match given {
                    Some(s) => Identity::from_secret_bytes(&s),
                    None => Identity::generate(&mut rand::rngs::OsRng),
                };
                let s = id.to_secret_bytes();
                keyfile::write_secret(&key_path, &s)?;
                s
            }
        };
        let identity = Identity::from_secret_bytes(&secret);
        let store = Store::open(&cfg.data_dir.join("store"))?;
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (ev_tx, _) = broadcast::channel(EVENT_QUEUE);
        let member = identity.member_id();
        let ledger = Ledger::new(
            cfg.billing_url.clone(),
            cfg.billing_service_key.clone(),
            *secret,
        );
        let config = cfg.clone();
        let paths = crate::paths::Paths::follow(ev_tx.subscribe());
        let (task, peer_id) = Task::new(identity, &secret, cfg, store, ev_tx.clone())?;
        let handle = tokio::spawn(task.run(cmd_rx));
        Ok(Node {
            inner: Arc::new(Inner {
                cmd: cmd_tx,
                events: ev_tx,
                member,
                peer_id,
                ledger,
                task: Mutex::new(Some(handle)),
                media: std::sync::Mutex::new(None),
                config,
                position: std::sync::Mutex::new(None),
                paths,
                pass: RelayPass::default(),
            }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    cmd: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
    member: MemberId,
    peer_id: PeerId,
    ledger: Ledger,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The node's one media endpoint, bound by the first `join_voice` and
    /// shared by every group's voice.
    media: std::sync::Mutex<Option<aura_media::MediaEndpoint>>,
    /// The configuration the node started with.
    config: Config,
    /// Our last position given to [`Node::update_position`].
    position: std::sync::Mutex<Option<Position>>,
    /// Open connections and their paths.
    paths: crate::paths::Paths,
    /// The entitlement token presented to relays.
    pass: RelayPass,
}

/// A handle that does not keep the node alive (for background loops).
#[derive(Debug, Clone)]
pub(crate) struct WeakNode(std::sync::Weak<Inner>);

impl WeakNode {
    /// The node, if it still runs.
    pub(crate) fn upgrade(&self) -> Option<Node> {
        self.0
            .upgrade()
            .filter(|i| !i.cmd.is_closed())
            .map(|inner| Node { inner })
    }
}

/// A running node. Cheap to clone; all clones drive the same node.
#[derive(Debug, Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl Node {
    /// A builder with default configuration.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Our member id (ed25519 public key).
    pub fn member_id(&self) -> MemberId {
        self.inner.member
    }

    /// Our libp2p peer id (same key).
    pub fn peer_id(&self) -> PeerId {
        self.inner.peer_id
    }

    /// The configuration this node started with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Our own position: the last one [`Node::update_position`] accepted.
    pub fn position(&self) -> Option<Position> {
        match self.inner.position.lock() {
            Ok(p) => *p,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    /// Puts an event on the event stream (the voice engine's quality events).
    pub(crate) fn emit(&self, event: Event) {
        let _ = self.inner.events.send(event);
    }

    /// The slot of the node's media endpoint (see `voice_api`).
    pub(crate) fn media_slot(&self) -> &std::sync::Mutex<Option<aura_media::MediaEndpoint>> {
        &self.inner.media
    }

    /// A handle that does not keep the node alive.
    pub(crate) fn downgrade(&self) -> WeakNode {
        WeakNode(Arc::downgrade(&self.inner))
    }

    /// The entitlement token presented to relays.
    pub(crate) fn relay_pass(&self) -> &RelayPass {
        &self.inner.pass
    }

    /// The node's billing ledger.
    pub(crate) fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    /// A new subscription to the events, bounded (see [`EventStream`]).
    pub fn events(&self) -> EventStream {
        EventStream::new(self.inner.events.subscribe())
    }

    /// Pushes every event from now on to `listener`, on a thread of its own,
    /// until the returned handle is dropped or the node stops.
    pub fn add_listener(
        &self,
        listener: std::sync::Arc<dyn EventListener>,
    ) -> Result<ListenerHandle, NodeError> {
        spawn_listener(self.events(), listener)
            .map_err(|e| NodeError::BadInput(format!("cannot start the event thread: {e}")))
    }

    /// Sends the command `make` builds around a fresh answer channel and
    /// waits for the answer.
    pub(crate) async fn ask<R>(
        &self,
        make: impl FnOnce(oneshot::Sender<R>) -> Command,
    ) -> Result<R, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .cmd
            .send(make(tx))
            .await
            .map_err(|_| NodeError::Closed)?;
        rx.await.map_err(|_| NodeError::Closed)
    }

    /// Addresses we listen on.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NodeError> {
        self.ask(Command::ListenAddrs).await
    }

    /// Dials a peer address.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NodeError> {
        self.ask(|r| Command::Dial(addr, r)).await?
    }

    /// The device's network changed (Wi-Fi to cellular, a new address):
    /// restarts the transport on fresh sockets, re-dials every member at
    /// once and re-announces our addresses (and media address). Joins in
    /// flight fail with [`NodeError::Network`]; call again.
    pub async fn network_changed(&self) -> Result<(), NodeError> {
        self.ask(Command::NetworkChanged).await?
    }

    /// Background mode on or off. On: location is published on the frugal
    /// `[background].publish` policy, voice is left in every group
    /// ([`Event::VoiceStopped`]), and the transport restarts quiet (no
    /// keep-alives, rare pings; see [`crate::link`]). Off: back to the
    /// foreground settings (voice is not re-joined: the app joins again).
    pub async fn set_background(&self, on: bool) -> Result<(), NodeError> {
        self.ask(|r| Command::SetBackground(on, r)).await?
    }

    /// Creates a group owned by us.
    pub async fn create_group(&self, name: &str) -> Result<GroupId, NodeError> {
        let name = name.to_owned();
        self.ask(|r| Command::CreateGroup(name, r)).await?
    }

    /// Our groups: id and name.
    pub async fn groups(&self) -> Result<Vec<(GroupId, String)>, NodeError> {
        self.ask(Command::Groups).await
    }

    /// An invite (text code) for `group`, valid for `ttl_ms`, usable `max_uses` times.
    pub async fn invite(
        &self,
        group: GroupId,
        max_uses: u32,
        ttl_ms: u64,
    ) -> Result<String, NodeError> {
        self.ask(|reply| Command::Invite {
            group,
            max_uses,
            ttl_ms,
            reply,
        })
        .await?
    }

    /// Joins a group with an invite code, over the network.
    pub async fn join(&self, invite: &str) -> Result<GroupId, NodeError> {
        let invite = invite.to_owned();
        self.ask(|r| Command::Join(invite, r)).await?
    }

    /// Members and roles of `group`.
    pub async fn members(&self, group: GroupId) -> Result<Vec<(MemberId, Role)>, NodeError> {
        self.ask(|r| Command::Members(group, r)).await?
    }

    /// Removes a member (admins only); every remaining member rotates keys.
    pub async fn remove_member(&self, group: GroupId, member: MemberId) -> Result<(), NodeError> {
        self.ask(|reply| Command::RemoveMember {
            group,
            member,
            reply,
        })
        .await?
    }

    /// Changes a member's role (owner only for admins).
    pub async fn set_role(
        &self,
        group: GroupId,
        member: MemberId,
        role: Role,
    ) -> Result<(), NodeError> {
        self.ask(|reply| Command::SetRole {
            group,
            member,
            role,
            reply,
        })
        .await?
    }

    /// Leaves a group and deletes its local data.
    pub async fn leave(&self, group: GroupId) -> Result<(), NodeError> {
        self.ask(|r| Command::Leave(group, r)).await?
    }

    /// Turns location sharing with `group` on or off.
    pub async fn share_location(&self, group: GroupId, on: bool) -> Result<(), NodeError> {
        self.ask(|reply| Command::ShareLocation { group, on, reply })
            .await?
    }

    /// Sets the precision we share with `group`.
    pub async fn set_precision(
        &self,
        group: GroupId,
        precision: Precision,
    ) -> Result<(), NodeError> {
        self.ask(|reply| Command::SetPrecision {
            group,
            precision,
            reply,
        })
        .await?
    }

    /// A new position of this device; published to sharing groups per policy.
    pub async fn update_position(&self, pos: Position) -> Result<(), NodeError> {
        self.ask(|r| Command::UpdatePosition(pos, r)).await??;
        match self.inner.position.lock() {
            Ok(mut p) => *p = Some(pos),
            Err(poisoned) => *poisoned.into_inner() = Some(pos),
        }
        Ok(())
    }

    /// Adds (or replaces) a geofence in `group`; shared with every member.
    pub async fn add_geofence(&self, group: GroupId, fence: Geofence) -> Result<(), NodeError> {
        self.ask(|reply| Command::AddGeofence {
            group,
            fence,
            reply,
        })
        .await?
    }

    /// Removes a geofence by name.
    pub async fn remove_geofence(&self, group: GroupId, name: &str) -> Result<(), NodeError> {
        let name = name.to_owned();
        self.ask(|reply| Command::RemoveGeofence { group, name, reply })
            .await?
    }

    /// The geofences of `group`.
    pub async fn geofences(&self, group: GroupId) -> Result<Vec<Geofence>, NodeError> {
        self.ask(|r| Command::Geofences(group, r)).await?
    }

    /// Sends an end-to-end encrypted chat message.
    pub async fn send_chat(&self, group: GroupId, text: &str) -> Result<(), NodeError> {
        let text = text.to_owned();
        self.ask(|reply| Command::SendChat { group, text, reply })
            .await?
    }

    /// Chat history of `group`.
    pub async fn chat_history(&self, group: GroupId) -> Result<Vec<ChatRecord>, NodeError> {
        self.ask(|r| Command::ChatHistory(group, r)).await?
    }

    /// Last known position of each member of `group`.
    pub async fn last_positions(&self, group: GroupId) -> Result<Vec<(MemberId, Fix)>, NodeError> {
        self.ask(|r| Command::LastPositions(group, r)).await?
    }

    /// Location history of `group` as a GPX document (one track per member).
    pub async fn history_gpx(&self, group: GroupId) -> Result<String, NodeError> {
        self.ask(|r| Command::HistoryGpx(group, r)).await?
    }

    /// The group's crypto session (adversarial tests: a member that forges
    /// frames with its real keys).
    #[cfg(feature = "test-hooks")]
    pub async fn group_session(
        &self,
        group: GroupId,
    ) -> Result<Arc<std::sync::Mutex<GroupSession>>, NodeError> {
        self.session_of(group).await
    }

    /// The group's crypto session, for the media plane to seal/open voice.
    pub(crate) async fn session_of(
        &self,
        group: GroupId,
    ) -> Result<Arc<std::sync::Mutex<GroupSession>>, NodeError> {
        self.ask(|r| Command::GroupSession(group, r)).await?
    }

    /// Attaches a voice engine to `group`: announces `addr` to the members
    /// and feeds the engine what it needs from now on.
    pub(crate) async fn attach_voice(
        &self,
        group: GroupId,
        addr: String,
        feed: mpsc::Sender<crate::media::feed::VoiceFeed>,
    ) -> Result<crate::media::feed::VoiceSnapshot, NodeError> {
        self.ask(|reply| Command::AttachVoice {
            group,
            addr,
            feed,
            reply,
        })
        .await?
    }

    /// Gossipsub score of a peer (falls when it sends invalid messages).
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, NodeError> {
        self.ask(|a| Command::PeerScore(peer, a)).await
    }

    /// Counters.
    pub async fn stats(&self) -> Result<NodeStats, NodeError> {
        self.ask(Command::Stats).await
    }

    /// Peers we are connected to and the path to each: direct, or only
    /// through a circuit relay (naming the relay). Changes come as
    /// [`Event::PathChanged`].
    pub fn connections(&self) -> Vec<(PeerId, crate::Path)> {
        self.inner.paths.list()
    }

    /// Peers we are connected to.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, NodeError> {
        self.ask(Command::ConnectedPeers).await
    }

    /// Subscribes to a group's topic without being a member and reports what
    /// arrives as [`Event::Observed`] (tests: shows what outsiders see).
    #[cfg(feature = "test-hooks")]
    pub async fn observe_group(&self, group: GroupId) -> Result<(), NodeError> {
        self.ask(|a| Command::ObserveGroup(group, a)).await
    }

    /// Publishes raw bytes on a group's topic (adversarial tests only).
    #[cfg(feature = "test-hooks")]
    pub async fn publish_raw(&self, group: GroupId, data: Vec<u8>) -> Result<(), NodeError> {
        self.ask(|reply| Command::PublishRaw { group, data, reply })
            .await?
    }

    /// Flushes the store and stops the node. Other handles get `NodeError::Closed`.
    pub async fn shutdown(&self) {
        // The guard (also inside a poison error) is dropped before any
        // await, so the shutdown future is `Send` and can be spawned.
        let media = match self.inner.media.lock() {
            Ok(mut m) => m.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(ep) = media {
            ep.close();
        }
        let _ = self.ask(Command::Stop).await;
        if let Some(h) = self.inner.task.lock().await.take() {
            let _ = h.await;
        }
    }
}
