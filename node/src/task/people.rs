//! The node task's side of people (`crate::people`): our profile sent in
//! each group's control frames (when it changes, when we announce
//! ourselves, when members join), members' profiles checked and kept,
//! avatars fetched by hash over request-response, and the block and follow
//! lists applied and persisted.

use std::collections::{BTreeSet, HashMap, HashSet};

use aura_crypto::{GroupId, MemberId};
use libp2p::{request_response::OutboundRequestId, PeerId};

use super::{now_ms, Task};
use crate::{
    events::Event,
    group_core::{lock, Reject, Verdict},
    media::feed::VoiceFeed,
    people::{self, AvatarRef, Book, List, Offered, PeopleStore, Profile, SignedProfile},
    store::{Store, StoreError},
    wire::{ControlMsg, Request, Response},
    NodeError,
};

/// Least time between two sendings of our profile in a group (members
/// joining at once get one).
const RESEND_GAP_MS: u64 = 1_000;
/// Members asked in turn for one avatar before giving up.
const AVATAR_ASKS: usize = 3;
/// Avatar fetches in flight at most.
const MAX_FETCHES: usize = 64;

/// One avatar fetch: which image, who else to ask.
struct Fetch {
    group: GroupId,
    avatar: AvatarRef,
    owner: MemberId,
    others: Vec<PeerId>,
}

/// Profiles, avatars in flight, block and follow lists.
pub(crate) struct PeopleState {
    store: PeopleStore,
    pub(crate) book: Book,
    pub(crate) blocked: HashSet<MemberId>,
    following: BTreeSet<MemberId>,
    fetches: HashMap<OutboundRequestId, Fetch>,
    /// Groups owed our profile, and when it last went to each.
    due: HashSet<GroupId>,
    sent_ms: HashMap<GroupId, u64>,
}

impl PeopleState {
    /// Reads profiles and lists back from the store.
    pub(crate) fn load(store: &Store) -> Result<Self, StoreError> {
        let store = PeopleStore::new(store.clone());
        let mut book = Book::default();
        for p in store.profiles()? {
            book.insert(p);
        }
        Ok(Self {
            blocked: store.list(List::Blocked)?.into_iter().collect(),
            following: store.list(List::Following)?.into_iter().collect(),
            store,
            book,
            fetches: HashMap::new(),
            due: HashSet::new(),
            sent_ms: HashMap::new(),
        })
    }
}

impl Task {
    /// Whether `m` is blocked on this device.
    pub(crate) fn is_blocked(&self, m: &MemberId) -> bool {
        self.people.blocked.contains(m)
    }

    fn roster_of(&self, gid: &GroupId) -> Vec<MemberId> {
        self.groups.get(gid).map_or_else(Vec::new, |g| {
            lock(&g.session)
                .roster()
                .members()
                .map(|(m, _)| m)
                .collect()
        })
    }

    /// How `m` shows in `gid` (see [`people::labels`]), among the members
    /// and `m` itself (which may have just left).
    pub(crate) fn label(&self, gid: &GroupId, m: &MemberId) -> String {
        if self.people.book.name(m).is_none() {
            return people::short_hex(m);
        }
        let mut members = self.roster_of(gid);
        if !members.contains(m) {
            members.push(*m);
        }
        people::label(m, &members, &self.people.book)
    }

    /// Every member of `gid` with its label.
    pub(crate) fn member_labels(&self, gid: GroupId) -> Result<Vec<(MemberId, String)>, NodeError> {
        self.group(&gid)?;
        let labels = people::labels(&self.roster_of(&gid), &self.people.book);
        Ok(labels.into_iter().collect())
    }

    /// A member's profile (ours with our own id).
    pub(crate) fn profile_of(&self, m: &MemberId) -> Option<Profile> {
        self.people.book.get(m).map(|p| p.profile.clone())
    }

