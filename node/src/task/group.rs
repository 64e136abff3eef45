//! Per-group state and the handling of group gossip: validate, open, dispatch.

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
};

use aura_crypto::{
    FrameHeader, FrameKind, GroupId, GroupSession, KeyEnvelope, MemberId, OpenError, SignedOp,
};
use libp2p::{gossipsub, PeerId};

use super::{
    fences::{load_fences, FenceChange},
    fresh::location_is_fresh,
    now_ms, Task,
};
use crate::{
    events::Event,
    group_core::{lock, KeyGrants, Reject, Verdict},
    location::{
        as_received, FenceEvent, FenceSet, FenceTracker, Fix, HistoryThinner, ProximityEvent,
        ProximityTracker, Publisher,
    },
    media::feed::VoiceFeed,
    net::topic_for,
    store::{ChatRecord, GroupRecord},
    wire::{self, ChatMsg, ControlMsg, GossipMsg, LocationMsg},
    NodeError,
};

/// Frames/envelopes kept while waiting for a key or a roster op.
const PENDING_MAX: usize = 128;

/// One group on this node.
pub(crate) struct GroupState {
    pub(crate) session: Arc<Mutex<GroupSession>>,
    pub(crate) topic: gossipsub::IdentTopic,
    pub(crate) sharing: bool,
    pub(crate) publisher: Publisher,
    pub(crate) fences: FenceSet,
    pub(crate) fence_tracker: FenceTracker<MemberId>,
    pub(crate) proximity: ProximityTracker<MemberId>,
    pub(crate) last: BTreeMap<MemberId, Fix>,
    /// Decides which fixes (ours and received) become history points.
    pub(crate) history: HistoryThinner,
    pub(crate) pending_frames: VecDeque<Vec<u8>>,
    pub(crate) pending_envelopes: VecDeque<KeyEnvelope>,
    pub(crate) have_keys: HashSet<MemberId>,
    /// Gossip we could not publish yet (no subscribed peer known), sent as
    /// soon as a peer subscribes to the topic.
    pub(crate) unsent: VecDeque<Vec<u8>>,
    /// Keys/addresses still to announce once a topic peer is there.
    pub(crate) announce: bool,
    /// When the announcement started waiting for connections, unix ms.
    pub(crate) announce_wait_from_ms: Option<u64>,
    pub(crate) last_key_request_ms: u64,
    pub(crate) removed: bool,
    /// Our media address in this group, while voice is on.
    pub(crate) media_addr: Option<String>,
    /// When we last announced it, unix ms.
    pub(crate) media_announced_ms: u64,
    /// An announcement waits for the re-announce gap.
    pub(crate) media_due: bool,
    /// Members' announced media addresses.
    pub(crate) media_addrs: HashMap<MemberId, String>,
    /// Members whose address we heard since their last new key epoch.
    pub(crate) media_heard: HashSet<MemberId>,
    /// The voice engine's feed, while voice is on.
    pub(crate) voice: Option<tokio::sync::mpsc::Sender<crate::media::feed::VoiceFeed>>,
    /// The feed dropped a message: a snapshot is due.
    pub(crate) voice_stale: bool,
    /// Our last envelope per member (rate limit on key requests).
    pub(crate) key_grants: KeyGrants,
}

impl GroupState {
    pub(crate) fn new(task: &Task, session: GroupSession, rec: Option<&GroupRecord>) -> Self {
        let gid = session.group_id();
        let cfg = &task.config;
        let precision = rec.map_or(cfg.default_precision, |r| r.precision);
        Self {
            session: Arc::new(Mutex::new(session)),
            topic: topic_for(&gid.0),
            sharing: rec.map(|r| r.sharing).unwrap_or(false),
            publisher: Publisher::new(cfg.publish, precision),
            fences: load_fences(&task.store, &gid, rec),
            fence_tracker: FenceTracker::new(cfg.hysteresis_m),
            proximity: ProximityTracker::new(cfg.proximity_m, cfg.hysteresis_m),
            last: BTreeMap::new(),
            history: HistoryThinner::new(cfg.history),
            pending_frames: VecDeque::new(),
            pending_envelopes: VecDeque::new(),
            have_keys: HashSet::new(),
            unsent: VecDeque::new(),
            announce: true,
            announce_wait_from_ms: None,
            last_key_request_ms: 0,
            removed: false,
            media_addr: None,
            media_announced_ms: 0,
            media_due: false,
            media_addrs: HashMap::new(),
            media_heard: HashSet::new(),
            voice: None,
            voice_stale: false,
            key_grants: Default::default(),
        }
    }
}

