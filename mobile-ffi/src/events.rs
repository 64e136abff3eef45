//! Live updates: the app implements [`AuraListener`]; `AuraNode::subscribe`
//! returns a [`Subscription`] that stops delivery when cancelled or dropped.

use std::sync::{Arc, Mutex};

use aura_node::{Event, ListenerHandle};

use crate::types::{group_hex, member_hex, LocationFix};

/// What happens on the node, as the app sees it.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum AuraEvent {
    /// We are now in `group` (created, joined, or reloaded after restart).
    Joined {
        /// Group id (hex).
        group: String,
        /// Its name.
        name: String,
    },
    /// A member was added.
    MemberJoined {
        /// Group id (hex).
        group: String,
        /// Member id (hex).
        member: String,
        /// How the member shows: display name, `name (id prefix)` on a
        /// collision, else the id prefix.
        label: String,
    },
    /// A member was removed or left.
    MemberLeft {
        /// Group id (hex).
        group: String,
        /// Member id (hex).
        member: String,
        /// How the member shows: display name, `name (id prefix)` on a
        /// collision, else the id prefix.
        label: String,
    },
    /// A member's profile arrived or changed.
    Profile {
        /// Group id (hex).
        group: String,
        /// Member id (hex).
        member: String,
        /// How the member shows: display name, `name (id prefix)` on a
        /// collision, else the id prefix.
        label: String,
        /// Display name.
        name: String,
        /// Status line.
        status: Option<String>,
        /// SHA-256 of the avatar image (hex), when it has one; the image
        /// comes from `AuraNode::avatar` once fetched.
        avatar: Option<String>,
    },
    /// We were removed from `group`.
    RemovedFromGroup {
        /// Group id (hex).
        group: String,
    },
    /// A stored group could not be loaded at start and was set aside.
    GroupQuarantined {
        /// Group id (hex).
        group: String,
        /// Why.
        reason: String,
    },
    /// A member's (coarsened) position.
    Location {
        /// Group id (hex).
        group: String,
        /// Member id (hex).
        member: String,
        /// How the member shows: display name, `name (id prefix)` on a
        /// collision, else the id prefix.
        label: String,
        /// Where and when.
        fix: LocationFix,
    },
    /// A member entered or left a geofence.
    Geofence {
        /// Group id (hex).
        group: String,
        /// Member id (hex).
        member: String,
        /// How the member shows: display name, `name (id prefix)` on a
        /// collision, else the id prefix.
        label: String,
        /// Fence name.
        fence: String,
        /// Entered (true) or left.
        entered: bool,
    },
    /// A member came near us, or went away again.
    Proximity {
        /// Group id (hex).
        group: String,
        /// Member id (hex).
        member: String,
        /// How the member shows: display name, `name (id prefix)` on a
        /// collision, else the id prefix.
        label: String,
        /// Near (true) or far.
        near: bool,
        /// Distance, metres.
        distance_m: f64,
        /// Uncertainty from the member's precision, metres.
        uncertainty_m: f64,
    },
    /// A chat message.
    Chat {
        /// Group id (hex).
        group: String,
        /// Sender member id (hex).
        sender: String,
        /// How the member shows: display name, `name (id prefix)` on a
        /// collision, else the id prefix.
        label: String,
        /// Text.
        text: String,
        /// Sent at, unix ms.
        at_ms: u64,
    },
    /// A member sent a gift (receipt checked against the pinned ledger key).
    Gift {
        /// Group id (hex).
        group: String,
        /// Sender member id (hex).
        sender: String,
        /// How the member shows: display name, `name (id prefix)` on a
        /// collision, else the id prefix.
        label: String,
        /// Receiver member id (hex, as the ledger signed it).
        to: String,
        /// Gift name.
        gift: String,
        /// Animation to play.
        animation: String,
        /// Price in coins.
        coins: i64,
    },
    /// A member's sender key was installed.
    KeysReceived {
        /// Group id (hex).
        group: String,
        /// Member id (hex).
        sender: String,
        /// Key epoch.
        epoch: u16,
    },
    /// A member's voice endpoint.
    MediaAddr {
        /// Group id (hex).
        group: String,
        /// Member id (hex).
        member: String,
        /// Address.
        addr: String,
    },
    /// The node left voice in `group` (background mode): the group's
    /// `AuraVoice` is dead; join again in the foreground.
    VoiceStopped {
        /// Group id (hex).
        group: String,
    },
    /// Quality of a member's incoming voice.
    VoiceQuality {
        /// Group id (hex).
        group: String,
        /// Member id (hex).
        member: String,
        /// Loss fraction, 0..1.
        loss: f64,
        /// Jitter, ms.
        jitter_ms: f64,
        /// Round-trip time, ms.
        rtt_ms: f64,
        /// Estimated mean opinion score, 1..5.
        mos: f64,
    },
    /// Voice claiming to be `sender`'s was not authentic.
    VoiceNotAuthentic {
        /// Group id (hex).
        group: String,
        /// The sender it claimed (hex).
        sender: String,
        /// Proved forged (true) or merely unverified.
        forged: bool,
    },
    /// A connection to a peer opened.
    PeerConnected {
        /// libp2p peer id.
        peer: String,
        /// Through a circuit relay.
        relayed: bool,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// libp2p peer id.
        peer: String,
    },
    /// The path to a peer changed (direct, or through a relay).
    PathChanged {
        /// libp2p peer id.
        peer: String,
        /// The relay's peer id when relayed; `None` when direct.
        relay: Option<String>,
    },
    /// A gossip message was rejected (malformed, forged...).
    GossipRejected {
        /// Who forwarded it.
        peer: String,
        /// Why.
        reason: String,
    },
    /// The listener fell behind and `count` events were dropped for it.
    Missed {
        /// How many.
        count: u64,
    },
}

