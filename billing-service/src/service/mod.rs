//! The domain layer: everything the HTTP handlers call. Handlers stay thin;
//! the rules live here and in [`crate::ledger`].
use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex, RwLock},
};

use ed25519_dalek::SigningKey;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::{
    api::GiftItem,
    clock::Clock,
    config::{Config, ConfigError},
    ids::DeviceKey,
    ledger::TransferError,
    metrics::Metrics,
    storage::{AnyStore, Storage, StoreError},
    writer::{Ledger, LedgerError},
};

pub mod admin;
mod auth;
mod boards;
pub mod medals;
mod ops;
pub mod page;
pub mod payments;
mod rate;
mod receipt_batcher;
mod referrals;
mod signer;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Malformed input; the text names what was wrong.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Missing, malformed, forged or expired credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// Authenticated but not allowed.
    #[error("forbidden")]
    Forbidden,
    /// The named thing does not exist.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// The ledger refused the transfer (no money moved).
    #[error("refused: {0}")]
    Refused(TransferError),
    /// Already done (e.g. today's reward).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Too many requests from this identity.
    #[error("rate limited")]
    RateLimited,
    /// The ledger queue is full or shutting down.
    #[error("unavailable")]
    Unavailable,
    /// A storage failure (details are logged, not returned).
    #[error("internal error")]
    Internal,
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        ServiceError::Internal
    }
}

impl From<LedgerError> for ServiceError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Store(e) => e.into(),
            LedgerError::Closed | LedgerError::Overloaded | LedgerError::NotDurable => {
                ServiceError::Unavailable
            }
        }
    }
}

/// Receipts waiting for the batch signer before new gifts get 503.
const RECEIPT_QUEUE: usize = 16_384;

