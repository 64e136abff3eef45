//! Phone life: a network change (Wi-Fi to cellular and back) and background
//! mode. Both restart the transport: a fresh swarm (new sockets and
//! connections) with the mode's timing (see [`crate::link`]), the groups'
//! topics subscribed again, every member re-dialled at once, and our
//! addresses (and media address) re-announced once a member is back. The
//! new listeners take the old ports again once the old sockets are closed
//! (members may all restart at once, e.g. when the whole group goes to
//! background: each must still find the others where they were).

use std::{collections::HashSet, time::Duration};

use aura_crypto::{FrameKind, GroupId};
use futures::StreamExt;
use libp2p::{core::transport::ListenerId, identity::Keypair, Multiaddr, Swarm};

use super::Task;
use crate::{
    config::Config,
    net::Behaviour,
    wire::{self, ControlMsg, LocationMsg},
    NodeError,
};

/// Longest an old swarm is driven to close its connections cleanly.
const RETIRE_WITHIN: Duration = Duration::from_secs(2);
/// Longest the new listeners wait for the old ports, ms; then any port.
const SAME_PORT_WITHIN_MS: u64 = 8_000;
/// After a restart, members we are not connected to are dialled every
/// [`FAST_REDIAL_EVERY_MS`] for this long, ms: when they restarted at the
/// same time (the whole group went to background), their old ports open
/// again only once their old sockets are closed.
const FAST_REDIAL_FOR_MS: u64 = 15_000;
const FAST_REDIAL_EVERY_MS: u64 = 1_000;

/// The transport's mode and what a restart left to do.
#[derive(Debug, Default)]
pub(crate) struct NetState {
    /// Background mode is on.
    pub(crate) background: bool,
    /// Listeners of the current swarm.
    pub(crate) listeners: Vec<ListenerId>,
    /// Groups to tell our new addresses, once one of their members is back.
    readvertise: HashSet<GroupId>,
    /// Listeners to start again once the old swarm let go of their ports.
    relisten: Option<Relisten>,
    /// Members connected before the restart, with their addresses, and
    /// until when (unix ms) they are re-dialled quickly.
    redial: Vec<(libp2p::PeerId, Vec<Multiaddr>)>,
    redial_until_ms: u64,
    last_fast_redial_ms: u64,
}

/// Listeners waiting for their old ports.
#[derive(Debug)]
struct Relisten {
    /// The configured addresses with the ports bound before the restart.
    addrs: Vec<(Multiaddr, Multiaddr)>,
    /// Fires when the old swarm is gone.
    retired: tokio::sync::oneshot::Receiver<()>,
    since_ms: u64,
}

/// `wanted` (a configured listen address) with its port 0 replaced by the
/// port the same transport (TCP, or UDP for QUIC) had bound in `bound`.
fn with_old_port(wanted: &Multiaddr, bound: &[Multiaddr]) -> Multiaddr {
    use libp2p::multiaddr::Protocol;
    let port_of = |a: &Multiaddr, udp: bool| {
        a.iter().find_map(|p| match p {
            Protocol::Udp(n) if udp => Some(n),
            Protocol::Tcp(n) if !udp => Some(n),
            _ => None,
        })
    };
    let udp = port_of(wanted, true).is_some();
    if port_of(wanted, udp) != Some(0) {
        return wanted.clone();
    }
    let Some(old) = bound.iter().find_map(|a| port_of(a, udp)) else {
        return wanted.clone();
    };
    wanted
        .iter()
        .map(|p| match p {
            Protocol::Udp(0) => Protocol::Udp(old),
            Protocol::Tcp(0) => Protocol::Tcp(old),
            p => p,
        })
        .collect()
}

/// Listens on the configured addresses and dials the bootstrap nodes;
/// returns the listeners (relay circuits: `task::relays`).
pub(crate) fn start_listening(
    swarm: &mut Swarm<Behaviour>,
    config: &Config,
) -> Result<Vec<ListenerId>, NodeError> {
    let mut listeners = Vec::new();
    for addr in &config.listen {
        let ma = addr
            .parse()
            .map_err(|e| NodeError::BadInput(format!("listen address {addr:?}: {e}")))?;
        let id = swarm
            .listen_on(ma)
            .map_err(|e| NodeError::Network(format!("cannot listen on {addr}: {e}")))?;
        listeners.push(id);
    }
    for b in &config.bootstrap {
        let ma: Multiaddr = b
            .parse()
            .map_err(|e| NodeError::BadInput(format!("bootstrap address {b:?}: {e}")))?;
        if let (Some(libp2p::multiaddr::Protocol::P2p(p)), Some(kad)) =
            (ma.iter().last(), swarm.behaviour_mut().kad.as_mut())
        {
            kad.add_address(&p, ma.clone());
        }
        let _ = swarm.dial(ma);
    }
    if let Some(kad) = swarm.behaviour_mut().kad.as_mut() {
        let _ = kad.bootstrap();
    }
    Ok(listeners)
}

