//! Rooms bigger than one relay (sans-IO): the **origin** (the relay where
//! the host created the room, its one sequencer) and **edges** (relays
//! that follow the room for the members connected to them).
//!
//! An edge dials the origin's media port with its own identity and sends
//! `attach room`; then it relays its members' messages (`relayed member
//! msg`) and the origin sends back, in the room's sequence:
//! - `to member msg` for one member reached through that edge;
//! - `fan room msg`, once, for a message every member of the room at the
//!   edge receives (a seat op reaches 1,000 listeners of an edge as one
//!   message on the link);
//! - `admit` / `expel` / `closed`: the forwarding changes of members at the
//!   edge, in the same step as at the origin (a kick expels at the edge
//!   before the kick op itself is delivered);
//! - over datagrams, the selected (loudest) sealed frames once per edge.
//!
//! [`Origin`] says where each message of the hub goes; [`Follower`] is the
//! edge's side. Neither holds a key: frames stay sealed end to end.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use aura_crypto::room::{RoomId, RoomState};
use aura_crypto::MemberId;
use aura_media::room_control::{RelayLoad, ServerMsg, MAX_RELAYS};

use super::error::HubError;
use super::hub::{Delivery, Effects, ForwardChange};

/// Edges one room may have (with its origin, [`MAX_RELAYS`]).
pub const MAX_EDGES: usize = MAX_RELAYS - 1;

#[derive(Debug)]
struct Edge {
    addr: SocketAddr,
    rooms: HashSet<RoomId>,
    /// Members reached through this edge.
    members: HashSet<MemberId>,
}

/// The origin's view of its edges: which rooms each follows, which
/// members are reached through which edge.
#[derive(Debug, Default)]
pub struct Origin {
    edges: HashMap<MemberId, Edge>,
    routes: HashMap<MemberId, MemberId>,
}

/// Where one hub step's effects go.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Routed {
    /// Messages for members connected here.
    pub local: Vec<Delivery>,
    /// Forwarding changes for the table here.
    pub forward: Vec<ForwardChange>,
    /// Messages for edges (`to`, `fan`, `admit`, `expel`, `closed`), in order.
    pub links: Vec<(MemberId, ServerMsg)>,
}

impl Origin {
    /// `edge` (connected from `addr`) follows `room`.
    pub fn attach(
        &mut self,
        edge: MemberId,
        addr: SocketAddr,
        room: RoomId,
    ) -> Result<(), HubError> {
        let following = self
            .edges
            .iter()
            .filter(|(e, x)| **e != edge && x.rooms.contains(&room))
            .count();
        if following >= MAX_EDGES {
            return Err(HubError::TooManyEdges);
        }
        let e = self.edges.entry(edge).or_insert_with(|| Edge {
            addr,
            rooms: HashSet::new(),
            members: HashSet::new(),
        });
        e.addr = addr;
        e.rooms.insert(room);
        Ok(())
    }

    /// `edge` no longer follows `room` (its attach could not be served).
    pub fn detach(&mut self, edge: &MemberId, room: &RoomId) {
        if let Some(e) = self.edges.get_mut(edge) {
            e.rooms.remove(room);
        }
    }

    /// Whether `edge` follows `room`.
    pub fn is_attached(&self, edge: &MemberId, room: &RoomId) -> bool {
        self.edges.get(edge).is_some_and(|e| e.rooms.contains(room))
    }

    /// Whether `member` is an edge relay's connection.
    pub fn is_edge(&self, member: &MemberId) -> bool {
        self.edges.contains_key(member)
    }

    /// `member`'s latest accepted message came through `via` (`None`: its
    /// own connection here). A member is reached where it last spoke.
    pub fn set_route(&mut self, member: MemberId, via: Option<MemberId>) {
        if let Some(old) = self.routes.remove(&member) {
            if let Some(e) = self.edges.get_mut(&old) {
                e.members.remove(&member);
            }
        }
        if let Some(edge) = via.filter(|e| self.edges.contains_key(e)) {
            if let Some(e) = self.edges.get_mut(&edge) {
                e.members.insert(member);
            }
            self.routes.insert(member, edge);
        }
    }

