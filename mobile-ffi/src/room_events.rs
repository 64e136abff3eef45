//! A room's live updates: the app implements [`RoomListener`];
//! `AuraRoom::subscribe` feeds it [`AuraRoomEvent`]s on a thread of its own
//! until the returned `Subscription` is cancelled or dropped.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use aura_crypto::{room::RoomChange, MemberId};
use aura_node::rooms::RoomEvent;
use tokio::sync::{mpsc, watch, Mutex};

use crate::{ledger::GiftReceiptInfo, types::member_hex};

/// The relay's refusal code for a VIP room or seat without a VIP token.
pub const REFUSED_VIP_REQUIRED: u8 = 18;

/// What a refusal code of the relay means (the relay's `HubError::code`).
pub(crate) fn refusal_reason(code: u8) -> &'static str {
    match code {
        1 => "malformed control message",
        2 => "malformed key message",
        3 => "bad signature",
        4 => "replayed op",
        5 => "stale op (clock too far off)",
        6 => "not allowed (role)",
        7 => "banned from the room",
        8 => "not present in the room",
        9 => "refused by the room's rules",
        10 => "op author is not the connection's member",
        11 => "unknown room",
        12 => "room exists",
        13 => "too many rooms",
        14 => "room keys come from the host only",
        15 => "room log full",
        16 => "too many edge relays for the room",
        17 => "cascade message not expected here",
        REFUSED_VIP_REQUIRED => "VIP members only",
        _ => "refused by the relay",
    }
}

/// A change an op made to the room.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum RoomChangeInfo {
    /// A member joined the audience.
    Joined {
        /// Member id (hex).
        member: String,
    },
    /// A member left, was kicked or banned.
    Departed {
        /// Member id (hex).
        member: String,
        /// Removed by the host or a moderator (kick or ban).
        removed: bool,
    },
    /// A hand was raised or lowered.
    Hand {
        /// Member id (hex).
        member: String,
        /// Raised (true) or lowered.
        up: bool,
    },
    /// A member was invited to a seat.
    SeatInvited {
        /// Member id (hex).
        member: String,
        /// Seat number.
        seat: u8,
    },
    /// A seat changed speaker.
    Seated {
        /// Seat number.
        seat: u8,
        /// The speaker now on it (hex), `None` when it is empty.
        member: Option<String>,
    },
    /// A seat was muted or unmuted.
    Muted {
        /// Seat number.
        seat: u8,
        /// Muted (true) or unmuted.
        muted: bool,
    },
    /// A moderator was named or removed.
    Moderator {
        /// Member id (hex).
        member: String,
        /// Named (true) or removed.
        on: bool,
    },
    /// A ban was lifted.
    Unbanned {
        /// Member id (hex).
        member: String,
    },
    /// The room is closed.
    Closed,
}

impl From<RoomChange> for RoomChangeInfo {
    fn from(c: RoomChange) -> Self {
        match c {
            RoomChange::Joined(m) => Self::Joined {
                member: member_hex(&m),
            },
            RoomChange::Departed { member, removed } => Self::Departed {
                member: member_hex(&member),
                removed,
            },
            RoomChange::Hand(m, up) => Self::Hand {
                member: member_hex(&m),
                up,
            },
            RoomChange::SeatInvited(m, seat) => Self::SeatInvited {
                member: member_hex(&m),
                seat,
            },
            RoomChange::Seated(seat, m) => Self::Seated {
                seat,
                member: m.as_ref().map(member_hex),
            },
            RoomChange::Muted(seat, muted) => Self::Muted { seat, muted },
            RoomChange::Moderator(m, on) => Self::Moderator {
                member: member_hex(&m),
                on,
            },
            RoomChange::Unbanned(m) => Self::Unbanned {
                member: member_hex(&m),
            },
            RoomChange::Closed => Self::Closed,
        }
    }
}

