//! Loading groups at start. A group whose record does not load (corrupt,
//! from another version, a roster that does not verify) is quarantined:
//! moved aside in the store, counted and reported, and the node starts
//! with the others.

use aura_crypto::{GroupId, GroupSession};

use super::{now_ms, GroupState, Task};
use crate::{events::Event, NodeError};

impl Task {
    /// Reloads groups from the store. Each rotates at once (the saved sender
    /// counter may be behind what was sent before a crash, so never reuse
    /// it); the new key goes to nobody until a member's sync answer has
    /// confirmed the roster (see `aura_crypto::GroupSession::confirm_roster`).
    pub(crate) fn load_groups(&mut self) -> Result<(), NodeError> {
        let now = now_ms();
        for (id, rec) in self.store.groups_each()? {
            let loaded = rec.map_err(|e| e.to_string()).and_then(|rec| {
                match GroupSession::import_state(&rec.session) {
                    Ok(s) if s.group_id().0 == id => Ok((s, rec)),
                    Ok(_) => Err("record stored under another group's id".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            });
            let (mut session, rec) = match loaded {
                Ok(x) => x,
                Err(reason) => {
                    self.quarantine(id, reason);
                    continue;
                }
            };
            // Restart, clean or not: what was accepted before stays refused.
            match self.store.replay_floors(&id) {
                Ok(floors) => session.restore_replay_floors(&floors),
                Err(e) => tracing::warn!(error = %e, "replay floors unreadable"),
            }
            // The core rotates it and keeps the key until the roster is confirmed.
            let gid = self.core.insert_loaded(now, session);
            if let Some(session) = self.core.session(&gid) {
                let st = GroupState::new(self, session, Some(&rec));
                self.install_group(st);
            }
            self.drive();
        }
        Ok(())
    }

    fn quarantine(&mut self, id: [u8; 32], reason: String) {
        let group = GroupId(id);
        tracing::error!(%group, %reason, "group does not load: quarantined");
        if let Err(e) = self.store.quarantine_group(&id) {
            tracing::warn!(error = %e, "quarantining group failed");
        }
        self.stats.groups_quarantined += 1;
        self.emit(Event::GroupQuarantined { group, reason });
    }
}
