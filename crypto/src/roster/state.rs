//! The membership state a linear sequence of ops produces, and the rules.

use std::collections::{BTreeMap, HashMap};

use crate::error::RosterError;
use crate::identity::{MemberId, ShortId};
use crate::roster::op::{InviteId, Op, OpKind, Role};

/// Most members a group may hold.
pub const MAX_MEMBERS: usize = 10_000;

/// Members, roles and invite usage after applying ops in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RosterState {
    pub(crate) name: String,
    pub(crate) members: BTreeMap<MemberId, Role>,
    pub(crate) short_ids: HashMap<ShortId, MemberId>,
    pub(crate) invite_uses: HashMap<InviteId, u32>,
}

impl RosterState {
    /// Checks `op` against the rules; mutates only when it is allowed.
    pub(crate) fn apply(&mut self, op: &Op) -> Result<(), RosterError> {
        use RosterError::{Conflict, Unauthorised};
        if let OpKind::Create { name } = &op.kind {
            if !self.members.is_empty() {
                return Err(RosterError::Malformed("second create"));
            }
            self.name = name.clone();
            self.insert(op.author, Role::Owner);
            return Ok(());
        }
        let author = *self
            .members
            .get(&op.author)
            .ok_or(Unauthorised("author is not a member"))?;
        match &op.kind {
            OpKind::Create { .. } => return Err(RosterError::Malformed("second create")),
            OpKind::Add {
                member,
                role,
                invite,
            } => {
                if author < Role::Admin {
                    return Err(Unauthorised("only the owner and admins add members"));
                }
                if *role == Role::Owner {
                    return Err(Unauthorised("nobody is added as owner"));
                }
                if *role == Role::Admin && author != Role::Owner {
                    return Err(Unauthorised("only the owner adds admins"));
                }
                if self.members.contains_key(member) {
                    return Err(Conflict("already a member"));
                }
                if member.validate().is_err() {
                    return Err(RosterError::Malformed("member key invalid"));
                }
                if self.short_ids.contains_key(&member.short_id()) {
                    return Err(RosterError::ShortIdCollision);
                }
                if self.members.len() >= MAX_MEMBERS {
                    return Err(RosterError::LimitReached);
                }
                if let Some(inv) = invite {
                    let used = self.invite_uses.get(&inv.id).copied().unwrap_or(0);
                    if used >= inv.max_uses {
                        return Err(Conflict("invite used up"));
                    }
                    self.invite_uses.insert(inv.id, used + 1);
                }
                self.insert(*member, *role);
            }
            OpKind::Remove { member } => {
                if author < Role::Admin {
                    return Err(Unauthorised("only the owner and admins remove members"));
                }
                let target = *self.members.get(member).ok_or(Conflict("not a member"))?;
                if target == Role::Owner {
                    return Err(Unauthorised("nobody removes the owner"));
                }
                if target == Role::Admin && author != Role::Owner {
                    return Err(Unauthorised("only the owner removes admins"));
                }
                self.delete(member);
            }
            OpKind::SetRole { member, role } => {
                if author != Role::Owner {
                    return Err(Unauthorised("only the owner sets roles"));
                }
                let target = *self.members.get(member).ok_or(Conflict("not a member"))?;
                if target == Role::Owner || *role == Role::Owner {
                    return Err(Unauthorised("ownership moves only by transfer"));
                }
                self.members.insert(*member, *role);
            }
            OpKind::Leave => {
                if author == Role::Owner {
                    return Err(Unauthorised("the owner transfers ownership before leaving"));
                }
                self.delete(&op.author);
            }
            OpKind::TransferOwnership { to } => {
                if author != Role::Owner {
                    return Err(Unauthorised("only the owner transfers ownership"));
                }
                if *to == op.author || !self.members.contains_key(to) {
                    return Err(Conflict("new owner must be another member"));
                }
                self.members.insert(*to, Role::Owner);
                self.members.insert(op.author, Role::Admin);
            }
        }
        Ok(())
    }

    /// The role `op`'s author needs for it in this state (`Leave` needs
    /// only membership; acting on admins needs the owner).
    pub(crate) fn needed(&self, op: &Op) -> Role {
        match &op.kind {
            OpKind::Create { .. } | OpKind::Leave => Role::Member,
            OpKind::Add { role, .. } if *role >= Role::Admin => Role::Owner,
            OpKind::Add { .. } => Role::Admin,
            OpKind::Remove { member } if self.members.get(member) >= Some(&Role::Admin) => {
                Role::Owner
            }
            OpKind::Remove { .. } => Role::Admin,
            OpKind::SetRole { .. } | OpKind::TransferOwnership { .. } => Role::Owner,
        }
    }

    /// An owner that signed concurrent transfers keeps none of them: it
    /// becomes admin and nobody gains ownership (see `merge`).
    pub(crate) fn demote_owner(&mut self, op: &Op) -> Result<(), RosterError> {
        if self.members.get(&op.author) != Some(&Role::Owner) {
            return Err(RosterError::Unauthorised(
                "only the owner transfers ownership",
            ));
        }
        self.members.insert(op.author, Role::Admin);
        Ok(())
    }

    fn insert(&mut self, m: MemberId, role: Role) {
        self.members.insert(m, role);
        self.short_ids.insert(m.short_id(), m);
    }

    fn delete(&mut self, m: &MemberId) {
        self.members.remove(m);
        self.short_ids.remove(&m.short_id());
    }
}
