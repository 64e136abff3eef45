//! The edge's side of a cascade on the wire: a member's message about a
//! room this relay does not serve waits while the room's origin is found
//! on the DHT and dialled (QUIC, our identity, its key pinned); then this
//! relay follows the room (`attach`) and relays its members' messages up.
//! What the origin sends back goes to the members here; its datagrams (the
//! selected sealed frames, once per edge) fan out to the members admitted.
//! When the link ends, the members of its rooms are disconnected so they
//! move to another relay of the room.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aura_crypto::room::RoomId;
use aura_crypto::MemberId;
use aura_media::room_control::CLOSE_ORIGIN_GONE;
use aura_media::tls;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::forwarding::{apply, LINK_OUTBOX};
use super::{lock, Shared, CLOSE_REFUSED};
use crate::rooms::{ClientMsg, HubError, Reader, ServerMsg};
use crate::server::dht::DhtCmd;

/// Rooms waiting for their origin at once.
const MAX_PENDING_ROOMS: usize = 64;
/// Messages waiting for one room's origin.
const MAX_PENDING: usize = 1_024;
/// How long an edge looks for a room's origin.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two DHT lookups of the same room.
const RETRY: Duration = Duration::from_millis(250);

/// How long an origin whose link ended is not dialled again for a room
/// (its provider record outlives it on the DHT; the room's host moves the
/// room to another relay, which provides it).
const LOST_FOR: Duration = Duration::from_secs(30);

/// Our links to origins and what waits for one.
#[derive(Default)]
pub(super) struct Links {
    up: HashMap<MemberId, mpsc::Sender<Bytes>>,
    pending: HashMap<RoomId, Vec<(MemberId, ClientMsg)>>,
    /// Origins whose link ended lately, and when.
    lost: HashMap<MemberId, Instant>,
}

/// Keeps `member`'s message about `room` until the room, being restored
/// here by its host, is complete ([`take_held`]).
pub(super) fn hold(s: &Shared, member: MemberId, msg: ClientMsg, room: RoomId) {
    let _ = keep(s, member, msg, room, &HubError::Restoring);
}

/// Keeps `member`'s message until `room` is served (bounded: refused with
/// `full` when too many rooms wait); whether it is the room's first.
fn keep(s: &Shared, member: MemberId, msg: ClientMsg, room: RoomId, full: &HubError) -> bool {
    let mut links = lock(&s.control.links);
    let first = !links.pending.contains_key(&room);
    if first && links.pending.len() >= MAX_PENDING_ROOMS {
        drop(links);
        refuse(s, &member, &msg, full);
        return false;
    }
    let q = links.pending.entry(room).or_default();
    if q.len() >= MAX_PENDING {
        s.metrics.drop("link_pending_full");
        return false;
    }
    q.push((member, msg));
    first
}

/// What members sent about `room` while it was being found or restored.
pub(super) fn take_held(s: &Shared, room: &RoomId) -> Vec<(MemberId, ClientMsg)> {
    lock(&s.control.links)
        .pending
        .remove(room)
        .unwrap_or_default()
}

/// Refuses what waited for `room` (it will not be served here).
pub(super) fn refuse_held(s: &Shared, room: RoomId) {
    for (m, msg) in take_held(s, &room) {
        refuse(s, &m, &msg, &HubError::UnknownRoom);
    }
}

/// Sends `member`'s message about `room` to the room's origin, or keeps
/// it until the origin is found (the first one starts the search).
pub(super) fn to_origin(s: &Arc<Shared>, member: MemberId, msg: ClientMsg, room: RoomId) {
    let links = lock(&s.control.links);
    let origin = lock(&s.control.follower).origin_of(&room);
    if let Some(tx) = origin.and_then(|o| links.up.get(&o)) {
        let m = ClientMsg::Relayed(member, Box::new(msg));
        if tx.try_send(Bytes::from(m.encode())).is_err() {
            s.metrics.drop("link_queue_full");
        }
        return;
    }
    drop(links);
    if keep(s, member, msg, room, &HubError::UnknownRoom) {
        tokio::spawn(attach(s.clone(), room));
    }
}

