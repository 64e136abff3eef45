//! The profiles this node knows (sans-IO): newest version wins, and the
//! label each member shows under in a group.

use std::collections::{BTreeMap, HashMap};

use aura_crypto::MemberId;

use super::profile::{ProfileError, SignedProfile};

/// Most members' profiles held (members of all our groups).
pub const MAX_PROFILES: usize = 10_000;

/// What [`Book::offer`] did with a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// Newer than the one held: it replaced it.
    Newer,
    /// Not newer than the one held (a replay or a late copy): ignored.
    Stale,
    /// The book is full and holds nothing of this member: not kept.
    Full,
}

/// Profiles by member.
#[derive(Debug, Clone, Default)]
pub struct Book {
    profiles: HashMap<MemberId, SignedProfile>,
}

impl Book {
    /// Takes a profile `sender` sent: verified, kept when its version is
    /// higher than the one held.
    pub fn offer(
        &mut self,
        profile: SignedProfile,
        sender: &MemberId,
    ) -> Result<Offered, ProfileError> {
        profile.verify(sender)?;
        Ok(self.insert(profile))
    }

    /// Keeps a profile already verified (ours, or one read back from the
    /// store) when it is newer than the one held.
    pub fn insert(&mut self, profile: SignedProfile) -> Offered {
        let m = profile.profile.member;
        match self.profiles.get(&m) {
            Some(held) if held.profile.version >= profile.profile.version => Offered::Stale,
            None if self.profiles.len() >= MAX_PROFILES => Offered::Full,
            _ => {
                self.profiles.insert(m, profile);
                Offered::Newer
            }
        }
    }

    /// A member's profile.
    pub fn get(&self, m: &MemberId) -> Option<&SignedProfile> {
        self.profiles.get(m)
    }

    /// A member's display name.
    pub fn name(&self, m: &MemberId) -> Option<&str> {
        self.get(m).map(|p| p.profile.name.as_str())
    }

    /// Forgets a member (nothing of it shown any more).
    pub fn forget(&mut self, m: &MemberId) {
        self.profiles.remove(m);
    }
}

/// The first 8 hex digits of a member id: the label of a member without a
/// profile.
pub fn short_hex(m: &MemberId) -> String {
    hex::encode(&m.0[..4])
}

/// The label of each of `members` (a group's roster): its display name
/// when no other member's name or id prefix reads the same (ignoring
/// case), else `name (8 hex)`; the id prefix when it has no profile.
pub fn labels(members: &[MemberId], book: &Book) -> BTreeMap<MemberId, String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for m in members {
        // An id prefix counts as taken: a name cannot pose as a member
        // without a profile.
        *seen.entry(short_hex(m)).or_default() += 1;
        if let Some(n) = book.name(m) {
            *seen.entry(n.to_lowercase()).or_default() += 1;
        }
    }
    members
        .iter()
        .map(|m| {
            let label = match book.name(m) {
                Some(n) if seen.get(&n.to_lowercase()) == Some(&1) => n.to_owned(),
                Some(n) => format!("{n} ({})", short_hex(m)),
                None => short_hex(m),
            };
            (*m, label)
        })
        .collect()
}

/// The label of `member` among `members` (see [`labels`]); its id prefix
/// when it is not among them. Every event names its member, so this looks
/// at the one name: no allocation per member, none at all without a profile.
pub fn label(member: &MemberId, members: &[MemberId], book: &Book) -> String {
    let Some(name) = book.name(member) else {
        return short_hex(member);
    };
    if !members.contains(member) {
        return short_hex(member);
    }
    let wanted = name.to_lowercase();
    let reads_as = |text: &str| text.chars().flat_map(char::to_lowercase).eq(wanted.chars());
    let mut prefix = [0u8; 8];
    let readings: usize = members
        .iter()
        .map(|m| {
            let by_name = book.name(m).is_some_and(reads_as);
            let by_prefix = hex::encode_to_slice(&m.0[..4], &mut prefix).is_ok()
                && prefix.as_slice() == wanted.as_bytes();
            usize::from(by_name) + usize::from(by_prefix)
        })
        .sum();
    if readings == 1 {
        name.to_owned()
    } else {
        format!("{name} ({})", short_hex(member))
    }
}

