//! People: members' profiles (display name, status line, avatar) signed by
//! their identity keys and shared inside each group's sealed control
//! frames; the label a member shows under; and the local block and follow
//! lists. The core here is sans-IO (validation, newest version wins, label
//! choice); the node task drives it (`task/people.rs`).

pub mod avatar;
pub mod book;
pub mod profile;
pub mod store;

pub use avatar::{AvatarError, AvatarRef, ImageKind, MAX_AVATAR_BYTES};
pub use book::{label, labels, short_hex, Book, Offered};
pub use profile::{Profile, ProfileError, SignedProfile, MAX_PROFILE_BYTES};
pub use store::{List, PeopleStore};
