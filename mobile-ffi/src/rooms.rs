//! Voice rooms through a relay: [`AuraNode::create_room`] and the joins
//! give an [`AuraRoom`]. As with group voice, the app owns the audio
//! device: it pushes 20 ms capture frames (48 kHz mono, 960 samples) and
//! pulls the room's mixed playout frames of the same period.

use std::sync::{Arc, Mutex as StdMutex};

use aura_crypto::room::RoomOpKind;
use aura_node::{
    rooms::{RoomHandle, RoomsError},
    Node,
};
use tokio::sync::{mpsc, Mutex};

use crate::{
    error::AuraError,
    events::Subscription,
    ledger::GiftReceiptInfo,
    node::{on_runtime, runtime, AuraNode},
    room_events::{relay_text, RoomFeed, RoomListener},
    room_types::{
        relay_of, room_hex, room_id, RoomHeard, RoomInfo, RoomMember, RoomOptions, RoomRelay,
        RoomRelays,
    },
    types::{member_hex, member_id},
};

/// Samples of a 20 ms capture frame (48 kHz mono), as the room takes it.
const FRAME_LEN: usize = aura_node::rooms::voice::FRAME_SAMPLES;

#[uniffi::export]
impl AuraNode {
    /// Creates a room at a relay (its peer id and media address, as
    /// `aura-relay` prints them); we are its host.
    pub async fn create_room(
        &self,
        relay_peer_id: String,
        relay_media_addr: String,
        options: RoomOptions,
    ) -> Result<Arc<AuraRoom>, AuraError> {
        let (relay, addr) = relay_of(&relay_peer_id, &relay_media_addr)?;
        let spec = options.spec()?;
        let node = self.node().clone();
        let handle = on_runtime(async move { node.create_room(relay, addr, spec).await }).await?;
        AuraRoom::new(self.node().clone(), handle)
    }

    /// Joins a room by its ticket (`auraroom1…`) at a relay.
    pub async fn join_room(
        &self,
        ticket: String,
        relay_peer_id: String,
        relay_media_addr: String,
    ) -> Result<Arc<AuraRoom>, AuraError> {
        let (relay, addr) = relay_of(&relay_peer_id, &relay_media_addr)?;
        let node = self.node().clone();
        let handle = on_runtime(async move { node.join_room(&ticket, relay, addr).await }).await?;
        AuraRoom::new(self.node().clone(), handle)
    }

    /// Joins a room by its ticket through the least loaded of its relays,
    /// asking the given relay (any relay of the room) which serve it. If
    /// that relay stops, the room moves us to another
    /// (`AuraRoomEvent.Moved`).
    pub async fn join_room_least_loaded(
        &self,
        ticket: String,
        relay_peer_id: String,
        relay_media_addr: String,
    ) -> Result<Arc<AuraRoom>, AuraError> {
        let (relay, addr) = relay_of(&relay_peer_id, &relay_media_addr)?;
        let node = self.node().clone();
        let handle =
            on_runtime(async move { node.join_room_least_loaded(&ticket, relay, addr).await })
                .await?;
        AuraRoom::new(self.node().clone(), handle)
    }

    /// Joins a group room (hex room id; we are a member of its group) at
    /// a relay.
    pub async fn join_group_room(
        &self,
        room: String,
        relay_peer_id: String,
        relay_media_addr: String,
    ) -> Result<Arc<AuraRoom>, AuraError> {
        let room = room_id(&room)?;
        let (relay, addr) = relay_of(&relay_peer_id, &relay_media_addr)?;
        let node = self.node().clone();
        let handle =
            on_runtime(async move { node.join_group_room(room, relay, addr).await }).await?;
        AuraRoom::new(self.node().clone(), handle)
    }

    /// The relays serving a room (hex room id), origin first, and how many
    /// of its members each serves, as the given relay tells.
    pub async fn room_relays(
        &self,
        room: String,
        relay_peer_id: String,
        relay_media_addr: String,
    ) -> Result<Vec<RoomRelay>, AuraError> {
        let room = room_id(&room)?;
        let (relay, addr) = relay_of(&relay_peer_id, &relay_media_addr)?;
        let node = self.node().clone();
        let got = on_runtime(async move { node.room_relays(room, relay, addr).await }).await?;
        Ok(got.iter().map(RoomRelay::from).collect())
    }
}

/// A room this node is in. Dropping it stops the room's task (the room
/// stays at the relay: call [`AuraRoom::leave`] first to leave it).
#[derive(uniffi::Object)]
pub struct AuraRoom {
    node: Node,
    handle: Arc<RoomHandle>,
    playout: Mutex<mpsc::Receiver<Vec<i16>>>,
    events: Arc<Mutex<mpsc::Receiver<aura_node::rooms::RoomEvent>>>,
    /// The running feed's stop, so that a new subscription replaces it.
    feed: StdMutex<Option<std::sync::Weak<Subscription>>>,
}

