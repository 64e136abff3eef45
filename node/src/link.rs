//! What keeps connections alive and how often, in the foreground and in
//! background mode ([`crate::Node::set_background`]).
//!
//! Every periodic packet wakes a phone's cellular radio, which then stays
//! powered for seconds. On each connection the transport sends a QUIC
//! keep-alive after `quic_keep_alive_ms` without sending, libp2p Ping a ping
//! every `ping_interval_ms`, Identify a request every `identify_interval_ms`;
//! gossipsub advertises recent message ids (IHAVE) to `gossip_lazy` members
//! every heartbeat; members we lost are re-dialled every `redial_every_ms`.
//! In the foreground that is cheap insurance (a dead path is noticed in
//! seconds); in background mode all of it goes quiet.

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
}

impl Default for LinkTiming {
    /// The foreground: libp2p's defaults (QUIC keep-alive 5 s, idle 10 s,
    /// Ping 15 s, Identify 5 min), IHAVE to 3 members, redial every 15 s.
    fn default() -> Self {
        Self {
            quic_keep_alive_ms: 5_000,
            quic_idle_timeout_ms: 10_000,
            ping_interval_ms: 15_000,
            identify_interval_ms: 300_000,
            gossip_lazy: 3,
            redial_every_ms: 15_000,
        }
    }
}

impl LinkTiming {
    /// Background mode: no keep-alives, Ping and Identify once an hour, no
    /// IHAVE (every member is connected to every other; a lost connection
    /// is re-dialled), connections idle up to 15 minutes. Behind a NAT that
    /// forgets a silent UDP binding sooner, the next message re-dials.
    pub fn quiet() -> Self {
        Self {
            quic_keep_alive_ms: 0,
            quic_idle_timeout_ms: 900_000,
            ping_interval_ms: 3_600_000,
            identify_interval_ms: 3_600_000,
            gossip_lazy: 0,
            redial_every_ms: 600_000,
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
