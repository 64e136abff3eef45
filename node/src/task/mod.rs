//! The thin async shell: one tokio task owns the swarm and the group states,
//! runs commands sent by [`crate::Node`] handles and reacts to swarm events.

mod away;
mod carry;
mod commands;
mod dispatch;
mod drive;
mod fences;
mod fresh;
mod gifts;
mod group;
mod keys;
mod load;
mod network;
mod people;
mod redial;
mod relays;
mod rpc;
mod stale_links;
mod swarm_events;
mod voice;

use std::{
    collections::HashMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aura_crypto::{GroupId, Identity, MemberId};
use futures::StreamExt;
use libp2p::{
    gossipsub::TopicHash, identity::Keypair, request_response::OutboundRequestId, PeerId, Swarm,
};
use rand::rngs::OsRng;
use tokio::sync::{broadcast, mpsc};

pub(crate) use group::GroupState;

use crate::{
    command::{Command, JoinReply},
    config::Config,
    events::Event,
    group_core::{GroupCore, RequestId},
    location::Position,
    net::{build_swarm, Behaviour},
    stats::NodeStats,
    store::Store,
    NodeError,
};

/// Writes reach the disk at most this long after they were made (sled's
/// own flusher's period, which woke whether or not anything was written).
const STORE_FLUSH_EVERY_MS: u64 = 500;

/// The node task's state.
pub(crate) struct Task {
    pub(crate) identity: Identity,
    pub(crate) config: Config,
    pub(crate) swarm: Swarm<Behaviour>,
    pub(crate) store: Store,
    pub(crate) events: broadcast::Sender<Event>,
    /// The group protocol (sessions, joins, roster sync, keys, timers).
    pub(crate) core: GroupCore<OsRng>,
    /// The application's side of each group the core holds.
    pub(crate) groups: HashMap<GroupId, GroupState>,
    pub(crate) topics: HashMap<TopicHash, GroupId>,
    /// Topics watched without membership (tests and diagnostics).
    pub(crate) observed: HashMap<TopicHash, GroupId>,
    /// Join commands waiting for the core's outcome, per group.
    pub(crate) join_replies: HashMap<GroupId, Vec<JoinReply>>,
    /// The core's requests in flight on the swarm.
    pub(crate) core_requests: HashMap<OutboundRequestId, (RequestId, MemberId)>,
    /// The application's verdict on the frame of the gossip message being
    /// handled (see `drive::on_gossip`).
    pub(crate) frame_verdict: Option<crate::group_core::Verdict>,
    pub(crate) peer_addrs: HashMap<PeerId, Vec<libp2p::Multiaddr>>,
    pub(crate) my_pos: Option<Position>,
    pub(crate) stats: NodeStats,
    /// Bandwidth counters of the transport.
    pub(crate) metrics: libp2p::metrics::Registry,
    pub(crate) stopping: bool,
    /// When members we were not connected to were last dialled, unix ms.
    pub(crate) last_redial_ms: u64,
    /// The store flush running off the task's thread, if any.
    store_flush: Option<tokio::task::JoinHandle<()>>,
    /// When the store was last flushed, unix ms.
    store_flushed_ms: u64,
    /// Received locations not yet in the history store: written in batches
    /// on the next tick (or when full, before a history read, at shutdown),
    /// so a write never sits between a frame and the next one.
    pub(crate) history: Vec<(GroupId, [u8; 32], crate::location::Fix)>,
    /// Kademlia provider records of our groups (only with bootstrap nodes).
    pub(crate) discovery: crate::net::discovery::Discovery,
    /// Transport mode (background) and restarts (see `network`).
    pub(crate) net: network::NetState,
    /// When to dial members again that we failed to reach or lost.
    pub(crate) redial: crate::net::redial::Redial<PeerId>,
    /// Timers of the look for unconnected members.
    pub(crate) sweep: redial::Sweep,
    /// Circuit relays, reservations and connection paths.
    pub(crate) relay: relays::RelayState,
    /// Gossip carried for background mode, ours and other members'.
    pub(crate) carry: carry::CarryState,
    /// Profiles, avatars being fetched, block and follow lists.
    pub(crate) people: people::PeopleState,
    /// Topics each peer announced (see `stale_links`).
    pub(crate) announced: crate::net::announced::Announced,
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Task {
    pub(crate) fn new(
        identity: Identity,
        secret: &[u8; 32],
        config: Config,
        store: Store,
        events: broadcast::Sender<Event>,
    ) -> Result<(Self, PeerId), NodeError> {
        let mut bytes = *secret;
        let key = Keypair::ed25519_from_bytes(&mut bytes)
            .map_err(|e| NodeError::Network(format!("identity key: {e}")))?;
        let peer_id = key.public().to_peer_id();
        let mut metrics = libp2p::metrics::Registry::default();
        let mut swarm = build_swarm(key, &config, &mut metrics)?;
        let listeners = network::start_listening(&mut swarm, &config)?;
        let relay = relays::RelayState::from_config(&config)?;
        let people = people::PeopleState::load(&store)?;
        let core = GroupCore::new(identity.clone(), OsRng);
        let mut task = Self {
            identity,
            config,
            swarm,
            store,
            events,
            core,
            groups: HashMap::new(),
            topics: HashMap::new(),
            observed: HashMap::new(),
            join_replies: HashMap::new(),
            core_requests: HashMap::new(),
            frame_verdict: None,
            peer_addrs: HashMap::new(),
            my_pos: None,
            stats: NodeStats::default(),
            metrics,
            stopping: false,
            last_redial_ms: now_ms(),
            store_flush: None,
            store_flushed_ms: 0,
            history: Vec::new(),
            discovery: Default::default(),
            net: network::NetState::new(listeners),
            redial: Default::default(),
            sweep: Default::default(),
            relay,
            carry: Default::default(),
            people,
            announced: Default::default(),
        };
        task.relay_tick();
        task.refresh_core_listen_addrs();
        task.load_groups()?;
        task.dial_known_members()?;
        Ok((task, peer_id))
    }

    pub(crate) fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    pub(crate) async fn run(mut self, mut cmds: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(self.tick_period());
        let mut prune = tokio::time::interval(Duration::from_secs(3600));
        while !self.stopping {
            let core_due = self.core_timer();
            tokio::select! {
                _ = tokio::time::sleep(core_due) => {
                    self.core.handle_timeout(now_ms());
                    self.drive();
                }
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                ev = self.swarm.select_next_some() => self.on_swarm_event(ev),
                _ = tick.tick() => {
                    self.flush_history();
                    self.flush_store();
                    self.on_tick();
                    if tick.period() != self.tick_period() {
                        tick = tokio::time::interval(self.tick_period());
                    }
                }
                _ = prune.tick() => self.prune_history(),
            }
        }
        self.flush_history();
        self.save_all();
        self.settle_all_replay_floors();
        if let Err(e) = self.store.flush() {
            tracing::warn!(error = %e, "store flush at shutdown failed");
        }
    }

    /// How long until the core's timers are due (at least 10 ms apart, so
    /// a timer in the past cannot spin the loop).
    fn core_timer(&self) -> Duration {
        match self.core.poll_timeout() {
            Some(at) => Duration::from_millis(at.saturating_sub(now_ms()).max(10)),
            None => Duration::from_secs(3600),
        }
    }

    /// The housekeeping tick of the current mode (see [`crate::link`]).
    fn tick_period(&self) -> Duration {
        let link = match self.net.background {
            true => &self.config.background.link,
            false => &self.config.link,
        };
        Duration::from_millis(link.tick_ms.max(10))
    }

    /// Most received locations held before a batch write.
    pub(crate) const HISTORY_BUFFER: usize = 1024;

    /// Queues a location (ours or received) for the history store when the
    /// group's [`crate::location::HistoryThinner`] keeps it.
    pub(crate) fn record_history(
        &mut self,
        gid: GroupId,
        member: [u8; 32],
        fix: crate::location::Fix,
    ) {
        let keep = self
            .groups
            .get_mut(&gid)
            .is_some_and(|g| g.history.keep(member, &fix));
        if !keep {
            return;
        }
        self.history.push((gid, member, fix));
        if self.history.len() >= Self::HISTORY_BUFFER {
            self.flush_history();
        }
    }

    /// Writes the queued locations, one batch per group.
    pub(crate) fn flush_history(&mut self) {
        if self.history.is_empty() {
            return;
        }
        let mut by_group: HashMap<GroupId, Vec<([u8; 32], crate::location::Fix)>> = HashMap::new();
        for (gid, m, f) in self.history.drain(..) {
            by_group.entry(gid).or_default().push((m, f));
        }
        for (gid, fixes) in by_group {
            if let Err(e) = self.store.append_locations(&gid.0, &fixes) {
                tracing::warn!(error = %e, "history write failed");
            }
        }
    }

    /// Puts what was written since the last flush on disk, off the task's
    /// thread: at most every [`STORE_FLUSH_EVERY_MS`], one flush at a time.
    fn flush_store(&mut self) {
        let now = now_ms();
        if self.store_flush.as_ref().is_some_and(|h| !h.is_finished())
            || now.saturating_sub(self.store_flushed_ms) < STORE_FLUSH_EVERY_MS
            || !self.store.take_written()
        {
            return;
        }
        self.store_flushed_ms = now;
        let store = self.store.clone();
        self.store_flush = Some(tokio::task::spawn_blocking(move || {
            if let Err(e) = store.flush() {
                tracing::warn!(error = %e, "store flush failed");
            }
        }));
    }

    fn prune_history(&mut self) {
        self.flush_history();
        let cutoff = now_ms().saturating_sub(self.config.retention_days * 86_400_000);
        match self.store.prune_locations(cutoff) {
            Ok(n) if n > 0 => tracing::info!(pruned = n, "location history retention"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "history pruning failed"),
        }
        let latest = now_ms().saturating_add(crate::location::MAX_FUTURE_SKEW_MS);
        match self.store.prune_future_locations(latest) {
            Ok(n) if n > 0 => tracing::info!(pruned = n, "location history dated in the future"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "history pruning failed"),
        }
    }

    /// Dials the members whose addresses we stored and that we are not
    /// connected to: after a restart, and every `link.redial_every_ms` so that
    /// every member stays connected to every other (group gossip goes one
    /// hop, author to member; see `net::behaviour`).
    pub(crate) fn dial_known_members(&mut self) -> Result<(), NodeError> {
        self.last_redial_ms = now_ms();
        for (peer, addrs) in self.store.peers()? {
            let Ok(peer) = peer.parse::<PeerId>() else {
                continue;
            };
            if self.swarm.is_connected(&peer)
                || peer == *self.swarm.local_peer_id()
                || !self.may_dial(&peer)
            {
                continue;
            }
            let member = aura_crypto::MemberId::from_peer_id(&peer);
            let in_group = member.is_some_and(|m| {
                self.groups
                    .values()
                    .any(|g| crate::group_core::lock(&g.session).roster().is_member(&m))
            });
            if !in_group {
                continue;
            }
            let addrs: Vec<libp2p::Multiaddr> =
                addrs.iter().filter_map(|a| a.parse().ok()).collect();
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .addresses(addrs)
                .build();
            let _ = self.swarm.dial(opts);
        }
        Ok(())
    }

    pub(crate) fn stop(&mut self) {
        self.stopping = true;
    }
}
