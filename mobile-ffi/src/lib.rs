//! UniFFI bindings of [`aura_node`] for Kotlin, Swift and Python: a thin
//! skin that converts ids to hex text, errors to [`AuraError`] and events to
//! [`AuraEvent`], and runs the node on a tokio runtime of its own.
//!
//! Start with [`start_node`]; live updates reach an [`AuraListener`] the app
//! implements through [`AuraNode::subscribe`]. See the README for how to
//! generate the bindings.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
// The FFI scaffolding that `uniffi` macros generate is `unsafe extern`
// code; this crate writes no unsafe code by hand.
#![allow(unsafe_code)]

mod error;
mod events;
mod ledger;
mod node;
mod people;
mod places;
mod room_events;
mod room_types;
mod rooms;
mod types;
mod voice;

pub use error::AuraError;
pub use events::{AuraEvent, AuraListener, Subscription};
pub use ledger::{GiftItemInfo, GiftReceiptInfo, WalletInfo};
pub use node::{start_node, AuraNode};
pub use people::{MemberLabel, ProfileInfo};
pub use places::{FenceInfo, FenceShape, LatLon};
pub use room_events::{AuraRoomEvent, RoomChangeInfo, RoomListener, REFUSED_VIP_REQUIRED};
pub use room_types::{
    RoomHeard, RoomInfo, RoomMember, RoomOptions, RoomRelay, RoomRelays, RoomRole, RoomSeat,
};
pub use rooms::AuraRoom;
pub use types::{
    ChatMessage, GroupInfo, LocationFix, LocationPrecision, MemberInfo, MemberPosition, MemberRole,
};
pub use voice::{
    load_voice_models, voice_models_available, AuraVoice, VoiceCounters, VoiceOptions,
};

uniffi::setup_scaffolding!();
