//! Runs one [`Command`] and sends its answer back.

use super::Task;
use crate::command::Command;

impl Task {
    /// Runs `cmd`; a caller that stopped waiting is not an error.
    pub(crate) fn on_command(&mut self, cmd: Command) {
        use Command as C;
        match cmd {
            C::ListenAddrs(a) => {
                let _ = a.send(self.listen_addrs());
            }
            C::ConnectedPeers(a) => {
                let _ = a.send(self.connected_peers());
            }
            C::Dial(addr, r) => {
                let _ = r.send(self.dial(addr));
            }
            C::PeerScore(peer, a) => {
                let _ = a.send(self.peer_score(&peer));
            }
            C::NetworkChanged(r) => {
                let _ = r.send(self.network_changed());
            }
            C::SetBackground(on, r) => {
                let _ = r.send(self.set_background(on));
            }
            C::Stats(a) => {
                let _ = a.send(self.stats());
            }
            C::CreateGroup(name, r) => {
                let _ = r.send(self.create_group(&name));
            }
            C::Groups(a) => {
                let _ = a.send(self.groups());
            }
            C::Invite {
                group,
                max_uses,
                ttl_ms,
                reply,
            } => {
                let _ = reply.send(self.invite(group, max_uses, ttl_ms));
            }
            C::Join(invite, r) => self.join(&invite, r),
            C::Members(g, r) => {
                let _ = r.send(self.members(g));
            }
            C::RemoveMember {
                group,
                member,
                reply,
            } => {
                let _ = reply.send(self.remove_member(group, member));
            }
            C::SetRole {
                group,
                member,
                role,
                reply,
            } => {
                let _ = reply.send(self.set_role(group, member, role));
            }
            C::Leave(g, r) => {
                let _ = r.send(self.leave(g));
            }
            C::ShareLocation { group, on, reply } => {
                let _ = reply.send(self.share_location(group, on));
            }
            C::SetPrecision {
                group,
                precision,
                reply,
            } => {
                let _ = reply.send(self.set_precision(group, precision));
            }
            C::UpdatePosition(pos, r) => {
                let _ = r.send(self.update_position(pos));
            }
            C::AddGeofence {
                group,
                fence,
                reply,
            } => {
                let _ = reply.send(self.add_geofence(group, fence));
            }
            C::RemoveGeofence { group, name, reply } => {
                let _ = reply.send(self.remove_geofence(group, &name));
            }
            C::Geofences(g, r) => {
                let _ = r.send(self.geofences(g));
            }
            C::SendChat { group, text, reply } => {
                let _ = reply.send(self.send_chat(group, &text));
            }
            C::ChatHistory(g, r) => {
                let _ = r.send(self.chat_history(g));
            }
            C::BroadcastGift {
                group,
                receipt,
                reply,
            } => {
                let _ = reply.send(self.broadcast_gift(group, receipt));
            }
            C::Gifts(g, r) => {
                let _ = r.send(self.gifts(g));
            }
            C::LastPositions(g, r) => {
                let _ = r.send(self.last_positions(g));
            }
            C::HistoryGpx(g, r) => {
                let _ = r.send(self.history_gpx(g));
            }
            C::GroupSession(g, r) => {
                let _ = r.send(self.group_session(g));
            }
            C::AttachVoice {
                group,
                addr,
                feed,
                reply,
            } => {
                let _ = reply.send(self.attach_voice(group, addr, feed));
            }
            C::SetProfile {
                name,
                status,
                avatar,
                reply,
            } => {
                let _ = reply.send(self.set_profile(&name, status.as_deref(), avatar));
            }
            C::Profile(m, a) => {
                let _ = a.send(self.profile_of(&m));
            }
            C::MemberLabels(g, r) => {
                let _ = r.send(self.member_labels(g));
            }
            C::Avatar(hash, r) => {
                let _ = r.send(self.avatar(&hash));
            }
            C::SetListed {
                list,
                member,
                on,
                reply,
            } => {
                let _ = reply.send(self.set_listed(list, member, on));
            }
            C::Listed(list, a) => {
                let _ = a.send(self.listed(list));
            }
            #[cfg(feature = "test-hooks")]
            C::ObserveGroup(g, a) => {
                self.observe_group(g);
                let _ = a.send(());
            }
            #[cfg(feature = "test-hooks")]
            C::PublishRaw { group, data, reply } => {
                let _ = reply.send(self.publish_raw(group, data));
            }
            C::Stop(a) => {
                self.stop();
                let _ = a.send(());
            }
        }
    }
}
