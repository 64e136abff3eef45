//! Admin operations: the gift catalog, raw ledger chains (holds, linked
//! transfers) and the invariant check.
use serde::{Deserialize, Serialize};

use super::{Service, ServiceError};
use crate::{
    api::GiftItem,
    ids::check_client_id,
    ledger::{ChainOutcome, InvariantReport, StoredTransfer, Transfer, TransferError},
    storage::Storage,
};

/// `POST /v1/admin/transfers`: one chain of linked transfers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainRequest {
    /// Applied all or nothing, in order.
    pub transfers: Vec<Transfer>,
}

/// The outcome of a chain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChainResponse {
    /// `created`, `exists` or `failed`.
    pub status: String,
    /// Committed transfers.
    pub transfers: Vec<StoredTransfer>,
    /// Index of the failing transfer.
    pub index: Option<usize>,
    /// Why it failed.
    pub error: Option<TransferError>,
}

impl Service {
    /// Adds or replaces a gift.
    pub async fn admin_put_gift(&self, g: GiftItem) -> Result<GiftItem, ServiceError> {
        check_client_id(&g.id).map_err(|e| ServiceError::BadRequest(format!("id: {e}")))?;
        if g.price_coins <= 0 || g.diamond_value < 0 || g.name.is_empty() || g.name.len() > 64 {
            return Err(ServiceError::BadRequest(
                "price_coins > 0, diamond_value >= 0, name 1..=64".into(),
            ));
        }
        self.store.upsert_gift(&g).await?;
        self.catalog_set(Some(g.clone()), &g.id);
        tracing::info!(gift = %g.id, "catalog updated");
        Ok(g)
    }

    /// Removes a gift.
    pub async fn admin_delete_gift(&self, id: &str) -> Result<(), ServiceError> {
        let found = self.store.delete_gift(id).await?;
        self.catalog_set(None, id);
        if found {
            Ok(())
        } else {
            Err(ServiceError::NotFound("gift"))
        }
    }

    /// Commits one chain of linked transfers.
    pub async fn admin_chain(&self, req: ChainRequest) -> Result<ChainResponse, ServiceError> {
        if req.transfers.is_empty() || req.transfers.len() > 64 {
            return Err(ServiceError::BadRequest("1..=64 transfers".into()));
        }
        Ok(match self.ledger.submit(req.transfers).await? {
            ChainOutcome::Created(t) => ChainResponse {
                status: "created".into(),
                transfers: t,
                index: None,
                error: None,
            },
            ChainOutcome::Exists(t) => ChainResponse {
                status: "exists".into(),
                transfers: t,
                index: None,
                error: None,
            },
            ChainOutcome::Failed { index, error } => ChainResponse {
                status: "failed".into(),
                transfers: Vec::new(),
                index: Some(index),
                error: Some(error),
            },
        })
    }

    /// Checks the ledger's invariants.
    pub async fn invariant(&self) -> Result<InvariantReport, ServiceError> {
        Ok(self.store.check_invariant().await?)
    }
}
