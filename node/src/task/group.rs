//! Per-group state of the application (location, fences, voice, what waits
//! for a subscribed peer), publishing, and the opened frames the group core
//! hands on.

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
};

use aura_crypto::{FrameKind, GroupId, GroupSession, MemberId, Opened};
use libp2p::gossipsub;

use super::{
    drive::node_error,
    fences::{load_fences, FenceChange},
    fresh::location_is_fresh,
    now_ms, Task,
};
use crate::{
    events::Event,
    group_core::{lock, Reject, Verdict},
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

/// Gossip kept while no subscribed peer is known.
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
    /// Gossip we could not publish yet (no subscribed peer known), sent as
    /// soon as a peer subscribes to the topic.
    pub(crate) unsent: VecDeque<Vec<u8>>,
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
}

impl GroupState {
    /// The task's side of a group whose session the core holds.
    pub(crate) fn new(
        task: &Task,
        session: Arc<Mutex<GroupSession>>,
        rec: Option<&GroupRecord>,
    ) -> Self {
        let gid = lock(&session).group_id();
        let cfg = &task.config;
        let precision = rec.map_or(cfg.default_precision, |r| r.precision);
        Self {
            session,
            topic: topic_for(&gid.0),
            sharing: rec.map(|r| r.sharing).unwrap_or(false),
            publisher: Publisher::new(cfg.publish, precision),
            fences: load_fences(&task.store, &gid, rec),
            fence_tracker: FenceTracker::new(cfg.hysteresis_m),
            proximity: ProximityTracker::new(cfg.proximity_m, cfg.hysteresis_m),
            last: BTreeMap::new(),
            history: HistoryThinner::new(cfg.history),
            unsent: VecDeque::new(),
            removed: false,
            media_addr: None,
            media_announced_ms: 0,
            media_due: false,
            media_addrs: HashMap::new(),
            media_heard: HashSet::new(),
            voice: None,
            voice_stale: false,
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

    /// Publishes encoded gossip: our own through our carrier in background
    /// mode, else on the topic (and kept for members we carry for). A
    /// carrier takes only its requester's own messages, so what we carried
    /// for others and could not publish then goes on the topic.
    pub(crate) fn publish_bytes(&mut self, gid: &GroupId, bytes: Vec<u8>) {
        let Some(g) = self.groups.get(gid) else {
            return;
        };
        let topic = g.topic.clone();
        if self.carrying(gid) && self.is_own(&bytes) {
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

    /// Seals `payload` and publishes it (the core rotates first when due).
    pub(crate) fn seal_publish(
        &mut self,
        gid: &GroupId,
        kind: FrameKind,
        payload: &[u8],
    ) -> Result<(), NodeError> {
        let r = self.core.seal(now_ms(), *gid, kind, payload);
        self.drive();
        r.map_err(node_error)
    }

    pub(crate) fn send_control(
        &mut self,
        gid: &GroupId,
        msg: &ControlMsg,
    ) -> Result<(), NodeError> {
        self.seal_publish(gid, FrameKind::Control, &wire::encode(msg))
    }

    /// An opened frame the core hands on: location, chat, and the control
    /// messages that are the application's (media address, fences, gifts,
    /// profiles). Its verdict refines the core's.
    pub(crate) fn on_app_frame(&mut self, gid: GroupId, opened: Opened) -> Verdict {
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
                    Some(fix) => {
                        self.on_location(gid, sender, fix);
                        return Verdict::AcceptLatest;
                    }
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
                Some(ControlMsg::MediaAddr(addr)) => self.on_media_addr(gid, sender, addr),
                Some(ControlMsg::Fence(fence)) => {
                    self.on_fence_change(gid, sender, FenceChange::Set(fence))
                }
                Some(ControlMsg::FenceRemoved(name)) => {
                    self.on_fence_change(gid, sender, FenceChange::Remove(name))
                }
                Some(ControlMsg::Presence { away, at_ms }) => self.on_presence(sender, away, at_ms),
                // Roster ops, key requests and addresses are the core's.
                Some(ControlMsg::Op(_) | ControlMsg::KeyRequest | ControlMsg::Addrs(_)) => {}
                None => return Verdict::Reject(Reject::Forged, "bad control payload".into()),
            },
            _ => return Verdict::Ignore,
        }
        Verdict::Accept
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
