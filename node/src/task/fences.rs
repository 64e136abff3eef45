//! A group's geofences: changed only by its owner or an admin, checked the
//! same way whether the change was made here or received from a member, and
//! stored one record per fence.

use aura_crypto::{GroupId, GroupSession, MemberId, Role};

use super::Task;
use crate::group_core::lock;
use crate::{
    location::{FenceError, FenceSet, Geofence},
    store::{GroupRecord, Store},
    wire::ControlMsg,
    NodeError,
};

/// A change to a group's geofences.
pub(crate) enum FenceChange {
    /// Add, or replace the fence of the same name.
    Set(Geofence),
    /// Remove the fence of this name.
    Remove(String),
}

/// Whether `who` may change the group's geofences: its owner or an admin,
/// by the roster as this device holds it now.
fn may_edit_fences(session: &GroupSession, who: &MemberId) -> Result<(), FenceError> {
    match session.roster().role_of(who) {
        Some(Role::Owner | Role::Admin) => Ok(()),
        _ => Err(FenceError::NotAdmin),
    }
}

/// The fences of group `gid` from the store; fences of an older store kept
/// in the group record are moved to their own records.
pub(crate) fn load_fences(store: &Store, gid: &GroupId, rec: Option<&GroupRecord>) -> FenceSet {
    let mut fences = store.fences(&gid.0).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "geofences could not be read");
        Vec::new()
    });
    for old in rec.map(|r| r.fences.as_slice()).unwrap_or_default() {
        if !fences.iter().any(|f| f.name == old.name) {
            if let Err(e) = store.put_fence(&gid.0, old) {
                tracing::warn!(error = %e, "geofence could not be moved to its own record");
            }
            fences.push(old.clone());
        }
    }
    FenceSet::from_loaded(fences)
}

impl Task {
    /// Applies `change` by `author` to group `gid`, and stores it.
    fn apply_fence_change(
        &mut self,
        gid: GroupId,
        author: &MemberId,
        change: FenceChange,
    ) -> Result<(), NodeError> {
        let g = self.group_mut(&gid)?;
        may_edit_fences(&lock(&g.session), author)?;
        let stored = match change {
            FenceChange::Set(fence) => {
                g.fences.upsert(fence.clone())?;
                self.store.put_fence(&gid.0, &fence)
            }
            FenceChange::Remove(name) => {
                g.fences.remove(&name)?;
                g.fence_tracker.forget_fence(&name);
                self.store.remove_fence(&gid.0, &name)
            }
        };
        if let Err(e) = stored {
            tracing::warn!(error = %e, "geofence change not saved");
        }
        Ok(())
    }

    /// Our own change: checked as every member will check it, then sent.
    pub(crate) fn change_fences(
        &mut self,
        gid: GroupId,
        change: FenceChange,
    ) -> Result<(), NodeError> {
        let me = self.identity.member_id();
        let msg = match &change {
            FenceChange::Set(f) => ControlMsg::Fence(f.clone()),
            FenceChange::Remove(name) => ControlMsg::FenceRemoved(name.clone()),
        };
        self.apply_fence_change(gid, &me, change)?;
        self.send_control(&gid, &msg)
    }

    /// A change received from member `author`: applied when the author may
    /// make it and it is valid; otherwise logged with its reason and counted.
    pub(crate) fn on_fence_change(&mut self, gid: GroupId, author: MemberId, change: FenceChange) {
        let err = match self.apply_fence_change(gid, &author, change) {
            Ok(()) => return,
            Err(NodeError::Geofence(e)) => e,
            Err(e) => return tracing::debug!(error = %e, "geofence change for no group"),
        };
        let counter = match &err {
            // Removing what is gone already (a repeated removal) changes nothing.
            FenceError::Unknown(_) => {
                return tracing::debug!(%author, reason = %err, "geofence removal ignored")
            }
            FenceError::NotAdmin => &mut self.stats.fences_refused_not_admin,
            FenceError::TooMany => &mut self.stats.fences_refused_too_many,
            _ => &mut self.stats.fences_refused_invalid,
        };
        *counter += 1;
        tracing::warn!(group = %hex::encode(&gid.0[..8]), %author, reason = %err, "geofence change refused");
    }

    pub(crate) fn geofences(&self, gid: GroupId) -> Result<Vec<Geofence>, NodeError> {
        Ok(self.group(&gid)?.fences.as_slice().to_vec())
    }
}