fn refuse(s: &Shared, member: &MemberId, msg: &ClientMsg, e: &HubError) {
    s.metrics.refuse("rooms", e.as_str());
    let (room, at_ms) = match msg {
        ClientMsg::Op(b) => aura_crypto::room::SignedRoomOp::decode(b)
            .map(|o| (o.op().room, o.op().at_ms))
            .unwrap_or_default(),
        m => (m.room().unwrap_or_default(), 0),
    };
    let refused = ServerMsg::Refused {
        room,
        at_ms,
        code: e.code(),
    };
    if let Some(o) = lock(&s.control.outboxes).get(member) {
        let _ = o.tx.try_send(Bytes::from(refused.encode()));
    }
}

/// Finds `room`'s origin on the DHT and follows the room from it; refuses
/// what waited if none answers in time.
async fn attach(s: Arc<Shared>, room: RoomId) {
    let me = s.identity.member_id();
    let deadline = Instant::now() + ATTACH_TIMEOUT;
    while Instant::now() < deadline {
        if lock(&s.control.hub).state(&room).is_some() {
            // Its host restored it here meanwhile: what waits goes through
            // when the restore is complete.
            return;
        }
        let (tx, rx) = oneshot::channel();
        if s.links.dht.send(DhtCmd::Find(room, tx)).await.is_err() {
            break;
        }
        let found = tokio::time::timeout(ATTACH_TIMEOUT, rx)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let lost = |o: &MemberId| {
            lock(&s.control.links)
                .lost
                .get(o)
                .is_some_and(|t| t.elapsed() < LOST_FOR)
        };
        for (origin, addr) in found.into_iter().filter(|(o, _)| *o != me && !lost(o)) {
            match link(&s, origin, addr).await {
                Ok(()) => return follow(&s, room, origin),
                Err(e) => {
                    tracing::debug!(%origin, %addr, error = %e, "origin not reached");
                    lock(&s.control.links).lost.insert(origin, Instant::now());
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
    tracing::info!("no origin found for a room");
    let waiting = lock(&s.control.links).pending.remove(&room);
    for (m, msg) in waiting.unwrap_or_default() {
        refuse(&s, &m, &msg, &HubError::UnknownRoom);
    }
}

/// Attaches to `room` on our link to `origin` and sends what waited.
fn follow(s: &Shared, room: RoomId, origin: MemberId) {
    let mut links = lock(&s.control.links);
    let Some(tx) = links.up.get(&origin).cloned() else {
        return;
    };
    let _ = tx.try_send(Bytes::from(ClientMsg::Attach(room).encode()));
    let open = lock(&s.control.follower).follow(room, origin);
    {
        let mut t = lock(&s.table);
        apply(&mut t, s, open);
    }
    for (m, msg) in links.pending.remove(&room).unwrap_or_default() {
        let relayed = ClientMsg::Relayed(m, Box::new(msg));
        if tx.try_send(Bytes::from(relayed.encode())).is_err() {
            s.metrics.drop("link_queue_full");
        }
    }
    tracing::info!(%origin, "following a room as its edge");
}

/// Our link to `origin` (dialled now unless it is up).
async fn link(s: &Arc<Shared>, origin: MemberId, addr: std::net::SocketAddr) -> Result<(), String> {
    if lock(&s.control.links).up.contains_key(&origin) {
        return Ok(());
    }
    let crypto = tls::client_crypto(&s.identity, Some(origin)).map_err(|e| e.to_string())?;
    let mut client = quinn::ClientConfig::new(Arc::new(crypto));
    client.transport_config(super::transport());
    let connecting = s
        .endpoint
        .connect_with(client, addr, "aura-media")
        .map_err(|e| e.to_string())?;
    let conn = tokio::time::timeout(super::HANDSHAKE_TIMEOUT, connecting)
        .await
        .map_err(|_| "handshake timeout".to_owned())?
        .map_err(|e| e.to_string())?;
    let (mut send, recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    let (tx, mut rx) = mpsc::channel::<Bytes>(LINK_OUTBOX);
    tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if send.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    {
        let mut links = lock(&s.control.links);
        if links.up.contains_key(&origin) {
            return Ok(()); // another room's search linked it meanwhile
        }
        links.up.insert(origin, tx);
    }
    tokio::spawn(run_link(s.clone(), origin, conn, recv));
    Ok(())
}

/// Reads the origin's link until it ends: messages for our members, and
/// the room's frames for those admitted here.
async fn run_link(
    s: Arc<Shared>,
    origin: MemberId,
    conn: quinn::Connection,
    mut recv: quinn::RecvStream,
) {
    let s2 = s.clone();
    let c2 = conn.clone();
    let frames = tokio::spawn(async move {
        let mut out = Vec::new();
        while let Ok(d) = c2.read_datagram().await {
            fan_down(&s2, &origin, &d, &mut out);
        }
    });
    let mut reader = Reader::default();
    let mut buf = vec![0u8; 4_096];
    'read: while let Ok(Some(n)) = recv.read(&mut buf).await {
        reader.feed(&buf[..n]);
        loop {
            match reader.next_message() {
                Ok(Some(m)) => on_link(&s, &origin, &m),
                Ok(None) => break,
                Err(_) => break 'read,
            }
        }
    }
    frames.abort();
    conn.close(CLOSE_REFUSED.into(), b"link ended");
    lost(&s, &origin);
}

/// One message from the origin.
fn on_link(s: &Shared, origin: &MemberId, m: &[u8]) {
    let Ok(msg) = ServerMsg::decode(m) else {
        s.metrics.drop("link_malformed");
        return;
    };
    let fx = match lock(&s.control.follower).on_link(origin, msg) {
        Ok(fx) => fx,
        Err(e) => {
            tracing::debug!(error = %e, "origin's message not for us");
            s.metrics.drop("link_unexpected");
            return;
        }
    };
    {
        let mut t = lock(&s.table);
        for c in fx.forward {
            apply(&mut t, s, c);
        }
        s.refresh_gauges(&t);
    }
    let mut overflowed = Vec::new();
    {
        let boxes = lock(&s.control.outboxes);
        for d in fx.sends {
            let bytes = Bytes::from(d.msg.encode());
            for m in d.to {
                if let Some(o) = boxes.get(&m) {
                    if o.tx.try_send(bytes.clone()).is_err() {
                        overflowed.push(o.conn.clone());
                    }
                }
            }
        }
    }
    for c in overflowed {
        s.metrics.drop("control_queue_full");
        c.close(CLOSE_REFUSED.into(), b"control queue full");
    }
}

/// A frame from the origin, to every member of its room admitted here.
fn fan_down(s: &Shared, origin: &MemberId, d: &Bytes, out: &mut Vec<quinn::Connection>) {
    out.clear();
    match lock(&s.table).downstream(origin, d) {
        Ok(fan) => out.extend(fan.cloned()),
        Err(e) => return s.metrics.drop(e.as_str()),
    }
    for c in out.iter() {
        match c.send_datagram(d.clone()) {
            Ok(()) => {
                s.metrics.forwarded_packets.inc();
                s.metrics.forwarded_bytes.inc_by(d.len() as u64);
            }
            Err(_) => s.metrics.drop("send_failed"),
        }
    }
}

/// The link to `origin` ended: its rooms are forgotten here and their
/// members disconnected, so they move to another relay of the room.
fn lost(s: &Shared, origin: &MemberId) {
    {
        let mut links = lock(&s.control.links);
        links.up.remove(origin);
        links.lost.retain(|_, t| t.elapsed() < LOST_FOR);
        links.lost.insert(*origin, Instant::now());
    }
    let rooms = lock(&s.control.follower).lost(origin);
    let mut t = lock(&s.table);
    let boxes = lock(&s.control.outboxes);
    for (room, members) in rooms {
        t.close_gated(room.header_id());
        for m in members {
            if let Some(o) = boxes.get(&m) {
                o.conn.close(CLOSE_REFUSED.into(), CLOSE_ORIGIN_GONE);
            }
        }
    }
    s.refresh_gauges(&t);
}
