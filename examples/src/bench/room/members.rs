//! The room's members as the bench joins them: at a given relay, or at
//! the least loaded one, and listening through the measured window.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aura_crypto::room::{RoomId, RoomOpKind, RoomTicket};
use aura_crypto::{FrameHeader, FrameKind, Identity, MemberId};
use aura_media::room_control::least_loaded;
use aura_node::rooms::RoomClient;
use rand::rngs::OsRng;

use super::light::Light;
use super::report::{Arrival, Heard};
use crate::bench::relay::RelayThread;

/// How long one setup step may take (a join, the DHT lookup of an edge).
pub(super) const STEP: Duration = Duration::from_secs(30);
/// A relay as the clients address it.
#[derive(Clone, Copy)]
pub(super) struct At {
    pub(super) id: MemberId,
    pub(super) addr: SocketAddr,
}

impl From<&RelayThread> for At {
    fn from(r: &RelayThread) -> Self {
        Self {
            id: r.id.member_id(),
            addr: r.media,
        }
    }
}

/// What every joiner needs.
#[derive(Clone)]
pub(super) struct Room {
    pub(super) id: RoomId,
    pub(super) ticket: RoomTicket,
    pub(super) seated: Vec<MemberId>,
}

/// A member joined at `at`, keyed (the room key and `speaker_keys`): the
/// time from its join sent to its keys installed (`None`: not within
/// [`STEP`]).
pub(super) async fn join_at(
    id: &Identity,
    room: &Room,
    at: At,
    speaker_keys: usize,
) -> anyhow::Result<(Light, Option<Duration>)> {
    let client = RoomClient::member(id.clone(), room.id);
    let l = Light::connect(id, client, &room.seated, at.id, at.addr).await?;
    enter(l, room, speaker_keys).await
}

pub(super) async fn enter(
    mut l: Light,
    room: &Room,
    speaker_keys: usize,
) -> anyhow::Result<(Light, Option<Duration>)> {
    let t = Instant::now();
    l.act(RoomOpKind::Join {
        ticket: Some(room.ticket.clone()),
        entitlement: None,
    })
    .await?;
    let keyed = l.pump_until(STEP, |l| l.keyed(speaker_keys)).await?;
    Ok((l, keyed.then(|| t.elapsed())))
}

/// A listener that asks `entry` for the room's relays and joins the least
/// loaded.
pub(super) async fn join_least_loaded(
    room: &Room,
    entry: At,
) -> anyhow::Result<(Light, Option<Duration>)> {
    let id = Identity::generate(&mut OsRng);
    let client = RoomClient::member(id.clone(), room.id);
    let mut l = Light::connect(&id, client, &room.seated, entry.id, entry.addr).await?;
    let relays = l.ask_relays(room.id, STEP).await?;
    let best = least_loaded(&relays).ok_or_else(|| anyhow::anyhow!("no relay serves the room"))?;
    if best.relay != l.relay {
        l = l.move_to(best.relay, best.addr).await?;
    }
    enter(l, room, room.seated.len()).await
}

pub(super) fn ns_since(base: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(base).as_nanos() as u64
}

/// A listener for the window: notes each voice frame's arrival (at most
/// `cap`); a probe also opens each (`opened`).
pub(super) fn spawn_listener(
    mut l: Light,
    relay: usize,
    probe: bool,
    base: Instant,
    end: Instant,
    cap: usize,
) -> tokio::task::JoinHandle<(Light, Heard)> {
    tokio::spawn(async move {
        let mut heard = Heard {
            relay,
            arrivals: Vec::new(),
            opened: 0,
        };
        let Some(mut inbox) = l.incoming.take() else {
            return (l, heard);
        };
        let mut stream_open = true;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(end.into()) => break,
                Some(d) = inbox.recv() => {
                    let Ok(h) = FrameHeader::parse(&d.frame) else { continue };
                    if h.kind == FrameKind::Voice && heard.arrivals.len() < cap {
                        heard.arrivals.push(Arrival {
                            sender: h.sender.0,
                            counter: h.counter,
                            at_ns: ns_since(base, d.at),
                        });
                    }
                    if probe && l.client.open(&d.frame).is_ok() {
                        heard.opened += 1;
                    }
                }
                n = l.read_bytes(), if stream_open => {
                    stream_open = match n {
                        Ok(n) => l.handle(n).await.is_ok(),
                        Err(_) => false,
                    };
                }
            }
        }
        (l, heard)
    })
}
