//! [`AuraNode`]: the node handle apps hold. Every call forwards to
//! [`aura_node::Node`] on the binding's tokio runtime.

use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use aura_node::{config::Config, Node, NodeError};
use tokio::runtime::Runtime;

use crate::{
    error::AuraError,
    events::{AuraListener, Forward, Subscription},
    types::{
        group_hex, group_id, member_hex, member_id, position, ChatMessage, GroupInfo,
        LocationPrecision, MemberInfo, MemberPosition, MemberRole,
    },
};

/// Worker threads of the binding's runtime: every node in the process
/// shares it (a phone runs one node; two cores are plenty for it).
const RUNTIME_THREADS: usize = 2;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The process-wide tokio runtime the nodes run on, built on first use.
pub(crate) fn runtime() -> Result<&'static Runtime, AuraError> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RUNTIME_THREADS)
        .thread_name("aura-rt")
        .enable_all()
        .build()
        .map_err(|e| AuraError::Network {
            reason: format!("cannot start the async runtime: {e}"),
        })?;
    Ok(RUNTIME.get_or_init(|| rt))
}

/// Runs `fut` on the binding's runtime and awaits it from whatever executor
/// polls the caller (the foreign language's).
pub(crate) async fn on_runtime<T, E, F>(fut: F) -> Result<T, AuraError>
where
    T: Send + 'static,
    E: Into<AuraError> + Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    runtime()?
        .spawn(fut)
        .await
        .map_err(|_| AuraError::Closed)?
        .map_err(Into::into)
}

/// Starts a node whose identity key and store live in `data_dir`.
/// `config_toml` is the text of a node config file (the same keys as the
/// CLI's `aura.toml`); `None` uses the defaults. Its `data_dir`, if any,
/// is replaced by `data_dir`.
#[uniffi::export]
pub async fn start_node(
    data_dir: String,
    config_toml: Option<String>,
) -> Result<Arc<AuraNode>, AuraError> {
    let config = match config_toml {
        Some(text) => {
            Config::parse(&text, Path::new("<config_toml>")).map_err(|e| AuraError::Config {
                reason: e.to_string(),
            })?
        }
        None => Config::default(),
    };
    let node = on_runtime(async move {
        Node::builder()
            .config(config)
            .data_dir(PathBuf::from(data_dir))
            .start()
            .await
    })
    .await?;
    Ok(Arc::new(AuraNode { node }))
}

/// A running node. Methods are async (Kotlin `suspend`, Swift `async`,
/// Python coroutines) except the cheap ones.
#[derive(Debug, uniffi::Object)]
pub struct AuraNode {
    node: Node,
}

impl AuraNode {
    /// The node this handle drives.
    pub(crate) fn node(&self) -> &Node {
        &self.node
    }

    /// Runs `f` with a clone of the node on the runtime.
    pub(crate) async fn call<T, F, Fut>(&self, f: F) -> Result<T, AuraError>
    where
        T: Send + 'static,
        F: FnOnce(Node) -> Fut,
        Fut: Future<Output = Result<T, NodeError>> + Send + 'static,
    {
        on_runtime(f(self.node.clone())).await
    }
}

#[uniffi::export]
impl AuraNode {
    /// Our member id (hex of the ed25519 public key).
    pub fn member_id(&self) -> String {
        member_hex(&self.node.member_id())
    }

    /// Our libp2p peer id (same key).
    pub fn peer_id(&self) -> String {
        self.node.peer_id().to_string()
    }

    /// Pushes every event from now on to `listener`, until the returned
    /// subscription is cancelled or dropped, or the node stops.
    pub fn subscribe(
        &self,
        listener: Arc<dyn AuraListener>,
    ) -> Result<Arc<Subscription>, AuraError> {
        let handle = self.node.add_listener(Arc::new(Forward(listener)))?;
        Ok(Arc::new(Subscription::new(handle)))
    }

    /// Addresses we listen on (multiaddrs).
    pub async fn listen_addrs(&self) -> Result<Vec<String>, AuraError> {
        let addrs = self.call(|n| async move { n.listen_addrs().await }).await?;
        Ok(addrs.iter().map(ToString::to_string).collect())
    }

    /// Peers we are connected to (libp2p peer ids).
    pub async fn connected_peers(&self) -> Result<Vec<String>, AuraError> {
        let got = self
            .call(|n| async move { n.connected_peers().await })
            .await?;
        Ok(got.iter().map(ToString::to_string).collect())
    }

    /// Dials a peer by multiaddr.
    pub async fn dial(&self, addr: String) -> Result<(), AuraError> {
        let addr = addr
            .parse()
            .map_err(|e| AuraError::bad_input(format!("multiaddr {addr:?}: {e}")))?;
        self.call(|n| async move { n.dial(addr).await }).await
    }

    /// The device's network changed (Wi-Fi to cellular and back, a new
    /// address): call it from the platform's network callback
    /// (`ConnectivityManager.NetworkCallback`, `NWPathMonitor`). Restarts
    /// the transport on fresh sockets and re-dials every member at once; a
    /// join in flight fails with `AuraError.Network` (call it again).
    pub async fn network_changed(&self) -> Result<(), AuraError> {
        self.call(|n| async move { n.network_changed().await })
            .await
    }

    /// Background mode on (the app left the screen) or off (it is back).
    /// On: location is published on the frugal background policy, voice is
    /// left in every group (`AuraEvent.VoiceStopped`), keep-alives and
    /// pings go quiet. Off: foreground settings again (join voice again).
    pub async fn set_background(&self, on: bool) -> Result<(), AuraError> {
        self.call(|n| async move { n.set_background(on).await })
            .await
    }

