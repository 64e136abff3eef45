//! What sent each packet of a phase, from its counts and the mode's timing.

/// Packets the phone sends per minute by source, from what it did (`pub_pm`
/// publications, `rcv_pm` receptions) and the mode's timing; the remainder
/// of the measured total is printed as "other". Each packet received that
/// carries data is acknowledged by one sent (QUIC ACK within 25 ms), unless
/// it leaves with something else.
pub(super) fn attribute(
    link: aura_node::link::LinkTiming,
    heartbeat_ms: u64,
    peers: f64,
    pub_pm: f64,
    rcv_pm: f64,
    carry_pm: f64,
    measured_pm: Option<f64>,
) -> Vec<(String, f64)> {
    let per_min = |ms: u64| 60_000.0 / ms.max(1) as f64;
    // IHAVE: an author advertises its own fix to `gossip_lazy` members in
    // each of the three heartbeats it stays in the gossip window; members
    // that received it do not (`Verdict::AcceptLatest`). As many arrive:
    // each fix of another member reaches us in 3 x lazy / peers IHAVEs.
    let lazy = (link.gossip_lazy as f64).min(peers);
    let ihave_sent = (pub_pm * 3.0).min(per_min(heartbeat_ms)) * lazy;
    let ihave_received = if peers > 0.0 {
        rcv_pm * 3.0 * lazy / peers
    } else {
        0.0
    };
    // Carried (background mode, on TCP): one exchange per publication or
    // poll instead of a frame per member and an ack per location received.
    // Each is a request-response stream (seen in a capture): the phone
    // sends the stream's opening with its protocol proposal, then (small
    // writes coalesced) the request with the stream's close, and
    // acknowledges the carrier's answer and its close (after a minute
    // idle, Linux acknowledges at once). No Yamux ping: the muxer measures
    // round trips only for bulk transfers (`vendor/yamux`).
    let (frames, acks) = if carry_pm > 0.0 {
        (
            (
                "carry exchanges: stream opening; request and close",
                2.0 * carry_pm,
            ),
            ("acks of the carrier's answer and close", 2.0 * carry_pm),
        )
    } else {
        (
            ("location frames (one per member)", pub_pm * peers),
            ("acks of received locations", rcv_pm),
        )
    };
    let mut v = vec![
        (frames.0.to_owned(), frames.1),
        (acks.0.to_owned(), acks.1),
        ("gossipsub IHAVE (of our own fixes)".to_owned(), ihave_sent),
        ("acks of received IHAVEs".to_owned(), ihave_received),
        (
            // Ping: our ping and the ack of the pong; the pong to theirs.
            // Members do not ping a member that said it is away
            // (`aura_node::net::member_ping`).
            "libp2p Ping (both ends ping)".to_owned(),
            3.0 * peers * per_min(link.ping_interval_ms),
        ),
        (
            "Identify (both ends)".to_owned(),
            2.0 * peers * per_min(link.identify_interval_ms),
        ),
    ];
    if let Some(total) = measured_pm {
        let known: f64 = v.iter().map(|(_, n)| n).sum();
        v.push((
            "other: keep-alives and their acks, Yamux round-trip pings of bulk transfers, TCP acks, acks of the rest, handshakes".to_owned(),
            (total - known).max(0.0),
        ));
    }
    v
}