impl std::fmt::Debug for AuraRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuraRoom")
            .field("room", &self.handle.room())
            .finish()
    }
}

impl AuraRoom {
    fn new(node: Node, handle: RoomHandle) -> Result<Arc<Self>, AuraError> {
        let playout = handle.take_playout().ok_or(AuraError::RoomClosed)?;
        let events = handle.take_events().ok_or(AuraError::RoomClosed)?;
        Ok(Arc::new(Self {
            node,
            handle: Arc::new(handle),
            playout: Mutex::new(playout),
            events: Arc::new(Mutex::new(events)),
            feed: StdMutex::new(None),
        }))
    }

    /// Runs a room call on the runtime.
    async fn call<T, F, Fut>(&self, f: F) -> Result<T, AuraError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<RoomHandle>) -> Fut,
        Fut: std::future::Future<Output = Result<T, RoomsError>> + Send + 'static,
    {
        on_runtime(f(self.handle.clone())).await
    }

    /// Signs and submits an op of the room.
    async fn act(&self, kind: RoomOpKind) -> Result<(), AuraError> {
        self.call(|h| async move { h.act(kind).await }).await
    }
}

#[uniffi::export]
impl AuraRoom {
    /// The room's id (hex, 64 digits; what a group room is joined by).
    pub fn room_id(&self) -> String {
        room_hex(&self.handle.room())
    }

    /// A ticket into this room valid for `ttl_ms`, signed by us: it admits
    /// only if we are the host or a moderator. Share it as text.
    pub fn ticket(&self, ttl_ms: u64) -> Result<String, AuraError> {
        Ok(self.handle.ticket(ttl_ms)?)
    }

    /// The room as our view knows it; `None` before the relay's welcome.
    pub fn info(&self) -> Option<RoomInfo> {
        self.handle.state().as_ref().map(RoomInfo::from)
    }

    /// Members of our view with their roles, seats and hands (host first,
    /// then moderators, speakers by seat, listeners).
    pub fn members(&self) -> Vec<RoomMember> {
        self.handle.members().iter().map(RoomMember::from).collect()
    }

    /// Whether we hold a seat.
    pub fn is_seated(&self) -> bool {
        self.handle.is_seated()
    }

    /// The relay we are connected through and the room's relays.
    pub fn relays(&self) -> RoomRelays {
        let (current, relays) = self.handle.relays();
        RoomRelays {
            current: relay_text(&current),
            relays: relays.iter().map(RoomRelay::from).collect(),
        }
    }

    /// Frames of each speaker's voice played so far.
    pub fn heard(&self) -> Vec<RoomHeard> {
        heard(self.handle.heard())
    }

    /// Frames of each speaker's music played so far.
    pub fn heard_music(&self) -> Vec<RoomHeard> {
        heard(self.handle.heard_music())
    }

    /// Samples per capture frame (960: 20 ms at 48 kHz mono).
    pub fn frame_len(&self) -> u32 {
        FRAME_LEN as u32
    }

    /// Hands one captured frame ([`Self::frame_len`] samples) to the room;
    /// sent while we hold an unmuted seat. Never blocks: call it from the
    /// audio callback. A full queue (the room stalled) drops the frame.
    pub fn capture(&self, pcm: Vec<i16>) -> Result<(), AuraError> {
        if pcm.len() != FRAME_LEN {
            return Err(AuraError::bad_input(format!(
                "capture frame of {} samples: {FRAME_LEN} (20 ms, 48 kHz mono)",
                pcm.len()
            )));
        }
        Ok(self.handle.capture(pcm)?)
    }

    /// The next mixed playout frame (960 samples, 48 kHz mono) if one is
    /// ready, without waiting; play silence on `None`.
    pub fn pull_playout(&self) -> Option<Vec<i16>> {
        self.playout.try_lock().ok()?.try_recv().ok()
    }

    /// Pushes the room's events to `listener` until the returned
    /// subscription is cancelled or dropped, or the room stops. One
    /// listener at a time: subscribing again stops the previous one.
    pub fn subscribe(
        &self,
        listener: Arc<dyn RoomListener>,
    ) -> Result<Arc<Subscription>, AuraError> {
        let mut slot = match self.feed.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(previous) = slot.take().and_then(|w| w.upgrade()) {
            previous.cancel();
        }
        let rt = runtime()?.handle().clone();
        let feed =
            RoomFeed::start(rt, self.events.clone(), listener).map_err(|e| AuraError::Network {
                reason: format!("cannot start the room's event thread: {e}"),
            })?;
        let sub = Arc::new(Subscription::stopped_by(feed));
        *slot = Some(Arc::downgrade(&sub));
        Ok(sub)
    }

