//! Relays of one room find each other on the DHT: the origin provides a
//! key derived from the room id ([`room_key`]); an edge asks for its
//! providers and dials the one whose identify names a media port. The key
//! is a hash, so DHT nodes do not learn room ids; nothing else is stored.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use aura_crypto::room::RoomId;
use aura_crypto::MemberId;
use libp2p::multiaddr::Protocol;
use libp2p::{identify, kad, Multiaddr, PeerId, Swarm};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::swarm::Behaviour;

/// Lookups in flight at once; more are answered empty at once.
const MAX_FINDS: usize = 64;
/// Peers whose media address is remembered.
const MAX_PEERS: usize = 4_096;

/// A request from the media side to the swarm.
#[derive(Debug)]
pub(crate) enum DhtCmd {
    /// We are a room's origin: provide its key.
    Provide(RoomId),
    /// The room is closed.
    Unprovide(RoomId),
    /// The media identities and addresses of the room's providers.
    Find(RoomId, Found),
}

/// Where a lookup's answer goes: the providers' media identities and addresses.
pub(crate) type Found = oneshot::Sender<Vec<(MemberId, SocketAddr)>>;

/// The DHT key of `room`'s relays.
pub(crate) fn room_key(room: &RoomId) -> kad::RecordKey {
    let mut h = Sha256::new();
    h.update(b"aura-room-relays/1");
    h.update(room.0);
    kad::RecordKey::new(&h.finalize().as_slice())
}

/// The swarm side of the lookups.
#[derive(Default)]
pub(crate) struct Dht {
    finds: HashMap<kad::QueryId, (Found, Vec<PeerId>)>,
    ips: HashMap<PeerId, IpAddr>,
    media: HashMap<PeerId, SocketAddr>,
}

impl Dht {
    /// Joins the DHT through `bootstrap` (multiaddrs with `/p2p/`).
    pub(crate) fn bootstrap(swarm: &mut Swarm<Behaviour>, bootstrap: &[Multiaddr]) {
        for a in bootstrap {
            let Some(Protocol::P2p(peer)) = a.iter().last() else {
                tracing::warn!(addr = %a, "dht bootstrap address without /p2p/: skipped");
                continue;
            };
            swarm.behaviour_mut().kad.add_address(&peer, a.clone());
            if let Err(e) = swarm.dial(a.clone()) {
                tracing::warn!(addr = %a, error = %e, "dht bootstrap dial failed");
            }
        }
        if !bootstrap.is_empty() {
            let _ = swarm.behaviour_mut().kad.bootstrap();
        }
    }

    pub(crate) fn on_cmd(&mut self, swarm: &mut Swarm<Behaviour>, cmd: DhtCmd) {
        let kad = &mut swarm.behaviour_mut().kad;
        match cmd {
            DhtCmd::Provide(room) => {
                if let Err(e) = kad.start_providing(room_key(&room)) {
                    tracing::warn!(error = %e, "room not provided on the DHT");
                }
            }
            DhtCmd::Unprovide(room) => kad.stop_providing(&room_key(&room)),
            DhtCmd::Find(room, reply) => {
                if self.finds.len() >= MAX_FINDS {
                    let _ = reply.send(Vec::new());
                    return;
                }
                let q = kad.get_providers(room_key(&room));
                self.finds.insert(q, (reply, Vec::new()));
            }
        }
    }

    pub(crate) fn on_connected(&mut self, peer: PeerId, remote: &Multiaddr) {
        let ip = remote.iter().find_map(|p| match p {
            Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
            Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
            _ => None,
        });
        if let Some(ip) = ip {
            if self.ips.len() < MAX_PEERS || self.ips.contains_key(&peer) {
                self.ips.insert(peer, ip);
            }
        }
    }

    pub(crate) fn on_identify(&mut self, peer: PeerId, info: &identify::Info) {
        let Some(port) = aura_media::advert::media_port_of(&info.agent_version) else {
            return;
        };
        if let Some(ip) = self.ips.get(&peer) {
            if self.media.len() < MAX_PEERS || self.media.contains_key(&peer) {
                self.media.insert(peer, SocketAddr::new(*ip, port));
            }
        }
    }

    pub(crate) fn on_kad(&mut self, swarm: &mut Swarm<Behaviour>, ev: &kad::Event) {
        let kad::Event::OutboundQueryProgressed {
            id, result, step, ..
        } = ev
        else {
            return;
        };
        let kad::QueryResult::GetProviders(r) = result else {
            return;
        };
        let me = *swarm.local_peer_id();
        if let (Some(f), Ok(kad::GetProvidersOk::FoundProviders { providers, .. })) =
            (self.finds.get_mut(id), r)
        {
            f.1.extend(providers.iter().filter(|p| **p != me));
        }
        if !step.last && !matches!(r, Ok(kad::GetProvidersOk::FoundProviders { .. })) {
            return;
        }
        // Answer at the first providers found (or at the end): the edge asks again if none is reachable yet.
        if let Some((reply, peers)) = self.finds.remove(id) {
            let mut out = Vec::new();
            for p in peers {
                match (self.media.get(&p), MemberId::from_peer_id(&p)) {
                    (Some(a), Some(m)) => out.push((m, *a)),
                    _ => {
                        // Identify tells its media port once connected.
                        let _ = swarm.dial(p);
                    }
                }
            }
            let _ = reply.send(out);
        }
    }
}
