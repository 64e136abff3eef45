//! What keeps connections alive and how often, in the foreground and in
//! background mode ([`crate::Node::set_background`]).
//!
//! Every periodic packet wakes a phone's cellular radio, which then stays
//! powered for seconds. On each connection the transport sends a QUIC
//! keep-alive after `quic_keep_alive_ms` without receiving anything, libp2p
//! Ping a ping every `ping_interval_ms`, Identify a request every
//! `identify_interval_ms`; gossipsub advertises recent message ids (IHAVE) to
//! `gossip_lazy` members every heartbeat; members we lost are re-dialled
//! every `redial_every_ms`; Kademlia re-bootstraps (with bootstrap nodes)
//! and AutoNAT re-checks reachability on `dht_refresh_ms`; mDNS queries the
//! LAN every `mdns_query_ms` (when on).
//!
//! Each packet received also costs one sent: QUIC acknowledges it (within
//! 25 ms, alone unless something else leaves in that time). A ping round
//! trip is three packets, two of them the pinger's.
//!
//! The foreground keeps what repairs a group quickly (IHAVE to three
//! members a heartbeat, a dead path noticed within `quic_idle_timeout_ms`,
//! Ping). In background mode all of it goes quiet: what is left is the
//! group's own messages.

use serde::{Deserialize, Serialize};

use crate::location::PublishPolicy;

/// Connection timing of one mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkTiming {
    /// QUIC keep-alive after this long without sending, ms (0: none).
    pub quic_keep_alive_ms: u64,
    /// A QUIC connection silent this long is closed, ms (the smaller of the
    /// two ends' values counts).
    pub quic_idle_timeout_ms: u64,
    /// libp2p Ping on each connection, every ms.
    pub ping_interval_ms: u64,
    /// libp2p Identify request on each connection, every ms (after the first).
    pub identify_interval_ms: u64,
    /// Members sent the ids of recent messages each heartbeat (loss repair
    /// for members we are not connected to; 0: none).
    pub gossip_lazy: usize,
    /// Members we are not connected to are dialled again this often, ms.
    pub redial_every_ms: u64,
    /// Kademlia periodic bootstrap every ms; AutoNAT re-checks at least this
    /// far apart (libp2p's 15 min otherwise) and retries a failed check
    /// after a quarter of it (90 s at least).
    pub dht_refresh_ms: u64,
    /// mDNS query on the LAN, every ms (with `mdns` on).
    pub mdns_query_ms: u64,
    /// The node's housekeeping tick (re-dials and key requests due, history
    /// and replay-floor writes), every ms: it sends nothing by itself, but
    /// each one wakes the CPU.
    pub tick_ms: u64,
    /// Streams we open name their protocol together with their first data
    /// (multistream-select `V1Lazy`) instead of waiting a round trip for
    /// the other end to confirm it: a request to the carrier leaves in the
    /// segment that opens its stream, and the confirmation needs no ack of
    /// its own. A stream whose protocol the other end lacks then fails when
    /// read instead of when opened.
    pub lazy_negotiation: bool,
    /// TCP sends each write at once (`TCP_NODELAY`). Off, small writes made
    /// while one is unacknowledged leave together: a carry request's
    /// stream opening, request and close go in one segment.
    pub tcp_nodelay: bool,
}

impl Default for LinkTiming {
    /// The foreground: libp2p's QUIC keep-alive (5 s) and idle timeout
    /// (10 s), Ping every 15 s (about a sixth of the packets, but hourly a
    /// member whose app was killed and restarted was not heard again within
    /// 25 s: `node::replay_restart` failed every run), Identify every
    /// 5 min, IHAVE to 3 members a heartbeat (of chat, control frames and
    /// our own fixes: received fixes are not advertised), redial every
    /// 15 s, libp2p's Kademlia, AutoNAT and mDNS
    /// periods (5 min), a 200 ms housekeeping tick. Quieter settings (Ping
    /// hourly, IHAVE to one member, a 25 s idle timeout) cut the packets by
    /// more than half but made a group slower to hear a member whose app
    /// was killed and restarted, and slower to repair lost gossip on a busy
    /// machine (`node::replay_restart`, `node::phone_life`): not yet.
    fn default() -> Self {
        Self {
            quic_keep_alive_ms: 5_000,
            quic_idle_timeout_ms: 10_000,
            ping_interval_ms: 15_000,
            identify_interval_ms: 300_000,
            gossip_lazy: 3,
            redial_every_ms: 15_000,
            dht_refresh_ms: 300_000,
            mdns_query_ms: 300_000,
            tick_ms: 200,
            lazy_negotiation: false,
            tcp_nodelay: true,
        }
    }
}

impl LinkTiming {
    /// Background mode: no keep-alives; Ping, Identify, Kademlia, AutoNAT
    /// and mDNS once an hour; no IHAVE (every member is connected to every
    /// other; a lost connection is re-dialled), connections idle up to 15
    /// minutes, a 1 s housekeeping tick, lazy protocol negotiation, small
    /// TCP writes coalesced (`tcp_nodelay` off: of a carry exchange's 4
    /// packets, the request and the stream's close leave together). Behind
    /// a NAT that forgets a silent UDP binding sooner, the next message
    /// re-dials.
    pub fn quiet() -> Self {
        Self {
            quic_keep_alive_ms: 0,
            quic_idle_timeout_ms: 900_000,
            ping_interval_ms: 3_600_000,
            identify_interval_ms: 3_600_000,
            gossip_lazy: 0,
            redial_every_ms: 600_000,
            dht_refresh_ms: 3_600_000,
            mdns_query_ms: 3_600_000,
            tick_ms: 1_000,
            lazy_negotiation: true,
            tcp_nodelay: false,
        }
    }
}

/// Settings of background mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackgroundConfig {
    /// Location publish policy (see [`PublishPolicy::background`]).
    pub publish: PublishPolicy,
    /// Gossipsub heartbeat, ms.
    pub heartbeat_ms: u64,
    /// Connection timing.
    pub link: LinkTiming,
}

impl Default for BackgroundConfig {
    fn default() -> Self {
        Self {
            publish: PublishPolicy::background(),
            heartbeat_ms: 10_000,
            link: LinkTiming::quiet(),
        }
    }
}