#[cfg(test)]
mod tests {
    use aura_crypto::Identity;

    use super::*;
    use crate::people::profile::Profile;

    fn id(n: u8) -> Identity {
        Identity::from_secret_bytes(&[n; 32])
    }

    fn signed(who: &Identity, v: u64, name: &str) -> Result<SignedProfile, ProfileError> {
        Profile::new(who.member_id(), v, name, None, None)?.sign(who)
    }

    #[test]
    fn replayed_old_version_is_ignored() -> Result<(), ProfileError> {
        let ana = id(1);
        let m = ana.member_id();
        let mut book = Book::default();
        let v1 = signed(&ana, 1, "Ana")?;
        assert_eq!(book.offer(v1.clone(), &m)?, Offered::Newer);
        assert_eq!(book.offer(signed(&ana, 2, "Ana B")?, &m)?, Offered::Newer);
        assert_eq!(book.offer(v1, &m)?, Offered::Stale);
        assert_eq!(book.offer(signed(&ana, 2, "Other")?, &m)?, Offered::Stale);
        assert_eq!(book.name(&m), Some("Ana B"));
        Ok(())
    }

    #[test]
    fn forged_profile_changes_nothing() -> Result<(), ProfileError> {
        let (ana, mallory) = (id(1), id(2));
        let mut book = Book::default();
        book.offer(signed(&ana, 1, "Ana")?, &ana.member_id())?;
        let mut forged = signed(&ana, 1, "Ana")?;
        forged.profile.version = 50;
        forged.profile.name = "Mallory".into();
        assert!(book.offer(forged, &ana.member_id()).is_err());
        assert!(book
            .offer(signed(&mallory, 9, "Ana")?, &ana.member_id())
            .is_err());
        assert_eq!(book.name(&ana.member_id()), Some("Ana"));
        Ok(())
    }

    #[test]
    fn labels_are_names_with_an_id_prefix_on_collision() -> Result<(), ProfileError> {
        let (ana, ben, ben2, anon) = (id(1), id(2), id(3), id(4));
        let mut book = Book::default();
        book.insert(signed(&ana, 1, "Ana")?);
        book.insert(signed(&ben, 1, "Ben")?);
        book.insert(signed(&ben2, 1, "ben")?);
        let all = [ana, ben, ben2, anon].map(|i| i.member_id());
        let l = labels(&all, &book);
        assert_eq!(l[&all[0]], "Ana");
        assert_eq!(l[&all[1]], format!("Ben ({})", short_hex(&all[1])));
        assert_eq!(l[&all[2]], format!("ben ({})", short_hex(&all[2])));
        assert_eq!(l[&all[3]], short_hex(&all[3]));
        // Alone in a group, Ben is Ben.
        assert_eq!(label(&all[1], &all[..2], &book), "Ben");
        for m in &all {
            assert_eq!(label(m, &all, &book), l[m], "label agrees with labels");
        }
        // A name that reads as another member's id prefix is not taken as is.
        let poser = id(5);
        book.insert(signed(&poser, 1, &short_hex(&all[3]).to_uppercase())?);
        let with_poser = [all[3], poser.member_id()];
        let l = labels(&with_poser, &book);
        assert_eq!(label(&with_poser[1], &with_poser, &book), l[&with_poser[1]]);
        assert!(l[&with_poser[1]].contains('('), "{}", l[&with_poser[1]]);
        Ok(())
    }

    #[test]
    fn a_name_that_reads_as_another_members_id_prefix_is_marked() -> Result<(), ProfileError> {
        let (anon, mallory) = (id(4), id(5));
        let mut book = Book::default();
        let posing = short_hex(&anon.member_id());
        book.insert(signed(&mallory, 1, &posing)?);
        let all = [anon.member_id(), mallory.member_id()];
        let l = labels(&all, &book);
        assert_eq!(l[&all[0]], posing);
        assert_eq!(l[&all[1]], format!("{posing} ({})", short_hex(&all[1])));
        Ok(())
    }
}