/// What happens in a room, in the order the relay sequenced it.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum AuraRoomEvent {
    /// The relay sent us the room: members, seats and calls work from now.
    Welcomed,
    /// An op changed the room (joins, seats, hands, mutes, roles,
    /// departures, close).
    Changed {
        /// What changed.
        change: RoomChangeInfo,
    },
    /// A chat line.
    Said {
        /// Author (hex member id).
        sender: String,
        /// Text.
        text: String,
    },
    /// A member sent a gift in the room (the ledger's receipt, checked
    /// with the pinned ledger key).
    Gift {
        /// Who paid for it (hex member id).
        sender: String,
        /// The receipt.
        receipt: GiftReceiptInfo,
    },
    /// The relay refused an op of ours.
    Refused {
        /// The refused op's time, unix ms (0 for other messages).
        at_ms: u64,
        /// The relay's code (18: VIP members only).
        code: u8,
        /// The code in words.
        reason: String,
    },
    /// Who is speaking now (hex member ids; empty: silence).
    Speaking {
        /// Members whose voice played in the last tick.
        members: Vec<String>,
    },
    /// Our relay stopped; we rejoined the room through another of its
    /// relays and keep listening.
    Moved {
        /// The relay we are connected through now (peer id).
        relay: String,
    },
    /// The connection to the relay ended; the room is over for this handle
    /// (join again for a new one).
    Disconnected,
}

/// A relay's libp2p peer id, or its member id's hex if it has none.
pub(crate) fn relay_text(relay: &MemberId) -> String {
    relay
        .peer_id()
        .map_or_else(|_| member_hex(relay), |p| p.to_string())
}

impl AuraRoomEvent {
    /// The app's view of a room event (`None` for internal ones).
    pub(crate) fn from_room(e: RoomEvent) -> Option<Self> {
        Some(match e {
            RoomEvent::Welcomed => Self::Welcomed,
            RoomEvent::Changed(c) => Self::Changed { change: c.into() },
            RoomEvent::Said { from, text } => Self::Said {
                sender: member_hex(&from),
                text,
            },
            RoomEvent::Gift { from, receipt } => Self::Gift {
                sender: member_hex(&from),
                receipt: (&*receipt).into(),
            },
            RoomEvent::Refused { at_ms, code } => Self::Refused {
                at_ms,
                code,
                reason: refusal_reason(code).to_owned(),
            },
            RoomEvent::Speaking(who) => Self::Speaking {
                members: who.iter().map(member_hex).collect(),
            },
            RoomEvent::Moved { relay } => Self::Moved {
                relay: relay_text(&relay),
            },
            RoomEvent::Disconnected => Self::Disconnected,
            RoomEvent::Chat { .. } => return None,
        })
    }
}

/// Receives a room's events. Implemented by the app; called on one thread
/// of the library's, in order. Hop to the UI thread inside `on_event`.
#[uniffi::export(foreign)]
pub trait RoomListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: AuraRoomEvent);
}

/// One feed of a room's events to a listener; dropping it stops the feed.
#[derive(Debug)]
pub(crate) struct RoomFeed {
    cancelled: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
}

impl Drop for RoomFeed {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::SeqCst);
        let _ = self.stop.send(true);
    }
}

impl RoomFeed {
    /// Feeds `events` to `listener` on a thread named `aura-room-events`,
    /// driven by `rt`. The receiver is held while the feed runs, so a
    /// later feed takes over once this one stopped.
    pub(crate) fn start(
        rt: tokio::runtime::Handle,
        events: Arc<Mutex<mpsc::Receiver<RoomEvent>>>,
        listener: Arc<dyn RoomListener>,
    ) -> std::io::Result<Self> {
        let cancelled = Arc::new(AtomicBool::new(false));
        let (stop, mut stopped) = watch::channel(false);
        let flag = cancelled.clone();
        std::thread::Builder::new()
            .name("aura-room-events".into())
            .spawn(move || {
                rt.block_on(async move {
                    let mut rx = tokio::select! {
                        rx = events.lock() => rx,
                        _ = stopped.wait_for(|s| *s) => return,
                    };
                    loop {
                        let e = tokio::select! {
                            e = rx.recv() => e,
                            _ = stopped.wait_for(|s| *s) => return,
                        };
                        let Some(e) = e else { return };
                        if flag.load(Ordering::SeqCst) {
                            return;
                        }
                        if let Some(e) = AuraRoomEvent::from_room(e) {
                            listener.on_event(e);
                        }
                    }
                });
            })?;
        Ok(Self { cancelled, stop })
    }
}
