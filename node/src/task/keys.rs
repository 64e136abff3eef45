//! Key handling in the node task: gossip `Keys` messages (screened by
//! [`crate::group_core`] before any signature work), rate-limited envelopes
//! for members who ask, and durable replay floors.

use aura_crypto::{GroupId, MemberId};

use super::{now_ms, Task};
use crate::{
    group_core::{lock, screen_keys, Screened, Verdict},
    wire::GossipMsg,
};

impl Task {
    /// Validates a gossip `Keys` message and accepts what is addressed to us.
    pub(crate) fn on_keys(&mut self, gid: GroupId, list: &[Vec<u8>]) -> Verdict {
        let me = self.identity.member_id();
        let Some(g) = self.groups.get(&gid) else {
            return Verdict::Ignore;
        };
        let screened = {
            let s = lock(&g.session);
            screen_keys(gid, me, s.roster(), list, |e| e.verify().is_ok())
        };
        match screened {
            Err((why, text)) => Verdict::Reject(why, text),
            Ok(Screened::FromMember(mine)) => {
                for env in mine {
                    self.accept_envelope(gid, env);
                }
                Verdict::Accept
            }
            Ok(Screened::FromUnknown(mine)) => {
                if let Some(env) = mine {
                    self.accept_envelope(gid, *env);
                }
                Verdict::Ignore
            }
        }
    }

    /// Publishes our key for `member` (a new member, or one that asked), at
    /// most one fresh envelope per member per [`KEY_GRANT_EVERY_MS`].
    pub(crate) fn send_envelope_to(&mut self, gid: GroupId, member: MemberId) {
        let Some(bytes) = self.key_grant(gid, member) else {
            return;
        };
        if !self.send_keys_direct(gid, member, &bytes) {
            self.publish(&gid, &GossipMsg::Keys(vec![bytes]));
        }
    }

    /// Our envelope for `member`, rate-limited (see [`KeyGrants`]).
    pub(crate) fn key_grant(&mut self, gid: GroupId, member: MemberId) -> Option<Vec<u8>> {
        let g = self.groups.get_mut(&gid)?;
        let session = g.session.clone();
        let epoch = lock(&session).epoch();
        g.key_grants.grant(member, epoch, now_ms(), || {
            match lock(&session).envelope_for(member, &mut rand::rngs::OsRng) {
                Ok(env) => Some(env.encode()),
                Err(e) => {
                    tracing::debug!(error = %e, "no envelope for member");
                    None
                }
            }
        })
    }

    /// Stores `gid`'s replay floors durably when one moved. Call after
    /// opening a frame and before acting on it.
    pub(crate) fn persist_replay_floors(&mut self, gid: &GroupId) {
        let Some(g) = self.groups.get(gid) else {
            return;
        };
        let Some(floors) = lock(&g.session).take_replay_floors() else {
            return;
        };
        if let Err(e) = self.store.put_replay_floors(&gid.0, &floors) {
            tracing::warn!(error = %e, "replay floors not stored");
        }
    }

    /// At a clean shutdown, right after saving every session: stores floors
    /// lowered to what was really accepted (the saved windows are exact).
    pub(crate) fn settle_all_replay_floors(&mut self) {
        for (gid, g) in &self.groups {
            let floors = lock(&g.session).settle_replay_floors();
            if let Err(e) = self.store.put_replay_floors(&gid.0, &floors) {
                tracing::warn!(error = %e, "replay floors not stored");
            }
        }
    }

    /// Stores moved replay floors of every group (voice frames are opened
    /// by the media engine; this runs on each tick).
    pub(crate) fn persist_all_replay_floors(&mut self) {
        let gids: Vec<GroupId> = self.groups.keys().copied().collect();
        for gid in gids {
            self.persist_replay_floors(&gid);
        }
    }
}
