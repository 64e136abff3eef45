//! One group's state in the core: its session and what waits for keys,
//! roster ops or connections.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
};

use aura_crypto::{GroupId, GroupSession, KeyEnvelope, MemberId, Roster, ShortId};

use super::keys::KeyGrants;

/// Frames kept while waiting for their sender's key.
pub(crate) const PENDING_FRAMES_MAX: usize = 128;
/// Envelopes kept while waiting for their sender's add op: one per joiner
/// of a storm our roster has not caught up with.
pub(crate) const PENDING_ENVELOPES_MAX: usize = 1024;

/// One group on this node.
pub(crate) struct CoreGroup {
    /// Shared with the voice engine, which seals and opens voice with it.
    pub(crate) session: Arc<Mutex<GroupSession>>,
    /// Frames that arrived before their sender's key: that sender, and
    /// the member whose connection handed the frame over.
    pub(crate) pending_frames: VecDeque<(ShortId, Option<MemberId>, Vec<u8>)>,
    /// Envelopes from senders not (yet) in our roster, with the member
    /// that handed each over.
    pub(crate) pending_envelopes: VecDeque<(KeyEnvelope, Option<MemberId>)>,
    /// Members whose key we hold.
    pub(crate) have_keys: HashSet<MemberId>,
    /// Our key still goes out to every member (after a join or a restart).
    pub(crate) announce: bool,
    /// Loaded from the store (not created or joined here).
    pub(crate) restored: bool,
    /// When the announcement started waiting for connections, ms.
    pub(crate) announce_wait_from: Option<u64>,
    /// The members whose connection the announcement waits for (a new
    /// connection retries it only when it was the last of them).
    pub(crate) announce_waits_for: HashSet<MemberId>,
    /// When the announcement is tried again, ms.
    pub(crate) announce_next: u64,
    /// Every member's key was there at the last check (cleared when
    /// members are added).
    pub(crate) keys_complete: bool,
    /// When we last asked for missing keys, ms.
    pub(crate) last_key_request: u64,
    /// When we last asked members to confirm a restored roster, ms.
    pub(crate) last_confirm_sync: Option<u64>,
    /// We were removed: nothing more is sealed.
    pub(crate) removed: bool,
    /// Our last envelope per member (rate limit on key requests).
    pub(crate) key_grants: KeyGrants,
    /// Members owed our key that we are not connected to: it goes straight
    /// to them when they connect (gossip would reach only the members we
    /// are connected to, each checking its signature for nothing).
    pub(crate) owed_keys: HashSet<MemberId>,
    /// The sync asked because our roster was behind, while unanswered.
    pub(crate) behind_sync: Option<super::RequestId>,
    /// The last envelope accepted from each member (one per member).
    pub(crate) last_envelope: HashMap<MemberId, Vec<u8>>,
}

impl CoreGroup {
    pub(crate) fn new(session: GroupSession, announce: bool) -> Self {
        Self {
            session: Arc::new(Mutex::new(session)),
            pending_frames: VecDeque::new(),
            pending_envelopes: VecDeque::new(),
            have_keys: HashSet::new(),
            announce,
            restored: false,
            announce_wait_from: None,
            announce_waits_for: HashSet::new(),
            announce_next: 0,
            keys_complete: false,
            last_key_request: 0,
            last_confirm_sync: None,
            removed: false,
            key_grants: KeyGrants::default(),
            owed_keys: HashSet::new(),
            last_envelope: HashMap::new(),
            behind_sync: None,
        }
    }

    /// Other members of the roster.
    pub(crate) fn others(&self) -> Vec<MemberId> {
        let s = lock(&self.session);
        let me = s.member_id();
        s.roster()
            .members()
            .map(|(m, _)| m)
            .filter(|m| *m != me)
            .collect()
    }

    /// Other members whose key we do not hold.
    pub(crate) fn missing_keys(&self) -> Vec<MemberId> {
        self.others()
            .into_iter()
            .filter(|m| !self.have_keys.contains(m))
            .collect()
    }
}

/// Pushes onto a queue bounded to `max`, dropping the oldest when full.
pub(crate) fn push_bounded<T>(q: &mut VecDeque<T>, v: T, max: usize) {
    if q.len() >= max {
        q.pop_front();
    }
    q.push_back(v);
}

/// Locks a session, recovering from a poisoned lock (a panic elsewhere must
/// not take the node down).
pub(crate) fn lock(s: &Arc<Mutex<GroupSession>>) -> MutexGuard<'_, GroupSession> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// What an outgoing request was for.
pub(crate) enum Pending {
    Join(JoinAttempt),
    JoinSync(Box<JoinProgress>),
    Sync(GroupId),
}

/// A join, with the peers of the invite still to ask.
pub(crate) struct JoinAttempt {
    pub(crate) invite: String,
    pub(crate) group: GroupId,
    pub(crate) remaining: VecDeque<MemberId>,
    pub(crate) errors: Vec<String>,
}

/// A join whose roster arrives over several answers.
pub(crate) struct JoinProgress {
    pub(crate) attempt: JoinAttempt,
    pub(crate) peer: MemberId,
    pub(crate) roster: Roster,
    pub(crate) envelopes: Vec<Vec<u8>>,
    pub(crate) peers: Vec<(String, Vec<String>)>,
    pub(crate) rounds: u32,
}