impl AuraEvent {
    /// The app's view of a node event; `None` for events only tests see.
    fn from_node(e: Event) -> Option<Self> {
        Some(match e {
            Event::Joined { group, name } => Self::Joined {
                group: group_hex(&group),
                name,
            },
            Event::MemberJoined {
                group,
                member,
                label,
            } => Self::MemberJoined {
                group: group_hex(&group),
                member: member_hex(&member),
                label,
            },
            Event::MemberLeft {
                group,
                member,
                label,
            } => Self::MemberLeft {
                group: group_hex(&group),
                member: member_hex(&member),
                label,
            },
            Event::Profile {
                group,
                member,
                label,
                profile,
            } => Self::Profile {
                group: group_hex(&group),
                member: member_hex(&member),
                label,
                name: profile.name,
                status: profile.status,
                avatar: profile.avatar.map(|a| hex::encode(a.hash)),
            },
            Event::RemovedFromGroup { group } => Self::RemovedFromGroup {
                group: group_hex(&group),
            },
            Event::GroupQuarantined { group, reason } => Self::GroupQuarantined {
                group: group_hex(&group),
                reason,
            },
            Event::Location {
                group,
                member,
                label,
                fix,
            } => Self::Location {
                group: group_hex(&group),
                member: member_hex(&member),
                label,
                fix: (&fix).into(),
            },
            Event::Geofence {
                group,
                member,
                label,
                fence,
                entered,
            } => Self::Geofence {
                group: group_hex(&group),
                member: member_hex(&member),
                label,
                fence,
                entered,
            },
            Event::Proximity {
                group,
                member,
                label,
                near,
                distance_m,
                uncertainty_m,
            } => Self::Proximity {
                group: group_hex(&group),
                member: member_hex(&member),
                label,
                near,
                distance_m,
                uncertainty_m,
            },
            Event::Chat {
                group,
                from,
                label,
                text,
                at_ms,
            } => Self::Chat {
                group: group_hex(&group),
                sender: member_hex(&from),
                label,
                text,
                at_ms,
            },
            Event::Gift {
                group,
                from,
                label,
                receipt,
            } => Self::Gift {
                group: group_hex(&group),
                sender: member_hex(&from),
                label,
                to: receipt.receiver,
                gift: receipt.gift,
                animation: receipt.animation,
                coins: receipt.coins,
            },
            Event::KeysReceived {
                group,
                sender,
                epoch,
            } => Self::KeysReceived {
                group: group_hex(&group),
                sender: member_hex(&sender),
                epoch,
            },
            Event::MediaAddr {
                group,
                member,
                addr,
            } => Self::MediaAddr {
                group: group_hex(&group),
                member: member_hex(&member),
                addr,
            },
            Event::VoiceStopped { group } => Self::VoiceStopped {
                group: group_hex(&group),
            },
            Event::VoiceQuality {
                group,
                member,
                report,
            } => Self::VoiceQuality {
                group: group_hex(&group),
                member: member_hex(&member),
                loss: report.loss,
                jitter_ms: report.jitter_ms,
                rtt_ms: report.rtt_ms,
                mos: report.mos,
            },
            Event::VoiceNotAuthentic {
                group,
                sender,
                forged,
                ..
            } => Self::VoiceNotAuthentic {
                group: group_hex(&group),
                sender: member_hex(&sender),
                forged,
            },
            Event::PeerConnected { peer, relayed } => Self::PeerConnected {
                peer: peer.to_string(),
                relayed,
            },
            Event::PeerDisconnected { peer } => Self::PeerDisconnected {
                peer: peer.to_string(),
            },
            Event::PathChanged { peer, path } => Self::PathChanged {
                peer: peer.to_string(),
                relay: path.relay().map(|r| r.to_string()),
            },
            Event::GossipRejected { peer, reason } => Self::GossipRejected {
                peer: peer.to_string(),
                reason,
            },
            Event::Missed { count } => Self::Missed { count },
            Event::Observed { .. } => return None,
        })
    }
}