/// Closes an old swarm's listeners and connections (so members stop
/// sending on them at once) and drives it on its own until they are
/// closed or [`RETIRE_WITHIN`] passed; `retired` fires once it is dropped.
fn retire(
    mut old: Swarm<Behaviour>,
    listeners: Vec<ListenerId>,
    retired: tokio::sync::oneshot::Sender<()>,
) {
    for id in listeners {
        old.remove_listener(id);
    }
    let peers: Vec<_> = old.connected_peers().copied().collect();
    for p in peers {
        let _ = old.disconnect_peer_id(p);
    }
    tokio::spawn(async move {
        let _ = tokio::time::timeout(RETIRE_WITHIN, async {
            while old.connected_peers().next().is_some() {
                if old.next().await.is_none() {
                    return;
                }
            }
        })
        .await;
        drop(old);
        let _ = retired.send(());
    });
}

impl NetState {
    /// The foreground state of a transport listening with `listeners`.
    pub(crate) fn new(listeners: Vec<ListenerId>) -> Self {
        Self {
            listeners,
            ..Self::default()
        }
    }
}

impl Task {
    /// Tells every group our addresses (and media address) again, as soon
    /// as one of its members is connected: a new circuit address.
    pub(crate) fn readvertise_all(&mut self) {
        self.net.readvertise = self.groups.keys().copied().collect();
    }

    /// The device's network changed: a fresh transport, every member
    /// re-dialled now.
    pub(crate) fn network_changed(&mut self) -> Result<(), NodeError> {
        self.restart_network()
    }

    /// Turns background mode on or off: the groups' publish policy, voice
    /// (left in the background) and the transport's timing.
    pub(crate) fn set_background(&mut self, on: bool) -> Result<(), NodeError> {
        if on == self.net.background {
            return Ok(());
        }
        self.net.background = on;
        self.carry.background_since_ms = super::now_ms();
        let policy = if on {
            self.config.background.publish
        } else {
            self.config.publish
        };
        let gids: Vec<GroupId> = self.groups.keys().copied().collect();
        for gid in gids {
            let Some(g) = self.groups.get_mut(&gid) else {
                continue;
            };
            g.publisher.set_policy(policy);
            if on && g.voice.take().is_some() {
                // Dropping the feed stops the group's voice engine.
                g.media_addr = None;
                self.emit(crate::Event::VoiceStopped { group: gid });
            }
        }
        self.restart_network()?;
        if !on {
            self.carry_collect();
        }
        self.announce_presence(on);
        Ok(())
    }

    /// Replaces the swarm with a fresh one for the current mode.
    fn restart_network(&mut self) -> Result<(), NodeError> {
        let config = self.config.for_mode(self.net.background);
        let mut secret = *self.identity.to_secret_bytes();
        let key = Keypair::ed25519_from_bytes(&mut secret)
            .map_err(|e| NodeError::Network(format!("identity key: {e}")))?;
        let fresh = crate::net::build_swarm(key, &config, &mut self.metrics)?;
        let old = std::mem::replace(&mut self.swarm, fresh);
        self.hold_pings_to_away();
        // Everyone we were connected to, with the addresses Identify told us
        // (the store may lack those of members who joined after connecting).
        let was_connected: Vec<_> = old
            .connected_peers()
            .filter_map(|p| Some((*p, self.peer_addrs.get(p)?.clone())))
            .collect();
        let bound: Vec<Multiaddr> = old.listeners().cloned().collect();
        let (tx, rx) = tokio::sync::oneshot::channel();
        retire(old, std::mem::take(&mut self.net.listeners), tx);
        // Dial out at once (from fresh ports); listen on the old ports as
        // soon as the old sockets are closed (see `network_tick`).
        let mut addrs = Vec::new();
        for a in &config.listen {
            let wanted: Multiaddr = a
                .parse()
                .map_err(|e| NodeError::BadInput(format!("listen address {a:?}: {e}")))?;
            addrs.push((with_old_port(&wanted, &bound), wanted));
        }
        self.net.relisten = Some(Relisten {
            addrs,
            retired: rx,
            since_ms: super::now_ms(),
        });
        let without_listeners = Config {
            listen: Vec::new(),
            ..config
        };
        self.net.listeners = start_listening(&mut self.swarm, &without_listeners)?;
        let gs = &mut self.swarm.behaviour_mut().gossipsub;
        // In background mode our groups' gossip goes through a carrier
        // (`carry`): not subscribed, members send us nothing.
        let subscribe = !self.net.background;
        for g in self.groups.values().filter(|_| subscribe) {
            if let Err(e) = gs.subscribe(&g.topic) {
                tracing::warn!(error = %e, "subscribe failed");
            }
            let _ = gs.set_topic_params(g.topic.clone(), crate::net::topic_score_params());
        }
        for gid in self.observed.values() {
            let _ = gs.subscribe(&crate::net::topic_for(&gid.0));
        }
        // Requests in flight went out on the old swarm: no answer will come.
        self.abort_core_requests(network_changed_error);
        self.discovery = Default::default();
        self.net.readvertise = self.groups.keys().copied().collect();
        self.net.redial = was_connected;
        let now = super::now_ms();
        self.net.redial_until_ms = now + FAST_REDIAL_FOR_MS;
        self.redial_after_restart(now)?;
        self.relays_restarted();
        tracing::info!(
            background = self.net.background,
            dialling = self
                .swarm
                .network_info()
                .connection_counters()
                .num_pending_outgoing(),
            "network restarted"
        );
        Ok(())
    }

