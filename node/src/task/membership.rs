//! Keys on membership changes: our envelope for a member that joined or
//! asked, and rotation when a member is removed or leaves.

use aura_crypto::{GroupId, MemberId, MembershipChange};

use super::{now_ms, Task};
use crate::group_core::lock;
use crate::media::feed::VoiceFeed;
use crate::{
    events::Event,
    wire::{self, GossipMsg},
};

impl Task {
    /// Sends one envelope straight to `member` over request-response when we
    /// are connected to it; `false` when not (the caller gossips it instead).
    pub(crate) fn send_keys_direct(&mut self, gid: GroupId, member: MemberId, env: &[u8]) -> bool {
        let Ok(peer) = member.peer_id() else {
            return false;
        };
        if !self.swarm.is_connected(&peer) {
            return false;
        }
        let req = wire::Request::Keys {
            group: gid.0,
            envelopes: vec![env.to_vec()],
        };
        self.swarm.behaviour_mut().rpc.send_request(&peer, req);
        self.stats.keys_sent_direct += 1;
        true
    }

    /// Reacts to roster changes: keys for new members, rotation after removals.
    pub(crate) fn on_membership_change(&mut self, gid: GroupId, change: MembershipChange) {
        let me = self.identity.member_id();
        for m in &change.added {
            self.emit(Event::MemberJoined {
                group: gid,
                member: *m,
                label: self.label(&gid, m),
            });
            if *m != me {
                self.send_envelope_to(gid, *m);
            }
        }
        for m in &change.removed {
            if let Some(g) = self.groups.get_mut(&gid) {
                g.last.remove(m);
                g.have_keys.remove(m);
                g.key_grants.forget(m);
                g.history.forget(&m.0);
                g.fence_tracker.forget_member(m);
                g.proximity.forget(m);
                g.media_addrs.remove(m);
                g.media_heard.remove(m);
            }
            if *m == me {
                self.feed_voice(gid, VoiceFeed::Removed);
                if let Some(g) = self.groups.get_mut(&gid) {
                    g.removed = true;
                }
                self.emit(Event::RemovedFromGroup { group: gid });
            } else {
                self.feed_voice(gid, VoiceFeed::MemberLeft(*m));
                self.emit(Event::MemberLeft {
                    group: gid,
                    member: *m,
                    label: self.label(&gid, m),
                });
            }
        }
        if change.added.iter().any(|m| *m != me) {
            self.feed_voice(gid, VoiceFeed::MembersAdded);
            // The newcomers could not read our earlier announcement.
            self.announce_media(gid, false);
            self.profile_due(gid);
        }
        if !change.removed.is_empty() && !change.removed.contains(&me) {
            self.rotate_now(gid);
        }
        if let Some(g) = self.groups.get(&gid) {
            if !g.pending_envelopes.is_empty() || !g.pending_frames.is_empty() {
                self.retry_pending(gid);
            }
        }
        self.save_group(&gid);
    }

    pub(crate) fn rotate_now(&mut self, gid: GroupId) {
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        let r = lock(&g.session).rotate(now_ms(), &mut rand::rngs::OsRng);
        match r {
            Ok(rot) => {
                let keys = rot.envelopes.iter().map(|e| e.encode()).collect();
                self.publish(&gid, &GossipMsg::Keys(keys));
            }
            Err(e) => tracing::warn!(error = %e, "rotation failed"),
        }
    }
}
