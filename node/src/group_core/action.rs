//! What the group core asks its driver to do, and what it reports.

use aura_crypto::{GroupId, MemberId, Opened, ReplayFloor};

use crate::wire::{GossipMsg, Request};

/// Names an outgoing request so that its answer finds its way back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Something the driver carries out: a message to send, a thing to store,
/// an event to hand on.
#[derive(Debug)]
pub enum Action {
    /// Publish on the group's topic (to every member we are connected to).
    Publish {
        /// Group whose topic carries it.
        group: GroupId,
        /// The message.
        msg: GossipMsg,
    },
    /// Send a request to one member; answer with
    /// [`super::GroupCore::handle_response`] or
    /// [`super::GroupCore::request_failed`].
    Request {
        /// Our id of this request.
        id: RequestId,
        /// Who gets it.
        to: MemberId,
        /// What.
        req: Request,
    },
    /// Dial a member at these addresses (it told us where it listens).
    Dial {
        /// Who.
        member: MemberId,
        /// Where (multiaddr strings, at most 8).
        addrs: Vec<String>,
    },
    /// Store the group's session (`GroupCore::session(group).export_state()`).
    SaveGroup(GroupId),
    /// Store these replay floors durably before acting on what follows.
    SaveReplayFloors {
        /// Group.
        group: GroupId,
        /// Floors that moved.
        floors: Vec<ReplayFloor>,
    },
    /// Hand on to the application.
    Event(CoreEvent),
}

/// What happened in a group.
#[derive(Debug)]
pub enum CoreEvent {
    /// We are in a group (created, joined or loaded).
    Joined {
        /// Group.
        group: GroupId,
        /// Its name.
        name: String,
    },
    /// A join we started failed at every peer the invite named.
    JoinFailed {
        /// Group of the invite.
        group: GroupId,
        /// Each peer's reason.
        reason: String,
    },
    /// A member is in the roster now.
    MemberJoined {
        /// Group.
        group: GroupId,
        /// Member.
        member: MemberId,
    },
    /// A member left or was removed.
    MemberLeft {
        /// Group.
        group: GroupId,
        /// Member.
        member: MemberId,
    },
    /// We were removed from the group.
    RemovedFromGroup {
        /// Group.
        group: GroupId,
    },
    /// A member's sender key (or a new epoch of it) arrived.
    KeysReceived {
        /// Group.
        group: GroupId,
        /// Whose key.
        sender: MemberId,
        /// Its epoch.
        epoch: u16,
        /// The first key of this member since we hold the group.
        first: bool,
    },
    /// An opened frame for the application (location, chat, media address,
    /// fences, gifts); roster ops, key requests and addresses are handled
    /// by the core.
    Frame {
        /// Group.
        group: GroupId,
        /// The opened frame.
        opened: Opened,
        /// The frame of the gossip message being handled (its verdict is
        /// the driver's to refine); `false` for a frame that waited for
        /// its key and was opened later.
        fresh: bool,
    },
    /// Our key went out to the group's members after a join or a restart
    /// (the driver may send what new members should hear from us).
    Announced {
        /// Group.
        group: GroupId,
    },
}

/// What to tell gossip about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: forward it.
    Accept,
    /// Valid and delivered, but the sender's next one replaces it within
    /// seconds (a location fix): not kept for repair, so members do not
    /// advertise it to each other (gossipsub drops it from its cache).
    AcceptLatest,
    /// Not for us to judge (no key yet, replay): do not forward.
    Ignore,
    /// Invalid: the forwarding peer's score falls.
    Reject(Reject, String),
}

impl Verdict {
    /// Valid, whether or not it is kept for repair.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accept | Self::AcceptLatest)
    }
}

/// Why a gossip message was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Larger than [`crate::wire::MAX_GOSSIP_BYTES`].
    Oversized,
    /// Not a gossip message, a frame or an envelope at all.
    Undecodable,
    /// A frame or envelope of another group.
    WrongGroup,
    /// Well-formed but fails authentication or carries a bad payload.
    Forged,
}

/// How a join started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinStarted {
    /// We are in that group already.
    Already(GroupId),
    /// Asking the invite's peers; [`CoreEvent::Joined`] or
    /// [`CoreEvent::JoinFailed`] follows.
    Asking(GroupId),
}
