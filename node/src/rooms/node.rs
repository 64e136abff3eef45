//! The node's room calls: create a room at a relay, join one by ticket or
//! as a member of its group.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use aura_billing::signed::SignedReceipt;
use aura_crypto::room::{Access, RoomId, RoomOpKind, RoomTicket, DEFAULT_SEATS};
use aura_crypto::{GroupId, Identity, MemberId};
use aura_media::room_control::{least_loaded, ClientMsg, Reader, RelayLoad, ServerMsg};
use aura_media::MediaEndpoint;
use ed25519_dalek::VerifyingKey;
use rand::RngCore;

use super::admission::{RosterAdmission, ViewAdmission};
use super::client::RoomClient;
use super::clock::now_ms;
use super::error::RoomsError;
use super::handle::RoomHandle;
use crate::Node;

/// What a new room is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomSpec {
    /// Its name.
    pub name: String,
    /// Who may join.
    pub access: Access,
    /// Seats (1..=16).
    pub seats: u8,
    /// The first `vip_seats` seats are reserved to VIP members.
    pub vip_seats: u8,
    /// Only VIP members (and the host) may join.
    pub vip_only: bool,
}

impl RoomSpec {
    /// A room open to holders of a ticket, with the default seats.
    pub fn ticket(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            access: Access::Ticket,
            seats: DEFAULT_SEATS,
            vip_seats: 0,
            vip_only: false,
        }
    }

    /// A room of `group`'s members, with the default seats.
    pub fn group(name: &str, group: GroupId) -> Self {
        Self {
            name: name.to_owned(),
            access: Access::Group(group),
            seats: DEFAULT_SEATS,
            vip_seats: 0,
            vip_only: false,
        }
    }

    /// The same room with its first `vip_seats` seats reserved to VIP
    /// members and, if `vip_only`, only VIP members admitted (members
    /// holding the ledger's entitlement token that allows `vip_rooms`).
    pub fn vip(mut self, vip_seats: u8, vip_only: bool) -> Self {
        self.vip_seats = vip_seats;
        self.vip_only = vip_only;
        self
    }
}

impl Node {
    /// The pinned ledger key our rooms check VIP tokens and gift
    /// receipts with.
    fn room_ledger(&self) -> Option<VerifyingKey> {
        let key = self.config().billing_service_key.as_deref()?;
        crate::gift::parse_service_key(key)
            .inspect_err(|e| tracing::warn!(error = %e, "rooms check no VIP token nor gift"))
            .ok()
    }

    /// The token our room joins carry: the entitlement token held for
    /// relays (with a ledger configured and none held, fetched now), if it
    /// admits to VIP rooms and seats.
    async fn room_token(&self) -> Option<Vec<u8>> {
        let now_s = crate::relay_pass::unix_now();
        if self.relay_pass().datagram(now_s).is_some() {
            return self.relay_pass().vip_token(now_s);
        }
        self.config().billing_url.as_ref()?;
        match self.entitlement().await {
            Ok(t) => {
                if let Err(e) = self.relay_pass().set(&t) {
                    tracing::debug!(error = %e, "entitlement token not kept");
                }
                self.relay_pass().vip_token(now_s)
            }
            Err(e) => {
                tracing::debug!(error = %e, "no entitlement token from the ledger");
                None
            }
        }
    }

    fn room_identity(&self) -> Result<Identity, RoomsError> {
        let path = self.config().data_dir.join("identity.key");
        let secret = crate::keyfile::read_secret(&path)
            .map_err(|e| RoomsError::Network(format!("identity key: {e}")))?
            .ok_or(RoomsError::BadInput("no identity key"))?;
        Ok(Identity::from_secret_bytes(&secret))
    }

