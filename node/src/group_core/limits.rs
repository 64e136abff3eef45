//! The core's timers and limits.

/// How often queued roster ops are merged and announcements retried, ms.
pub const TICK_MS: u64 = 200;
/// Re-ask for missing keys at most this often, ms.
pub const KEY_REQUEST_EVERY_MS: u64 = 2_000;
/// Most concurrent roster ops waiting for the next merge (beyond: dropped
/// and counted; a later sync brings them again).
pub const OP_QUEUE_MAX: usize = 4096;
/// Longest a joining member waits for connections to every member before
/// announcing its key (the rest get it by gossip), ms.
pub const ANNOUNCE_WAIT_MS: u64 = 2_000;
/// Least time between two rounds of asking members to confirm a restored
/// roster, ms.
pub const CONFIRM_SYNC_EVERY_MS: u64 = 1_000;
/// Members asked directly for their key per group and round.
pub const SYNCS_PER_ROUND: usize = 8;
/// Least time between two syncs we start because a peer showed we are
/// behind it, per peer, ms.
pub const SYNC_BACK_EVERY_MS: u64 = 2_000;
/// Most bytes of roster ops in one join or sync answer.
pub const WELCOME_OPS_BYTES: usize = 768 * 1024;
/// Most heads a sync request names (and an answer reads).
pub const MAX_SYNC_HEADS: usize = 1024;
/// Most sync rounds a join makes to fetch a long roster.
pub const MAX_JOIN_ROUNDS: u32 = 64;
/// Most requests waiting for an answer.
pub const MAX_REQUESTS: usize = 4096;
/// Most actions waiting for the driver (it drains them after every input).
pub const MAX_ACTIONS: usize = 1 << 16;
/// Most members whose addresses we remember.
pub const MAX_ADDRS: usize = 4096;
/// Most members' addresses a join or sync answer lists (and a receiver
/// reads): a group of up to this many forms a full mesh from one answer.
pub const MAX_WELCOME_PEERS: usize = 256;
