//! Peer-id strings of members, both ways, computed once: turning a member
//! id into a libp2p peer id (and back) decompresses an ed25519 point, and
//! every join or sync answer names up to [`MAX_WELCOME_PEERS`] members.

use std::collections::HashMap;

use aura_crypto::MemberId;

use super::limits::{MAX_ADDRS, MAX_WELCOME_PEERS};

/// Cache of member ids and their peer-id strings.
#[derive(Debug, Default)]
pub(crate) struct PeerNames {
    by_member: HashMap<MemberId, String>,
    by_name: HashMap<String, Option<MemberId>>,
}

impl PeerNames {
    /// Most entries each way (past it, the cache starts again).
    const MAX: usize = MAX_ADDRS + MAX_WELCOME_PEERS;

    /// `member`'s peer id as a string.
    pub(crate) fn name(&mut self, member: MemberId) -> Option<String> {
        if let Some(n) = self.by_member.get(&member) {
            return Some(n.clone());
        }
        let name = member.peer_id().ok()?.to_string();
        self.make_room();
        self.by_member.insert(member, name.clone());
        self.by_name.insert(name.clone(), Some(member));
        Some(name)
    }

    /// The member whose peer id is `name` (`None` for a peer id that is
    /// not an aura identity, or not a peer id at all).
    pub(crate) fn member(&mut self, name: &str) -> Option<MemberId> {
        if let Some(m) = self.by_name.get(name) {
            return *m;
        }
        let member = name.parse().ok().and_then(|p| MemberId::from_peer_id(&p));
        self.make_room();
        self.by_name.insert(name.to_owned(), member);
        if let Some(m) = member {
            self.by_member.insert(m, name.to_owned());
        }
        member
    }

    fn make_room(&mut self) {
        if self.by_member.len() >= Self::MAX || self.by_name.len() >= Self::MAX {
            self.by_member.clear();
            self.by_name.clear();
        }
    }
}
