//! The session's replay floors, as the node stores and restores them (the
//! floors themselves live in `floors`).

use super::{GroupSession, ReplayFloor};

impl GroupSession {
    /// Replay floors, when one moved since the last call: store them
    /// durably before acting on the frame just opened (see [`ReplayFloor`]).
    pub fn take_replay_floors(&mut self) -> Option<Vec<ReplayFloor>> {
        self.floors.take_if_moved()
    }

    /// All current replay floors.
    pub fn replay_floors(&self) -> Vec<ReplayFloor> {
        self.floors.list()
    }

    /// Lowers every floor to what was really accepted and returns them all.
    /// Only for a clean shutdown, right after the session itself was saved
    /// (its windows are exact then): the restart then refuses nothing new.
    pub fn settle_replay_floors(&mut self) -> Vec<ReplayFloor> {
        for (m, chains) in &self.received.peers {
            for c in chains {
                let top = u32::try_from(c.window.top()).unwrap_or(u32::MAX);
                self.floors.settle(*m, c.epoch, top);
            }
        }
        self.floors.take_if_moved();
        self.floors.list()
    }

    /// Restores stored replay floors (after a restart, clean or not): every
    /// counter below a floor is refused from now on.
    pub fn restore_replay_floors(&mut self, list: &[ReplayFloor]) {
        self.floors.restore(list);
        for (m, chains) in &mut self.received.peers {
            for c in chains.iter_mut() {
                if let Some(f) = self.floors.get(m, c.epoch) {
                    c.window.raise_floor(f);
                }
            }
        }
    }
}
