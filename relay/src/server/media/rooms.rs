//! The room control plane on the wire: one bidirectional stream on a
//! member's media connection (datagrams stay for voice), read into the
//! sans-IO [`Hub`], its forwarding changes applied to the forwarder table,
//! its messages queued to each recipient's stream. Queues are bounded: a
//! member that does not read its control stream is disconnected (it
//! rejoins and gets the room again) rather than let the relay buffer for it.
//!
//! The same stream may be an edge relay's link (its first message is
//! `attach`): its members' messages arrive `relayed` and go through the
//! hub as theirs; what the hub sends them goes back on the link
//! ([`Origin::route`]). A message about a room this relay does not serve
//! goes to the room's origin ([`super::cascade`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aura_crypto::room::{RoomId, SignedRoomOp};
use aura_crypto::MemberId;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::forwarding::{apply, LINK_OUTBOX};
use super::{cascade, lock, Shared, CLOSE_REFUSED};
use crate::rooms::{
    ClientMsg, Effects, Follower, ForwardChange, Hub, HubError, HubLimits, Origin, Pace, Reader,
    RelayAdmission, RelayLoad, ServerMsg,
};
use crate::server::dht::DhtCmd;

/// Messages queued to one member's control stream.
const OUTBOX: usize = 1_024;
/// Bytes read from a control stream at once.
const READ_CHUNK: usize = 4_096;

pub(super) struct Outbox {
    pub(super) conn: quinn::Connection,
    pub(super) tx: mpsc::Sender<Bytes>,
}

/// The rooms of the relay and the members' control streams.
pub(super) struct Control {
    pub(super) hub: Mutex<Hub>,
    pub(super) outboxes: Mutex<HashMap<MemberId, Outbox>>,
    /// Rooms we are the origin of: our edges and who is behind them.
    origin: Mutex<Origin>,
    /// Rooms we follow as an edge.
    pub(super) follower: Mutex<Follower>,
    /// Our links to origins, and the messages waiting for one.
    pub(super) links: Mutex<cascade::Links>,
}

impl Control {
    pub(super) fn new(limits: HubLimits, ledger: Option<ed25519_dalek::VerifyingKey>) -> Self {
        Self {
            hub: Mutex::new(Hub::new(limits, Box::new(RelayAdmission { ledger }))),
            outboxes: Mutex::new(HashMap::new()),
            origin: Mutex::new(Origin::default()),
            follower: Mutex::new(Follower::default()),
            links: Mutex::new(cascade::Links::default()),
        }
    }
}

/// Serves `member`'s control streams (one at a time) on `conn`.
pub(super) async fn serve(conn: quinn::Connection, member: MemberId, s: Arc<Shared>) {
    while let Ok((send, recv)) = conn.accept_bi().await {
        stream(&conn, &member, &s, send, recv).await;
    }
    gone(&s, &member, &conn);
}

/// One control stream: its first message says whether it is a member's
/// or an edge relay's link (a larger queue, a faster pace).
async fn stream(
    conn: &quinn::Connection,
    member: &MemberId,
    s: &Arc<Shared>,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let mut reader = Reader::default();
    let mut buf = vec![0u8; READ_CHUNK];
    let first = loop {
        match reader.next_message() {
            Ok(Some(m)) => break m,
            Ok(None) => {}
            Err(e) => return refuse_stream(s, member, conn, &e),
        }
        match recv.read(&mut buf).await {
            Ok(Some(n)) => reader.feed(&buf[..n]),
            _ => return,
        }
    };
    let link = matches!(ClientMsg::decode(&first), Ok(ClientMsg::Attach(_)));
    let (tx, mut rx) = mpsc::channel::<Bytes>(if link { LINK_OUTBOX } else { OUTBOX });
    lock(&s.control.outboxes).insert(
        *member,
        Outbox {
            conn: conn.clone(),
            tx,
        },
    );
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if send.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    let now = std::time::Instant::now();
    let mut pace = if link {
        Pace::link(now)
    } else {
        Pace::new(now)
    };
    handle(s, member, conn, &first, &mut pace);
    read_loop(&mut recv, reader, member, s, conn, &mut pace).await;
    writer.abort();
}

