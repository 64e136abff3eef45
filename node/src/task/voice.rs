//! The node task's side of a group's voice engine: the media address we
//! announce, members' announced addresses, and the typed feed to the engine
//! (see `crate::media::feed`). No periodic re-announce: ours goes out when
//! voice starts, when a member joins, when the first key of a member
//! arrives (it can read us now), and when a member announces an address we
//! had not heard since its last new key epoch (it may have restarted and
//! forgotten ours); re-announcements at most once per [`REANNOUNCE_GAP_MS`].
//! The engines also learn the relays' media forwarders and which relay
//! each member's libp2p path goes through (voice's fallback when no direct
//! media path exists).

use std::net::{IpAddr, SocketAddr};

use aura_crypto::{GroupId, MemberId};
use libp2p::PeerId;
use tokio::sync::mpsc::{self, error::TrySendError};

use super::{now_ms, Task};
use crate::{
    media::feed::{VoiceFeed, VoiceSnapshot},
    wire::ControlMsg,
    NodeError,
};

/// Least time between two announcements of our media address in a group.
pub(crate) const REANNOUNCE_GAP_MS: u64 = 1_000;
/// Most members' addresses remembered per group.
const MAX_ADDRS: usize = 10_000;

impl Task {
    /// Attaches a voice engine's feed to `gid`, announces our media address
    /// and returns what is known so far.
    pub(crate) fn attach_voice(
        &mut self,
        gid: GroupId,
        addr: String,
        feed: mpsc::Sender<VoiceFeed>,
    ) -> Result<VoiceSnapshot, NodeError> {
        let g = self.group_mut(&gid)?;
        g.media_addr = Some(addr);
        g.voice = Some(feed);
        g.voice_stale = false;
        let snapshot = self.voice_snapshot(&gid);
        self.announce_media(gid, true);
        Ok(snapshot)
    }

    /// What the task knows that a voice engine needs.
    fn voice_snapshot(&self, gid: &GroupId) -> VoiceSnapshot {
        let Some(g) = self.groups.get(gid) else {
            return VoiceSnapshot::default();
        };
        let paths = self
            .relay
            .relayed_paths()
            .iter()
            .filter_map(|(p, r)| Some((MemberId::from_peer_id(p)?, MemberId::from_peer_id(r)?)))
            .collect();
        VoiceSnapshot {
            addrs: g.media_addrs.iter().map(|(m, a)| (*m, a.clone())).collect(),
            positions: g.last.iter().map(|(m, f)| (*m, f.pos)).collect(),
            relays: self.live_media_relays(),
            paths,
            direct_ips: self
                .relay
                .direct_ips()
                .iter()
                .filter_map(|(p, ip)| Some((MemberId::from_peer_id(p)?, *ip)))
                .collect(),
            blocked: self.blocked_list(),
        }
    }

    /// Media forwarders of the relays we are connected to.
    fn live_media_relays(&self) -> Vec<(MemberId, SocketAddr)> {
        let swarm = &self.swarm;
        self.relay.media_relays(|p| swarm.is_connected(p))
    }

    /// Tells every voice engine the relays' media forwarders it may use.
    pub(crate) fn voice_relays(&mut self) {
        let relays = self.live_media_relays();
        let gids: Vec<GroupId> = self
            .groups
            .iter()
            .filter(|(_, g)| g.voice.is_some())
            .map(|(gid, _)| *gid)
            .collect();
        for gid in gids {
            self.feed_voice(gid, VoiceFeed::Relays(relays.clone()));
        }
    }

    /// Tells the voice engines of `peer`'s groups which relay its path
    /// goes through now (`None`: direct, or not connected).
    pub(crate) fn voice_path(&mut self, peer: PeerId, relay: Option<PeerId>) {
        let Some(member) = MemberId::from_peer_id(&peer) else {
            return;
        };
        let relay = relay.and_then(|r| MemberId::from_peer_id(&r));
        for gid in self.voice_groups_of(&member) {
            self.feed_voice(gid, VoiceFeed::Path { member, relay });
        }
    }

