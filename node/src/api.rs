//! The embeddable API: `Node::builder()...start()` gives a cheap-to-clone
//! handle; commands are async methods, what happens arrives as [`Event`]s.

use std::{path::PathBuf, sync::Arc};

use aura_crypto::{GroupId, GroupSession, Identity, MemberId, Role};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{broadcast, mpsc, oneshot, Mutex};

use crate::{
    config::Config,
    keyfile,
    location::{Fix, Geofence, Position, Precision},
    store::{ChatRecord, Store},
    task::{NodeStats, Task},
    NodeError,
};

/// Bound of the command queue.
const COMMAND_QUEUE: usize = 256;
/// Bound of the event stream (slow subscribers lag and are told how much they missed).
const EVENT_QUEUE: usize = 4096;

/// What happens on the node.
#[derive(Debug, Clone)]
pub enum Event {
    /// We are now in `group` (created, joined, or reloaded after restart).
    Joined {
        /// Group.
        group: GroupId,
        /// Its name.
        name: String,
    },
    /// A member was added.
    MemberJoined {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
    },
    /// A member was removed or left.
    MemberLeft {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
    },
    /// We were removed from `group`: nothing sent from now on is readable to us.
    RemovedFromGroup {
        /// Group.
        group: GroupId,
    },
    /// A stored group could not be loaded at start: its record was moved
    /// aside (`Store::quarantined_groups`) and the node started without it.
    GroupQuarantined {
        /// Group (the id it was stored under).
        group: GroupId,
        /// Why it did not load.
        reason: String,
    },
    /// A member's (coarsened) location.
    Location {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
        /// Where and when.
        fix: Fix,
    },
    /// A member entered or left a geofence.
    Geofence {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
        /// Fence name.
        fence: String,
        /// Entered (true) or left.
        entered: bool,
    },
    /// A member came near us, or went away again.
    Proximity {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
        /// Near (true) or far.
        near: bool,
        /// Distance to the member's shared position, metres.
        distance_m: f64,
        /// Uncertainty from the member's precision, metres.
        uncertainty_m: f64,
    },
    /// A chat message.
    Chat {
        /// Group.
        group: GroupId,
        /// Sender.
        from: MemberId,
        /// Text.
        text: String,
        /// Sent at, unix ms.
        at_ms: u64,
    },
    /// A member sent a gift (its ledger receipt checked with the pinned
    /// billing service key; each receipt shown once).
    Gift {
        /// Group (the room).
        group: GroupId,
        /// Who paid for it.
        from: MemberId,
        /// What the ledger signed: gift, receiver, coins, diamonds, animation.
        receipt: aura_billing::signed::GiftReceipt,
    },
    /// A member's media-plane (voice) endpoint.
    MediaAddr {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
        /// Socket address or multiaddr string.
        addr: String,
    },
    /// Quality of a member's incoming voice stream (every
    /// [`crate::voice_api::VoiceConfig::stats_every`] while in voice).
    VoiceQuality {
        /// Group.
        group: GroupId,
        /// Whose stream.
        member: MemberId,
        /// Loss, late, jitter, RTT, playout delay, concealment/FEC, MOS.
        report: crate::voice::QualityReport,
    },
    /// Voice heard as `sender`'s was not authentic: `forged` when its
    /// batch signature proved another holder of `sender`'s key made it, else
    /// no signature of `sender` covered it in time. Names the sender whose
    /// key was abused, not who abused it.
    VoiceNotAuthentic {
        /// Group.
        group: GroupId,
        /// The sender the frame claimed.
        sender: MemberId,
        /// Its frame counter.
        counter: u32,
        /// Proved forged (true) or merely unverified.
        forged: bool,
    },
    /// A member's sender key was installed.
    KeysReceived {
        /// Group.
        group: GroupId,
        /// Whose key.
        sender: MemberId,
        /// Its epoch.
        epoch: u16,
    },
    /// A connection opened.
    PeerConnected {
        /// Peer.
        peer: PeerId,
        /// Through a circuit relay.
        relayed: bool,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// Peer.
        peer: PeerId,
    },
    /// Raw gossip on a topic watched with [`Node::observe_group`] (not a member).
    Observed {
        /// Group whose topic it was.
        group: GroupId,
        /// The bytes as received.
        data: Vec<u8>,
    },
    /// A gossip message was rejected (malformed, wrong group, forged).
    GossipRejected {
        /// Who forwarded it.
        peer: PeerId,
        /// Why.
        reason: String,
    },
}

