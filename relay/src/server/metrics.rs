//! What an operator watches, in Prometheus text format: connections,
//! reservations, circuits, forwarded packets and bytes, drops and refusals
//! by reason (plus libp2p's own swarm, relay, kad, identify and ping
//! metrics, registered by the swarm).

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A `reason` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    /// Why.
    pub reason: &'static str,
}

/// A `plane` and `reason` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PlaneReason {
    /// `libp2p` or `media`.
    pub plane: &'static str,
    /// Why.
    pub reason: &'static str,
}

/// The relay's own metrics (all cheap to clone: atomics behind `Arc`s).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// libp2p connections open now.
    pub connections: Gauge<i64, AtomicI64>,
    /// Media connections open now.
    pub media_sessions: Gauge<i64, AtomicI64>,
    /// Rooms on the media forwarder now.
    pub media_rooms: Gauge<i64, AtomicI64>,
    /// Members joined to rooms now (summed over rooms).
    pub media_joins: Gauge<i64, AtomicI64>,
    /// Reservations held now.
    pub reservations: Gauge<i64, AtomicI64>,
    /// Circuits open now.
    pub circuits: Gauge<i64, AtomicI64>,
    /// Reservations accepted (new and renewed).
    pub reservations_accepted: Counter<u64, AtomicU64>,
    /// Circuits accepted.
    pub circuits_accepted: Counter<u64, AtomicU64>,
    /// Datagrams forwarded (one per receiver).
    pub forwarded_packets: Counter<u64, AtomicU64>,
    /// Bytes forwarded (summed over receivers).
    pub forwarded_bytes: Counter<u64, AtomicU64>,
    /// Datagrams dropped, by reason.
    pub drops: Family<Reason, Counter<u64, AtomicU64>>,
    /// Connections, reservations, circuits, joins and tokens refused, by plane and reason.
    pub refusals: Family<PlaneReason, Counter<u64, AtomicU64>>,
}

impl Metrics {
    /// Registers every metric under `aura_relay_` in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("aura_relay");
        r.register(
            "connections",
            "libp2p connections open",
            self.connections.clone(),
        );
        r.register(
            "media_sessions",
            "media connections open",
            self.media_sessions.clone(),
        );
        r.register(
            "media_rooms",
            "rooms on the media forwarder",
            self.media_rooms.clone(),
        );
        r.register(
            "media_joins",
            "members joined to rooms, summed over rooms",
            self.media_joins.clone(),
        );
        r.register(
            "reservations",
            "circuit relay reservations held",
            self.reservations.clone(),
        );
        r.register("circuits", "relayed circuits open", self.circuits.clone());
        r.register(
            "reservations_accepted",
            "reservations accepted (new and renewed)",
            self.reservations_accepted.clone(),
        );
        r.register(
            "circuits_accepted",
            "circuits accepted",
            self.circuits_accepted.clone(),
        );
        r.register(
            "forwarded_packets",
            "media datagrams forwarded, one per receiver",
            self.forwarded_packets.clone(),
        );
        r.register(
            "forwarded_bytes",
            "media bytes forwarded, summed over receivers",
            self.forwarded_bytes.clone(),
        );
        r.register(
            "drops",
            "media datagrams dropped, by reason",
            self.drops.clone(),
        );
        r.register(
            "refusals",
            "connections, reservations, circuits, joins and tokens refused, by plane and reason",
            self.refusals.clone(),
        );
    }

    /// Counts a drop.
    pub fn drop(&self, reason: &'static str) {
        self.drops.get_or_create(&Reason { reason }).inc();
    }

    /// Counts a refusal.
    pub fn refuse(&self, plane: &'static str, reason: &'static str) {
        self.refusals
            .get_or_create(&PlaneReason { plane, reason })
            .inc();
    }

    /// The count of drops for `reason` so far.
    pub fn drops_for(&self, reason: &'static str) -> u64 {
        self.drops.get_or_create(&Reason { reason }).get()
    }

    /// The count of refusals on `plane` for `reason` so far.
    pub fn refusals_for(&self, plane: &'static str, reason: &'static str) -> u64 {
        self.refusals
            .get_or_create(&PlaneReason { plane, reason })
            .get()
    }
}
