//! Service settings: a TOML file, then `AURA_BILLING_*` environment
//! variables, then command-line flags. `Debug` never shows secrets.
use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
};

use serde::Deserialize;

use crate::writer::CommitMode;

mod people;
pub use people::{MedalReward, People};

/// A secret string whose `Debug` is redacted.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The webhook secret of explicit dev mode (and of `aura-billing
/// test-provider --dev`). It is public: outside dev mode it is refused.
pub const DEV_WEBHOOK_SECRET: &str = "whsec_local_test";

/// A coin pack sold through the payment provider.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Pack {
    /// Pack id.
    pub id: String,
    /// Coins credited.
    pub coins: i64,
    /// Price in cents.
    pub price_cents: i64,
}

/// A VIP plan.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Plan {
    /// Plan id (the webhook names it).
    pub id: String,
    /// Tier name put in entitlement tokens.
    pub tier: String,
    /// Capabilities granted, e.g. `host_large_rooms`.
    pub allows: Vec<String>,
    /// Largest room a subscriber may host.
    pub max_room_size: u32,
}

/// A bad setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The file is not valid TOML for these settings.
    #[error("parsing config: {0}")]
    Parse(#[from] toml::de::Error),
    /// An environment variable has a bad value.
    #[error("environment variable {0}: {1}")]
    Env(&'static str, String),
    /// No webhook secret outside dev mode: the ledger would accept nothing,
    /// or (before) fell back to a public one anyone could sign with.
    #[error("no webhook_secrets configured (set AURA_BILLING_WEBHOOK_SECRETS, or run in dev mode with --dev)")]
    NoWebhookSecret,
    /// A bad `[people]` setting (levels, medals, referrals).
    #[error("people: {0}")]
    People(String),
    /// A webhook secret that is empty or published (the dev-mode secret).
    #[error("webhook secret #{0} is empty or well known; use the payment provider's secret")]
    WeakWebhookSecret(usize),
}

/// All settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the SQLite file and the service key live by default.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; default: SQLite in `data_dir`.
    pub database_url: Option<Secret>,
    /// PostgreSQL schema to use (created if missing).
    pub database_schema: Option<String>,
    /// PostgreSQL pool size.
    pub database_max_connections: u32,
    /// Group commit or one transaction per request.
    pub commit_mode: CommitMode,
    /// Most chains in one group commit.
    pub max_batch: usize,
    /// Hex ed25519 keys allowed to call admin endpoints.
    pub admins: Vec<String>,
    /// Webhook signing secrets; several during rotation. Required outside
    /// dev mode; empty or well-known ones are refused.
    pub webhook_secrets: Vec<Secret>,
    /// Explicit development mode (`--dev`, `AURA_BILLING_DEV=1`): with no
    /// `webhook_secrets`, accepts webhooks signed with the public
    /// [`DEV_WEBHOOK_SECRET`], so anyone who can reach it can mint coins. Only
    /// serves on loopback addresses.
    pub dev_mode: bool,
    /// Seconds a webhook timestamp may differ from now.
    pub webhook_tolerance_s: i64,
    /// Session lifetime in seconds.
    pub session_ttl_s: i64,
    /// Entitlement token lifetime in seconds.
    pub entitlement_ttl_s: i64,
    /// Requests per second per identity.
    pub rate_limit_per_s: u32,
    /// Burst per identity.
    pub rate_limit_burst: u32,
    /// Requests per second per client address to unauthenticated endpoints
    /// (challenge, login, catalog, service key, OpenAPI); 0 turns it off.
    /// IPv6 addresses count per /64.
    pub public_rate_limit_per_s: u32,
    /// Burst per client address to unauthenticated endpoints.
    pub public_rate_limit_burst: u32,
    /// Login attempts per minute per client address, and verified logins
    /// per minute per account; 0 turns both off.
    pub login_rate_per_min: u32,
    /// Burst of login attempts per address and of logins per account.
    pub login_burst: u32,
    /// Most single-use login nonces remembered (their challenges are still
    /// valid); with the login limits on, one address holds at most
    /// `login_burst + login_rate_per_min` of them.
    pub login_nonce_capacity: usize,
    /// Reverse proxies whose `X-Forwarded-For` (its last entry) names the
    /// client address; requests from other peers are counted by peer address.
    pub trusted_proxies: Vec<IpAddr>,
    /// Largest request body in bytes.
    pub body_limit_bytes: usize,
    /// Platform share of a gift's diamond value, in basis points.
    pub platform_share_bps: i64,
    /// Coins per day of the 7-day streak.
    pub daily_rewards: [i64; 7],
    /// Coins moved from the issuer into the rewards pool at first start.
    pub rewards_pool_initial: i64,
    /// Coin packs.
    pub packs: Vec<Pack>,
    /// VIP plans.
    pub plans: Vec<Plan>,
    /// Room size without VIP.
    pub free_max_room_size: u32,
    /// Levels, medals and referrals.
    pub people: People,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8088)),
            data_dir: PathBuf::from("aura-billing-data"),
            database_url: None,
            database_schema: None,
            database_max_connections: 16,
            commit_mode: CommitMode::Batched,
            max_batch: 4096,
            admins: Vec::new(),
            webhook_secrets: Vec::new(),
            dev_mode: false,
            webhook_tolerance_s: 300,
            session_ttl_s: 900,
            entitlement_ttl_s: 300,
            rate_limit_per_s: 50,
            rate_limit_burst: 100,
            public_rate_limit_per_s: 20,
            public_rate_limit_burst: 50,
            login_rate_per_min: 20,
            login_burst: 10,
            login_nonce_capacity: 200_000,
            trusted_proxies: Vec::new(),
            body_limit_bytes: 64 * 1024,
            platform_share_bps: 3000,
            daily_rewards: [10, 20, 30, 40, 50, 60, 100],
            rewards_pool_initial: 1_000_000,
            packs: vec![
                Pack {
                    id: "coins_100".into(),
                    coins: 100,
                    price_cents: 99,
                },
                Pack {
                    id: "coins_1200".into(),
                    coins: 1200,
                    price_cents: 999,
                },
            ],
            plans: vec![
                Plan {
                    id: "vip_monthly".into(),
                    tier: "vip".into(),
                    allows: vec![
                        "host_large_rooms".into(),
                        "vip_badge".into(),
                        "vip_rooms".into(),
                    ],
                    max_room_size: 5000,
                },
                Plan {
                    id: "svip_monthly".into(),
                    tier: "svip".into(),
                    allows: vec![
                        "host_large_rooms".into(),
                        "vip_badge".into(),
                        "vip_rooms".into(),
                        "svip_entrance".into(),
                    ],
                    max_room_size: 20000,
                },
            ],
            free_max_room_size: 50,
            people: People::default(),
        }
    }
}

