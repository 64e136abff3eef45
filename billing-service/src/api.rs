//! JSON bodies of the HTTP API, shared by the service and its client.
use serde::{Deserialize, Serialize};

use crate::signed::{EntitlementToken, SignedReceipt};

mod people;
pub use people::{
    LeaderboardEntry, MedalEntry, MemberLevel, Page, RedeemReferralRequest, ReferralEntry,
    ReferralInfo, DEFAULT_PAGE, MAX_PAGE,
};

/// `POST /v1/auth/challenge` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChallengeRequest {
    /// The device's ed25519 public key (hex).
    pub account: String,
}

/// `POST /v1/auth/challenge` response: sign [`crate::login::signed_message`]
/// of `challenge` (a context tag, then its UTF-8 bytes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChallengeResponse {
    /// The text to sign; single use, valid until `expires_at`.
    pub challenge: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// `POST /v1/auth/login` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The device key (hex).
    pub account: String,
    /// The challenge as received.
    pub challenge: String,
    /// ed25519 signature of [`crate::login::signed_message`] (hex).
    pub signature: String,
}

/// `POST /v1/auth/login` response.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginResponse {
    /// Bearer token for `Authorization: Bearer <token>`.
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// One currency of a wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Balance {
    /// Spendable now.
    pub available: i64,
    /// Posted balance (credits minus debits).
    pub posted: i64,
    /// Reserved by pending holds.
    pub held: i64,
}

/// `GET /v1/wallet` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wallet {
    /// The device key (hex).
    pub account: String,
    /// Coins.
    pub coins: Balance,
    /// Diamonds.
    pub diamonds: Balance,
    /// Current VIP tier, `free` when none.
    pub tier: String,
}

/// A gift of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiftItem {
    /// Catalog id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Price in coins.
    pub price_coins: i64,
    /// Diamonds it is worth before the platform share.
    pub diamond_value: i64,
    /// Region it is offered in (`global` for all).
    pub region: String,
    /// Animation the room plays.
    pub animation_id: String,
}

/// `POST /v1/gifts/send` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendGiftRequest {
    /// Client-chosen id: retries with the same id return the original receipt.
    pub id: String,
    /// Catalog id.
    pub gift: String,
    /// Receiver's device key (hex).
    pub to: String,
    /// Room id.
    pub room: String,
}

/// `POST /v1/gifts/send` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendGiftResponse {
    /// `created`, or `replayed` when the id was already committed.
    pub status: String,
    /// The signed receipt to broadcast in the room.
    pub receipt: SignedReceipt,
}

/// `GET /v1/service-key` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceKey {
    /// The service's ed25519 public key (hex) that signs receipts and tokens.
    pub public_key: String,
}

/// `GET /v1/entitlement` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntitlementResponse {
    /// The token.
    pub token: EntitlementToken,
}

/// `POST /v1/rewards/daily/claim` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardClaim {
    /// Day number (unix days, UTC).
    pub day: i64,
    /// Position in the 7-day cycle, 1..=7.
    pub streak: i64,
    /// Coins credited.
    pub coins: i64,
}

/// `POST /v1/purchases/checkout` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckoutRequest {
    /// Coin pack id.
    pub pack: String,
}

/// `POST /v1/purchases/checkout` response: what the payment provider needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckoutResponse {
    /// Id the provider echoes back in its `checkout.completed` webhook.
    pub checkout_id: String,
    /// The buyer (hex key).
    pub account: String,
    /// The pack.
    pub pack: String,
    /// Coins the pack credits.
    pub coins: i64,
    /// Price in cents.
    pub price_cents: i64,
}

/// A payment-provider webhook event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// Provider's event id (deduplicated).
    pub id: String,
    /// `checkout.completed`, `subscription.renewed`, `subscription.canceled`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix seconds when the provider created the event.
    pub created: i64,
    /// Event data.
    pub data: WebhookData,
}

/// Data of a webhook event (fields depend on the type).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WebhookData {
    /// Checkout id (`checkout.completed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_id: Option<String>,
    /// Subscription id (`subscription.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// Buyer / subscriber (hex key).
    pub account: String,
    /// Coin pack (`checkout.completed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack: Option<String>,
    /// Plan (`subscription.renewed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// End of the paid period, unix seconds (`subscription.renewed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_end: Option<i64>,
}

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Subscriber (hex key).
    pub account: String,
    /// Plan id.
    pub plan: String,
    /// `active` or `canceled`.
    pub status: String,
    /// End of the paid period, unix seconds.
    pub period_end: i64,
    /// `created` of the last event applied (older events are ignored).
    pub updated_at: i64,
}

/// An error body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub error: String,
    /// Human-readable detail.
    pub message: String,
}
