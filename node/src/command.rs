//! The commands a [`crate::Node`] handle sends to its task: one variant per
//! operation, carrying its arguments and where the answer goes.

use std::sync::{Arc, Mutex};

use aura_billing::signed::SignedReceipt;
use aura_crypto::{GroupId, GroupSession, MemberId, Role};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;

use crate::{
    location::{Fix, Geofence, Position, Precision},
    media::feed::{VoiceFeed, VoiceSnapshot},
    stats::NodeStats,
    store::ChatRecord,
    NodeError,
};

/// Where an infallible command's answer goes.
pub(crate) type Answer<T> = oneshot::Sender<T>;
/// Where a command's result goes.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, NodeError>>;
/// Where a join's outcome goes (answered when the join completes).
pub(crate) type JoinReply = Reply<GroupId>;

/// One request to the node task.
#[derive(Debug)]
pub(crate) enum Command {
    ListenAddrs(Answer<Vec<Multiaddr>>),
    ConnectedPeers(Answer<Vec<PeerId>>),
    Dial(Multiaddr, Reply<()>),
    PeerScore(PeerId, Answer<Option<f64>>),
    Stats(Answer<NodeStats>),
    CreateGroup(String, Reply<GroupId>),
    Groups(Answer<Vec<(GroupId, String)>>),
    Invite {
        group: GroupId,
        max_uses: u32,
        ttl_ms: u64,
        reply: Reply<String>,
    },
    Join(String, JoinReply),
    Members(GroupId, Reply<Vec<(MemberId, Role)>>),
    RemoveMember {
        group: GroupId,
        member: MemberId,
        reply: Reply<()>,
    },
    SetRole {
        group: GroupId,
        member: MemberId,
        role: Role,
        reply: Reply<()>,
    },
    Leave(GroupId, Reply<()>),
    ShareLocation {
        group: GroupId,
        on: bool,
        reply: Reply<()>,
    },
    SetPrecision {
        group: GroupId,
        precision: Precision,
        reply: Reply<()>,
    },
    UpdatePosition(Position, Reply<()>),
    AddGeofence {
        group: GroupId,
        fence: Geofence,
        reply: Reply<()>,
    },
    RemoveGeofence {
        group: GroupId,
        name: String,
        reply: Reply<()>,
    },
    Geofences(GroupId, Reply<Vec<Geofence>>),
    SendChat {
        group: GroupId,
        text: String,
        reply: Reply<()>,
    },
    ChatHistory(GroupId, Reply<Vec<ChatRecord>>),
    BroadcastGift {
        group: GroupId,
        receipt: SignedReceipt,
        reply: Reply<()>,
    },
    Gifts(GroupId, Reply<Vec<SignedReceipt>>),
    LastPositions(GroupId, Reply<Vec<(MemberId, Fix)>>),
    HistoryGpx(GroupId, Reply<String>),
    /// The group's crypto session, for the voice engine (crate-internal).
    GroupSession(GroupId, Reply<Arc<Mutex<GroupSession>>>),
    /// A voice engine starts in `group`: announce `addr`, feed it.
    AttachVoice {
        group: GroupId,
        addr: String,
        feed: tokio::sync::mpsc::Sender<VoiceFeed>,
        reply: Reply<VoiceSnapshot>,
    },
    #[cfg(feature = "test-hooks")]
    ObserveGroup(GroupId, Answer<()>),
    #[cfg(feature = "test-hooks")]
    PublishRaw {
        group: GroupId,
        data: Vec<u8>,
        reply: Reply<()>,
    },
    /// Sets our profile (avatar image bytes, checked by the task).
    SetProfile {
        name: String,
        status: Option<String>,
        avatar: Option<Vec<u8>>,
        reply: Reply<crate::people::Profile>,
    },
    /// A member's profile (ours under our own id).
    Profile(MemberId, Answer<Option<crate::people::Profile>>),
    /// Each member of a group with its label.
    MemberLabels(GroupId, Reply<Vec<(MemberId, String)>>),
    /// A cached avatar image by SHA-256.
    Avatar([u8; 32], Reply<Option<Vec<u8>>>),
    /// Adds to or removes from a local list (block, follow).
    SetListed {
        list: crate::people::List,
        member: MemberId,
        on: bool,
        reply: Reply<()>,
    },
    /// The members of a local list.
    Listed(crate::people::List, Answer<Vec<MemberId>>),
    /// The device's network changed: restart the transport.
    NetworkChanged(Reply<()>),
    /// Background mode on or off.
    SetBackground(bool, Reply<()>),
    Stop(Answer<()>),
}
