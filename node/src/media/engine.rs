//! The async shell of a group's voice: one tokio task drives the sans-IO
//! sender, room, report inbox and playout with the node's media endpoint
//! (shared by every group's voice; this group's datagrams come routed to
//! its own queue), the node's events and the app's commands. Built by
//! [`crate::Node::join_voice`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aura_crypto::{GroupId, GroupSession, Identity, MemberId};
use aura_media::{Header, Hop, Incoming, MediaEndpoint, ReportInbox, ReportSigner, RoomId};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::feed::{VoiceFeed, VoiceSnapshot};
use super::settings::{VoiceConfig, VoiceStats};
use super::via_relay::RelayLinks;
use super::MediaRoom;
use crate::location::Position as GeoPosition;
use crate::voice::feedback::{FeedbackBook, LossMeter};
use crate::voice::{CodecError, Playout, Position, TalkGate, TalkMode, VoiceSender};
use crate::{Event, Node};

mod stats;

/// What the handle asks of the engine.
#[derive(Debug)]
pub(crate) enum Command {
    Ptt(bool),
    Mode(TalkMode),
    Mute(bool),
    Volume(MemberId, f32),
    Music(Option<Vec<i16>>),
    Positional(bool),
    Listener(Option<(GeoPosition, f64)>),
    InboundLoss(f64),
    Stats(oneshot::Sender<VoiceStats>),
    Stop,
}

/// Everything the engine is built from.
pub(crate) struct Parts {
    pub(crate) node: Node,
    pub(crate) group: GroupId,
    pub(crate) identity: Identity,
    pub(crate) session: Arc<Mutex<GroupSession>>,
    pub(crate) endpoint: MediaEndpoint,
    pub(crate) incoming: mpsc::Receiver<Incoming>,
    /// What the node task tells this engine.
    pub(crate) feed: mpsc::Receiver<VoiceFeed>,
    /// What the task knew when the engine started.
    pub(crate) known: VoiceSnapshot,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) capture: mpsc::Receiver<Vec<i16>>,
    pub(crate) playout: mpsc::Sender<Vec<i16>>,
    pub(crate) playout_taken: Arc<AtomicBool>,
    pub(crate) advertise: SocketAddr,
    pub(crate) config: VoiceConfig,
}

/// A member's announced address and our last dial to it.
struct Peer {
    addr: SocketAddr,
    last_dial: Option<Instant>,
}

/// Capture that fell this many frames behind real time was paused (not
/// merely late, which a burst catches up): the media clock skips ahead.
const PAUSE_FRAMES: u64 = 10;

/// Wait before dialing the same member again.
const REDIAL: Duration = Duration::from_secs(2);

