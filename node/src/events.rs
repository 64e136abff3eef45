//! What happens on the node, as [`Event`]s: through a bounded
//! [`EventStream`] per subscriber, or pushed to an [`EventListener`] the app
//! registers (for bindings that cannot poll a Rust future).

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use aura_crypto::{GroupId, MemberId};
use libp2p::PeerId;
use tokio::sync::broadcast;

use crate::location::Fix;

/// Bound of each subscriber's event queue (a slow one misses events and is
/// told how many with [`Event::Missed`]).
pub(crate) const EVENT_QUEUE: usize = 4096;

/// What happens on the node.
#[derive(Debug, Clone)]
pub enum Event {
    /// We are now in `group` (created, joined, or reloaded after restart).
    Joined {
        /// Group.
        group: GroupId,
        /// Its name.
        name: String,
    },
    /// A member was added.
    MemberJoined {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
        /// How the member shows: its display name, `name (id prefix)` when
        /// another member reads the same, else its id prefix.
        label: String,
    },
    /// A member was removed or left.
    MemberLeft {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
        /// How the member shows: its display name, `name (id prefix)` when
        /// another member reads the same, else its id prefix.
        label: String,
    },
    /// A member's profile arrived or changed (name, status line, avatar);
    /// the avatar image, when it names one, is fetched by hash and shown
    /// by [`crate::Node::avatar`] once it is here.
    Profile {
        /// Group it came in.
        group: GroupId,
        /// Whose.
        member: MemberId,
        /// How the member shows: its display name, `name (id prefix)` when
        /// another member reads the same, else its id prefix.
        label: String,
        /// What the member says about itself (signature checked).
        profile: crate::people::Profile,
    },
    /// We were removed from `group`: nothing sent from now on is readable to us.
    RemovedFromGroup {
        /// Group.
        group: GroupId,
    },
    /// A stored group could not be loaded at start: its record was moved
    /// aside (`Store::quarantined_groups`) and the node started without it.
    GroupQuarantined {
        /// Group (the id it was stored under).
        group: GroupId,
        /// Why it did not load.
        reason: String,
    },
    /// A member's (coarsened) location.
    Location {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
        /// Where and when.
        fix: Fix,
        /// How the member shows: its display name, `name (id prefix)` when
        /// another member reads the same, else its id prefix.
        label: String,
    },
    /// A member entered or left a geofence.
    Geofence {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
        /// Fence name.
        fence: String,
        /// Entered (true) or left.
        entered: bool,
        /// How the member shows: its display name, `name (id prefix)` when
        /// another member reads the same, else its id prefix.
        label: String,
    },
    /// A member came near us, or went away again.
    Proximity {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
        /// Near (true) or far.
        near: bool,
        /// Distance to the member's shared position, metres.
        distance_m: f64,
        /// Uncertainty from the member's precision, metres.
        uncertainty_m: f64,
        /// How the member shows: its display name, `name (id prefix)` when
        /// another member reads the same, else its id prefix.
        label: String,
    },
    /// A chat message.
    Chat {
        /// Group.
        group: GroupId,
        /// Sender.
        from: MemberId,
        /// Text.
        text: String,
        /// Sent at, unix ms.
        at_ms: u64,
        /// How the member shows: its display name, `name (id prefix)` when
        /// another member reads the same, else its id prefix.
        label: String,
    },
    /// A member sent a gift (its ledger receipt checked with the pinned
    /// billing service key; each receipt shown once).
    Gift {
        /// Group (the room).
        group: GroupId,
        /// Who paid for it.
        from: MemberId,
        /// What the ledger signed: gift, receiver, coins, diamonds, animation.
        receipt: aura_billing::signed::GiftReceipt,
        /// How the member shows: its display name, `name (id prefix)` when
        /// another member reads the same, else its id prefix.
        label: String,
    },
    /// A member's media-plane (voice) endpoint.
    MediaAddr {
        /// Group.
        group: GroupId,
        /// Who.
        member: MemberId,
        /// Socket address or multiaddr string.
        addr: String,
    },
    /// The node stopped voice in `group` (background mode leaves voice);
    /// the app's voice handle for it is dead, join again in the foreground.
    VoiceStopped {
        /// Group.
        group: GroupId,
    },
    /// Quality of a member's incoming voice stream (every
    /// [`crate::voice_api::VoiceConfig::stats_every`] while in voice).
    VoiceQuality {
        /// Group.
        group: GroupId,
        /// Whose stream.
        member: MemberId,
        /// Loss, late, jitter, RTT, playout delay, concealment/FEC, MOS.
        report: crate::voice::QualityReport,
    },
    /// Voice heard as `sender`'s was not authentic: `forged` when its
    /// batch signature proved another holder of `sender`'s key made it, else
    /// no signature of `sender` covered it in time. Names the sender whose
    /// key was abused, not who abused it.
    VoiceNotAuthentic {
        /// Group.
        group: GroupId,
        /// The sender the frame claimed.
        sender: MemberId,
        /// Its frame counter.
        counter: u32,
        /// Proved forged (true) or merely unverified.
        forged: bool,
    },
    /// A member's sender key was installed.
    KeysReceived {
        /// Group.
        group: GroupId,
        /// Whose key.
        sender: MemberId,
        /// Its epoch.
        epoch: u16,
    },
    /// A connection opened.
    PeerConnected {
        /// Peer.
        peer: PeerId,
        /// Through a circuit relay.
        relayed: bool,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// Peer.
        peer: PeerId,
    },
    /// The path to a peer changed: its first connection, direct after hole
    /// punching, back to a relay when the direct connection closed, or
    /// through another relay after one died. [`Event::PeerDisconnected`]
    /// follows when no connection is left.
    PathChanged {
        /// Peer.
        peer: PeerId,
        /// How we reach it now.
        path: crate::Path,
    },
    /// Raw gossip on a topic watched with [`Node::observe_group`] (not a member).
    Observed {
        /// Group whose topic it was.
        group: GroupId,
        /// The bytes as received.
        data: Vec<u8>,
    },
    /// A gossip message was rejected (malformed, wrong group, forged).
    GossipRejected {
        /// Who forwarded it.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// This subscriber fell behind and `count` events were dropped for it
    /// (the stream is bounded; the node never waits for a slow reader).
    Missed {
        /// How many.
        count: u64,
    },
}

/// A subscription to the node's events, bounded. Ends (`None`) when the node
/// has stopped.
#[derive(Debug)]
pub struct EventStream {
    rx: broadcast::Receiver<Event>,
}

impl EventStream {
    pub(crate) fn new(rx: broadcast::Receiver<Event>) -> Self {
        Self { rx }
    }

