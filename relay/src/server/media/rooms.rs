//! The room control plane on the wire: one bidirectional stream on a
//! member's media connection (datagrams stay for voice), read into the
//! sans-IO [`Hub`], its forwarding changes applied to the forwarder table,
//! its messages queued to each recipient's stream. Queues are bounded: a
//! member that does not read its control stream is disconnected (it
//! rejoins and gets the room again) rather than let the relay buffer for it.

use std::collections::HashMap;
use std::sync::Mutex;

use aura_crypto::room::{RoomId, SignedRoomOp};
use aura_crypto::MemberId;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::{lock, Shared, CLOSE_REFUSED};
use crate::access::Access;
use crate::forward::Forwarder;
use crate::rooms::{
    ClientMsg, ForwardChange, Hub, HubLimits, Pace, Reader, RelayAdmission, ServerMsg,
};

/// Messages queued to one member's control stream.
const OUTBOX: usize = 1_024;
/// Bytes read from a control stream at once.
const READ_CHUNK: usize = 4_096;

struct Outbox {
    conn: quinn::Connection,
    tx: mpsc::Sender<Bytes>,
}

/// The rooms of the relay and the members' control streams.
pub(super) struct Control {
    hub: Mutex<Hub>,
    outboxes: Mutex<HashMap<MemberId, Outbox>>,
}

impl Control {
    pub(super) fn new(limits: HubLimits, access: &Access) -> Self {
        let ledger = match access {
            Access::Token { ledger, .. } => Some(*ledger),
            _ => None,
        };
        Self {
            hub: Mutex::new(Hub::new(limits, Box::new(RelayAdmission { ledger }))),
            outboxes: Mutex::new(HashMap::new()),
        }
    }
}

/// Serves `member`'s control streams (one at a time) on `conn`.
pub(super) async fn serve(conn: quinn::Connection, member: MemberId, s: std::sync::Arc<Shared>) {
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        let (tx, mut rx) = mpsc::channel::<Bytes>(OUTBOX);
        let conn2 = conn.clone();
        lock(&s.control.outboxes).insert(member, Outbox { conn: conn2, tx });
        let writer = tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                if send.write_all(&b).await.is_err() {
                    break;
                }
            }
        });
        read_loop(&mut recv, &member, &s, &conn).await;
        writer.abort();
    }
    gone(&s, &member, &conn);
}

/// Forgets `member`'s outbox if it belongs to `conn`.
pub(super) fn gone(s: &Shared, member: &MemberId, conn: &quinn::Connection) {
    let mut boxes = lock(&s.control.outboxes);
    if boxes
        .get(member)
        .is_some_and(|o| o.conn.stable_id() == conn.stable_id())
    {
        boxes.remove(member);
    }
}

async fn read_loop(
    recv: &mut quinn::RecvStream,
    member: &MemberId,
    s: &Shared,
    conn: &quinn::Connection,
) {
    let mut reader = Reader::default();
    let mut pace = Pace::new(std::time::Instant::now());
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match recv.read(&mut buf).await {
            Ok(Some(n)) => reader.feed(&buf[..n]),
            _ => return,
        }
        loop {
            match reader.next_message() {
                Ok(Some(m)) => handle(s, member, &m, &mut pace),
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(%member, error = %e, "room control stream refused");
                    s.metrics.refuse("rooms", "wire");
                    conn.close(CLOSE_REFUSED.into(), b"control stream");
                    return;
                }
            }
        }
    }
}

/// Where a refused message came from, for the member's `refused` message.
fn context(msg: &ClientMsg) -> (RoomId, u64) {
    match msg {
        ClientMsg::Op(b) => SignedRoomOp::decode(b)
            .map(|o| (o.op().room, o.op().at_ms))
            .unwrap_or_default(),
        ClientMsg::Chat(r, _) => (*r, 0),
        _ => (RoomId::default(), 0),
    }
}

fn apply(t: &mut Forwarder<quinn::Connection>, s: &Shared, change: ForwardChange) {
    match change {
        ForwardChange::Open(r) => t.gate_room(r),
        ForwardChange::Admit(r, m) => {
            if let Err(e) = t.admit(r, &m) {
                s.metrics.refuse("media", e.as_str());
            }
        }
        ForwardChange::Expel(r, m) => t.expel(r, &m),
        ForwardChange::Speakers(r, v) => t.set_speakers(r, v),
        ForwardChange::Close(r) => t.close_gated(r),
    }
}

/// One control message through the hub; its effects applied and queued
/// (under the hub's lock, so every member gets the room's messages in order).
fn handle(s: &Shared, member: &MemberId, m: &[u8], pace: &mut Pace) {
    let now_ms = unix_ms();
    let msg = match ClientMsg::decode(m) {
        Ok(msg) => msg,
        Err(e) => {
            s.metrics.refuse("rooms", "wire");
            tracing::debug!(%member, error = %e, "room control message refused");
            return;
        }
    };
    if !pace.allow(&msg, std::time::Instant::now()) {
        s.metrics.drop("control_rate_limited");
        return;
    }
    let ctx = context_if_needed(&msg);
    let mut hub = lock(&s.control.hub);
    let fx = match hub.on_message(member, msg, now_ms) {
        Ok(fx) => fx,
        Err(e) => {
            s.metrics.refuse("rooms", e.as_str());
            let (room, at_ms) = ctx.unwrap_or_else(|m| context(&m));
            let refused = ServerMsg::Refused {
                room,
                at_ms,
                code: e.code(),
            };
            if let Some(o) = lock(&s.control.outboxes).get(member) {
                let _ = o.tx.try_send(Bytes::from(refused.encode()));
            }
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
    drop(hub);
    for c in overflowed {
        s.metrics.drop("control_queue_full");
        c.close(CLOSE_REFUSED.into(), b"control queue full");
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

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