    /// The node's media endpoint (shared with group voice), bound here if
    /// none is yet: on every interface of `relay`'s address family, or on
    /// loopback for a relay on loopback.
    fn room_endpoint(
        &self,
        identity: &Identity,
        relay: SocketAddr,
    ) -> Result<MediaEndpoint, RoomsError> {
        let mut slot = self.media_slot().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ep) = slot.as_ref().filter(|ep| !ep.is_closed()) {
            return Ok(ep.clone());
        }
        let ep = MediaEndpoint::bind(identity, bind_toward(relay), aura_media::Config::default())
            .map_err(|e| RoomsError::Network(format!("media endpoint: {e}")))?;
        *slot = Some(ep.clone());
        Ok(ep)
    }

    /// Creates a room at the relay `relay` (its media address `addr`); we
    /// are its host. A group room admits the group's members only (we
    /// check the roster before sealing the room key to a joiner).
    pub async fn create_room(
        &self,
        relay: MemberId,
        addr: SocketAddr,
        spec: RoomSpec,
    ) -> Result<RoomHandle, RoomsError> {
        let identity = self.room_identity()?;
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let kind = RoomOpKind::Create {
            name: spec.name,
            access: spec.access,
            seats: spec.seats,
            vip_seats: spec.vip_seats,
            vip_only: spec.vip_only,
            nonce,
        };
        let create = aura_crypto::room::RoomOp {
            room: RoomId::default(),
            author: identity.member_id(),
            at_ms: now_ms(),
            kind: kind.clone(),
        }
        .sign(&identity)?;
        let mut client = RoomClient::host(identity.clone(), &create)?;
        let ledger = self.room_ledger();
        client.set_ledger(ledger);
        if let Access::Group(g) = spec.access {
            let session = self
                .session_of(g)
                .await
                .map_err(|e| RoomsError::Network(e.to_string()))?;
            let view = ViewAdmission { ledger };
            client.set_admission(Box::new(RosterAdmission { session, view }));
        }
        let ep = self.room_endpoint(&identity, addr)?;
        RoomHandle::start(client, identity, Some(create), kind, ep, relay, addr).await
    }

    /// Sends a gift to `to` in `room` through the billing ledger and shows
    /// its signed receipt in the room (sealed in the room's chat: the
    /// relay cannot tell it from text; every member checks it with the
    /// pinned ledger key, [`super::RoomEvent::Gift`]). `id` is chosen by
    /// the caller, as for [`Node::send_gift`]: a retry never pays twice.
    pub async fn send_room_gift(
        &self,
        room: &RoomHandle,
        to: MemberId,
        gift: &str,
        id: &str,
    ) -> Result<SignedReceipt, RoomsError> {
        let ledger_room = crate::gift::voice_room_id(&room.room());
        let receipt = self
            .pay_gift(&ledger_room, to, gift, id)
            .await
            .map_err(|e| RoomsError::Ledger(e.to_string()))?;
        room.share_gift(receipt.clone()).await?;
        Ok(receipt)
    }

    /// Joins a room by its ticket (`auraroom1…`) at the relay `relay`.
    pub async fn join_room(
        &self,
        ticket: &str,
        relay: MemberId,
        addr: SocketAddr,
    ) -> Result<RoomHandle, RoomsError> {
        let ticket = RoomTicket::parse(ticket).map_err(|e| RoomsError::Ticket(e.to_string()))?;
        self.enter(ticket.room, Some(ticket), relay, addr).await
    }

    /// Joins a room by its ticket through the least loaded of its relays:
    /// asks `relay` (any relay of the room, or one that finds it on the
    /// DHT) for the room's relays and their loads, and joins the one
    /// serving the fewest members. If that relay stops, the room moves us
    /// to another ([`super::RoomEvent::Moved`]).
    pub async fn join_room_least_loaded(
        &self,
        ticket: &str,
        relay: MemberId,
        addr: SocketAddr,
    ) -> Result<RoomHandle, RoomsError> {
        let parsed = RoomTicket::parse(ticket).map_err(|e| RoomsError::Ticket(e.to_string()))?;
        let identity = self.room_identity()?;
        let ep = self.room_endpoint(&identity, addr)?;
        let relays = ask_relays(&ep, relay, addr, parsed.room).await?;
        let best = least_loaded(&relays).ok_or(RoomsError::BadInput("no relay serves the room"))?;
        self.enter(parsed.room, Some(parsed), best.relay, best.addr)
            .await
    }

    /// The relays serving `room` (origin first) and how many of its
    /// members each serves, as `relay` tells.
    pub async fn room_relays(
        &self,
        room: RoomId,
        relay: MemberId,
        addr: SocketAddr,
    ) -> Result<Vec<RelayLoad>, RoomsError> {
        let identity = self.room_identity()?;
        let ep = self.room_endpoint(&identity, addr)?;
        ask_relays(&ep, relay, addr, room).await
    }

    /// Joins a group room (we are a member of its group) at the relay.
    pub async fn join_group_room(
        &self,
        room: RoomId,
        relay: MemberId,
        addr: SocketAddr,
    ) -> Result<RoomHandle, RoomsError> {
        self.enter(room, None, relay, addr).await
    }

    async fn enter(
        &self,
        room: RoomId,
        ticket: Option<RoomTicket>,
        relay: MemberId,
        addr: SocketAddr,
    ) -> Result<RoomHandle, RoomsError> {
        let identity = self.room_identity()?;
        let mut client = RoomClient::member(identity.clone(), room);
        client.set_ledger(self.room_ledger());
        let kind = RoomOpKind::Join {
            ticket,
            entitlement: self.room_token().await,
        };
        let ep = self.room_endpoint(&identity, addr)?;
        RoomHandle::start(client, identity, None, kind, ep, relay, addr).await
    }
}