pub(crate) type Command = Box<dyn FnOnce(&mut Task) + Send>;

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
        let (task, peer_id) = Task::new(identity, &secret, cfg, store, ev_tx.clone())?;
        let handle = tokio::spawn(task.run(cmd_rx));
        Ok(Node {
            inner: Arc::new(Inner {
                cmd: cmd_tx,
                events: ev_tx,
                member,
                peer_id,
                task: Mutex::new(Some(handle)),
                media: std::sync::Mutex::new(None),
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
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The node's one media endpoint, bound by the first `join_voice` and
    /// shared by every group's voice.
    media: std::sync::Mutex<Option<aura_media::MediaEndpoint>>,
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

    /// Puts an event on the event stream (the voice engine's quality events).
    pub(crate) fn emit(&self, event: Event) {
        let _ = self.inner.events.send(event);
    }

    /// The slot of the node's media endpoint (see `voice_api`).
    pub(crate) fn media_slot(&self) -> &std::sync::Mutex<Option<aura_media::MediaEndpoint>> {
        &self.inner.media
    }

    /// A new subscription to the event stream.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Task) -> R + Send + 'static,
    ) -> Result<R, NodeError> {
        let (tx, rx) = oneshot::channel();
        let cmd: Command = Box::new(move |t| {
            let _ = tx.send(f(t));
        });
        self.inner
            .cmd
            .send(cmd)
            .await
            .map_err(|_| NodeError::Closed)?;
        rx.await.map_err(|_| NodeError::Closed)
    }

    /// Addresses we listen on.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NodeError> {
        self.call(|t| t.listen_addrs()).await
    }

    /// Dials a peer address.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NodeError> {
        self.call(move |t| t.dial(addr)).await?
    }

    /// Creates a group owned by us.
    pub async fn create_group(&self, name: &str) -> Result<GroupId, NodeError> {
        let name = name.to_owned();
        self.call(move |t| t.create_group(&name)).await?
    }

    /// Our groups: id and name.
    pub async fn groups(&self) -> Result<Vec<(GroupId, String)>, NodeError> {
        self.call(|t| t.groups()).await
    }

    /// An invite (text code) for `group`, valid for `ttl_ms`, usable `max_uses` times.
    pub async fn invite(
        &self,
        group: GroupId,
        max_uses: u32,
        ttl_ms: u64,
    ) -> Result<String, NodeError> {
        self.call(move |t| t.invite(group, max_uses, ttl_ms))
            .await?
    }

    /// Joins a group with an invite code, over the network.
    pub async fn join(&self, invite: &str) -> Result<GroupId, NodeError> {
        let invite = invite.to_owned();
        let rx = self.call(move |t| t.join(&invite)).await??;
        rx.await.map_err(|_| NodeError::Closed)?
    }

    /// Members and roles of `group`.
    pub async fn members(&self, group: GroupId) -> Result<Vec<(MemberId, Role)>, NodeError> {
        self.call(move |t| t.members(group)).await?
    }

    /// Removes a member (admins only); every remaining member rotates keys.
    pub async fn remove_member(&self, group: GroupId, member: MemberId) -> Result<(), NodeError> {
        self.call(move |t| t.remove_member(group, member)).await?
    }

    /// Changes a member's role (owner only for admins).
    pub async fn set_role(
        &self,
        group: GroupId,
        member: MemberId,
        role: Role,
    ) -> Result<(), NodeError> {
        self.call(move |t| t.set_role(group, member, role)).await?
    }

    /// Leaves a group and deletes its local data.
    pub async fn leave(&self, group: GroupId) -> Result<(), NodeError> {
        self.call(move |t| t.leave(group)).await?
    }

    /// Turns location sharing with `group` on or off.
    pub async fn share_location(&self, group: GroupId, on: bool) -> Result<(), NodeError> {
        self.call(move |t| t.share_location(group, on)).await?
    }

    /// Sets the precision we share with `group`.
    pub async fn set_precision(
        &self,
        group: GroupId,
        precision: Precision,
    ) -> Result<(), NodeError> {
        self.call(move |t| t.set_precision(group, precision))
            .await?
    }

    /// A new position of this device; published to sharing groups per policy.
    pub async fn update_position(&self, pos: Position) -> Result<(), NodeError> {
        self.call(move |t| t.update_position(pos)).await?
    }

    /// Adds (or replaces) a geofence in `group`; shared with every member.
    pub async fn add_geofence(&self, group: GroupId, fence: Geofence) -> Result<(), NodeError> {
        self.call(move |t| t.add_geofence(group, fence)).await?
    }

    /// Removes a geofence by name.
    pub async fn remove_geofence(&self, group: GroupId, name: &str) -> Result<(), NodeError> {
        let name = name.to_owned();
        self.call(move |t| t.remove_geofence(group, &name)).await?
    }

    /// The geofences of `group`.
    pub async fn geofences(&self, group: GroupId) -> Result<Vec<Geofence>, NodeError> {
        self.call(move |t| t.geofences(group)).await?
    }

    /// Sends an end-to-end encrypted chat message.
    pub async fn send_chat(&self, group: GroupId, text: &str) -> Result<(), NodeError> {
        let text = text.to_owned();
        self.call(move |t| t.send_chat(group, &text)).await?
    }

    /// Chat history of `group`.
    pub async fn chat_history(&self, group: GroupId) -> Result<Vec<ChatRecord>, NodeError> {
        self.call(move |t| t.chat_history(group)).await?
    }

    /// Sends a gift to `to` through the billing ledger and broadcasts the
    /// signed receipt to `group`. `id` is chosen by the caller: retrying with
    /// the same id after an error never pays twice (the ledger returns the
    /// original receipt, members drop the duplicate).
    pub async fn send_gift(
        &self,
        group: GroupId,
        billing: &mut aura_billing::client::BillingClient,
        to: MemberId,
        gift: &str,
        id: &str,
    ) -> Result<aura_billing::signed::SignedReceipt, NodeError> {
        let req = aura_billing::api::SendGiftRequest {
            id: id.to_owned(),
            gift: gift.to_owned(),
            to: hex::encode(to.0),
            room: crate::gift::room_id(group),
        };
        let receipt = billing.send_gift(&req).await?.receipt;
        self.broadcast_gift(group, receipt.clone()).await?;
        Ok(receipt)
    }

    /// A billing-ledger client logged in with this node's identity key, at
    /// the configured `billing_url`, pinned to `billing_service_key` when set.
    pub async fn billing_client(&self) -> Result<aura_billing::client::BillingClient, NodeError> {
        let (url, key, secret) = self
            .call(|t| {
                (
                    t.config.billing_url.clone(),
                    t.config.billing_service_key.clone(),
                    t.identity.to_secret_bytes(),
                )
            })
            .await?;
        let url = url.ok_or_else(|| {
            NodeError::BadInput(
                "no billing ledger configured; set billing_url (and billing_service_key) in aura.toml"
                    .into(),
            )
        })?;
        let mut client = aura_billing::client::BillingClient::new(
            &url,
            ed25519_dalek::SigningKey::from_bytes(&secret),
        )?;
        if let Some(k) = key {
            // A ledger that announces another key is the wrong ledger (or a
            // misconfiguration): its receipts would not verify in the group.
            let pinned = crate::gift::parse_service_key(&k)?;
            let announced = client.service_key().await?;
            if announced != pinned {
                return Err(NodeError::BadInput(format!(
                    "the ledger at {url} signs with key {}, not the billing_service_key in aura.toml; fix one of them",
                    hex::encode(announced.to_bytes())
                )));
            }
        }
        client.login().await?;
        Ok(client)
    }

    /// Broadcasts a gift receipt we obtained from the ledger to `group`
    /// (checked first: it must name us as sender and `group` as room).
    pub async fn broadcast_gift(
        &self,
        group: GroupId,
        receipt: aura_billing::signed::SignedReceipt,
    ) -> Result<(), NodeError> {
        self.call(move |t| t.broadcast_gift(group, receipt)).await?
    }

    /// Gift receipts shown in `group`, oldest first.
    pub async fn gifts(
        &self,
        group: GroupId,
    ) -> Result<Vec<aura_billing::signed::SignedReceipt>, NodeError> {
        self.call(move |t| t.gifts(group)).await?
    }

    /// Last known position of each member of `group`.
    pub async fn last_positions(&self, group: GroupId) -> Result<Vec<(MemberId, Fix)>, NodeError> {
        self.call(move |t| t.last_positions(group)).await?
    }

    /// Location history of `group` as a GPX document (one track per member).
    pub async fn history_gpx(&self, group: GroupId) -> Result<String, NodeError> {
        self.call(move |t| t.history_gpx(group)).await?
    }

    /// The group's crypto session, for the media plane to seal/open voice.
    pub async fn group_session(
        &self,
        group: GroupId,
    ) -> Result<Arc<std::sync::Mutex<GroupSession>>, NodeError> {
        self.call(move |t| t.group_session(group)).await?
    }

    /// Announces our media-plane endpoint to `group` (members get [`Event::MediaAddr`]).
    pub async fn set_media_addr(&self, group: GroupId, addr: &str) -> Result<(), NodeError> {
        let addr = addr.to_owned();
        self.call(move |t| t.set_media_addr(group, addr)).await?
    }

    /// Gossipsub score of a peer (falls when it sends invalid messages).
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, NodeError> {
        self.call(move |t| t.peer_score(&peer)).await
    }

    /// Counters.
    pub async fn stats(&self) -> Result<NodeStats, NodeError> {
        self.call(|t| t.stats()).await
    }

    /// Peers we are connected to.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, NodeError> {
        self.call(|t| t.connected_peers()).await
    }

    /// Subscribes to a group's topic without being a member and reports what
    /// arrives as [`Event::Observed`] (diagnostics; shows what outsiders see).
    #[doc(hidden)]
    pub async fn observe_group(&self, group: GroupId) -> Result<(), NodeError> {
        self.call(move |t| t.observe_group(group)).await
    }

    /// Publishes raw bytes on a group's topic (adversarial tests only).
    #[doc(hidden)]
    pub async fn publish_raw(&self, group: GroupId, data: Vec<u8>) -> Result<(), NodeError> {
        self.call(move |t| t.publish_raw(group, data)).await?
    }

    /// Flushes the store and stops the node. Other handles get `NodeError::Closed`.
    pub async fn shutdown(&self) {
        let media = self.inner.media.lock().map(|mut m| m.take());
        if let Ok(Some(ep)) = media {
            ep.close();
        }
        let _ = self.call(|t| t.stop()).await;
        if let Some(h) = self.inner.task.lock().await.take() {
            let _ = h.await;
        }
    }
}
