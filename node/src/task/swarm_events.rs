//! Swarm events: connections, identify, discovery, gossip validation, the tick.

use libp2p::{gossipsub, identify, kad, mdns, swarm::SwarmEvent, PeerId};

use super::{now_ms, Task};
use crate::group_core::{Reject, Verdict};
use crate::{
    events::Event,
    net::{discovery::Action, BehaviourEvent},
};

impl Task {
    pub(crate) fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                // An inbound circuit's send-back address is only `/p2p/<src>`:
                // `is_relayed` looks at the local address for those.
                let relayed = endpoint.is_relayed();
                self.redial.connected(&peer_id);
                if num_established.get() > 1 {
                    self.stats.duplicate_connections += 1;
                }
                if num_established.get() == 1 {
                    self.emit(Event::PeerConnected {
                        peer: peer_id,
                        relayed,
                    });
                    if let Some(m) = aura_crypto::MemberId::from_peer_id(&peer_id) {
                        self.core.peer_connected(now_ms(), m);
                        self.drive();
                    }
                }
                self.relay_connection_opened(peer_id, connection_id, &endpoint);
                self.away_link_opened(peer_id, connection_id, &endpoint);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                self.relay_connection_closed(peer_id, connection_id);
                self.away_link_closed(connection_id);
                self.on_peer_connection_closed(peer_id, num_established);
                if num_established == 0 {
                    if let Some(m) = aura_crypto::MemberId::from_peer_id(&peer_id) {
                        self.core.peer_disconnected(m);
                    }
                    self.emit(Event::PeerDisconnected { peer: peer_id });
                    self.on_peer_lost(peer_id);
                }
            }
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                self.relay_new_listen_addr(listener_id, &address);
                self.refresh_core_listen_addrs();
            }
            SwarmEvent::ListenerClosed { listener_id, .. } => {
                self.relay_listener_closed(listener_id)
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => self.on_dial_failed(peer, &error),
            SwarmEvent::Behaviour(b) => self.on_behaviour(b),
            _ => {}
        }
    }

    fn on_behaviour(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let verdict = match self.topics.get(&message.topic).copied() {
                    Some(gid) => {
                        let v = self.on_gossip(
                            gid,
                            propagation_source,
                            Some(propagation_source),
                            &message.data,
                        );
                        if v.is_accepted() {
                            self.carry_keep(&gid, &message.data, Some(propagation_source));
                        }
                        v
                    }
                    None => {
                        if let Some(gid) = self.observed.get(&message.topic).copied() {
                            self.emit(Event::Observed {
                                group: gid,
                                data: message.data.clone(),
                            });
                        }
                        Verdict::Ignore
                    }
                };
                let acceptance = match verdict {
                    Verdict::Accept => {
                        self.stats.gossip_accepted += 1;
                        gossipsub::MessageAcceptance::Accept
                    }
                    // Delivered, not advertised: a lost fix is replaced by
                    // the sender's next, so repairing it is not worth the
                    // IHAVE every member would send about it.
                    Verdict::AcceptLatest => {
                        self.stats.gossip_accepted += 1;
                        gossipsub::MessageAcceptance::Ignore
                    }
                    Verdict::Ignore => {
                        self.stats.gossip_ignored += 1;
                        gossipsub::MessageAcceptance::Ignore
                    }
                    Verdict::Reject(kind, reason) => {
                        self.stats.gossip_rejected += 1;
                        let counter = match kind {
                            Reject::Oversized => &mut self.stats.rejected_oversized,
                            Reject::Undecodable => &mut self.stats.rejected_undecodable,
                            Reject::WrongGroup => &mut self.stats.rejected_wrong_group,
                            Reject::Forged => &mut self.stats.rejected_forged,
                        };
                        *counter += 1;
                        tracing::info!(peer = %propagation_source, %reason, "gossip rejected");
                        self.emit(Event::GossipRejected {
                            peer: propagation_source,
                            reason,
                        });
                        gossipsub::MessageAcceptance::Reject
                    }
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Unsubscribed { peer_id, topic }) => {
                self.on_peer_left_topic(&peer_id, &topic);
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { peer_id, topic }) => {
                self.on_peer_announced(peer_id, &topic);
                if let Some(gid) = self.topics.get(&topic).copied() {
                    self.flush_unsent(&gid);
                }
            }
            BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                connection_id,
                info,
            }) => {
                self.relay_identified(peer_id, connection_id, &info.protocols, &info.agent_version);
                let addrs = crate::net::addrs::keep_best(info.listen_addrs);
                if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                    for a in &addrs {
                        kad.add_address(&peer_id, a.clone());
                    }
                }
                let member = aura_crypto::MemberId::from_peer_id(&peer_id);
                let in_group = member.is_some_and(|m| {
                    self.groups
                        .values()
                        .any(|g| crate::group_core::lock(&g.session).roster().is_member(&m))
                });
                let strs: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
                if in_group {
                    if let Err(e) = self.store.put_peer(&peer_id.to_string(), &strs) {
                        tracing::warn!(error = %e, "storing peer addresses failed");
                    }
                }
                // Also a peer not in our roster yet: a joiner, listed in the
                // welcomes of those who join after it (bounded in the core).
                if let Some(m) = member.filter(|_| !strs.is_empty()) {
                    self.core.peer_addrs(m, strs);
                }
                self.remember_addrs(peer_id, &addrs);
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(list)) => {
                for (peer, addr) in list.into_iter().take(64) {
                    self.swarm.add_peer_address(peer, addr);
                    if !self.swarm.is_connected(&peer) {
                        let _ = self.swarm.dial(peer);
                    }
                }
            }
            BehaviourEvent::Relay(ev) => self.on_relay_client(ev),
            BehaviourEvent::Autonat(ev) => self.on_autonat(ev),
            BehaviourEvent::Dcutr(ev) => self.on_dcutr(ev),
            BehaviourEvent::Rpc(ev) => self.on_rpc(ev),
            BehaviourEvent::Kad(ev) => self.on_kad(ev),
            BehaviourEvent::RelayWatch(ev) => self.on_relay_probe(ev),
            _ => {}
        }
    }

    /// Provider-record results: reschedule announcements; dial providers
    /// of a group we are isolated in.
    fn on_kad(&mut self, ev: kad::Event) {
        let kad::Event::OutboundQueryProgressed {
            id, result, step, ..
        } = ev
        else {
            return;
        };
        match result {
            kad::QueryResult::StartProviding(r) => {
                if let Err(e) = &r {
                    tracing::debug!(error = ?e, "group provider announcement failed");
                }
                self.discovery.provide_finished(id, now_ms(), r.is_ok());
            }
            kad::QueryResult::GetProviders(r) => {
                let Some(gid) = self.discovery.lookup_group(id, step.last) else {
                    return;
                };
                let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = r else {
                    return;
                };
                let me = *self.swarm.local_peer_id();
                let members: Vec<PeerId> = match self.groups.get(&gid) {
                    Some(g) => providers
                        .into_iter()
                        .filter(|p| *p != me && !self.swarm.is_connected(p))
                        .filter(|p| {
                            aura_crypto::MemberId::from_peer_id(p).is_some_and(|m| {
                                crate::group_core::lock(&g.session).roster().is_member(&m)
                            })
                        })
                        .take(16)
                        .collect(),
                    None => return,
                };
                for p in members {
                    tracing::debug!(peer = %p, "dialing a group provider found on the DHT");
                    // Kademlia supplies the addresses learnt by the query.
                    let _ = self.swarm.dial(p);
                }
            }
            _ => {}
        }
    }

    /// With bootstrap nodes: provide our groups on the DHT, look up the
    /// groups in which we are connected to no other member.
    fn discovery_tick(&mut self, now: u64) {
        if self.config.bootstrap.is_empty() {
            return;
        }
        let gids: Vec<_> = self
            .groups
            .iter()
            .filter(|(_, g)| !g.removed)
            .map(|(gid, _)| *gid)
            .collect();
        let me = self.identity.member_id();
        let isolated = |gid: &aura_crypto::GroupId| {
            self.groups.get(gid).is_some_and(|g| {
                !crate::group_core::lock(&g.session)
                    .roster()
                    .members()
                    .filter(|(m, _)| *m != me)
                    .filter_map(|(m, _)| m.peer_id().ok())
                    .any(|p| self.swarm.is_connected(&p))
            })
        };
        let actions = self.discovery.poll(now, &gids, isolated);
        for a in actions {
            let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
                return;
            };
            match a {
                Action::Provide(gid, key) => match kad.start_providing(key) {
                    Ok(id) => self.discovery.provide_started(id, gid),
                    Err(e) => tracing::warn!(error = %e, "cannot store own provider record"),
                },
                Action::Lookup(gid, key) => {
                    let id = kad.get_providers(key);
                    self.discovery.lookup_started(id, gid);
                }
            }
        }
    }

    /// Periodic work outside the group core: replay floors of voice, people,
    /// DHT provider records, network and relays, redials, carrying.
    pub(crate) fn on_tick(&mut self) {
        let now = now_ms();
        self.persist_all_replay_floors();
        self.resync_voice();
        self.people_tick();
        self.discovery_tick(now);
        self.network_tick();
        self.relay_tick();
        self.sweep_unconnected_members();
        self.redial_due();
        self.carry_tick();
        if now.saturating_sub(self.last_redial_ms) >= self.redial_every_ms() {
            if let Err(e) = self.dial_known_members() {
                tracing::debug!(error = %e, "redial failed");
            }
        }
        self.refresh_core_listen_addrs();
    }
}