fn push_bounded<T>(q: &mut VecDeque<T>, v: T) {
    if q.len() >= PENDING_MAX {
        q.pop_front();
    }
    q.push_back(v);
}

impl Task {
    pub(crate) fn group(&self, gid: &GroupId) -> Result<&GroupState, NodeError> {
        self.groups
            .get(gid)
            .ok_or_else(|| NodeError::UnknownGroup(hex::encode(&gid.0[..8])))
    }

    pub(crate) fn group_mut(&mut self, gid: &GroupId) -> Result<&mut GroupState, NodeError> {
        self.groups
            .get_mut(gid)
            .ok_or_else(|| NodeError::UnknownGroup(hex::encode(&gid.0[..8])))
    }

    /// Registers a group: subscribe its topic with scoring params.
    pub(crate) fn install_group(&mut self, state: GroupState) {
        let gid = lock(&state.session).group_id();
        let gs = &mut self.swarm.behaviour_mut().gossipsub;
        if let Err(e) = gs.subscribe(&state.topic) {
            tracing::warn!(error = %e, "subscribe failed");
        }
        let _ = gs.set_topic_params(state.topic.clone(), crate::net::topic_score_params());
        self.topics.insert(state.topic.hash(), gid);
        self.groups.insert(gid, state);
    }

    pub(crate) fn save_group(&self, gid: &GroupId) {
        let Some(g) = self.groups.get(gid) else {
            return;
        };
        let session = match lock(&g.session).export_state() {
            Ok(s) => s.to_vec(),
            Err(e) => {
                tracing::warn!(error = %e, "export group state failed");
                return;
            }
        };
        let rec = GroupRecord {
            session,
            sharing: g.sharing,
            precision: g.publisher.precision(),
            // Fences are records of their own (`Store::put_fence`).
            fences: Vec::new(),
        };
        if let Err(e) = self.store.put_group(&gid.0, &rec) {
            tracing::warn!(error = %e, "saving group failed");
        }
    }

    pub(crate) fn save_all(&self) {
        for gid in self.groups.keys() {
            self.save_group(gid);
        }
    }

    /// Publishes raw gossip on a group's topic.
    pub(crate) fn publish(&mut self, gid: &GroupId, msg: &GossipMsg) {
        self.publish_bytes(gid, wire::encode(msg));
    }

    /// Publishes encoded gossip: through our carrier in background mode,
    /// else on the topic (and kept for members we carry for).
    pub(crate) fn publish_bytes(&mut self, gid: &GroupId, bytes: Vec<u8>) {
        let Some(g) = self.groups.get(gid) else {
            return;
        };
        let topic = g.topic.clone();
        if self.carrying(gid) {
            self.carry_publish(*gid, bytes);
            return;
        }
        self.carry_keep(gid, &bytes, None);
        self.gossip_publish(gid, topic, bytes);
    }

    /// Publishes on the topic ourselves (see `carry` for background mode).
    pub(crate) fn publish_raw_bytes(&mut self, gid: &GroupId, bytes: Vec<u8>) {
        if let Some(g) = self.groups.get(gid) {
            let topic = g.topic.clone();
            self.gossip_publish(gid, topic, bytes);
        }
    }