    /// The edge `member` is reached through, if any.
    pub fn edge_of(&self, member: &MemberId) -> Option<MemberId> {
        self.routes.get(member).copied()
    }

    /// `edge` is gone: its members are no longer reached (they stay in
    /// their rooms and come back through another relay). Returns its rooms.
    pub fn edge_gone(&mut self, edge: &MemberId) -> Vec<RoomId> {
        let Some(e) = self.edges.remove(edge) else {
            return Vec::new();
        };
        for m in &e.members {
            self.routes.remove(m);
        }
        e.rooms.into_iter().collect()
    }

    /// Splits a hub step about `room` into what stays here and what goes
    /// to each edge. Forwarding changes come first on a link, as here.
    pub fn route(&self, room: RoomId, fx: Effects) -> Routed {
        let mut out = Routed::default();
        for c in fx.forward {
            match c {
                ForwardChange::Admit(_, m) | ForwardChange::Expel(_, m)
                    if self.edge_of(&m).is_some() =>
                {
                    let e = self.edge_of(&m).unwrap_or(m);
                    let msg = match c {
                        ForwardChange::Admit(..) => ServerMsg::Admit(room, m),
                        _ => ServerMsg::Expel(room, m),
                    };
                    out.links.push((e, msg));
                }
                ForwardChange::Close(_) => {
                    for (e, x) in &self.edges {
                        if x.rooms.contains(&room) {
                            out.links.push((*e, ServerMsg::Closed(room)));
                        }
                    }
                    out.forward.push(c);
                }
                c => out.forward.push(c),
            }
        }
        for d in fx.sends {
            let mut local = Vec::new();
            let mut by_edge: HashMap<MemberId, Vec<MemberId>> = HashMap::new();
            for m in d.to {
                match self.edge_of(&m) {
                    Some(e) => by_edge.entry(e).or_default().push(m),
                    None => local.push(m),
                }
            }
            let mut edges: Vec<_> = by_edge.into_iter().collect();
            edges.sort_by_key(|(e, _)| *e);
            for (e, ms) in edges {
                let all = self
                    .edges
                    .get(&e)
                    .is_some_and(|x| x.rooms.contains(&room) && x.members.len() == ms.len());
                if all && ms.len() > 1 {
                    out.links
                        .push((e, ServerMsg::Fan(room, Box::new(d.msg.clone()))));
                } else {
                    for m in ms {
                        out.links
                            .push((e, ServerMsg::To(m, Box::new(d.msg.clone()))));
                    }
                }
            }
            if !local.is_empty() {
                out.local.push(Delivery {
                    to: local,
                    msg: d.msg,
                });
            }
        }
        out
    }

    /// The relays of `room` and their loads: `origin` (this relay, its
    /// `members` left to count) first, then each edge following it.
    pub fn relays(
        &self,
        room: &RoomId,
        state: &RoomState,
        mut origin: RelayLoad,
    ) -> Vec<RelayLoad> {
        let mut out = Vec::new();
        let mut at_edges = 0u32;
        for (e, x) in &self.edges {
            if !x.rooms.contains(room) {
                continue;
            }
            let n = x.members.iter().filter(|m| state.is_present(m)).count();
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            at_edges = at_edges.saturating_add(n);
            out.push(RelayLoad {
                relay: *e,
                addr: x.addr,
                members: n,
            });
        }
        out.sort_by_key(|r| r.relay);
        let present = u32::try_from(state.member_count()).unwrap_or(u32::MAX);
        origin.members = present.saturating_sub(at_edges);
        out.insert(0, origin);
        out.truncate(MAX_RELAYS);
        out
    }
}

#[derive(Debug)]
struct Followed {
    origin: MemberId,
    members: HashSet<MemberId>,
}