    /// Creates a group owned by us; returns its id.
    pub async fn create_group(&self, name: String) -> Result<String, AuraError> {
        let id = self
            .call(|n| async move { n.create_group(&name).await })
            .await?;
        Ok(group_hex(&id))
    }

    /// Our groups.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, AuraError> {
        let groups = self.call(|n| async move { n.groups().await }).await?;
        Ok(groups
            .into_iter()
            .map(|(id, name)| GroupInfo {
                id: group_hex(&id),
                name,
            })
            .collect())
    }

    /// An invite (text to share: link, QR code, message) for `group`,
    /// usable `max_uses` times within `ttl_ms`.
    pub async fn invite(
        &self,
        group: String,
        max_uses: u32,
        ttl_ms: u64,
    ) -> Result<String, AuraError> {
        let group = group_id(&group)?;
        self.call(|n| async move { n.invite(group, max_uses, ttl_ms).await })
            .await
    }

    /// Joins a group with an invite text, over the network; returns its id.
    pub async fn join(&self, invite: String) -> Result<String, AuraError> {
        let id = self.call(|n| async move { n.join(&invite).await }).await?;
        Ok(group_hex(&id))
    }

    /// Members of `group` with their roles.
    pub async fn members(&self, group: String) -> Result<Vec<MemberInfo>, AuraError> {
        let group = group_id(&group)?;
        let members = self.call(|n| async move { n.members(group).await }).await?;
        Ok(members
            .into_iter()
            .map(|(id, role)| MemberInfo {
                id: member_hex(&id),
                role: role.into(),
            })
            .collect())
    }

    /// Removes a member (admins only); every remaining member rotates keys.
    pub async fn remove_member(&self, group: String, member: String) -> Result<(), AuraError> {
        let (group, member) = (group_id(&group)?, member_id(&member)?);
        self.call(|n| async move { n.remove_member(group, member).await })
            .await
    }

    /// Changes a member's role (only the owner makes or unmakes admins).
    pub async fn set_role(
        &self,
        group: String,
        member: String,
        role: MemberRole,
    ) -> Result<(), AuraError> {
        let (group, member) = (group_id(&group)?, member_id(&member)?);
        let role = match role {
            MemberRole::Member => aura_crypto::Role::Member,
            MemberRole::Admin => aura_crypto::Role::Admin,
            MemberRole::Owner => aura_crypto::Role::Owner,
        };
        self.call(|n| async move { n.set_role(group, member, role).await })
            .await
    }

    /// Leaves `group` and deletes its local data.
    pub async fn leave(&self, group: String) -> Result<(), AuraError> {
        let group = group_id(&group)?;
        self.call(|n| async move { n.leave(group).await }).await
    }

    /// Turns location sharing with `group` on or off.
    pub async fn share_location(&self, group: String, on: bool) -> Result<(), AuraError> {
        let group = group_id(&group)?;
        self.call(|n| async move { n.share_location(group, on).await })
            .await
    }

    /// Sets the precision we share with `group`.
    pub async fn set_precision(
        &self,
        group: String,
        precision: LocationPrecision,
    ) -> Result<(), AuraError> {
        let group = group_id(&group)?;
        self.call(|n| async move { n.set_precision(group, precision.into()).await })
            .await
    }

    /// A new fix from the platform's location provider (degrees); published
    /// to the sharing groups per the publish policy.
    pub async fn update_position(&self, lat: f64, lon: f64) -> Result<(), AuraError> {
        let pos = position(lat, lon)?;
        self.call(|n| async move { n.update_position(pos).await })
            .await
    }

    /// The last known position of each member of `group`.
    pub async fn last_positions(&self, group: String) -> Result<Vec<MemberPosition>, AuraError> {
        let group = group_id(&group)?;
        let got = self
            .call(|n| async move { n.last_positions(group).await })
            .await?;
        Ok(got
            .iter()
            .map(|(m, fix)| MemberPosition {
                member: member_hex(m),
                fix: fix.into(),
            })
            .collect())
    }

    /// The location history of `group` as a GPX document.
    pub async fn history_gpx(&self, group: String) -> Result<String, AuraError> {
        let group = group_id(&group)?;
        self.call(|n| async move { n.history_gpx(group).await })
            .await
    }

    /// Sends an end-to-end encrypted chat message to `group`.
    pub async fn send_chat(&self, group: String, text: String) -> Result<(), AuraError> {
        let group = group_id(&group)?;
        self.call(|n| async move { n.send_chat(group, &text).await })
            .await
    }

    /// The chat history of `group`, oldest first.
    pub async fn chat_history(&self, group: String) -> Result<Vec<ChatMessage>, AuraError> {
        let group = group_id(&group)?;
        let got = self
            .call(|n| async move { n.chat_history(group).await })
            .await?;
        Ok(got
            .into_iter()
            .map(|c| ChatMessage {
                sender: hex::encode(c.from),
                at_ms: c.at_ms,
                text: c.text,
            })
            .collect())
    }

    /// Flushes the store and stops the node; later calls fail with
    /// `AuraError::Closed` and subscriptions end.
    pub async fn shutdown(&self) -> Result<(), AuraError> {
        self.call(|n| async move {
            n.shutdown().await;
            Ok(())
        })
        .await
    }
}
