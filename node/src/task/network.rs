//! Phone life: a network change (Wi-Fi to cellular and back) and background
//! mode. Both restart the transport: a fresh swarm (new sockets, listeners,
//! connections) with the mode's timing (see [`crate::link`]), the groups'
//! topics subscribed again, every member re-dialled at once, and our
//! addresses (and media address) re-announced once a member is back.

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

/// The transport's mode and what a restart left to do.
#[derive(Debug, Default)]
pub(crate) struct NetState {
    /// Background mode is on.
    pub(crate) background: bool,
    /// Listeners of the current swarm.
    pub(crate) listeners: Vec<ListenerId>,
    /// Groups to tell our new addresses, once one of their members is back.
    readvertise: HashSet<GroupId>,
}

/// Listens on the configured addresses and relay circuits, and dials the
/// bootstrap nodes; returns the listeners.
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
    for relay in &config.relays {
        let ma: Multiaddr = relay
            .parse()
            .map_err(|e| NodeError::BadInput(format!("relay address {relay:?}: {e}")))?;
        // Listening on the circuit address dials the relay itself; a separate
        // dial first would make the relay client's own dial a no-op and close
        // the circuit listener before its reservation is made.
        let id = swarm
            .listen_on(ma.with(libp2p::multiaddr::Protocol::P2pCircuit))
            .map_err(|e| NodeError::Network(format!("cannot reserve on relay {relay}: {e}")))?;
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
/// closed or [`RETIRE_WITHIN`] passed.
fn retire(mut old: Swarm<Behaviour>, listeners: Vec<ListenerId>) {
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
        self.restart_network()
    }

    /// Replaces the swarm with a fresh one for the current mode.
    fn restart_network(&mut self) -> Result<(), NodeError> {
        let config = self.config.for_mode(self.net.background);
        let mut secret = *self.identity.to_secret_bytes();
        let key = Keypair::ed25519_from_bytes(&mut secret)
            .map_err(|e| NodeError::Network(format!("identity key: {e}")))?;
        let fresh = crate::net::build_swarm(key, &config, &mut self.metrics)?;
        let old = std::mem::replace(&mut self.swarm, fresh);
        // Everyone we were connected to, with the addresses Identify told us
        // (the store may lack those of members who joined after connecting).
        let was_connected: Vec<_> = old
            .connected_peers()
            .filter_map(|p| Some((*p, self.peer_addrs.get(p)?.clone())))
            .collect();
        retire(old, std::mem::take(&mut self.net.listeners));
        self.net.listeners = start_listening(&mut self.swarm, &config)?;
        let gs = &mut self.swarm.behaviour_mut().gossipsub;
        for g in self.groups.values() {
            if let Err(e) = gs.subscribe(&g.topic) {
                tracing::warn!(error = %e, "subscribe failed");
            }
            let _ = gs.set_topic_params(g.topic.clone(), crate::net::topic_score_params());
        }
        for gid in self.observed.values() {
            let _ = gs.subscribe(&crate::net::topic_for(&gid.0));
        }
        // Requests in flight went out on the old swarm: no answer will come.
        for (_, pj) in self.joins.drain() {
            let _ = pj.reply.send(Err(network_changed_error()));
        }
        for (_, progress) in self.join_syncs.drain() {
            let _ = progress.pj.reply.send(Err(network_changed_error()));
        }
        self.syncs.clear();
        self.discovery = Default::default();
        self.net.readvertise = self.groups.keys().copied().collect();
        self.dial_known_members()?;
        for (peer, addrs) in was_connected {
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .addresses(addrs)
                .build();
            let _ = self.swarm.dial(opts);
        }
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

    /// How often unconnected members are dialled again in the current mode.
    pub(crate) fn redial_every_ms(&self) -> u64 {
        self.config
            .for_mode(self.net.background)
            .link
            .redial_every_ms
    }

    /// From the tick: after a restart, tells each group where we listen now
    /// (and our media address) as soon as one of its members is connected.
    pub(crate) fn network_tick(&mut self) {
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
            let addrs = self.listen_strings();
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