/// An edge's side: the rooms it follows, from which origin, and its
/// members admitted to each.
#[derive(Debug, Default)]
pub struct Follower {
    rooms: HashMap<RoomId, Followed>,
}

impl Follower {
    /// Starts following `room` from `origin`: the table gates the room
    /// (only members the origin admits receive its frames).
    pub fn follow(&mut self, room: RoomId, origin: MemberId) -> ForwardChange {
        self.rooms.entry(room).or_insert_with(|| Followed {
            origin,
            members: HashSet::new(),
        });
        ForwardChange::Open(room.header_id())
    }

    /// The origin `room` is followed from.
    pub fn origin_of(&self, room: &RoomId) -> Option<MemberId> {
        self.rooms.get(room).map(|f| f.origin)
    }

    /// Rooms followed.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// The rooms `member` is admitted to here.
    pub fn rooms_of(&self, member: &MemberId) -> Vec<RoomId> {
        self.rooms
            .iter()
            .filter(|(_, f)| f.members.contains(member))
            .map(|(r, _)| *r)
            .collect()
    }

    /// Members admitted to `room` here.
    pub fn members(&self, room: &RoomId) -> usize {
        self.rooms.get(room).map_or(0, |f| f.members.len())
    }

    /// What a message from `origin`'s link does here. Refused: a message
    /// about a room not followed from that origin, or not for an edge.
    pub fn on_link(&mut self, origin: &MemberId, msg: ServerMsg) -> Result<Effects, HubError> {
        let mut fx = Effects::default();
        match msg {
            ServerMsg::To(m, inner) => {
                if !self.rooms.values().any(|f| f.origin == *origin) {
                    return Err(HubError::UnknownRoom);
                }
                fx.sends.push(Delivery {
                    to: vec![m],
                    msg: *inner,
                });
            }
            ServerMsg::Fan(room, inner) => {
                let f = self.followed(origin, &room)?;
                fx.sends.push(Delivery {
                    to: f.members.iter().copied().collect(),
                    msg: *inner,
                });
            }
            ServerMsg::Admit(room, m) => {
                self.followed(origin, &room)?.members.insert(m);
                fx.forward.push(ForwardChange::Admit(room.header_id(), m));
            }
            ServerMsg::Expel(room, m) => {
                self.followed(origin, &room)?.members.remove(&m);
                fx.forward.push(ForwardChange::Expel(room.header_id(), m));
            }
            ServerMsg::Closed(room) => {
                self.followed(origin, &room)?;
                fx.forward.extend(self.unfollow(&room));
            }
            ServerMsg::Refused { room, .. } => {
                // The origin refused our attach: forget the room.
                self.followed(origin, &room)?;
                fx.forward.extend(self.unfollow(&room));
            }
            _ => return Err(HubError::NotHere),
        }
        Ok(fx)
    }

    fn followed(&mut self, origin: &MemberId, room: &RoomId) -> Result<&mut Followed, HubError> {
        self.rooms
            .get_mut(room)
            .filter(|f| f.origin == *origin)
            .ok_or(HubError::UnknownRoom)
    }

    fn unfollow(&mut self, room: &RoomId) -> Option<ForwardChange> {
        self.rooms
            .remove(room)
            .map(|_| ForwardChange::Close(room.header_id()))
    }

    /// `origin`'s link is gone: the rooms followed from it are forgotten.
    /// Returns each room's members here (they must move to another relay).
    pub fn lost(&mut self, origin: &MemberId) -> Vec<(RoomId, Vec<MemberId>)> {
        let rooms: Vec<RoomId> = self
            .rooms
            .iter()
            .filter(|(_, f)| f.origin == *origin)
            .map(|(r, _)| *r)
            .collect();
        rooms
            .into_iter()
            .filter_map(|r| {
                self.rooms
                    .remove(&r)
                    .map(|f| (r, f.members.into_iter().collect()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
