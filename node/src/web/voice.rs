//! The page's voice: one engine per group joined from the page (the node's
//! [`crate::voice_api::VoiceHandle`]), with the mute and volume settings the
//! page chose (the handle does not report them back).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use aura_crypto::{GroupId, MemberId};
use serde::Serialize;

use super::WebError;
use crate::{
    voice_api::{VoiceConfig, VoiceHandle},
    Node,
};

/// A group's voice as the page left it.
struct Room {
    handle: Arc<VoiceHandle>,
    muted: bool,
    volumes: HashMap<MemberId, f32>,
}

/// The voice engines the page started.
#[derive(Default)]
pub(crate) struct VoiceRooms {
    rooms: Mutex<HashMap<GroupId, Room>>,
}

/// Quality of one member's stream, as the page shows it.
#[derive(Debug, Serialize)]
pub(crate) struct StreamView {
    member: String,
    received: u64,
    loss: f64,
    jitter_ms: f64,
    mos: f64,
    volume: f32,
}

/// A group's voice, as the page shows it.
#[derive(Debug, Serialize)]
pub(crate) struct VoiceView {
    joined: bool,
    muted: bool,
    streams: Vec<StreamView>,
}

impl VoiceRooms {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<GroupId, Room>) -> R) -> R {
        match self.rooms.lock() {
            Ok(mut r) => f(&mut r),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    fn handle(&self, group: &GroupId) -> Result<Arc<VoiceHandle>, WebError> {
        self.with(|r| r.get(group).map(|room| room.handle.clone()))
            .ok_or_else(|| WebError::BadInput("join the voice first".into()))
    }

    /// Starts voice in `group` (nothing if it runs already).
    pub(crate) async fn join(&self, node: &Node, group: GroupId) -> Result<(), WebError> {
        if self.with(|r| r.contains_key(&group)) {
            return Ok(());
        }
        let handle = node.join_voice(group, VoiceConfig::default()).await?;
        self.with(|r| {
            r.entry(group).or_insert(Room {
                handle,
                muted: false,
                volumes: HashMap::new(),
            });
        });
        Ok(())
    }

    /// Stops voice in `group`.
    pub(crate) async fn leave(&self, group: GroupId) {
        if let Some(room) = self.with(|r| r.remove(&group)) {
            room.handle.leave().await;
        }
    }

    /// Mutes or unmutes our voice in `group`.
    pub(crate) async fn mute(&self, group: GroupId, muted: bool) -> Result<(), WebError> {
        self.handle(&group)?
            .mute(muted)
            .await
            .map_err(crate::NodeError::from)?;
        self.with(|r| r.get_mut(&group).map(|room| room.muted = muted));
        Ok(())
    }

    /// Sets `member`'s playout volume in `group` (0..=4).
    pub(crate) async fn volume(
        &self,
        group: GroupId,
        member: MemberId,
        volume: f32,
    ) -> Result<(), WebError> {
        if !(0.0..=4.0).contains(&volume) {
            return Err(WebError::BadInput("volume must be within 0..=4".into()));
        }
        self.handle(&group)?
            .set_volume(member, volume)
            .await
            .map_err(crate::NodeError::from)?;
        self.with(|r| {
            r.get_mut(&group)
                .map(|room| room.volumes.insert(member, volume))
        });
        Ok(())
    }

    /// Stops every engine (the server is stopping).
    pub(crate) async fn leave_all(&self) {
        let rooms: Vec<Room> = self.with(|r| r.drain().map(|(_, room)| room).collect());
        for room in rooms {
            room.handle.leave().await;
        }
    }

    /// `group`'s voice for the page.
    pub(crate) async fn view(&self, group: GroupId) -> VoiceView {
        let Some((handle, muted, volumes)) = self.with(|r| {
            r.get(&group)
                .map(|room| (room.handle.clone(), room.muted, room.volumes.clone()))
        }) else {
            return VoiceView {
                joined: false,
                muted: false,
                streams: vec![],
            };
        };
        let stats = handle.stats().await.ok();
        let streams = stats
            .map(|s| s.voice)
            .unwrap_or_default()
            .into_iter()
            .map(|(m, q)| StreamView {
                member: hex::encode(m.0),
                received: q.received,
                loss: q.loss,
                jitter_ms: q.jitter_ms,
                mos: q.mos,
                volume: volumes.get(&m).copied().unwrap_or(1.0),
            })
            .collect();
        VoiceView {
            joined: true,
            muted,
            streams,
        }
    }
}