/// Where to bind a media endpoint that talks to `relay`.
fn bind_toward(relay: SocketAddr) -> SocketAddr {
    let ip: IpAddr = match (relay.is_ipv4(), relay.ip().is_loopback()) {
        (true, true) => Ipv4Addr::LOCALHOST.into(),
        (true, false) => Ipv4Addr::UNSPECIFIED.into(),
        (false, true) => Ipv6Addr::LOCALHOST.into(),
        (false, false) => Ipv6Addr::UNSPECIFIED.into(),
    };
    SocketAddr::new(ip, 0)
}

/// Asks `relay` which relays serve `room` and how loaded they are.
async fn ask_relays(
    ep: &MediaEndpoint,
    relay: MemberId,
    addr: SocketAddr,
    room: RoomId,
) -> Result<Vec<RelayLoad>, RoomsError> {
    let net = |e: aura_media::MediaError| RoomsError::Network(e.to_string());
    ep.add_relay(relay).map_err(net)?;
    ep.connect(relay, addr).await.map_err(net)?;
    let (mut send, mut recv) = ep.open_stream(&relay).await.map_err(net)?;
    let ask = async {
        send.write_all(&ClientMsg::Relays(room).encode())
            .await
            .map_err(|e| RoomsError::Network(e.to_string()))?;
        let mut reader = Reader::default();
        let mut buf = vec![0u8; 4_096];
        loop {
            while let Some(m) = reader
                .next_message()
                .map_err(|e| RoomsError::Network(e.to_string()))?
            {
                match ServerMsg::decode(&m) {
                    Ok(ServerMsg::Relays { room: r, relays }) if r == room => return Ok(relays),
                    Ok(ServerMsg::Refused { code, .. }) => {
                        return Err(RoomsError::Network(format!("relay refused (code {code})")))
                    }
                    _ => {}
                }
            }
            match recv.read(&mut buf).await {
                Ok(Some(n)) => reader.feed(&buf[..n]),
                _ => return Err(RoomsError::Network("relay closed the stream".into())),
            }
        }
    };
    let r = tokio::time::timeout(std::time::Duration::from_secs(15), ask)
        .await
        .map_err(|_| RoomsError::Network("relay did not answer".into()))?;
    let _ = send.finish();
    r
}

#[cfg(test)]
mod tests {
    use super::bind_toward;

    #[test]
    fn a_room_endpoint_binds_every_interface_unless_its_relay_is_on_loopback() {
        let b = |a: &str| bind_toward(a.parse().unwrap_or_else(|_| ([0, 0, 0, 0], 0).into()));
        assert_eq!(b("203.0.113.7:4002"), ([0, 0, 0, 0], 0).into());
        assert_eq!(b("127.0.0.1:4002"), ([127, 0, 0, 1], 0).into());
        assert_eq!(b("[2001:db8::1]:4002").to_string(), "[::]:0");
        assert_eq!(b("[::1]:4002").to_string(), "[::1]:0");
    }
}
