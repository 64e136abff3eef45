//! Where people live in the node's store: members' profiles (ours too),
//! avatar images by hash, and the local block and follow lists. Each is a
//! tree of its own (see [`crate::store::Store::raw_tree`]).

use aura_crypto::MemberId;

use super::profile::SignedProfile;
use crate::store::{Store, StoreError};

const PROFILES: &str = "profiles";
const AVATARS: &str = "avatars";
const BLOCKED: &str = "blocked";
const FOLLOWING: &str = "following";

/// A member list tree: which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// Members blocked on this device.
    Blocked,
    /// Members followed on this device.
    Following,
}

impl List {
    fn tree(self) -> &'static str {
        match self {
            Self::Blocked => BLOCKED,
            Self::Following => FOLLOWING,
        }
    }
}

/// The people trees of a [`Store`].
#[derive(Debug, Clone)]
pub struct PeopleStore {
    store: Store,
}

fn member_of(key: &[u8]) -> Option<MemberId> {
    <[u8; 32]>::try_from(key).ok().map(MemberId)
}

impl PeopleStore {
    /// Over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Saves a member's profile (replacing the one stored).
    pub fn put_profile(&self, p: &SignedProfile) -> Result<(), StoreError> {
        self.store
            .raw_tree(PROFILES)?
            .insert(p.profile.member.0, p.encode())?;
        Ok(())
    }

    /// Stored profiles. One that no longer verifies or decodes (damaged)
    /// is skipped and logged: it is only someone's name.
    pub fn profiles(&self) -> Result<Vec<SignedProfile>, StoreError> {
        let mut out = Vec::new();
        for kv in self.store.raw_tree(PROFILES)?.iter() {
            let (k, v) = kv?;
            let Some(m) = member_of(&k) else { continue };
            match SignedProfile::open(&v, &m) {
                Ok(p) => out.push(p),
                Err(e) => tracing::warn!(member = %m, error = %e, "stored profile skipped"),
            }
        }
        Ok(out)
    }

    /// Caches an avatar image under its hash (checked by the caller).
    pub fn put_avatar(&self, hash: &[u8; 32], bytes: &[u8]) -> Result<(), StoreError> {
        self.store.raw_tree(AVATARS)?.insert(hash, bytes)?;
        Ok(())
    }

    /// A cached avatar image.
    pub fn avatar(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.store.raw_tree(AVATARS)?.get(hash)?.map(|v| v.to_vec()))
    }

    /// Whether an avatar is cached.
    pub fn has_avatar(&self, hash: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self.store.raw_tree(AVATARS)?.contains_key(hash)?)
    }

    /// Adds (`on`) or removes a member from a list, flushed to disk before
    /// returning (a block must hold after a crash too).
    pub fn set(&self, list: List, m: &MemberId, on: bool) -> Result<(), StoreError> {
        let tree = self.store.raw_tree(list.tree())?;
        match on {
            true => tree.insert(m.0, &[])?,
            false => tree.remove(m.0)?,
        };
        tree.flush()?;
        Ok(())
    }

    /// The members of a list.
    pub fn list(&self, list: List) -> Result<Vec<MemberId>, StoreError> {
        let mut out = Vec::new();
        for k in self.store.raw_tree(list.tree())?.iter().keys() {
            out.extend(member_of(&k?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use aura_crypto::Identity;

    use super::*;
    use crate::people::profile::Profile;

    #[test]
    fn lists_profiles_and_avatars_survive_reopening() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let ana = Identity::from_secret_bytes(&[1; 32]);
        let ben = Identity::from_secret_bytes(&[2; 32]).member_id();
        {
            let s = PeopleStore::new(Store::open(dir.path())?);
            s.put_profile(&Profile::new(ana.member_id(), 3, "Ana", None, None)?.sign(&ana)?)?;
            s.set(List::Blocked, &ben, true)?;
            s.set(List::Following, &ana.member_id(), true)?;
            s.set(List::Following, &ben, true)?;
            s.set(List::Following, &ben, false)?;
            s.put_avatar(&[9; 32], b"img")?;
            s.store.flush()?;
        }
        let s = PeopleStore::new(Store::open(dir.path())?);
        assert_eq!(s.profiles()?[0].profile.name, "Ana");
        assert_eq!(s.list(List::Blocked)?, vec![ben]);
        assert_eq!(s.list(List::Following)?, vec![ana.member_id()]);
        assert_eq!(s.avatar(&[9; 32])?.as_deref(), Some(&b"img"[..]));
        Ok(())
    }
}