/// Forgets `member`'s outbox if it belongs to `conn` (and, if it was an
/// edge relay's link, who was behind it: they come back another way). A
/// member counts as away here, and at the origin of each room it follows
/// through us.
pub(super) fn gone(s: &Arc<Shared>, member: &MemberId, conn: &quinn::Connection) {
    let mut boxes = lock(&s.control.outboxes);
    if boxes
        .get(member)
        .is_some_and(|o| o.conn.stable_id() == conn.stable_id())
    {
        boxes.remove(member);
        drop(boxes);
        let mut hub = lock(&s.control.hub);
        hub.disconnected(member, unix_ms());
        for (room, fx) in hub.abandon_restores_of(member) {
            tracing::info!(%room, "host left before its room was restored: dropped");
            dispatch(s, room, fx, hub);
            cascade::refuse_held(s, room);
            hub = lock(&s.control.hub);
        }
        drop(hub);
        let followed = lock(&s.control.follower).rooms_of(member);
        for room in followed {
            cascade::to_origin(s, *member, ClientMsg::Away(room), room);
        }
        let rooms = lock(&s.control.origin).edge_gone(member);
        if !rooms.is_empty() {
            tracing::info!(edge = %member, rooms = rooms.len(), "edge relay gone");
        }
    }
}

fn refuse_stream(
    s: &Shared,
    member: &MemberId,
    conn: &quinn::Connection,
    e: &dyn std::fmt::Display,
) {
    tracing::debug!(%member, error = %e, "room control stream refused");
    s.metrics.refuse("rooms", "wire");
    conn.close(CLOSE_REFUSED.into(), b"control stream");
}

async fn read_loop(
    recv: &mut quinn::RecvStream,
    mut reader: Reader,
    member: &MemberId,
    s: &Arc<Shared>,
    conn: &quinn::Connection,
    pace: &mut Pace,
) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        loop {
            match reader.next_message() {
                Ok(Some(m)) => handle(s, member, conn, &m, pace),
                Ok(None) => break,
                Err(e) => return refuse_stream(s, member, conn, &e),
            }
        }
        match recv.read(&mut buf).await {
            Ok(Some(n)) => reader.feed(&buf[..n]),
            _ => return,
        }
    }
}

/// Where a refused message came from, for the member's `refused` message.
fn context(msg: &ClientMsg) -> (RoomId, u64) {
    match msg {
        ClientMsg::Op(b) => SignedRoomOp::decode(b)
            .map(|o| (o.op().room, o.op().at_ms))
            .unwrap_or_default(),
        other => (other.room().unwrap_or_default(), 0),
    }
}

fn is_create(msg: &ClientMsg) -> bool {
    matches!(msg, ClientMsg::Op(b) if SignedRoomOp::decode(b).is_ok_and(|o| o.created_room().is_some()))
}

/// One control message: an edge's attach, a member's message relayed by
/// an edge, or a member's own; into the hub if we serve its room, else
/// on to the room's origin.
fn handle(s: &Arc<Shared>, member: &MemberId, conn: &quinn::Connection, m: &[u8], pace: &mut Pace) {
    let msg = match ClientMsg::decode(m) {
        Ok(msg) => msg,
        Err(e) => {
            s.metrics.refuse("rooms", "wire");
            tracing::debug!(%member, error = %e, "room control message refused");
            return;
        }
    };
    if matches!(msg, ClientMsg::Restore { .. } | ClientMsg::Restored(_)) {
        return restore(s, member, msg, pace);
    }
    if !pace.allow(&msg, std::time::Instant::now()) {
        s.metrics.drop("control_rate_limited");
        return;
    }
    match msg {
        ClientMsg::Attach(room) => on_attach(s, member, conn, room),
        ClientMsg::Relayed(from, inner) => {
            let attached = inner
                .room()
                .is_some_and(|r| lock(&s.control.origin).is_attached(member, &r));
            if attached {
                through_hub(s, &from, *inner, Some(*member), conn);
            } else {
                refuse(s, &from, Some(*member), &inner, &HubError::NotHere);
            }
        }
        msg => {
            let room = msg.room();
            let (ours, held) = match room {
                Some(r) => {
                    let hub = lock(&s.control.hub);
                    let held = hub.is_restoring(&r) && !hub.restoring_by(&r, member);
                    (is_create(&msg) || hub.state(&r).is_some(), held)
                }
                None => (true, false),
            };
            match room {
                Some(r) if held => cascade::hold(s, *member, msg, r),
                _ if ours => through_hub(s, member, msg, None, conn),
                Some(r) => cascade::to_origin(s, *member, msg, r),
                None => {}
            }
        }
    }
}