    /// Dials the members we are not connected to: from the store, and those
    /// we were connected to before the restart.
    fn redial_after_restart(&mut self, now: u64) -> Result<(), NodeError> {
        self.net.last_fast_redial_ms = now;
        self.dial_known_members()?;
        for (peer, addrs) in &self.net.redial {
            if self.swarm.is_connected(peer) || !self.may_dial(peer) {
                continue;
            }
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(*peer)
                .addresses(addrs.clone())
                .build();
            let _ = self.swarm.dial(opts);
        }
        Ok(())
    }

    /// How often unconnected members are dialled again in the current mode.
    pub(crate) fn redial_every_ms(&self) -> u64 {
        self.config
            .for_mode(self.net.background)
            .link
            .redial_every_ms
    }

    /// Starts the listeners of a restart on their old ports once the old
    /// swarm is gone (or on any port after [`SAME_PORT_WITHIN_MS`]).
    fn relisten(&mut self) {
        let Some(mut r) = self.net.relisten.take() else {
            return;
        };
        let waited = super::now_ms().saturating_sub(r.since_ms);
        let retired = !matches!(
            r.retired.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Empty)
        );
        if !retired && waited < SAME_PORT_WITHIN_MS {
            self.net.relisten = Some(r);
            return;
        }
        let mut later = Vec::new();
        for (same_port, any_port) in r.addrs.drain(..) {
            match self.swarm.listen_on(same_port.clone()) {
                Ok(id) => self.net.listeners.push(id),
                // The old socket may linger a little after the old swarm.
                Err(e) if waited < SAME_PORT_WITHIN_MS => {
                    tracing::debug!(addr = %same_port, error = %e, "old port still busy");
                    later.push((same_port, any_port));
                }
                Err(e) => {
                    tracing::info!(addr = %same_port, error = %e, "old port lost: any port");
                    match self.swarm.listen_on(any_port.clone()) {
                        Ok(id) => self.net.listeners.push(id),
                        Err(e) => tracing::warn!(addr = %any_port, error = %e, "cannot listen"),
                    }
                }
            }
        }
        if !later.is_empty() {
            r.addrs = later;
            self.net.relisten = Some(r);
        }
    }

    /// From the tick: after a restart, listens again, and tells each group
    /// where we listen now (and our media address) as soon as one of its
    /// members is connected.
    pub(crate) fn network_tick(&mut self) {
        self.relisten();
        let now = super::now_ms();
        if now < self.net.redial_until_ms
            && now.saturating_sub(self.net.last_fast_redial_ms) >= FAST_REDIAL_EVERY_MS
        {
            if let Err(e) = self.redial_after_restart(now) {
                tracing::debug!(error = %e, "redial after restart failed");
            }
        } else if now >= self.net.redial_until_ms {
            self.net.redial.clear();
        }
        if self.net.readvertise.is_empty() || self.swarm.listeners().next().is_none() {
            return;
        }
        let due: Vec<GroupId> = self.net.readvertise.iter().copied().collect();
        for gid in due {
            let Some(g) = self.groups.get(&gid) else {
                self.net.readvertise.remove(&gid);
                continue;
            };
            let hash = g.topic.hash();
            let back = self
                .swarm
                .behaviour()
                .gossipsub
                .all_peers()
                .any(|(_, topics)| topics.contains(&&hash));
            if !back {
                continue;
            }
            self.net.readvertise.remove(&gid);
            let addrs = self.addrs_for_others();
            let _ = self.send_control(&gid, &ControlMsg::Addrs(addrs));
            self.announce_media(gid, true);
            self.republish_position(gid);
        }
    }

    /// Publishes our last published position again, stamped now: it may
    /// have gone out while the group's members were reconnecting.
    fn republish_position(&mut self, gid: GroupId) {
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        if !g.sharing || g.removed {
            return;
        }
        let Some(fix) = g.publisher.republish(super::now_ms()) else {
            return;
        };
        let msg = wire::encode(&LocationMsg::from_fix(&fix));
        match self.seal_publish(&gid, FrameKind::Location, &msg) {
            Ok(()) => self.stats.locations_published += 1,
            Err(e) => tracing::debug!(error = %e, "location not re-published"),
        }
    }
}

/// What a join in flight during a network restart fails with.
fn network_changed_error() -> NodeError {
    NodeError::Network("the network changed during the join: try again".into())
}