/// The running service's state, shared by all handlers.
pub struct Service {
    /// Settings.
    pub config: Config,
    /// Ledger writes.
    pub ledger: Ledger,
    /// Reads.
    pub store: Arc<AnyStore>,
    /// Clock (tests move it).
    pub clock: Clock,
    /// Metrics.
    pub metrics: Metrics,
    signing_key: SigningKey,
    signer: signer::Signer,
    receipts: receipt_batcher::ReceiptBatcher,
    session_key: [u8; 32],
    admins: HashSet<DeviceKey>,
    webhook_secrets: Vec<Vec<u8>>,
    catalog: RwLock<HashMap<String, GiftItem>>,
    used_nonces: Mutex<HashMap<[u8; 16], i64>>,
    /// Gift receivers already checked to be ed25519 points (bounded).
    valid_receivers: Mutex<HashSet<DeviceKey>>,
    /// Senders known to hold the `first_gift` medal (bounded).
    first_gift_holders: medals::Holders,
    limiter: DefaultKeyedRateLimiter<DeviceKey>,
    /// Unauthenticated requests per client address.
    public_limiter: Option<rate::KeyedLimiter<u128>>,
    /// Login attempts per client address.
    login_address_limiter: Option<rate::KeyedLimiter<u128>>,
    /// Verified logins per account.
    login_account_limiter: Option<rate::KeyedLimiter<DeviceKey>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("config", &self.config)
            .field("backend", &self.store.backend())
            .field("signing_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Failure to start the service.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An admin key in the settings is malformed.
    #[error("admin key {0:?} is not a hex ed25519 key")]
    BadAdmin(String),
    /// Seeding the rewards pool failed.
    #[error("seeding the rewards pool: {0}")]
    Seed(String),
    /// Webhook secrets missing or well known outside dev mode.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The ledger writer's thread could not be started.
    #[error("starting the ledger writer: {0}")]
    Writer(std::io::Error),
}

impl Service {
    /// Opens the store, starts the ledger writer and seeds the rewards pool.
    pub async fn start(
        config: Config,
        signing_key: SigningKey,
        clock: Clock,
    ) -> Result<Arc<Self>, StartError> {
        let webhook_secrets = config.checked_webhook_secrets()?;
        config.people.check()?;
        if config.dev_mode {
            tracing::warn!(
                "DEV MODE: webhooks signed with the public dev secret are accepted; \
                 anyone who can reach this service can mint coins"
            );
        }
        let store = Arc::new(
            AnyStore::open(
                &config.database_url(),
                config.database_schema.as_deref(),
                config.database_max_connections,
            )
            .await?,
        );
        let metrics = Metrics::new();
        let ledger = Ledger::start(
            store.clone(),
            config.commit_mode,
            config.max_batch,
            clock.clone(),
            metrics.clone(),
        )
        .map_err(StartError::Writer)?;
        let admins = config
            .admins
            .iter()
            .map(|a| DeviceKey::parse_hex(a).map_err(|_| StartError::BadAdmin(a.clone())))
            .collect::<Result<_, _>>()?;
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"aura-billing"), signing_key.as_bytes());
        let mut session_key = [0u8; 32];
        hk.expand(b"session-mac/v1", &mut session_key)
            .map_err(|_| StartError::Seed("hkdf".into()))?;
        let catalog = store
            .gifts()
            .await?
            .into_iter()
            .map(|g| (g.id.clone(), g))
            .collect();
        let per_s = NonZeroU32::new(config.rate_limit_per_s.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.rate_limit_burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let limiter = RateLimiter::keyed(Quota::per_second(per_s).allow_burst(burst));
        let public_limiter = rate::KeyedLimiter::per_second(
            config.public_rate_limit_per_s,
            config.public_rate_limit_burst,
            rate::MAX_KEYS,
        );
        let login_address_limiter = rate::KeyedLimiter::per_minute(
            config.login_rate_per_min,
            config.login_burst,
            rate::MAX_KEYS,
        );
        let login_account_limiter = rate::KeyedLimiter::per_minute(
            config.login_rate_per_min,
            config.login_burst,
            rate::MAX_KEYS,
        );
        let signer = signer::Signer::new(&signing_key);
        tracing::info!(implementation = signer.implementation(), "statement signer");
        let receipts = receipt_batcher::ReceiptBatcher::start(
            signer::Signer::new(&signing_key),
            RECEIPT_QUEUE,
            metrics.clone(),
        );
        let svc = Arc::new(Service {
            config,
            ledger,
            store,
            clock,
            metrics,
            signing_key,
            signer,
            receipts,
            session_key,
            admins,
            webhook_secrets,
            catalog: RwLock::new(catalog),
            used_nonces: Mutex::new(HashMap::new()),
            valid_receivers: Mutex::new(HashSet::new()),
            first_gift_holders: medals::Holders::default(),
            limiter,
            public_limiter,
            login_address_limiter,
            login_account_limiter,
        });
        svc.seed_rewards_pool().await?;
        medals::spawn_settler(Arc::downgrade(&svc));
        medals::spawn_folder(Arc::downgrade(&svc));
        let weak = Arc::downgrade(&svc);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
            loop {
                tick.tick().await;
                let Some(s) = weak.upgrade() else { break };
                s.limiter.retain_recent();
                s.limiter.shrink_to_fit();
                s.prune_nonces();
            }
        });
        Ok(svc)
    }

    /// The service's public key (hex), which verifies receipts and tokens.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.signing_key.verifying_key().to_bytes())
    }

    /// The service's verifying key.
    pub fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.signing_key.verifying_key()
    }

    /// Counts a request of `key` against its rate limit.
    pub fn check_rate(&self, key: &DeviceKey) -> Result<(), ServiceError> {
        self.limiter.check_key(key).map_err(|_| {
            self.metrics.rate_limited();
            ServiceError::RateLimited
        })
    }

    /// Counts an unauthenticated request from `client` (its address, or its
    /// /64 for IPv6) against the per-address limit.
    pub fn check_public_rate(&self, client: IpAddr) -> Result<(), ServiceError> {
        self.check_keyed(self.public_limiter.as_ref(), rate::address_key(client))
    }

    /// Counts a login attempt from `client` against the per-address login
    /// limit (attempts, verified or not, consume it).
    pub fn check_login_rate(&self, client: IpAddr) -> Result<(), ServiceError> {
        self.check_keyed(
            self.login_address_limiter.as_ref(),
            rate::address_key(client),
        )
    }

    fn check_keyed<K: std::hash::Hash + Eq>(
        &self,
        limiter: Option<&rate::KeyedLimiter<K>>,
        key: K,
    ) -> Result<(), ServiceError> {
        match limiter {
            Some(l) if !l.check(key, self.clock.now_us()) => {
                self.metrics.rate_limited();
                Err(ServiceError::RateLimited)
            }
            _ => Ok(()),
        }
    }

    /// Parses a gift receiver's key: 64 hex digits of a valid ed25519 point.
    /// Point decompression (a field square root) is skipped for keys already
    /// checked; the set of checked keys is bounded and cleared when full.
    pub(crate) fn receiver_key(&self, hex: &str) -> Result<DeviceKey, crate::ids::IdError> {
        const MAX_VALID_RECEIVERS: usize = 65_536;
        let key = DeviceKey::parse_hex_unchecked(hex)?;
        let known = |set: &HashSet<DeviceKey>| set.contains(&key);
        if self
            .valid_receivers
            .lock()
            .map(|s| known(&s))
            .unwrap_or(false)
        {
            return Ok(key);
        }
        let key = DeviceKey::parse_hex(hex)?;
        if let Ok(mut set) = self.valid_receivers.lock() {
            if set.len() >= MAX_VALID_RECEIVERS {
                set.clear();
            }
            set.insert(key);
        }
        Ok(key)
    }

    /// Whether `key` may call admin endpoints.
    pub fn is_admin(&self, key: &DeviceKey) -> bool {
        self.admins.contains(key)
    }
}
