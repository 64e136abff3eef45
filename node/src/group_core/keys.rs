//! Key screening and rate-limited key grants: a gossip `Keys` message is
//! screened before any signature work, and a member asking for our key gets
//! at most one fresh envelope per [`KEY_GRANT_EVERY_MS`].

use std::collections::HashMap;

use aura_crypto::{GroupId, KeyEnvelope, MemberId, Roster};

use super::action::Reject;

/// Least time between two fresh envelopes of ours for one member, ms. Each
/// fresh one moves our chain to its next step (skipping up to 255 counters)
/// and costs a signature; within this time a member that asks again (key
/// request, sync, join) gets the last one again.
/// As short as the key request interval of a restarted member, which needs
/// the fresh one (its replay floor sits at our next step).
pub const KEY_GRANT_EVERY_MS: u64 = 2_000;

/// Our last envelope per member of one group.
#[derive(Debug, Default)]
pub(crate) struct KeyGrants {
    last: HashMap<MemberId, Grant>,
}

#[derive(Debug)]
struct Grant {
    at_ms: u64,
    epoch: u16,
    env: Vec<u8>,
}

impl KeyGrants {
    /// Most members remembered (a roster is smaller; past it, expired ones go).
    const MAX: usize = 10_000;

    /// An envelope for `member`: the last one if it is recent and of our
    /// current `epoch`, else a fresh one from `make`.
    pub(crate) fn grant(
        &mut self,
        member: MemberId,
        epoch: u16,
        now: u64,
        make: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Option<Vec<u8>> {
        if let Some(g) = self.last.get(&member) {
            if g.epoch == epoch && now.saturating_sub(g.at_ms) < KEY_GRANT_EVERY_MS {
                return Some(g.env.clone());
            }
        }
        let env = make()?;
        if self.last.len() >= Self::MAX {
            self.last
                .retain(|_, g| now.saturating_sub(g.at_ms) < KEY_GRANT_EVERY_MS);
        }
        if self.last.len() < Self::MAX {
            let grant = Grant {
                at_ms: now,
                epoch,
                env: env.clone(),
            };
            self.last.insert(member, grant);
        }
        Some(env)
    }

    /// Forgets a member (removed).
    pub(crate) fn forget(&mut self, member: &MemberId) {
        self.last.remove(member);
    }
}

/// A gossip `Keys` message after the cheap checks.
#[derive(Debug)]
pub(crate) enum Screened {
    /// From a current member. Only ours are verified (when accepted): the
    /// others are their recipients' to check, so a removal, after which
    /// every member sends an envelope to every member, costs each member
    /// about one check per member, not one per envelope in the group.
    FromMember {
        /// Who sealed them.
        sender: MemberId,
        /// Those addressed to us (at most one).
        mine: Vec<KeyEnvelope>,
    },
    /// From someone not (yet) in our roster: no signature checked, nothing
    /// forwarded; the one envelope addressed to us, if any, waits until the
    /// sender's add op arrives (it is verified then).
    FromUnknown(Option<Box<KeyEnvelope>>),
}

/// Screens a gossip `Keys` message: layout, group, one sender, membership,
/// all without signature work (none is checked here).
pub(crate) fn screen_keys(
    gid: GroupId,
    me: MemberId,
    roster: &Roster,
    list: &[Vec<u8>],
) -> Result<Option<Screened>, (Reject, String)> {
    let mut envs = Vec::with_capacity(list.len());
    for bytes in list {
        let env = KeyEnvelope::parse(bytes).map_err(|e| {
            (
                Reject::Undecodable,
                format!("undecodable key envelope: {e}"),
            )
        })?;
        if env.group != gid {
            return Err((Reject::WrongGroup, "key envelope of another group".into()));
        }
        if envs
            .first()
            .is_some_and(|f: &KeyEnvelope| f.sender != env.sender)
        {
            return Err((Reject::Forged, "key envelopes of several senders".into()));
        }
        envs.push(env);
    }
    // A sender seals one envelope per recipient: more than one for us is
    // forged, and each would cost a signature check when accepted.
    if envs.iter().filter(|e| e.recipient == me).count() > 1 {
        return Err((Reject::Forged, "several key envelopes for us".into()));
    }
    let Some(sender) = envs.first().map(|e| e.sender) else {
        return Ok(None);
    };
    if !roster.is_member(&sender) {
        let mine = envs.into_iter().find(|e| e.recipient == me).map(Box::new);
        return Ok(Some(Screened::FromUnknown(mine)));
    }
    envs.retain(|e| e.recipient == me);
    Ok(Some(Screened::FromMember { sender, mine: envs }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use aura_crypto::{GroupSession, Identity, Role};
    use rand::rngs::OsRng;

    use super::*;

    fn ident(seed: u8) -> Identity {
        Identity::from_secret_bytes(&[seed; 32])
    }

    /// A non-member fills a 64 KiB gossip `Keys` message with envelopes
    /// signed by itself: no signature is checked at all.
    #[test]
    fn non_member_keys_flood_costs_no_signature_check() -> Result<(), Box<dyn std::error::Error>> {
        let (mut owner, _) = GroupSession::create(ident(1), "g", 1, &mut OsRng)?;
        let bob = ident(2).member_id();
        owner.add_member(bob, Role::Member, None, 1)?;
        let gid = owner.group_id();
        let (mut mallory_group, _) = GroupSession::create(ident(9), "m", 1, &mut OsRng)?;
        mallory_group.add_member(bob, Role::Member, None, 1)?;
        // Mallory's envelopes claim our group id (re-signed over it they
        // would still be hers: she is no member of ours).
        let env = mallory_group.envelope_for(bob, &mut OsRng)?;
        let mut bytes = env.encode();
        bytes[1..33].copy_from_slice(&gid.0);
        let list = vec![bytes; 64 * 1024 / aura_crypto::ENVELOPE_LEN];
        let r = screen_keys(gid, owner.member_id(), owner.roster(), &list);
        assert!(matches!(r, Ok(Some(Screened::FromUnknown(None)))), "{r:?}");
        Ok(())
    }

    /// A member's rotation: only the envelope addressed to us is kept (and
    /// verified when accepted); the others are not ours to check.
    #[test]
    fn member_keys_keep_only_ours() -> Result<(), Box<dyn std::error::Error>> {
        let (mut owner, _) = GroupSession::create(ident(1), "g", 1, &mut OsRng)?;
        let me = ident(2).member_id();
        for i in 2..6 {
            owner.add_member(ident(i).member_id(), Role::Member, None, 1)?;
        }
        let rot = owner.rotate(2, &mut OsRng)?;
        let list: Vec<Vec<u8>> = rot.envelopes.iter().map(|e| e.encode()).collect();
        let r = screen_keys(owner.group_id(), me, owner.roster(), &list);
        let Ok(Some(Screened::FromMember { sender, mine })) = r else {
            panic!("{r:?}");
        };
        assert_eq!(sender, owner.member_id());
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].recipient, me);
        Ok(())
    }

    /// A member asks for our key over and over: one fresh envelope (one
    /// counter skip, one signature) per member per interval.
    #[test]
    fn key_request_flood_makes_one_envelope_per_interval() -> Result<(), Box<dyn std::error::Error>>
    {
        let (mut owner, _) = GroupSession::create(ident(1), "g", 1, &mut OsRng)?;
        let bob = ident(2).member_id();
        owner.add_member(bob, Role::Member, None, 1)?;
        let mut grants = KeyGrants::default();
        let mut made = 0;
        for i in 0..1000u64 {
            // We keep talking between the requests.
            owner.seal(aura_crypto::FrameKind::Chat, b"x", 1)?;
            let now = 1_000 + i * 10;
            let env = grants.grant(bob, owner.epoch(), now, || {
                made += 1;
                owner.envelope_for(bob, &mut OsRng).ok().map(|e| e.encode())
            });
            assert!(env.is_some());
        }
        // 10 s of requests every 10 ms: one envelope per interval.
        assert_eq!(made, 10_000 / KEY_GRANT_EVERY_MS);
        let before = made;
        let later = grants.grant(bob, owner.epoch(), 11_000 + KEY_GRANT_EVERY_MS, || {
            made += 1;
            Some(vec![])
        });
        assert!(later.is_some());
        assert_eq!(made, before + 1);
        Ok(())
    }
}