/// The host hands us its room's journal (the room's origin stopped): the
/// room is ours once the journal is complete, and what its members sent
/// meanwhile goes through then. A relay that follows the room from an
/// origin still answering takes no restore: the host's rejoin, sent
/// next, reaches that origin through us.
fn restore(s: &Arc<Shared>, member: &MemberId, msg: ClientMsg, pace: &mut Pace) {
    let room = msg.room().unwrap_or_default();
    if lock(&s.control.follower).origin_of(&room).is_some() {
        s.metrics.refuse("rooms", "origin_alive");
        return;
    }
    let (here, journal) = {
        let hub = lock(&s.control.hub);
        (hub.state(&room).is_some(), hub.restoring_by(&room, member))
    };
    if here && !journal {
        // We serve the room already (its origin answers: the host's
        // rejoin, next, finds it): refused without a signature checked.
        s.metrics.refuse("rooms", HubError::NotRestoring.as_str());
        return;
    }
    if !journal && !pace.allow(&msg, std::time::Instant::now()) {
        s.metrics.drop("control_rate_limited");
        return;
    }
    let now_ms = unix_ms();
    let mut hub = lock(&s.control.hub);
    let r = match msg {
        ClientMsg::Restore {
            room,
            accepted_ms,
            op,
        } => hub.restore(member, room, accepted_ms, op, now_ms).map(Some),
        _ => hub.end_restore(member, &room, now_ms).map(|()| None),
    };
    match r {
        Err(e) => {
            let dropped = journal && hub.state(&room).is_none();
            drop(hub);
            tracing::debug!(%member, error = %e, "restore refused");
            s.metrics.refuse("rooms", e.as_str());
            if dropped {
                lock(&s.table).close_gated(room.header_id());
                cascade::refuse_held(s, room);
            }
        }
        Ok(Some(fx)) => dispatch(s, room, fx, hub),
        Ok(None) => {
            drop(hub);
            tracing::info!(%room, host = %member, "room restored by its host: we are its origin");
            if s.links.dht.try_send(DhtCmd::Provide(room)).is_err() {
                tracing::warn!("dht queue full: room not provided");
            }
            for (m, msg) in cascade::take_held(s, &room) {
                let conn = lock(&s.control.outboxes).get(&m).map(|o| o.conn.clone());
                if let Some(conn) = conn {
                    through_hub(s, &m, msg, None, &conn);
                }
            }
        }
    }
}

/// An edge relay asks to follow a room we are the origin of.
fn on_attach(s: &Shared, edge: &MemberId, conn: &quinn::Connection, room: RoomId) {
    let served = lock(&s.control.hub).state(&room).is_some();
    let r = if served {
        lock(&s.control.origin).attach(*edge, conn.remote_address(), room)
    } else {
        Err(HubError::UnknownRoom)
    };
    match r {
        Ok(()) => {
            let admitted = lock(&s.table).admit(room.header_id(), edge);
            if let Err(e) = admitted {
                // Its session's rooms are full: it gets no frames, so no room.
                lock(&s.control.origin).detach(edge, &room);
                s.metrics.refuse("media", e.as_str());
                return refuse(
                    s,
                    edge,
                    None,
                    &ClientMsg::Attach(room),
                    &HubError::TooManyEdges,
                );
            }
            tracing::info!(%edge, "edge relay follows a room");
        }
        Err(e) => refuse(s, edge, None, &ClientMsg::Attach(room), &e),
    }
}

/// Sends `msg` to `member`: on its own stream, or through the edge `via`.
fn send_to(s: &Shared, member: &MemberId, via: Option<MemberId>, msg: ServerMsg) {
    let (to, msg) = match via {
        Some(e) => (e, ServerMsg::To(*member, Box::new(msg))),
        None => (*member, msg),
    };
    if let Some(o) = lock(&s.control.outboxes).get(&to) {
        let _ = o.tx.try_send(Bytes::from(msg.encode()));
    }
}

fn refuse(s: &Shared, member: &MemberId, via: Option<MemberId>, msg: &ClientMsg, e: &HubError) {
    s.metrics.refuse("rooms", e.as_str());
    let (room, at_ms) = context(msg);
    let refused = ServerMsg::Refused {
        room,
        at_ms,
        code: e.code(),
    };
    send_to(s, member, via, refused);
}

/// The relays of a room we are the origin of, as `member` reaches us.
fn relays(
    s: &Shared,
    member: &MemberId,
    via: Option<MemberId>,
    conn: &quinn::Connection,
    room: RoomId,
) {
    let hub = lock(&s.control.hub);
    let Some(state) = hub.state(&room) else {
        return refuse(
            s,
            member,
            via,
            &ClientMsg::Relays(room),
            &HubError::UnknownRoom,
        );
    };
    let us = RelayLoad {
        relay: s.identity.member_id(),
        addr: SocketAddr::new(
            conn.local_ip().unwrap_or(s.media_addr.ip()),
            s.media_addr.port(),
        ),
        members: 0,
    };
    let relays = lock(&s.control.origin).relays(&room, state, us);
    drop(hub);
    send_to(s, member, via, ServerMsg::Relays { room, relays });
}