    /// The next event; `None` once the node has stopped.
    pub async fn next(&mut self) -> Option<Event> {
        Self::map(self.rx.recv().await)
    }

    /// The next event if one is queued, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        match self.rx.try_recv() {
            Ok(e) => Some(e),
            Err(broadcast::error::TryRecvError::Lagged(n)) => Some(Event::Missed { count: n }),
            Err(_) => None,
        }
    }

    /// The next event, blocking this thread (not for async contexts); `None`
    /// once the node has stopped.
    pub fn blocking_next(&mut self) -> Option<Event> {
        Self::map(self.rx.blocking_recv())
    }

    fn map(r: Result<Event, broadcast::error::RecvError>) -> Option<Event> {
        match r {
            Ok(e) => Some(e),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Event::Missed { count: n }),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

/// Receives every event of a node, on a thread of its own (a slow listener
/// delays only itself; past [`EVENT_QUEUE`] events behind it gets
/// [`Event::Missed`]).
pub trait EventListener: Send + Sync + 'static {
    /// One event.
    fn on_event(&self, event: Event);
}

/// A registered listener; dropping it (or [`ListenerHandle::remove`])
/// stops delivery after the event in flight.
#[derive(Debug)]
pub struct ListenerHandle {
    stop: Arc<AtomicBool>,
}

impl ListenerHandle {
    /// Stops delivering events to the listener.
    pub fn remove(self) {}
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts the thread that feeds `listener` from `stream`.
pub(crate) fn spawn_listener(
    mut stream: EventStream,
    listener: Arc<dyn EventListener>,
) -> std::io::Result<ListenerHandle> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::Builder::new()
        .name("aura-events".into())
        .spawn(move || {
            while let Some(event) = stream.blocking_next() {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                listener.on_event(event);
            }
        })?;
    Ok(ListenerHandle { stop })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Mutex;

    use super::*;

    fn joined(i: u8) -> Event {
        Event::Joined {
            group: GroupId([i; 32]),
            name: format!("g{i}"),
        }
    }

    /// A reader that fell behind is told how many events it missed, then
    /// gets the newest ones; the node never waited for it.
    #[test]
    fn a_slow_subscriber_is_told_what_it_missed() -> Result<(), Box<dyn std::error::Error>> {
        let (tx, rx) = broadcast::channel(EVENT_QUEUE);
        let mut stream = EventStream::new(rx);
        for i in 0..(EVENT_QUEUE + 10) {
            tx.send(joined((i % 251) as u8))?;
        }
        assert!(matches!(
            stream.try_next(),
            Some(Event::Missed { count: 10 })
        ));
        let mut rest = 0;
        while stream.try_next().is_some() {
            rest += 1;
        }
        assert_eq!(rest, EVENT_QUEUE);
        drop(tx);
        assert!(stream.blocking_next().is_none(), "ends when the node stops");
        Ok(())
    }

    struct Collect(Mutex<Vec<Event>>);

    impl Collect {
        fn len(&self) -> usize {
            self.0.lock().map(|v| v.len()).unwrap_or(0)
        }
    }

    impl EventListener for Collect {
        fn on_event(&self, event: Event) {
            if let Ok(mut v) = self.0.lock() {
                v.push(event);
            }
        }
    }

    /// A registered listener gets every event on its own thread, and none
    /// after its handle is dropped.
    #[test]
    fn a_listener_gets_events_until_its_handle_is_dropped() -> Result<(), Box<dyn std::error::Error>>
    {
        let (tx, rx) = broadcast::channel(EVENT_QUEUE);
        let seen = Arc::new(Collect(Mutex::new(Vec::new())));
        let handle = spawn_listener(EventStream::new(rx), seen.clone())?;
        for i in 0..3 {
            tx.send(joined(i))?;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while seen.len() < 3 {
            assert!(std::time::Instant::now() < deadline, "listener got nothing");
            std::thread::yield_now();
        }
        drop(handle);
        // The first wakes the thread, which then stops (and unsubscribes).
        let _ = tx.send(joined(9));
        let _ = tx.send(joined(10));
        drop(tx);
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(seen.len(), 3, "events after the handle dropped");
        Ok(())
    }
}