fn env(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

impl Config {
    /// Reads `path` (if given) and applies environment overrides.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut c = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::Read(p.to_path_buf(), e))?;
                Self::from_toml(&text)?
            }
            None => Config::default(),
        };
        c.apply_env()?;
        Ok(c)
    }

    /// Parses settings from TOML text (unknown fields refused), without
    /// environment overrides.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Ok(toml::from_str(text)?)
    }

    /// Applies `AURA_BILLING_*` variables.
    pub fn apply_env(&mut self) -> Result<(), ConfigError> {
        let bad = |n: &'static str| move |e: String| ConfigError::Env(n, e);
        if let Some(v) = env("AURA_BILLING_LISTEN") {
            self.listen = v
                .parse()
                .map_err(|e: std::net::AddrParseError| bad("AURA_BILLING_LISTEN")(e.to_string()))?;
        }
        if let Some(v) = env("AURA_BILLING_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = env("AURA_BILLING_DATABASE_URL") {
            self.database_url = Some(Secret(v));
        }
        if let Some(v) = env("AURA_BILLING_DATABASE_SCHEMA") {
            self.database_schema = Some(v);
        }
        if let Some(v) = env("AURA_BILLING_COMMIT_MODE") {
            self.commit_mode = v.parse().map_err(bad("AURA_BILLING_COMMIT_MODE"))?;
        }
        if let Some(v) = env("AURA_BILLING_ADMINS") {
            self.admins = list(&v);
        }
        if let Some(v) = env("AURA_BILLING_WEBHOOK_SECRETS") {
            self.webhook_secrets = list(&v).into_iter().map(Secret).collect();
        }
        let num = |name: &'static str, v: String| {
            v.parse::<u32>()
                .map_err(|e| ConfigError::Env(name, e.to_string()))
        };
        if let Some(v) = env("AURA_BILLING_RATE_LIMIT_PER_S") {
            self.rate_limit_per_s = num("AURA_BILLING_RATE_LIMIT_PER_S", v)?;
        }
        if let Some(v) = env("AURA_BILLING_PUBLIC_RATE_LIMIT_PER_S") {
            self.public_rate_limit_per_s = num("AURA_BILLING_PUBLIC_RATE_LIMIT_PER_S", v)?;
        }
        if let Some(v) = env("AURA_BILLING_LOGIN_RATE_PER_MIN") {
            self.login_rate_per_min = num("AURA_BILLING_LOGIN_RATE_PER_MIN", v)?;
        }
        if let Some(v) = env("AURA_BILLING_DEV") {
            self.dev_mode = matches!(v.as_str(), "1" | "true" | "yes");
        }
        Ok(())
    }

    /// The webhook secrets to verify with: the configured ones, each
    /// neither empty nor well known; in dev mode with none configured, the
    /// public [`DEV_WEBHOOK_SECRET`].
    pub fn checked_webhook_secrets(&self) -> Result<Vec<Vec<u8>>, ConfigError> {
        if self.webhook_secrets.is_empty() {
            return if self.dev_mode {
                Ok(vec![DEV_WEBHOOK_SECRET.as_bytes().to_vec()])
            } else {
                Err(ConfigError::NoWebhookSecret)
            };
        }
        self.webhook_secrets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let v = s.0.trim();
                if v.is_empty() || (v == DEV_WEBHOOK_SECRET && !self.dev_mode) {
                    Err(ConfigError::WeakWebhookSecret(i))
                } else {
                    Ok(s.0.as_bytes().to_vec())
                }
            })
            .collect()
    }

    /// The database URL, defaulting to `sqlite://<data_dir>/billing.db`.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(s) => s.0.clone(),
            None => format!("sqlite://{}", self.data_dir.join("billing.db").display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_parses_and_debug_hides_secrets() -> Result<(), Box<dyn std::error::Error>> {
        let c: Config = toml::from_str(
            "webhook_secrets = [\"whsec_a\"]\ndatabase_url = \"postgres://u:pw@h/db\"\nplatform_share_bps = 2500",
        )
        ?;
        assert_eq!(c.platform_share_bps, 2500);
        let d = format!("{c:?}");
        assert!(!d.contains("whsec_a") && !d.contains("pw@"), "{d}");
        assert!(toml::from_str::<Config>("nonsense = 1").is_err());
        Ok(())
    }

    #[test]
    fn webhook_secrets_are_required_outside_dev_mode() -> Result<(), Box<dyn std::error::Error>> {
        let mut c = Config::default();
        assert!(matches!(
            c.checked_webhook_secrets(),
            Err(ConfigError::NoWebhookSecret)
        ));
        c.dev_mode = true;
        assert_eq!(
            c.checked_webhook_secrets()?,
            vec![DEV_WEBHOOK_SECRET.as_bytes().to_vec()]
        );
        c.dev_mode = false;
        c.webhook_secrets = vec![Secret("whsec_x".into()), Secret(DEV_WEBHOOK_SECRET.into())];
        assert!(matches!(
            c.checked_webhook_secrets(),
            Err(ConfigError::WeakWebhookSecret(1))
        ));
        c.webhook_secrets.pop();
        assert_eq!(c.checked_webhook_secrets()?, vec![b"whsec_x".to_vec()]);
        Ok(())
    }
}
