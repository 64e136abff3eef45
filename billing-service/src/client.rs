//! The peer side: log in with the device key, read the wallet, send a gift
//! (and get the signed receipt to broadcast in the room), fetch an
//! entitlement token. Needs no service dependencies (`default-features = false`).
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{de::DeserializeOwned, Serialize};

mod people;

use crate::{
    api::{
        ChallengeRequest, ChallengeResponse, CheckoutRequest, CheckoutResponse,
        EntitlementResponse, ErrorBody, GiftItem, LoginRequest, LoginResponse, RewardClaim,
        SendGiftRequest, SendGiftResponse, ServiceKey, Wallet,
    },
    ids::DeviceKey,
    login::{signed_message, Challenge, ChallengeError},
    signed::{EntitlementToken, SignedReceipt, VerifyError},
};

/// A client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Transport or decoding failure.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The service refused the request.
    #[error("{status}: {error}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Machine-readable code (e.g. `insufficient_funds`).
        error: String,
        /// Detail.
        message: String,
    },
    /// A receipt or token from the service did not verify.
    #[error("service signature: {0}")]
    Verify(#[from] VerifyError),
    /// Call `login` first.
    #[error("not logged in")]
    NotLoggedIn,
    /// The login challenge is not one the ledger makes for this account:
    /// nothing was signed.
    #[error("login challenge refused: {0}")]
    BadChallenge(#[from] ChallengeError),
    /// The service key it published is malformed.
    #[error("bad service key")]
    BadServiceKey,
}

/// A logged-in (or not yet) billing client for one device.
#[derive(Clone)]
pub struct BillingClient {
    base: String,
    http: reqwest::Client,
    key: SigningKey,
    token: Option<String>,
    service_key: Option<VerifyingKey>,
}

impl std::fmt::Debug for BillingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingClient")
            .field("base", &self.base)
            .field("account", &self.account())
            .field("logged_in", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

impl BillingClient {
    /// A client for the service at `base_url` acting as `device`.
    pub fn new(base_url: &str, device: SigningKey) -> Result<Self, ClientError> {
        Self::with_http(base_url, device, reqwest::Client::builder().build()?)
    }

    /// The same with a caller's HTTP client (connection pool shared).
    pub fn with_http(
        base_url: &str,
        device: SigningKey,
        http: reqwest::Client,
    ) -> Result<Self, ClientError> {
        Ok(BillingClient {
            base: base_url.trim_end_matches('/').to_string(),
            http,
            key: device,
            token: None,
            service_key: None,
        })
    }

    /// This device's account (its public key).
    pub fn account(&self) -> DeviceKey {
        DeviceKey(self.key.verifying_key().to_bytes())
    }

    /// The session token, once logged in.
    pub fn session_token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    async fn decode<T: DeserializeOwned>(r: reqwest::Response) -> Result<T, ClientError> {
        let status = r.status();
        if status.is_success() {
            return Ok(r.json().await?);
        }
        let body: ErrorBody = r.json().await.unwrap_or(ErrorBody {
            error: "unknown".into(),
            message: String::new(),
        });
        Err(ClientError::Api {
            status: status.as_u16(),
            error: body.error,
            message: body.message,
        })
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        auth: bool,
    ) -> Result<T, ClientError> {
        let mut rq = self.http.post(format!("{}{path}", self.base)).json(body);
        if auth {
            rq = rq.bearer_auth(self.token.as_deref().ok_or(ClientError::NotLoggedIn)?);
        }
        Self::decode(rq.send().await?).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, auth: bool) -> Result<T, ClientError> {
        let mut rq = self.http.get(format!("{}{path}", self.base));
        if auth {
            rq = rq.bearer_auth(self.token.as_deref().ok_or(ClientError::NotLoggedIn)?);
        }
        Self::decode(rq.send().await?).await
    }

    /// The service's public key (fetched once; pin it in production).
    pub async fn service_key(&mut self) -> Result<VerifyingKey, ClientError> {
        if let Some(k) = self.service_key {
            return Ok(k);
        }
        let sk: ServiceKey = self.get("/v1/service-key", false).await?;
        let mut b = [0u8; 32];
        hex::decode_to_slice(&sk.public_key, &mut b).map_err(|_| ClientError::BadServiceKey)?;
        let k = VerifyingKey::from_bytes(&b).map_err(|_| ClientError::BadServiceKey)?;
        self.service_key = Some(k);
        Ok(k)
    }

    /// Pins the service key instead of fetching it.
    pub fn pin_service_key(&mut self, key: VerifyingKey) {
        self.service_key = Some(key);
    }

    /// Challenge–response login; keeps the session token. The challenge is
    /// checked (see [`crate::login`]) before anything is signed.
    pub async fn login(&mut self) -> Result<(), ClientError> {
        let account = self.account().to_hex();
        let ch: ChallengeResponse = self
            .post(
                "/v1/auth/challenge",
                &ChallengeRequest {
                    account: account.clone(),
                },
                false,
            )
            .await?;
        // Only a challenge of the ledger's shape naming this account is
        // signed, and only inside the login context (never its bare text).
        Challenge::parse_for(&ch.challenge, &self.account())?;
        let signature = hex::encode(self.key.sign(&signed_message(&ch.challenge)).to_bytes());
        let r: LoginResponse = self
            .post(
                "/v1/auth/login",
                &LoginRequest {
                    account,
                    challenge: ch.challenge,
                    signature,
                },
                false,
            )
            .await?;
        self.token = Some(r.token);
        Ok(())
    }

    /// The wallet.
    pub async fn wallet(&self) -> Result<Wallet, ClientError> {
        self.get("/v1/wallet", true).await
    }

    /// The whole gift catalog (every page, at most 100).
    pub async fn catalog(&self) -> Result<Vec<GiftItem>, ClientError> {
        let mut all = Vec::new();
        let mut cursor = None;
        for _ in 0..people::MAX_PAGES {
            let p = self.catalog_page(cursor.as_deref(), None).await?;
            all.extend(p.items);
            cursor = p.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        Ok(all)
    }

    /// Sends a gift; retry with the same `id` after a lost response. The
    /// receipt is verified before it is returned for broadcasting.
    pub async fn send_gift(
        &mut self,
        req: &SendGiftRequest,
    ) -> Result<SendGiftResponse, ClientError> {
        let r: SendGiftResponse = self.post("/v1/gifts/send", req, true).await?;
        let sk = self.service_key().await?;
        r.receipt.verify_signature(&sk)?;
        Ok(r)
    }

    /// Claims today's reward.
    pub async fn claim_daily_reward(&self) -> Result<RewardClaim, ClientError> {
        self.post("/v1/rewards/daily/claim", &serde_json::json!({}), true)
            .await
    }

    /// Starts a coin-pack checkout.
    pub async fn checkout(&self, pack: &str) -> Result<CheckoutResponse, ClientError> {
        self.post(
            "/v1/purchases/checkout",
            &CheckoutRequest { pack: pack.into() },
            true,
        )
        .await
    }

    /// Fetches (and verifies) an entitlement token for this device.
    pub async fn entitlement(&mut self) -> Result<EntitlementToken, ClientError> {
        let r: EntitlementResponse = self.get("/v1/entitlement", true).await?;
        let sk = self.service_key().await?;
        r.token.verify_signature(&sk)?;
        Ok(r.token)
    }
}

/// Verifies a receipt received from another peer in a room, offline: signed
/// alone, or batch-signed with its Merkle inclusion proof.
pub fn verify_receipt<'a>(
    r: &'a SignedReceipt,
    service: &VerifyingKey,
) -> Result<&'a crate::signed::GiftReceipt, VerifyError> {
    r.verify_signature(service)
}
