//! Prometheus metrics, one registry per service instance (rendered at `/metrics`).
use std::{sync::Arc, time::Duration};

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

type Labels = Vec<(&'static str, String)>;

/// The service's counters and histograms; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: Family<Labels, Counter>,
    transfers: Family<Labels, Counter>,
    webhooks: Family<Labels, Counter>,
    auth_failures: Family<Labels, Counter>,
    rate_limited: Counter,
    journal_rows_folded: Counter,
    fold_failures: Counter,
    batch_size: Histogram,
    batch_seconds: Histogram,
    receipt_batch_size: Histogram,
    /// Hot-path series, looked up once (no label allocation per gift).
    gift_ok: Counter,
    chain_created: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("aura_billing");
        let requests = Family::<Labels, Counter>::default();
        let transfers = Family::<Labels, Counter>::default();
        let webhooks = Family::<Labels, Counter>::default();
        let auth_failures = Family::<Labels, Counter>::default();
        let rate_limited = Counter::default();
        let journal_rows_folded = Counter::default();
        let fold_failures = Counter::default();
        let batch_size = Histogram::new([1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0]);
        let batch_seconds =
            Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5]);
        let receipt_batch_size = Histogram::new([1.0, 2.0, 4.0, 16.0, 64.0, 256.0]);
        registry.register(
            "requests",
            "API requests by operation and outcome",
            requests.clone(),
        );
        registry.register(
            "transfer_chains",
            "Ledger chains by outcome",
            transfers.clone(),
        );
        registry.register("webhooks", "Payment webhooks by outcome", webhooks.clone());
        registry.register(
            "auth_failures",
            "Refused authentications by reason",
            auth_failures.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by the per-identity limit",
            rate_limited.clone(),
        );
        registry.register(
            "aggregate_journal_rows_folded",
            "Ledger batches' gift facts folded into member statistics and leaderboards",
            journal_rows_folded.clone(),
        );
        registry.register(
            "aggregate_fold_failures",
            "Folds of the aggregate journal that failed (retried every second)",
            fold_failures.clone(),
        );
        registry.register(
            "commit_batch_size",
            "Chains per ledger transaction",
            batch_size.clone(),
        );
        registry.register(
            "commit_batch_seconds",
            "Ledger transaction time",
            batch_seconds.clone(),
        );
        registry.register(
            "receipts_per_signature",
            "Gift receipts signed together under one Merkle root",
            receipt_batch_size.clone(),
        );
        let gift_ok = requests
            .get_or_create(&vec![("op", "send_gift".into()), ("outcome", "ok".into())])
            .clone();
        let chain_created = transfers
            .get_or_create(&vec![("outcome", "created".into())])
            .clone();
        Metrics {
            inner: Arc::new(Inner {
                registry,
                requests,
                transfers,
                webhooks,
                auth_failures,
                rate_limited,
                journal_rows_folded,
                fold_failures,
                batch_size,
                batch_seconds,
                receipt_batch_size,
                gift_ok,
                chain_created,
            }),
        }
    }

    /// Counts an API request.
    pub fn request(&self, op: &'static str, outcome: &str) {
        if op == "send_gift" && outcome == "ok" {
            self.inner.gift_ok.inc();
            return;
        }
        self.inner
            .requests
            .get_or_create(&vec![("op", op.into()), ("outcome", outcome.into())])
            .inc();
    }

    /// Counts a ledger chain outcome.
    pub fn transfer(&self, outcome: &str) {
        if outcome == "created" {
            self.inner.chain_created.inc();
            return;
        }
        self.inner
            .transfers
            .get_or_create(&vec![("outcome", outcome.into())])
            .inc();
    }

    /// Counts a webhook outcome.
    pub fn webhook(&self, outcome: &str) {
        self.inner
            .webhooks
            .get_or_create(&vec![("outcome", outcome.into())])
            .inc();
    }

    /// Counts a refused authentication.
    pub fn auth_failure(&self, reason: &'static str) {
        self.inner
            .auth_failures
            .get_or_create(&vec![("reason", reason.into())])
            .inc();
    }

    /// Counts a rate-limited request.
    pub fn rate_limited(&self) {
        self.inner.rate_limited.inc();
    }

    /// Counts a fold of the aggregate journal: the rows it folded, or a failure.
    pub fn fold(&self, folded: Option<usize>) {
        match folded {
            Some(n) => {
                self.inner.journal_rows_folded.inc_by(n as u64);
            }
            None => {
                self.inner.fold_failures.inc();
            }
        }
    }

    /// Records one committed batch.
    pub fn batch(&self, size: usize, took: Duration) {
        self.inner.batch_size.observe(size as f64);
        self.inner.batch_seconds.observe(took.as_secs_f64());
    }

    /// Records one signature over a tree of `size` receipts.
    pub fn receipt_batch(&self, size: usize) {
        self.inner.receipt_batch_size.observe(size as f64);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if encode(&mut s, &self.inner.registry).is_err() {
            tracing::warn!("metrics encoding failed");
        }
        s
    }
}
