//! People: our profile, members' profiles and labels, avatars, and the
//! local block and follow lists. Changes arrive as `AuraEvent::Profile`.

use aura_node::people::Profile;

use crate::{
    error::AuraError,
    node::AuraNode,
    types::{group_id, member_hex, member_id},
};

/// What a member says about itself.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ProfileInfo {
    /// Member id (hex).
    pub member: String,
    /// Display name.
    pub name: String,
    /// Status line.
    pub status: Option<String>,
    /// SHA-256 of the avatar image (hex), when it has one.
    pub avatar: Option<String>,
    /// Version (grows with each change).
    pub version: u64,
}

impl From<Profile> for ProfileInfo {
    fn from(p: Profile) -> Self {
        Self {
            member: member_hex(&p.member),
            name: p.name,
            status: p.status,
            avatar: p.avatar.map(|a| hex::encode(a.hash)),
            version: p.version,
        }
    }
}

/// A member and the label it shows under in a group.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MemberLabel {
    /// Member id (hex).
    pub member: String,
    /// Display name, `name (id prefix)` on a collision, else the id prefix.
    pub label: String,
}

fn hash(text: &str) -> Result<[u8; 32], AuraError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut out)
        .map_err(|e| AuraError::bad_input(format!("avatar hash {text:?}: {e} (64 hex digits)")))?;
    Ok(out)
}

fn hexes(members: Vec<aura_crypto::MemberId>) -> Vec<String> {
    members.iter().map(member_hex).collect()
}

#[uniffi::export]
impl AuraNode {
    /// Sets our profile: name (1 to 48 bytes), optional status line (at
    /// most 140 bytes), optional avatar image (PNG, JPEG or WebP, at most
    /// 64 KiB); sent to every group, end-to-end encrypted.
    pub async fn set_profile(
        &self,
        name: String,
        status: Option<String>,
        avatar: Option<Vec<u8>>,
    ) -> Result<ProfileInfo, AuraError> {
        let p = self
            .call(|n| async move { n.set_profile(&name, status.as_deref(), avatar).await })
            .await?;
        Ok(p.into())
    }

    /// A member's profile (ours with our own id), if known.
    pub async fn profile(&self, member: String) -> Result<Option<ProfileInfo>, AuraError> {
        let member = member_id(&member)?;
        let p = self
            .call(|n| async move { n.profile(member).await })
            .await?;
        Ok(p.map(ProfileInfo::from))
    }

    /// Each member of `group` with its label.
    pub async fn member_labels(&self, group: String) -> Result<Vec<MemberLabel>, AuraError> {
        let group = group_id(&group)?;
        let got = self
            .call(|n| async move { n.member_labels(group).await })
            .await?;
        Ok(got
            .into_iter()
            .map(|(m, label)| MemberLabel {
                member: member_hex(&m),
                label,
            })
            .collect())
    }

    /// An avatar image by its SHA-256 (hex), once fetched.
    pub async fn avatar(&self, sha256: String) -> Result<Option<Vec<u8>>, AuraError> {
        let h = hash(&sha256)?;
        self.call(|n| async move { n.avatar(h).await }).await
    }

    /// Blocks a member on this device (kept across restarts).
    pub async fn block(&self, member: String) -> Result<(), AuraError> {
        let m = member_id(&member)?;
        self.call(|n| async move { n.block(m).await }).await
    }

    /// Unblocks a member.
    pub async fn unblock(&self, member: String) -> Result<(), AuraError> {
        let m = member_id(&member)?;
        self.call(|n| async move { n.unblock(m).await }).await
    }

    /// Members blocked on this device (hex ids).
    pub async fn blocked(&self) -> Result<Vec<String>, AuraError> {
        Ok(hexes(
            self.call(|n| async move { n.blocked().await }).await?,
        ))
    }

    /// Follows a member (a local list).
    pub async fn follow(&self, member: String) -> Result<(), AuraError> {
        let m = member_id(&member)?;
        self.call(|n| async move { n.follow(m).await }).await
    }

    /// Stops following a member.
    pub async fn unfollow(&self, member: String) -> Result<(), AuraError> {
        let m = member_id(&member)?;
        self.call(|n| async move { n.unfollow(m).await }).await
    }

    /// Members followed on this device (hex ids).
    pub async fn following(&self) -> Result<Vec<String>, AuraError> {
        Ok(hexes(
            self.call(|n| async move { n.following().await }).await?,
        ))
    }
}