/// The running engine.
pub(crate) struct Engine {
    p: Parts,
    room: MediaRoom,
    /// The room id in frame headers (our queue on the shared endpoint).
    room_id: RoomId,
    sender: VoiceSender,
    music: Option<(VoiceSender, Vec<i16>, usize)>,
    mix: Playout<(MemberId, bool)>,
    peers: HashMap<MemberId, Peer>,
    sending: bool,
    removed: bool,
    playout_dropped: u64,
    start: Instant,
    /// Capture clock: when frame 0 was captured and frames captured since.
    capture_clock: Option<(Instant, u64)>,
    /// Verifies the receiver reports sent to us (signature, membership, sequence).
    inbox: ReportInbox,
    /// Signs our receiver reports to the talkers we hear.
    signer: ReportSigner,
    /// Verified receiver reports from our listeners (talker side).
    feedback: FeedbackBook<MemberId>,
    /// Per incoming voice stream: interval loss for our reports to it.
    meters: HashMap<MemberId, LossMeter>,
    /// Positional audio on.
    positional: bool,
    /// Our position and heading (degrees from north), for positional audio.
    listener: Option<(GeoPosition, f64)>,
    /// Members' last known positions.
    member_pos: HashMap<MemberId, GeoPosition>,
    /// Relays for members with no direct media connection.
    relays: RelayLinks,
    /// Datagrams that came through a relay.
    via_relay: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Engine {
    pub(crate) fn new(p: Parts) -> Result<Self, CodecError> {
        let sender = VoiceSender::new(
            crate::voice::codec::EncoderConfig {
                frame: p.config.frame,
                ..crate::voice::codec::EncoderConfig::voice()
            },
            TalkGate::new(p.config.mode),
        )?;
        // The play tick polls the room and pulls the mix in one step: each
        // slot is released at the tick that plays it.
        let tick_us = u64::from(p.config.frame.millis()) * 1_000;
        let room = MediaRoom::ticking(p.session.clone(), tick_us);
        let room_id = room.room_id();
        let mix = Playout::fed_at_pull(p.config.frame.samples(), p.config.stereo);
        let me = p.identity.member_id();
        Ok(Self {
            inbox: ReportInbox::new(room_id, &me),
            signer: ReportSigner::new(p.identity.clone(), room_id),
            p,
            room,
            room_id,
            sender,
            music: None,
            mix,
            peers: HashMap::new(),
            sending: false,
            removed: false,
            playout_dropped: 0,
            start: Instant::now(),
            capture_clock: None,
            feedback: FeedbackBook::default(),
            meters: HashMap::new(),
            positional: false,
            listener: None,
            member_pos: HashMap::new(),
            relays: RelayLinks::default(),
            via_relay: 0,
        })
    }

    /// Runs until stopped (handle dropped or [`Command::Stop`]).
    pub(crate) async fn run(mut self) {
        let frame = Duration::from_millis(u64::from(self.p.config.frame.millis()));
        let mut play_tick = tokio::time::interval(frame);
        play_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut stats_tick = tokio::time::interval(self.p.config.stats_every);
        let mut redial_tick = tokio::time::interval(REDIAL);
        redial_tick.tick().await;
        let known = std::mem::take(&mut self.p.known);
        self.on_snapshot(known);
        tracing::info!(group = %self.p.group, addr = %self.p.advertise, "voice engine started");
        loop {
            tokio::select! {
                c = self.p.commands.recv() => match c {
                    None | Some(Command::Stop) => break,
                    Some(c) => self.on_command(c),
                },
                Some(pcm) = self.p.capture.recv() => self.on_capture(&pcm),
                Some(inc) = self.p.incoming.recv() => self.on_incoming(&inc),
                msg = self.p.feed.recv() => match msg {
                    Some(msg) => self.on_feed(msg),
                    None => break,
                },
                at = play_tick.tick() => self.on_frame_tick(at.into_std()),
                _ = stats_tick.tick() => self.report(),
                _ = redial_tick.tick() => self.redial(),
            }
        }
        self.p.endpoint.close_room(&self.room_id);
        tracing::info!(group = %self.p.group, "voice engine stopped");
    }

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Ptt(d) => self.sender.gate.key_down = d,
            Command::Mode(m) => self.sender.gate.mode = m,
            Command::Mute(m) => self.sender.gate.muted = m,
            Command::Volume(m, v) => {
                self.mix.mixer_mut().set_volume(&(m, false), v);
                self.mix.mixer_mut().set_volume(&(m, true), v);
            }
            Command::Music(None) => self.music = None,
            Command::Music(Some(samples)) => match VoiceSender::music() {
                Ok(s) => self.music = Some((s, samples, 0)),
                Err(e) => tracing::warn!(error = %e, "music encoder"),
            },
            Command::Positional(on) => {
                self.positional = on;
                self.place_all();
            }
            Command::Listener(l) => {
                self.listener = l;
                self.place_all();
            }
            Command::InboundLoss(p) => self.p.endpoint.set_inbound_loss(&self.room_id, p),
            Command::Stats(tx) => {
                let _ = tx.send(self.stats());
            }
            Command::Stop => {}
        }
    }

    fn on_incoming(&mut self, inc: &Incoming) {
        if inc.hop == Hop::Relay {
            self.via_relay += 1;
        }
        if let Header::Report(_) = inc.header {
            // Believed for its author's signature, not for the connection.
            let room = &self.room;
            match self.inbox.on_report(&inc.frame, |m| room.is_member(m)) {
                Ok(r) => self.feedback.on_report(r.header.author, r.report),
                Err(e) => tracing::debug!(from = %inc.from, error = %e, "receiver report refused"),
            }
            return;
        }
        let t = inc.at.saturating_duration_since(self.start).as_micros() as u64;
        let r = match inc.hop {
            // Direct from a member: the header's sender must be that member.
            Hop::Direct => self.room.on_frame_from(&inc.from, &inc.frame, t, now_ms()),
            Hop::Relay => self.room.on_frame(&inc.frame, t, now_ms()),
        };
        for rep in self.room.take_alerts() {
            self.p.node.emit(Event::VoiceNotAuthentic {
                group: self.p.group,
                sender: rep.sender,
                counter: rep.counter,
                forged: rep.verdict == aura_crypto::Verdict::Forged,
            });
        }
        if let Ok(Some(m)) = r {
            if let std::collections::hash_map::Entry::Vacant(e) = self.meters.entry(m) {
                e.insert(LossMeter::default());
                self.place(m);
            }
        }
    }

    /// Sets one member's place in the mix (or none).
    fn place(&mut self, m: MemberId) {
        let pos = match (self.positional, &self.listener, self.member_pos.get(&m)) {
            (true, Some((me, heading)), Some(them)) => Some(Position::relative(me, *heading, them)),
            _ => None,
        };
        self.mix.mixer_mut().set_position(&(m, false), pos);
    }

    fn place_all(&mut self) {
        let ms: Vec<MemberId> = self.room.streams().into_iter().map(|(m, _)| m).collect();
        for m in ms {
            self.place(m);
        }
    }

    fn broadcast(&mut self, frames: Vec<Vec<u8>>) {
        for f in frames {
            let f = Bytes::from(f);
            self.p.endpoint.broadcast(&self.room_id, &f);
            self.relays.send(&self.p.endpoint, &f);
        }
    }

    fn on_capture(&mut self, pcm: &[i16]) {
        if self.removed {
            return;
        }
        // Keep the media clock on real time: frames the app never fed
        // (capture paused) still count, as a silence nothing was sent for.
        let frame_us = u64::from(self.p.config.frame.millis()) * 1_000;
        let now = Instant::now();
        let (anchor, fed) = self.capture_clock.get_or_insert((now, 0));
        let due = now.saturating_duration_since(*anchor).as_micros() as u64 / frame_us;
        if due > *fed + PAUSE_FRAMES {
            let gap = due - *fed;
            self.sender.skip(gap as u32);
            *fed = due;
        }
        *fed += 1;
        match self.sender.process(pcm) {
            Ok(Some(p)) => {
                self.sending = true;
                match self.room.seal(&p, now_ms()) {
                    Ok(frames) => self.broadcast(frames),
                    Err(e) => tracing::debug!(error = %e, "voice frame not sealed"),
                }
            }
            Ok(None) => {
                if std::mem::take(&mut self.sending) {
                    // End of a talk spurt: the batch signature of its tail.
                    if let Ok(Some(sig)) = self.room.flush() {
                        self.broadcast(vec![sig]);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "voice frame not encoded"),
        }
    }

    /// Every frame period (`at`: the tick's scheduled instant, so a tick
    /// served late still releases exactly the slots due at it): send the
    /// next music frame, release the slots due, and pull one mixed frame
    /// for playout.
    fn on_frame_tick(&mut self, at: Instant) {
        if let Some((s, samples, pos)) = &mut self.music {
            let n = s.frame_len();
            if *pos >= samples.len() {
                self.music = None;
            } else {
                let end = (*pos + n).min(samples.len());
                let mut f = samples[*pos..end].to_vec();
                f.resize(n, 0);
                *pos = end;
                if let Ok(Some(p)) = s.process(&f) {
                    match self.room.seal(&p, now_ms()) {
                        Ok(frames) if !self.removed => self.broadcast(frames),
                        Ok(_) => {}
                        Err(e) => tracing::debug!(error = %e, "music frame not sealed"),
                    }
                }
            }
        }
        let tick_us = at.saturating_duration_since(self.start).as_micros() as u64;
        for (m, slot) in self.room.poll(tick_us) {
            let music = slot.channels == 2;
            self.mix.push((m, music), slot);
        }
        let out = self.mix.pull(tick_us);
        if !self.p.playout_taken.load(Ordering::Relaxed) {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.p.playout.try_send(out) {
            self.playout_dropped += 1;
        }
    }

    fn dial(&mut self, m: MemberId) {
        let Some(peer) = self.peers.get_mut(&m) else {
            return;
        };
        if self.p.endpoint.is_connected(&m) || peer.last_dial.is_some_and(|t| t.elapsed() < REDIAL)
        {
            return;
        }
        peer.last_dial = Some(Instant::now());
        for addr in self.relays.candidates(&m, peer.addr) {
            let ep = self.p.endpoint.clone();
            tokio::spawn(async move {
                match ep.connect(m, addr).await {
                    Ok(()) => tracing::debug!(member = %m, %addr, "media connected"),
                    Err(e) => tracing::debug!(member = %m, %addr, error = %e, "media dial failed"),
                }
            });
        }
    }

    fn on_feed(&mut self, msg: VoiceFeed) {
        match msg {
            VoiceFeed::MediaAddr { member, addr } => self.on_media_addr(member, &addr),
            VoiceFeed::Position { member, pos } => {
                self.member_pos.insert(member, pos);
                self.place(member);
            }
            VoiceFeed::Relays(list) => {
                self.relays.set_relays(list);
                self.use_relays();
            }
            VoiceFeed::Path { member, relay } => {
                self.relays.set_path(member, relay);
                self.use_relays();
            }
            VoiceFeed::DirectIp { member, ip } => {
                if self.relays.set_direct_ip(member, ip) {
                    if let Some(p) = self.peers.get_mut(&member) {
                        p.last_dial = None;
                    }
                    self.dial(member);
                }
            }
            VoiceFeed::MembersAdded => self.sync_members(),
            VoiceFeed::MemberLeft(member) => {
                self.sync_members();
                self.drop_member(member);
                for m in self.room.prune() {
                    self.drop_member(m);
                }
                tracing::info!(%member, "member left; media dropped");
            }
            VoiceFeed::Removed => {
                self.removed = true;
                self.music = None;
                tracing::info!(group = %self.p.group, "removed from group; voice sends nothing more");
            }
            VoiceFeed::Blocked(list) => self.room.set_blocked(&list),
            VoiceFeed::Snapshot(s) => {
                self.sync_members();
                for m in self.room.prune() {
                    self.drop_member(m);
                }
                self.on_snapshot(*s);
            }
        }
    }

    fn on_snapshot(&mut self, s: VoiceSnapshot) {
        self.room.set_blocked(&s.blocked);
        for (member, pos) in s.positions {
            self.member_pos.insert(member, pos);
            self.place(member);
        }
        self.relays.set_relays(s.relays);
        for (member, relay) in s.paths {
            self.relays.set_path(member, Some(relay));
        }
        for (member, ip) in s.direct_ips {
            self.relays.set_direct_ip(member, ip);
        }
        for (member, addr) in s.addrs {
            self.on_media_addr(member, &addr);
        }
    }

    fn on_media_addr(&mut self, member: MemberId, addr: &str) {
        if member == self.p.identity.member_id() {
            return;
        }
        match addr.parse() {
            Ok(addr) => {
                // Its address may come before we saw its join: admit it.
                self.sync_members();
                let e = self.peers.entry(member).or_insert(Peer {
                    addr,
                    last_dial: None,
                });
                if e.addr != addr {
                    *e = Peer {
                        addr,
                        last_dial: None,
                    };
                }
                self.dial(member);
                self.use_relays();
            }
            Err(_) => tracing::debug!(%member, %addr, "unusable media address"),
        }
    }

    /// Dials known members we are not connected to (a dropped connection
    /// comes back without anyone announcing again).
    fn redial(&mut self) {
        if self.removed {
            return;
        }
        let known: Vec<MemberId> = self.peers.keys().copied().collect();
        for m in known {
            self.dial(m);
        }
        self.use_relays();
    }

    /// Members in voice that we hold no direct media connection to go
    /// through a relay (`super::via_relay`); direct ones never do.
    fn use_relays(&mut self) {
        let ep = &self.p.endpoint;
        let unreached: Vec<MemberId> = match self.removed {
            true => Vec::new(),
            false => self
                .peers
                .keys()
                .filter(|m| !ep.is_connected(m))
                .copied()
                .collect(),
        };
        let pass = self
            .p
            .node
            .relay_pass()
            .datagram(crate::relay_pass::unix_now());
        self.relays
            .step(ep, self.room_id, unreached, pass, Instant::now());
    }

    /// Gives the endpoint's routing table this room's current members: a
    /// new member may connect, a removed one is dropped (unless it is in
    /// another of our rooms, whose voice keeps the shared connection).
    fn sync_members(&mut self) {
        if let Err(e) = self
            .p
            .endpoint
            .set_members(&self.room_id, self.room.members())
        {
            tracing::warn!(group = %self.p.group, error = %e, "media routing not updated");
        }
    }

    /// Forgets everything about a member who left.
    fn drop_member(&mut self, m: MemberId) {
        self.peers.remove(&m);
        self.relays.forget(&m);
        self.mix.remove(&(m, false));
        self.mix.remove(&(m, true));
        self.forget(m);
    }

    fn report(&mut self) {
        // Whoever left the roster without us seeing the event (e.g. removed
        // by us) loses its connection and stream here.
        self.sync_members();
        let gone: Vec<MemberId> = self
            .peers
            .keys()
            .chain(self.meters.keys())
            .filter(|m| !self.room.is_member(m))
            .copied()
            .collect();
        for m in gone.into_iter().chain(self.room.prune()) {
            self.drop_member(m);
        }
        for m in self.p.endpoint.peers_in(&self.room_id) {
            if let Some(rtt) = self.p.endpoint.rtt(&m) {
                self.room.set_rtt_ms(&m, rtt.as_secs_f64() * 1_000.0);
            }
        }
        self.exchange_reports();
        for (member, report) in self.room.reports() {
            self.p.node.emit(Event::VoiceQuality {
                group: self.p.group,
                member,
                report,
            });
        }
    }

    /// Sends each talker we hear our report on its stream since the last
    /// tick, and adapts our bitrate to the worst report our listeners sent.
    fn exchange_reports(&mut self) {
        for (m, q) in self.room.reports() {
            let Some(rep) = self.meters.entry(m).or_default().interval(&q) else {
                continue;
            };
            let signed = Bytes::copy_from_slice(&self.signer.sign(m.short_id(), &rep, now_ms()));
            // Direct, else through the relay of its stream: signed either way.
            let ep = &self.p.endpoint;
            if !ep.is_connected(&m) && self.relays.send_to(ep, &m, signed.clone()) {
                continue;
            }
            if let Err(e) = ep.send(&m, signed) {
                tracing::debug!(member = %m, error = %e, "receiver report not sent");
            }
        }
        let losses = self.feedback.take_losses();
        if !losses.is_empty() {
            let before = self.sender.bitrate();
            if let Err(e) = self.sender.on_loss_reports(&losses) {
                tracing::debug!(error = %e, "bitrate not adapted");
            }
            if self.sender.bitrate() != before {
                tracing::debug!(
                    from = before,
                    to = self.sender.bitrate(),
                    ?losses,
                    "send bitrate adapted"
                );
            }
        }
    }

    fn forget(&mut self, m: MemberId) {
        self.meters.remove(&m);
        self.feedback.remove(&m);
        self.inbox.forget(&m);
        self.member_pos.remove(&m);
    }
}