    /// Tells the voice engines of `peer`'s groups the IP its direct
    /// connection reaches.
    pub(crate) fn voice_direct_ip(&mut self, peer: PeerId, ip: IpAddr) {
        let Some(member) = MemberId::from_peer_id(&peer) else {
            return;
        };
        for gid in self.voice_groups_of(&member) {
            self.feed_voice(gid, VoiceFeed::DirectIp { member, ip });
        }
    }

    /// The groups with voice on that `member` is in.
    fn voice_groups_of(&self, member: &MemberId) -> Vec<GroupId> {
        self.groups
            .iter()
            .filter(|(_, g)| {
                g.voice.is_some()
                    && crate::group_core::lock(&g.session)
                        .roster()
                        .is_member(member)
            })
            .map(|(gid, _)| *gid)
            .collect()
    }

    /// Publishes our media address to the group (if voice is on); if it
    /// went out less than [`REANNOUNCE_GAP_MS`] ago and `force` is off, it
    /// goes out on the first tick after the gap instead (requests within
    /// the gap coalesce into one).
    pub(crate) fn announce_media(&mut self, gid: GroupId, force: bool) {
        let now = now_ms();
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        if g.voice.as_ref().is_none_or(|f| f.is_closed()) {
            // Voice stopped: nothing to announce any more.
            g.voice = None;
            g.media_addr = None;
            return;
        }
        let Some(addr) = g.media_addr.clone() else {
            return;
        };
        if g.removed {
            return;
        }
        if !force && now.saturating_sub(g.media_announced_ms) < REANNOUNCE_GAP_MS {
            // Not lost: the tick sends it once the gap has passed.
            g.media_due = true;
            return;
        }
        g.media_announced_ms = now;
        g.media_due = false;
        if let Err(e) = self.send_control(&gid, &ControlMsg::MediaAddr(addr)) {
            tracing::debug!(error = %e, "media address not announced");
        }
    }

    /// A member announced its media address.
    pub(crate) fn on_media_addr(&mut self, gid: GroupId, member: MemberId, addr: String) {
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        let known = g.media_heard.contains(&member) && g.media_addrs.get(&member) == Some(&addr);
        if !known && (g.media_addrs.len() < MAX_ADDRS || g.media_addrs.contains_key(&member)) {
            g.media_addrs.insert(member, addr.clone());
            g.media_heard.insert(member);
        }
        self.feed_voice(
            gid,
            VoiceFeed::MediaAddr {
                member,
                addr: addr.clone(),
            },
        );
        self.emit(crate::events::Event::MediaAddr {
            group: gid,
            member,
            addr,
        });
        if !known {
            // It may have started (or restarted) after our announcement.
            self.announce_media(gid, false);
        }
    }

    /// Sends `msg` to `gid`'s voice engine, if one is attached. A full feed
    /// marks it stale (a snapshot follows on the next tick); a closed one is
    /// detached.
    pub(crate) fn feed_voice(&mut self, gid: GroupId, msg: VoiceFeed) {
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        let Some(feed) = &g.voice else {
            return;
        };
        match feed.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => g.voice_stale = true,
            Err(TrySendError::Closed(_)) => {
                g.voice = None;
                g.media_addr = None;
            }
        }
    }

    /// On each tick: announcements that waited for the gap, and a snapshot
    /// to every engine whose feed dropped messages.
    pub(crate) fn resync_voice(&mut self) {
        let due: Vec<GroupId> = self
            .groups
            .iter()
            .filter(|(_, g)| g.media_due)
            .map(|(gid, _)| *gid)
            .collect();
        for gid in due {
            self.announce_media(gid, false);
        }
        let stale: Vec<GroupId> = self
            .groups
            .iter()
            .filter(|(_, g)| g.voice_stale)
            .map(|(gid, _)| *gid)
            .collect();
        for gid in stale {
            let snapshot = self.voice_snapshot(&gid);
            let Some(g) = self.groups.get_mut(&gid) else {
                continue;
            };
            let sent = g
                .voice
                .as_ref()
                .map(|f| f.try_send(VoiceFeed::Snapshot(Box::new(snapshot))));
            if !matches!(sent, Some(Err(TrySendError::Full(_)))) {
                g.voice_stale = false;
            }
        }
    }
}
