//! Request-response: joins, syncs and key delivery are the group core's
//! (it answers requests and reads answers); carrying and avatars are the
//! task's. Blocked members are refused here, before the core sees them.

use aura_crypto::{Invite, MemberId};
use libp2p::{request_response, PeerId};

use super::{drive::node_error, now_ms, Task};
use crate::{
    command::JoinReply,
    group_core::JoinStarted,
    wire::{Request, Response},
    NodeError,
};

impl Task {
    /// Starts joining with `text`; `reply` gets the outcome when done.
    pub(crate) fn join(&mut self, text: &str, reply: JoinReply) {
        let now = now_ms();
        let invite = match Invite::parse(text, now) {
            Ok(i) => i,
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        if self.is_blocked(&invite.body.inviter) {
            let _ = reply.send(Err(NodeError::JoinRefused(
                "the invite comes from a member you blocked; unblock them first".into(),
            )));
            return;
        }
        if crate::wire::invite_peers(&invite).is_empty() {
            let _ = reply.send(Err(NodeError::JoinRefused(
                "the invite names no peer to contact".into(),
            )));
            return;
        }
        match self.core.join(now, text) {
            Ok(JoinStarted::Already(gid)) => {
                let _ = reply.send(Ok(gid));
            }
            Ok(JoinStarted::Asking(gid)) => {
                self.join_replies.entry(gid).or_default().push(reply);
            }
            Err(e) => {
                let _ = reply.send(Err(node_error(e)));
            }
        }
        self.drive();
    }

    pub(crate) fn on_rpc(&mut self, ev: request_response::Event<Request, Response>) {
        use request_response::{Event as E, Message as M};
        match ev {
            E::Message {
                peer,
                message: M::Request {
                    request, channel, ..
                },
                ..
            } => {
                let resp = self.answer(peer, request);
                let _ = self.swarm.behaviour_mut().rpc.send_response(channel, resp);
            }
            E::Message {
                peer,
                message:
                    M::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some((id, member)) = self.core_requests.remove(&request_id) {
                    self.core.handle_response(now_ms(), id, member, response);
                    self.drive();
                } else if !self.on_carried(peer, request_id, &response) {
                    self.on_avatar_answer(request_id, &response);
                }
            }
            E::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some((id, member)) = self.core_requests.remove(&request_id) {
                    self.core.request_failed(id, member, &error.to_string());
                    self.drive();
                }
                self.carry_failed(request_id);
                self.on_avatar_failure(request_id);
            }
            _ => {}
        }
    }

    fn answer(&mut self, peer: PeerId, req: Request) -> Response {
        let Some(member) = MemberId::from_peer_id(&peer) else {
            return Response::Refused("your peer id is not an ed25519 aura identity".into());
        };
        match req {
            Request::Carry {
                group,
                messages,
                confirmed,
            } => {
                let gid = aura_crypto::GroupId(group);
                let r = self.answer_carry(peer, member, gid, messages, confirmed);
                r.unwrap_or_else(Response::Refused)
            }
            Request::Avatar { group, hash } => self
                .answer_avatar(member, group, hash)
                .unwrap_or_else(Response::Refused),
            Request::Join { invite } if self.refuses_joiner(&member, &invite) => {
                self.stats.joins_refused_blocked += 1;
                Response::Refused("this member does not take you in".into())
            }
            req => {
                let resp = self.core.handle_request(now_ms(), member, req);
                self.drive();
                resp
            }
        }
    }

    /// We blocked the joiner, or the member whose invite it redeems.
    fn refuses_joiner(&self, member: &MemberId, invite: &str) -> bool {
        self.is_blocked(member)
            || Invite::parse(invite, now_ms()).is_ok_and(|i| self.is_blocked(&i.body.inviter))
    }
}
