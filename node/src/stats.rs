//! The node's counters.

/// Counters of what the node dropped or did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Gossip messages accepted.
    pub gossip_accepted: u64,
    /// Gossip messages rejected (the sum of the four reasons below).
    pub gossip_rejected: u64,
    /// Rejected: larger than the gossip size limit.
    pub rejected_oversized: u64,
    /// Rejected: not decodable as a gossip message, frame or envelope.
    pub rejected_undecodable: u64,
    /// Rejected: a frame or envelope of another group.
    pub rejected_wrong_group: u64,
    /// Rejected: failed authentication or carried a bad payload.
    pub rejected_forged: u64,
    /// Gossip messages ignored (replays, no key yet).
    pub gossip_ignored: u64,
    /// Frames we could not open because we hold no key for them.
    pub frames_unreadable: u64,
    /// Frames opened.
    pub frames_opened: u64,
    /// Location fixes refused as stale (older than 10 min).
    pub stale_locations: u64,
    /// Location updates published.
    pub locations_published: u64,
    /// Dials of group members that failed (each retried with backoff).
    pub member_dials_failed: u64,
    /// Relayed connections upgraded to direct ones by hole punching (DCUtR).
    pub hole_punches: u64,
    /// Hole punching attempts that failed (the connection stays relayed).
    pub hole_punches_failed: u64,
    /// Key envelopes sent straight to a connected member.
    pub keys_sent_direct: u64,
    /// Gift receipts of members checked and shown.
    pub gifts_received: u64,
    /// Gift receipts refused (bad signature, wrong room or sender).
    pub gifts_refused: u64,
    /// Geofence changes refused: the author is not the owner or an admin.
    pub fences_refused_not_admin: u64,
    /// Geofence changes refused: an invalid fence (name, coordinates,
    /// radius, polygon size).
    pub fences_refused_invalid: u64,
    /// Geofence changes refused: the group holds the most fences already.
    pub fences_refused_too_many: u64,
    /// Bytes of gossip we published (our own messages, once).
    pub bytes_published: u64,
    /// Groups that failed to load at start and were set aside.
    pub groups_quarantined: u64,
    /// Concurrent roster ops dropped because the merge queue was full.
    pub roster_ops_dropped: u64,
    /// Sync or join answers ignored because the answering peer is not a member.
    pub answers_from_non_members: u64,
    /// Bytes written to all libp2p streams: every protocol, forwarded gossip
    /// included (before transport encryption and framing).
    pub bytes_sent: u64,
    /// Connections opened to a peer we were already connected to (both
    /// ends dialled at once, or a hole punch beside a relayed circuit).
    pub duplicate_connections: u64,
    /// Connections closed because their peer announced itself afresh on a
    /// newer one (it had given up on them: a dead relay, a restart).
    pub stale_connections_closed: u64,
    /// Now: connected group members that gossip does not know to be
    /// subscribed to the group's topic (they get our messages only by repair).
    pub members_not_subscribed: u64,
    /// Background mode: requests to our carrier (each carries what we
    /// publish and brings back what the group published).
    pub carry_requests: u64,
    /// Messages of members in background mode we published for them.
    pub messages_carried: u64,
    /// Profiles refused: undecodable, outside the limits, or not the
    /// sender's own (forged).
    pub profiles_refused: u64,
    /// Profiles ignored: not newer than the one held (replays, late copies).
    pub profiles_stale: u64,
    /// Avatar images refused: wrong hash or size, too large, not an image.
    pub avatars_refused: u64,
    /// Frames of blocked members dropped (chat, location, gifts).
    pub blocked_dropped: u64,
    /// Join requests refused: the joiner or its inviter is blocked here.
    pub joins_refused_blocked: u64,
    /// Now: members that said they are away (background mode), whom we do
    /// not dial (see `net::away`).
    pub members_away: u64,
    /// Presence notices ignored: not newer than the last one of their sender.
    pub presence_stale: u64,
    /// Connections to members we closed while away (all but our carriers').
    pub away_links_closed: u64,
}
