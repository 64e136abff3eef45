//! The node's own billing-ledger client: configured from `billing_url` and
//! the pinned `billing_service_key`, logged in with the node's identity key
//! on first use and kept (logged in again once if the ledger forgot the
//! session).

use aura_billing::client::{BillingClient, ClientError};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};
use zeroize::Zeroizing;

use crate::NodeError;

/// HTTP status the ledger answers when a session token is unknown or expired.
const UNAUTHORIZED: u16 = 401;

/// The ledger as this node sees it.
pub(crate) struct Ledger {
    url: Option<String>,
    pinned: Option<String>,
    secret: Zeroizing<[u8; 32]>,
    client: Mutex<Option<BillingClient>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("url", &self.url)
            .field("pinned", &self.pinned)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    pub(crate) fn new(url: Option<String>, pinned: Option<String>, secret: [u8; 32]) -> Self {
        Self {
            url,
            pinned,
            secret: Zeroizing::new(secret),
            client: Mutex::new(None),
        }
    }

    /// A new client, logged in, its announced key checked against the pin.
    pub(crate) async fn connect(&self) -> Result<BillingClient, NodeError> {
        let url = self.url.as_deref().ok_or(NodeError::BillingNotConfigured)?;
        let mut client =
            BillingClient::new(url, ed25519_dalek::SigningKey::from_bytes(&self.secret))?;
        if let Some(k) = &self.pinned {
            // A ledger that announces another key is the wrong ledger (or a
            // misconfiguration): its receipts would not verify in the group.
            let pinned = crate::gift::parse_service_key(k)?;
            let announced = client.service_key().await?;
            if announced != pinned {
                return Err(NodeError::LedgerKeyMismatch {
                    url: url.to_owned(),
                    announced: hex::encode(announced.to_bytes()),
                });
            }
        }
        client.login().await?;
        Ok(client)
    }

    /// The kept client, connecting first if there is none.
    pub(crate) async fn client(&self) -> Result<MappedMutexGuard<'_, BillingClient>, NodeError> {
        let mut guard = self.client.lock().await;
        if guard.is_none() {
            *guard = Some(self.connect().await?);
        }
        MutexGuard::try_map(guard, Option::as_mut).map_err(|_| NodeError::BillingNotConfigured)
    }

    /// Forgets the kept client after `err` if it means the session is gone,
    /// and says whether to try again.
    pub(crate) async fn retry_after(&self, err: &ClientError) -> bool {
        let gone = matches!(err, ClientError::NotLoggedIn)
            || matches!(err, ClientError::Api { status, .. } if *status == UNAUTHORIZED);
        if gone {
            *self.client.lock().await = None;
        }
        gone
    }
}