    fn gossip_publish(&mut self, gid: &GroupId, topic: gossipsub::IdentTopic, bytes: Vec<u8>) {
        let n = bytes.len() as u64;
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic, bytes.clone())
        {
            Ok(_) => self.stats.bytes_published += n,
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                if let Some(g) = self.groups.get_mut(gid) {
                    push_bounded(&mut g.unsent, bytes);
                }
            }
            Err(e) => tracing::debug!(error = %e, "publish failed"),
        }
    }

    /// Publishes what waited for a subscribed peer (called when one appears).
    pub(crate) fn flush_unsent(&mut self, gid: &GroupId) {
        let Some(g) = self.groups.get_mut(gid) else {
            return;
        };
        let queued: Vec<_> = g.unsent.drain(..).collect();
        for bytes in queued {
            self.publish_bytes(gid, bytes);
        }
        if self.carrying(gid) {
            // A member to carry for us may have appeared.
            self.carry_flush(*gid);
        }
    }

    /// Seals `payload` and publishes it; rotates first when due (sending the new keys before).
    pub(crate) fn seal_publish(
        &mut self,
        gid: &GroupId,
        kind: FrameKind,
        payload: &[u8],
    ) -> Result<(), NodeError> {
        self.seal_publish_with(gid, kind, payload, true)
    }

    /// As [`Self::seal_publish`]; `rotate: false` seals under the current key
    /// even when a rotation is due (the removal op itself, so the removed member learns it).
    pub(crate) fn seal_publish_with(
        &mut self,
        gid: &GroupId,
        kind: FrameKind,
        payload: &[u8],
        rotate: bool,
    ) -> Result<(), NodeError> {
        let g = self.group(gid)?;
        if g.removed {
            return Err(NodeError::NotMember);
        }
        let session = g.session.clone();
        let now = now_ms();
        let (frame, keys) = {
            let mut s = lock(&session);
            let keys = if rotate && s.needs_rotation(now) {
                let r = s.rotate(now, &mut rand::rngs::OsRng)?;
                Some(r.envelopes.iter().map(|e| e.encode()).collect::<Vec<_>>())
            } else {
                None
            };
            (s.seal(kind, payload, now)?, keys)
        };
        if let Some(keys) = keys {
            self.publish(gid, &GossipMsg::Keys(keys));
            self.save_group(gid);
        }
        self.publish(gid, &GossipMsg::Frame(frame));
        Ok(())
    }

    pub(crate) fn send_control(
        &mut self,
        gid: &GroupId,
        msg: &ControlMsg,
    ) -> Result<(), NodeError> {
        self.seal_publish(gid, FrameKind::Control, &wire::encode(msg))
    }

    /// Validates and handles one gossip message.
    /// `origin` is the (transport-authenticated) peer that handed us the
    /// message; `None` for frames replayed from the pending queue.
    pub(crate) fn on_gossip(
        &mut self,
        gid: GroupId,
        from: PeerId,
        origin: Option<PeerId>,
        data: &[u8],
    ) -> Verdict {
        if data.len() > wire::MAX_GOSSIP_BYTES {
            return Verdict::Reject(Reject::Oversized, "oversized".into());
        }
        let Some(msg) = wire::decode::<GossipMsg>(data) else {
            return Verdict::Reject(Reject::Undecodable, "undecodable gossip".into());
        };
        match msg {
            GossipMsg::Frame(frame) => self.on_frame(gid, from, origin, &frame),
            GossipMsg::Keys(list) => self.on_keys(gid, &list),
        }
    }

    pub(crate) fn accept_envelope(&mut self, gid: GroupId, env: KeyEnvelope) {
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        let r = lock(&g.session).accept_envelope(&env);
        match r {
            Ok(Some(epoch)) => {
                let first = g.have_keys.insert(env.sender);
                // A new epoch may be a restart that forgot our media address.
                g.media_heard.remove(&env.sender);
                self.emit(Event::KeysReceived {
                    group: gid,
                    sender: env.sender,
                    epoch,
                });
                self.save_group(&gid);
                self.retry_pending(gid);
                if first {
                    // A member that can read us now: it may have missed our address.
                    self.announce_media(gid, false);
                }
            }
            Ok(None) => {}
            Err(aura_crypto::EnvelopeError::NotAMember) => {
                push_bounded(&mut g.pending_envelopes, env)
            }
            Err(e) => tracing::debug!(error = %e, "envelope refused"),
        }
    }

    /// Tries again what waited for a roster op or a key: envelopes first
    /// (their keys may open the frames), then frames. What still cannot be
    /// read waits on (bounded) instead of being dropped.
    pub(crate) fn retry_pending(&mut self, gid: GroupId) {
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        let frames: Vec<_> = g.pending_frames.drain(..).collect();
        let envs: Vec<_> = g.pending_envelopes.drain(..).collect();
        for e in envs {
            let Some(g) = self.groups.get_mut(&gid) else {
                return;
            };
            let r = lock(&g.session).accept_envelope(&e);
            match r {
                Ok(Some(epoch)) => {
                    g.have_keys.insert(e.sender);
                    self.emit(Event::KeysReceived {
                        group: gid,
                        sender: e.sender,
                        epoch,
                    });
                }
                Err(aura_crypto::EnvelopeError::NotAMember) => {
                    push_bounded(&mut g.pending_envelopes, e)
                }
                _ => {}
            }
        }
        let me = self.swarm.local_peer_id().to_owned();
        for f in frames {
            let _ = self.on_frame(gid, me, None, &f);
        }
    }

    /// Opens and dispatches a frame. `origin` is set for fresh gossip and
    /// `None` for frames replayed from the pending queue.
    fn on_frame(
        &mut self,
        gid: GroupId,
        from: PeerId,
        origin: Option<PeerId>,
        frame: &[u8],
    ) -> Verdict {
        let fresh = origin.is_some();
        let header = match FrameHeader::parse(frame) {
            Ok(h) => h,
            Err(e) => {
                return Verdict::Reject(Reject::Undecodable, format!("bad frame header: {e}"))
            }
        };
        if header.room != gid.room() {
            return Verdict::Reject(Reject::WrongGroup, "frame for another group".into());
        }
        let Some(g) = self.groups.get_mut(&gid) else {
            return Verdict::Ignore;
        };
        // A frame handed over by its author on the author's own connection
        // needs no signature check: the transport authenticated that peer.
        let via = origin.and_then(|p| MemberId::from_peer_id(&p));
        let r = lock(&g.session).open_from(frame, now_ms(), via);
        if let Err(e) = &r {
            tracing::debug!(error = %e, epoch = header.epoch, counter = header.counter, fresh, "frame not opened");
        }
        let opened = match r {
            Ok(o) => o,
            Err(OpenError::UnknownSender | OpenError::UnknownEpoch | OpenError::TooFarAhead) => {
                if !fresh {
                    push_bounded(&mut g.pending_frames, frame.to_vec());
                    return Verdict::Ignore;
                }
                self.stats.frames_unreadable += 1;
                push_bounded(&mut g.pending_frames, frame.to_vec());
                // We lack the key, others may not: forward it when the peer
                // that sent it to us is a member (else a joining storm stalls
                // wherever keys arrive late). Gossip carries no author
                // signature; members that hold the key check the frame's own.
                let by_member = origin
                    .and_then(|p| MemberId::from_peer_id(&p))
                    .is_some_and(|m| lock(&g.session).roster().is_member(&m));
                return if by_member {
                    Verdict::Accept
                } else {
                    Verdict::Ignore
                };
            }
            Err(OpenError::Replay | OpenError::TooOld | OpenError::OwnFrame) => {
                return Verdict::Ignore
            }
            Err(e) => return Verdict::Reject(Reject::Forged, format!("frame refused: {e}")),
        };
        // Durable before the frame has any effect, so a crash cannot
        // make us accept it again.
        self.persist_replay_floors(&gid);
        self.stats.frames_opened += 1;
        let sender = opened.sender;
        match opened.kind {
            FrameKind::Chat | FrameKind::Location if self.is_blocked(&sender) => {
                // Blocked here: neither shown nor kept.
                self.stats.blocked_dropped += 1;
            }
            FrameKind::Location => {
                match wire::decode::<LocationMsg>(&opened.payload).and_then(|m| m.to_fix()) {
                    Some(fix) if !location_is_fresh(fix.at_ms, now_ms()) => {
                        tracing::debug!(%sender, at_ms = fix.at_ms, "stale location refused");
                        self.stats.stale_locations += 1;
                        return Verdict::Ignore;
                    }
                    Some(fix) => self.on_location(gid, sender, fix),
                    None => return Verdict::Reject(Reject::Forged, "bad location payload".into()),
                }
            }
            FrameKind::Chat => match wire::decode::<ChatMsg>(&opened.payload) {
                Some(m) if m.text.len() <= wire::MAX_CHAT_BYTES => {
                    let rec = ChatRecord {
                        from: sender.0,
                        at_ms: m.at_ms,
                        text: m.text.clone(),
                    };
                    if let Err(e) = self.store.append_chat(&gid.0, &rec) {
                        tracing::warn!(error = %e, "chat history write failed");
                    }
                    self.emit(Event::Chat {
                        group: gid,
                        label: self.label(&gid, &sender),
                        from: sender,
                        text: m.text,
                        at_ms: m.at_ms,
                    });
                }
                _ => return Verdict::Reject(Reject::Forged, "bad chat payload".into()),
            },
            FrameKind::Control => match wire::decode::<ControlMsg>(&opened.payload) {
                Some(ControlMsg::Gift(bytes)) => return self.on_gift(gid, sender, &bytes),
                Some(ControlMsg::Profile(bytes)) => return self.on_profile(gid, sender, &bytes),
                Some(c) => self.on_control(gid, from, sender, c),
                None => return Verdict::Reject(Reject::Forged, "bad control payload".into()),
            },
            _ => return Verdict::Ignore,
        }
        Verdict::Accept
    }

    fn on_control(&mut self, gid: GroupId, from: PeerId, sender: MemberId, msg: ControlMsg) {
        match msg {
            ControlMsg::Op(bytes) => match SignedOp::decode(&bytes) {
                Ok(op) => self.apply_remote_op(gid, from, op),
                Err(e) => tracing::debug!(error = %e, "undecodable op"),
            },
            ControlMsg::Addrs(addrs) => {
                if let Ok(peer) = sender.peer_id() {
                    if peer != *self.swarm.local_peer_id()
                        && !self.swarm.is_connected(&peer)
                        && self.may_dial(&peer)
                    {
                        let addrs: Vec<libp2p::Multiaddr> = addrs
                            .iter()
                            .take(8)
                            .filter_map(|a| a.parse().ok())
                            .collect();
                        for a in &addrs {
                            self.swarm.add_peer_address(peer, a.clone());
                        }
                        self.remember_addrs(peer, &addrs);
                        let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                            .addresses(addrs)
                            .build();
                        let _ = self.swarm.dial(opts);
                    }
                }
            }
            ControlMsg::MediaAddr(addr) => self.on_media_addr(gid, sender, addr),
            ControlMsg::KeyRequest => self.send_envelope_to(gid, sender),
            ControlMsg::Fence(fence) => self.on_fence_change(gid, sender, FenceChange::Set(fence)),
            ControlMsg::Gift(_) | ControlMsg::Profile(_) => {} // `on_gift`, `on_profile`
            ControlMsg::Presence { away, at_ms } => self.on_presence(sender, away, at_ms),
            ControlMsg::FenceRemoved(name) => {
                self.on_fence_change(gid, sender, FenceChange::Remove(name))
            }
        }
    }

    fn on_location(&mut self, gid: GroupId, member: MemberId, fix: Fix) {
        let fix = as_received(fix, now_ms());
        self.emit(Event::Location {
            group: gid,
            member,
            label: self.label(&gid, &member),
            fix,
        });
        self.record_history(gid, member.0, fix);
        let my_pos = self.my_pos;
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        g.last.insert(member, fix);
        let voice_on = g.voice.is_some();
        let fence_events = g
            .fence_tracker
            .update(g.fences.as_slice(), &member, &fix.pos);
        let prox = my_pos.and_then(|me| g.proximity.update(&me, &member, &fix));
        self.emit_fences(gid, fence_events);
        if let Some(p) = prox {
            self.emit_proximity(gid, p);
        }
        if voice_on {
            let pos = fix.pos;
            self.feed_voice(gid, VoiceFeed::Position { member, pos });
        }
    }

    pub(crate) fn emit_fences(&self, gid: GroupId, events: Vec<FenceEvent<MemberId>>) {
        for e in events {
            let (fence, member, entered) = match e {
                FenceEvent::Enter { fence, member } => (fence, member, true),
                FenceEvent::Leave { fence, member } => (fence, member, false),
            };
            self.emit(Event::Geofence {
                group: gid,
                label: self.label(&gid, &member),
                member,
                fence,
                entered,
            });
        }
    }

    pub(crate) fn emit_proximity(&self, gid: GroupId, p: ProximityEvent<MemberId>) {
        let member = match &p {
            ProximityEvent::Near { member, .. } | ProximityEvent::Far { member } => *member,
        };
        let label = self.label(&gid, &member);
        self.emit(match p {
            ProximityEvent::Near {
                member,
                distance_m,
                uncertainty_m,
            } => Event::Proximity {
                group: gid,
                member,
                label,
                near: true,
                distance_m,
                uncertainty_m,
            },
            ProximityEvent::Far { member } => Event::Proximity {
                group: gid,
                member,
                label,
                near: false,
                distance_m: f64::NAN,
                uncertainty_m: 0.0,
            },
        });
    }
}
