//! Durable replay floors of frames the voice engine opened (the group
//! core reports those of the frames it opens itself), and at shutdown.

use aura_crypto::GroupId;

use super::Task;
use crate::group_core::lock;

impl Task {
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