    /// A cached avatar image.
    pub(crate) fn avatar(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, NodeError> {
        Ok(self.people.store.avatar(hash)?)
    }

    /// Sets our profile: checked, signed with a version above the last one,
    /// stored, and sent to every group.
    pub(crate) fn set_profile(
        &mut self,
        name: &str,
        status: Option<&str>,
        avatar: Option<Vec<u8>>,
    ) -> Result<Profile, NodeError> {
        let me = self.identity.member_id();
        let bad = |e: &dyn std::fmt::Display| NodeError::BadInput(e.to_string());
        let avatar = match avatar {
            Some(bytes) => {
                let r = AvatarRef::of(&bytes).map_err(|e| bad(&e))?;
                self.people.store.put_avatar(&r.hash, &bytes)?;
                Some(r)
            }
            None => None,
        };
        let last = self.people.book.get(&me).map_or(0, |p| p.profile.version);
        let version = now_ms().max(last.saturating_add(1));
        let signed = Profile::new(me, version, name, status, avatar)
            .and_then(|p| p.sign(&self.identity))
            .map_err(|e| bad(&e))?;
        self.people.store.put_profile(&signed)?;
        self.people.book.insert(signed.clone());
        let gids: Vec<GroupId> = self.groups.keys().copied().collect();
        for gid in gids {
            self.send_profile(gid);
        }
        Ok(signed.profile)
    }

    /// Sends our profile to `gid` now (if we have one).
    pub(crate) fn send_profile(&mut self, gid: GroupId) {
        let me = self.identity.member_id();
        let Some(bytes) = self.people.book.get(&me).map(SignedProfile::encode) else {
            return;
        };
        self.people.due.remove(&gid);
        self.people.sent_ms.insert(gid, now_ms());
        if let Err(e) = self.send_control(&gid, &ControlMsg::Profile(bytes)) {
            tracing::debug!(error = %e, "profile not sent");
        }
    }

    /// Members joined `gid`: they get our profile on the next tick after
    /// the resend gap (several joins coalesce).
    pub(crate) fn profile_due(&mut self, gid: GroupId) {
        self.people.due.insert(gid);
    }

    /// On each tick: profiles owed whose gap has passed.
    pub(crate) fn people_tick(&mut self) {
        let now = now_ms();
        let ready: Vec<GroupId> = self
            .people
            .due
            .iter()
            .filter(|g| {
                let last = self.people.sent_ms.get(g).copied().unwrap_or(0);
                now.saturating_sub(last) >= RESEND_GAP_MS
            })
            .copied()
            .collect();
        for gid in ready {
            self.send_profile(gid);
        }
    }

    /// A member sent its profile in `gid`: checked (it must be the
    /// sender's own, signed by it), kept when newer, shown.
    pub(crate) fn on_profile(&mut self, gid: GroupId, sender: MemberId, bytes: &[u8]) -> Verdict {
        let offered = SignedProfile::decode(bytes)
            .and_then(|p| self.people.book.offer(p.clone(), &sender).map(|o| (o, p)));
        let signed = match offered {
            Ok((Offered::Newer, p)) => p,
            Ok((Offered::Stale | Offered::Full, _)) => {
                self.stats.profiles_stale += 1;
                return Verdict::Ignore;
            }
            Err(e) => {
                self.stats.profiles_refused += 1;
                tracing::debug!(%sender, error = %e, "profile refused");
                return Verdict::Reject(Reject::Forged, format!("profile refused: {e}"));
            }
        };
        if let Err(e) = self.people.store.put_profile(&signed) {
            tracing::warn!(error = %e, "profile write failed");
        }
        if self.is_blocked(&sender) {
            return Verdict::Accept;
        }
        if let Some(a) = signed.profile.avatar {
            self.fetch_avatar(gid, sender, a);
        }
        self.emit_profile(gid, sender, signed.profile);
        Verdict::Accept
    }

    fn emit_profile(&self, gid: GroupId, member: MemberId, profile: Profile) {
        self.emit(Event::Profile {
            group: gid,
            label: self.label(&gid, &member),
            member,
            profile,
        });
    }

    /// Asks the profile's member (then other connected members) for an
    /// avatar we do not hold.
    fn fetch_avatar(&mut self, gid: GroupId, owner: MemberId, avatar: AvatarRef) {
        let held = self.people.store.has_avatar(&avatar.hash).unwrap_or(false);
        let asked = self
            .people
            .fetches
            .values()
            .any(|f| f.avatar.hash == avatar.hash);
        if held || asked || self.people.fetches.len() >= MAX_FETCHES {
            return;
        }
        let mut peers: Vec<PeerId> = std::iter::once(owner)
            .chain(self.roster_of(&gid).into_iter().filter(|m| *m != owner))
            .filter_map(|m| m.peer_id().ok())
            .filter(|p| self.swarm.is_connected(p))
            .take(AVATAR_ASKS)
            .collect();
        peers.reverse();
        let fetch = Fetch {
            group: gid,
            avatar,
            owner,
            others: peers,
        };
        self.ask_next(fetch);
    }

    fn ask_next(&mut self, mut fetch: Fetch) {
        let Some(peer) = fetch.others.pop() else {
            tracing::debug!(owner = %fetch.owner, "avatar not fetched: nobody had it");
            return;
        };
        let req = Request::Avatar {
            group: fetch.group.0,
            hash: fetch.avatar.hash,
        };
        let id = self.swarm.behaviour_mut().rpc.send_request(&peer, req);
        self.people.fetches.insert(id, fetch);
    }

    /// A member asks for an avatar: answered to members of that group we
    /// have not blocked, when we hold it.
    pub(crate) fn answer_avatar(
        &self,
        asker: MemberId,
        group: [u8; 32],
        hash: [u8; 32],
    ) -> Result<Response, String> {
        let g = self
            .groups
            .get(&GroupId(group))
            .ok_or("not in that group")?;
        if !lock(&g.session).roster().is_member(&asker) || self.is_blocked(&asker) {
            return Err("you are not a member of that group".into());
        }
        match self.people.store.avatar(&hash) {
            Ok(Some(bytes)) => Ok(Response::Avatar(bytes)),
            _ => Err("no such avatar here".into()),
        }
    }

    /// An answer to one of our avatar requests; `false` when `id` was not one.
    pub(crate) fn on_avatar_answer(&mut self, id: OutboundRequestId, resp: &Response) -> bool {
        let Some(fetch) = self.people.fetches.remove(&id) else {
            return false;
        };
        let Response::Avatar(bytes) = resp else {
            self.ask_next(fetch);
            return true;
        };
        if let Err(e) = fetch.avatar.check(bytes) {
            self.stats.avatars_refused += 1;
            tracing::debug!(owner = %fetch.owner, error = %e, "avatar refused");
            self.ask_next(fetch);
            return true;
        }
        if let Err(e) = self.people.store.put_avatar(&fetch.avatar.hash, bytes) {
            tracing::warn!(error = %e, "avatar write failed");
        }
        if let Some(p) = self.profile_of(&fetch.owner) {
            self.emit_profile(fetch.group, fetch.owner, p);
        }
        true
    }

    /// One of our avatar requests failed (unreachable, timed out).
    pub(crate) fn on_avatar_failure(&mut self, id: OutboundRequestId) {
        if let Some(fetch) = self.people.fetches.remove(&id) {
            self.ask_next(fetch);
        }
    }

    /// Adds or removes `m` from a local list (persisted first). A block
    /// tells every voice engine to drop the member's frames.
    pub(crate) fn set_listed(
        &mut self,
        list: List,
        m: MemberId,
        on: bool,
    ) -> Result<(), NodeError> {
        if m == self.identity.member_id() {
            return Err(NodeError::BadInput("that is you".into()));
        }
        self.people.store.set(list, &m, on)?;
        let set = match list {
            List::Blocked => {
                match on {
                    true => self.people.blocked.insert(m),
                    false => self.people.blocked.remove(&m),
                };
                let blocked = self.blocked_list();
                let gids: Vec<GroupId> = self.groups.keys().copied().collect();
                for gid in gids {
                    self.feed_voice(gid, VoiceFeed::Blocked(blocked.clone()));
                }
                return Ok(());
            }
            List::Following => &mut self.people.following,
        };
        match on {
            true => set.insert(m),
            false => set.remove(&m),
        };
        Ok(())
    }

    /// The members of a local list.
    pub(crate) fn listed(&self, list: List) -> Vec<MemberId> {
        match list {
            List::Blocked => self.blocked_list(),
            List::Following => self.people.following.iter().copied().collect(),
        }
    }

    /// Blocked members, sorted.
    pub(crate) fn blocked_list(&self) -> Vec<MemberId> {
        let mut v: Vec<MemberId> = self.people.blocked.iter().copied().collect();
        v.sort();
        v
    }
}
