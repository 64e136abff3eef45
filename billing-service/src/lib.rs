//! Aura's one central service: a double-entry ledger for coins and diamonds,
//! gifts, purchases, VIP subscriptions and daily rewards. It signs gift
//! receipts and entitlement tokens that peers verify offline.
//!
//! Without the default `server` feature the crate is only what a peer needs:
//! the [`client`], the [`api`] types and offline verification in [`signed`]
//! and [`entitlement`].
//!
//! Two features add what the service itself does not ship: `bench` (the
//! ledger benchmark and its load generator, module `bench`) and
//! `test-provider` (a stand-in payment provider, module `test_provider`). Tests, examples, the
//! demo and the benchmarks turn them on.
//!
//! ```no_run
//! # async fn demo() -> Result<(), aura_billing::client::ClientError> {
//! use aura_billing::client::BillingClient;
//! let device = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
//! let mut c = BillingClient::new("http://127.0.0.1:8088", device)?;
//! c.login().await?;
//! let wallet = c.wallet().await?;
//! println!("{} coins", wallet.coins.available);
//! # Ok(()) }
//! ```

pub use ed25519_dalek;
/// The allocator the service binary and the ledger bench install
/// (`#[global_allocator] static A: aura_billing::MiMalloc = aura_billing::MiMalloc;`).
#[cfg(feature = "server")]
pub use mimalloc::MiMalloc;

pub mod api;
#[cfg(feature = "bench")]
pub mod bench;
pub mod client;
#[cfg(feature = "server")]
pub mod clock;
pub mod entitlement;
pub mod ids;
pub mod login;
pub mod member;
pub mod signed;
pub mod webhook_sig;

#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
mod durability;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "server")]
pub mod ledger;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "server")]
pub mod storage;
#[cfg(feature = "test-provider")]
pub mod test_provider;
#[cfg(feature = "server")]
pub mod writer;