/// One member's message through the hub; its effects applied and queued
/// (under the hub's lock, so every member and edge gets the room's
/// messages in order).
fn through_hub(
    s: &Shared,
    member: &MemberId,
    msg: ClientMsg,
    via: Option<MemberId>,
    conn: &quinn::Connection,
) {
    let room = msg.room().unwrap_or_default();
    if let ClientMsg::Relays(r) = msg {
        return relays(s, member, via, conn, r);
    }
    let now_ms = unix_ms();
    let ctx = context_if_needed(&msg);
    let mut hub = lock(&s.control.hub);
    let fx = match hub.on_message(member, msg, now_ms) {
        Ok(fx) => fx,
        Err(e) => {
            drop(hub);
            tracing::debug!(%member, error = %e, "room message refused");
            s.metrics.refuse("rooms", e.as_str());
            let (room, at_ms) = ctx.unwrap_or_else(|m| context(&m));
            let refused = ServerMsg::Refused {
                room,
                at_ms,
                code: e.code(),
            };
            return send_to(s, member, via, refused);
        }
    };
    for c in &fx.forward {
        let cmd = match c {
            ForwardChange::Open(_) => DhtCmd::Provide(room),
            ForwardChange::Close(_) => DhtCmd::Unprovide(room),
            _ => continue,
        };
        if s.links.dht.try_send(cmd).is_err() {
            tracing::warn!("dht queue full: room not (un)provided");
        }
    }
    lock(&s.control.origin).set_route(*member, via);
    dispatch(s, room, fx, hub);
}

/// Applies one hub step's effects for `room`: forwarding changes, then the
/// messages to members here and to edges, queued while `hub` is still
/// locked (so the room's messages keep their order).
fn dispatch(s: &Shared, room: RoomId, fx: Effects, hub: std::sync::MutexGuard<'_, Hub>) {
    let routed = lock(&s.control.origin).route(room, fx);
    {
        let mut t = lock(&s.table);
        for c in routed.forward {
            apply(&mut t, s, c);
        }
        s.refresh_gauges(&t);
    }
    let mut overflowed = Vec::new();
    {
        let boxes = lock(&s.control.outboxes);
        for (edge, m) in routed.links {
            if let Some(o) = boxes.get(&edge) {
                if o.tx.try_send(Bytes::from(m.encode())).is_err() {
                    overflowed.push(o.conn.clone());
                }
            }
        }
        let mut send = |to: &MemberId, bytes: Bytes| {
            if let Some(o) = boxes.get(to) {
                if o.tx.try_send(bytes).is_err() {
                    overflowed.push(o.conn.clone());
                }
            }
        };
        // What goes to one member in a row (a welcome: the log, and for the
        // host every audience join) is queued as one buffer, so a long
        // welcome does not fill the member's queue.
        let mut run: Option<(MemberId, Vec<u8>)> = None;
        for d in routed.local {
            if let [m] = d.to[..] {
                match run.as_mut() {
                    Some((to, buf)) if *to == m => buf.extend(d.msg.encode()),
                    _ => {
                        if let Some((to, buf)) = run.replace((m, d.msg.encode())) {
                            send(&to, Bytes::from(buf));
                        }
                    }
                }
                continue;
            }
            if let Some((to, buf)) = run.take() {
                send(&to, Bytes::from(buf));
            }
            let bytes = Bytes::from(d.msg.encode());
            for m in d.to {
                send(&m, bytes.clone());
            }
        }
        if let Some((to, buf)) = run.take() {
            send(&to, Bytes::from(buf));
        }
    }
    drop(hub);
    for c in overflowed {
        s.metrics.drop("control_queue_full");
        c.close(CLOSE_REFUSED.into(), b"control queue full");
    }
}

/// Every `every`: the members away too long, told to their rooms' hosts
/// ([`Hub::sweep`]).
pub(super) async fn sweep_absent(
    s: Arc<Shared>,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let mut hub = lock(&s.control.hub);
        let due = hub.sweep(unix_ms());
        for (room, fx) in due {
            tracing::debug!(%room, "member away too long: its host is told");
            dispatch(&s, room, fx, hub);
            hub = lock(&s.control.hub);
        }
    }
}

/// The room and time of a refused message: at once for key and chat
/// messages, or the op itself kept to decode again only if refused.
fn context_if_needed(msg: &ClientMsg) -> Result<(RoomId, u64), ClientMsg> {
    match msg {
        ClientMsg::Op(_) => Err(msg.clone()),
        other => Ok(context(other)),
    }
}

pub(super) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