/// Receives the node's events. Implemented by the app (Kotlin, Swift,
/// Python). Called on one thread of the node's, in order; a slow listener
/// delays only itself and, past the node's event bound, gets
/// [`AuraEvent::Missed`]. Hop to the UI thread inside `on_event`.
#[uniffi::export(foreign)]
pub trait AuraListener: Send + Sync {
    /// One event.
    fn on_event(&self, event: AuraEvent);
}

/// Feeds node events to the app's listener.
pub(crate) struct Forward(pub(crate) Arc<dyn AuraListener>);

impl aura_node::EventListener for Forward {
    fn on_event(&self, event: Event) {
        if let Some(e) = AuraEvent::from_node(event) {
            self.0.on_event(e);
        }
    }
}

/// A live subscription (to the node's events or a room's).
/// [`Subscription::cancel`] (or dropping it) stops delivery after the event
/// in flight.
#[derive(uniffi::Object)]
pub struct Subscription {
    /// Whatever stops the delivery when dropped.
    handle: Mutex<Option<Box<dyn Send>>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("active", &self.is_active())
            .finish()
    }
}

impl Subscription {
    /// A subscription to the node's events.
    pub(crate) fn new(handle: ListenerHandle) -> Self {
        Self::stopped_by(handle)
    }

    /// A subscription that ends when `handle` is dropped.
    pub(crate) fn stopped_by(handle: impl Send + 'static) -> Self {
        Self {
            handle: Mutex::new(Some(Box::new(handle))),
        }
    }
}

#[uniffi::export]
impl Subscription {
    /// Stops delivering events to the listener. Idempotent.
    pub fn cancel(&self) {
        let taken = match self.handle.lock() {
            Ok(mut h) => h.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        drop(taken);
    }

    /// Whether events are still delivered.
    pub fn is_active(&self) -> bool {
        match self.handle.lock() {
            Ok(h) => h.is_some(),
            Err(poisoned) => poisoned.into_inner().is_some(),
        }
    }
}