    /// Takes seat `seat` (invited to it, or as host or moderator).
    pub async fn seat(&self, seat: u8) -> Result<(), AuraError> {
        self.call(|h| async move { h.seat(seat).await }).await
    }

    /// Leaves our seat for the audience.
    pub async fn leave_seat(&self) -> Result<(), AuraError> {
        self.call(|h| async move { h.leave_seat().await }).await
    }

    /// Mutes (true) or unmutes a seat (ours, or any as host or moderator).
    pub async fn mute(&self, seat: u8, muted: bool) -> Result<(), AuraError> {
        self.call(|h| async move { h.mute(seat, muted).await })
            .await
    }

    /// Invites a member (hex) onto a seat (host or moderator).
    pub async fn invite(&self, member: String, seat: u8) -> Result<(), AuraError> {
        let member = member_id(&member)?;
        self.call(|h| async move { h.invite(member, seat).await })
            .await
    }

    /// Removes a member (hex) from the room (host or moderator).
    pub async fn kick(&self, member: String) -> Result<(), AuraError> {
        let member = member_id(&member)?;
        self.call(|h| async move { h.kick(member).await }).await
    }

    /// Removes a member (hex) and refuses its return (host or moderator).
    pub async fn ban(&self, member: String) -> Result<(), AuraError> {
        let member = member_id(&member)?;
        self.call(|h| async move { h.ban(member).await }).await
    }

    /// Moves a seat's speaker back to the audience (host or moderator).
    pub async fn clear_seat(&self, seat: u8) -> Result<(), AuraError> {
        self.act(RoomOpKind::ClearSeat { seat }).await
    }

    /// Names a member (hex) moderator, or (false) takes it back (host).
    pub async fn set_moderator(&self, member: String, on: bool) -> Result<(), AuraError> {
        let member = member_id(&member)?;
        self.act(RoomOpKind::SetModerator { member, on }).await
    }

    /// Lifts a member's (hex) ban (host or moderator).
    pub async fn unban(&self, member: String) -> Result<(), AuraError> {
        let member = member_id(&member)?;
        self.act(RoomOpKind::Unban { member }).await
    }

    /// Closes the room for everyone (host).
    pub async fn close_room(&self) -> Result<(), AuraError> {
        self.act(RoomOpKind::Close).await
    }

    /// Raises (true) or lowers our hand.
    pub async fn raise_hand(&self, up: bool) -> Result<(), AuraError> {
        self.call(|h| async move { h.raise_hand(up).await }).await
    }

    /// Says `text` in the room's chat (sealed under the room key).
    pub async fn chat(&self, text: String) -> Result<(), AuraError> {
        self.call(|h| async move { h.chat(&text).await }).await
    }

    /// Sends gift `gift` to member `to` (hex) through the billing ledger
    /// and shows its receipt in the room (`AuraRoomEvent.Gift` at every
    /// member). `id` is the app's idempotency key: a retry never pays
    /// twice. Needs `billing_url` and `billing_service_key` in the config.
    pub async fn send_gift(
        &self,
        to: String,
        gift: String,
        id: String,
    ) -> Result<GiftReceiptInfo, AuraError> {
        let to = member_id(&to)?;
        let node = self.node.clone();
        let r = self
            .call(|h| async move { node.send_room_gift(&h, to, &gift, &id).await })
            .await?;
        Ok((&r).into())
    }

    /// Plays music into the room while we hold an unmuted seat: 48 kHz
    /// stereo interleaved samples, mixed under the voices at every
    /// listener. Replaces any music playing; it stops at the end.
    pub async fn share_music(&self, stereo: Vec<i16>) -> Result<(), AuraError> {
        if stereo.len() % 2 != 0 {
            return Err(AuraError::bad_input(format!(
                "music of {} samples: stereo interleaved needs an even count",
                stereo.len()
            )));
        }
        self.call(|h| async move { h.share_music(stereo).await })
            .await
    }

    /// Stops the music we play into the room.
    pub async fn stop_music(&self) -> Result<(), AuraError> {
        self.call(|h| async move { h.stop_music().await }).await
    }

    /// Leaves the room (the relay tells the others). The handle stays
    /// usable for `info`, `members` and events until dropped.
    pub async fn leave(&self) -> Result<(), AuraError> {
        self.call(|h| async move { h.leave().await }).await
    }
}

/// Frame counts per speaker, by member id.
fn heard(counts: std::collections::HashMap<aura_crypto::MemberId, u64>) -> Vec<RoomHeard> {
    let mut out: Vec<RoomHeard> = counts
        .iter()
        .map(|(m, n)| RoomHeard {
            member: member_hex(m),
            frames: *n,
        })
        .collect();
    out.sort_by(|a, b| a.member.cmp(&b.member));
    out
}
