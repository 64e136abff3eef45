//! The people part of the [`Node`] API: our profile, members' profiles and
//! labels, avatars, and the local block and follow lists.

use aura_crypto::{GroupId, MemberId};

use crate::{
    command::Command,
    people::{List, Profile},
    Node, NodeError,
};

impl Node {
    /// Sets our profile: display name (trimmed, 1 to 48 bytes, no control
    /// characters), optional status line (at most 140 bytes) and optional
    /// avatar image (PNG, JPEG or WebP, at most 64 KiB). Signed with our
    /// identity key under a version above the last one, kept in the store
    /// and sent to every group, end-to-end encrypted.
    pub async fn set_profile(
        &self,
        name: &str,
        status: Option<&str>,
        avatar: Option<Vec<u8>>,
    ) -> Result<Profile, NodeError> {
        let (name, status) = (name.to_owned(), status.map(str::to_owned));
        self.ask(|reply| Command::SetProfile {
            name,
            status,
            avatar,
            reply,
        })
        .await?
    }

    /// A member's profile as last received (ours with our own id).
    pub async fn profile(&self, member: MemberId) -> Result<Option<Profile>, NodeError> {
        self.ask(|a| Command::Profile(member, a)).await
    }

    /// Each member of `group` with the label it shows under: its display
    /// name, `name (8 hex)` when another member's name or id prefix reads
    /// the same, else the first 8 hex digits of its id.
    pub async fn member_labels(
        &self,
        group: GroupId,
    ) -> Result<Vec<(MemberId, String)>, NodeError> {
        self.ask(|r| Command::MemberLabels(group, r)).await?
    }

    /// An avatar image by the SHA-256 a profile names, once fetched.
    pub async fn avatar(&self, hash: [u8; 32]) -> Result<Option<Vec<u8>>, NodeError> {
        self.ask(|r| Command::Avatar(hash, r)).await?
    }

    async fn set_listed(&self, list: List, member: MemberId, on: bool) -> Result<(), NodeError> {
        self.ask(|reply| Command::SetListed {
            list,
            member,
            on,
            reply,
        })
        .await?
    }

    /// Blocks a member on this device, in every group (kept across
    /// restarts): its voice is not played, its location, chat and gifts are
    /// neither shown nor stored, and where we are an admin its join
    /// requests, and joins with its invites, are refused.
    pub async fn block(&self, member: MemberId) -> Result<(), NodeError> {
        self.set_listed(List::Blocked, member, true).await
    }

    /// Unblocks a member.
    pub async fn unblock(&self, member: MemberId) -> Result<(), NodeError> {
        self.set_listed(List::Blocked, member, false).await
    }

    /// Members blocked on this device.
    pub async fn blocked(&self) -> Result<Vec<MemberId>, NodeError> {
        self.ask(|a| Command::Listed(List::Blocked, a)).await
    }

    /// Follows a member (a local list, kept across restarts).
    pub async fn follow(&self, member: MemberId) -> Result<(), NodeError> {
        self.set_listed(List::Following, member, true).await
    }

    /// Stops following a member.
    pub async fn unfollow(&self, member: MemberId) -> Result<(), NodeError> {
        self.set_listed(List::Following, member, false).await
    }

    /// Members followed on this device.
    pub async fn following(&self) -> Result<Vec<MemberId>, NodeError> {
        self.ask(|a| Command::Listed(List::Following, a)).await
    }
}
