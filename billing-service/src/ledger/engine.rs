//! The ledger's rules as a sans-IO state machine: given the accounts and
//! transfers a batch touches, it applies chains in order and returns what to
//! persist. No clock, no database: `now_us` is an input.
use std::collections::BTreeSet;

use super::{
    code, Account, ChainOutcome, PendingState, StoredTransfer, Transfer, TransferError,
    TransferKind,
};
use crate::ids::parse_account;

/// A map keyed by ids, for a batch's few hundred entries: foldhash, seeded
/// per process (the ids hashed per batch are too few to flood).
pub type IdMap<V> = std::collections::HashMap<String, V, foldhash::fast::RandomState>;

/// The state a batch needs, loaded by a storage backend.
#[derive(Debug, Default, Clone)]
pub struct Loaded {
    /// Accounts by id (missing ones are created on first use).
    pub accounts: IdMap<Account>,
    /// Existing transfers among the batch's ids and the pending ids it names.
    pub transfers: IdMap<StoredTransfer>,
}

/// What a batch produced.
#[derive(Debug, Default)]
pub struct Output {
    /// One outcome per chain, in order.
    pub outcomes: Vec<ChainOutcome>,
    /// Transfers to insert.
    pub new_transfers: Vec<StoredTransfer>,
    /// Accounts to upsert (created or changed).
    pub accounts: Vec<Account>,
    /// Pending transfers whose state changed.
    pub pending_updates: Vec<(String, PendingState)>,
}

/// Ids of the transfers a batch must load: its own ids and the pending ids it names.
pub fn transfer_ids(chains: &[Vec<Transfer>]) -> Vec<String> {
    let mut ids = BTreeSet::new();
    for t in chains.iter().flatten() {
        ids.insert(t.id.clone());
        if let Some(p) = t.kind.pending_id() {
            ids.insert(p.to_string());
        }
    }
    ids.into_iter().collect()
}

/// Ids of the pending transfers a batch posts or voids.
pub fn pending_ids(chains: &[Vec<Transfer>]) -> Vec<String> {
    let ids: BTreeSet<&str> = chains
        .iter()
        .flatten()
        .filter_map(|t| t.kind.pending_id())
        .collect();
    ids.into_iter().map(str::to_string).collect()
}

/// Ids of the accounts a batch touches, given the transfers already loaded.
pub fn account_ids(
    chains: &[Vec<Transfer>],
    loaded: &IdMap<StoredTransfer>,
    expire: &[StoredTransfer],
) -> Vec<String> {
    let mut ids = BTreeSet::new();
    let mut add = |t: &Transfer| {
        for a in [&t.debit_account, &t.credit_account] {
            if !a.is_empty() {
                ids.insert(a.clone());
            }
        }
    };
    for t in chains.iter().flatten() {
        add(t);
        if let Some(p) = t.kind.pending_id().and_then(|p| loaded.get(p)) {
            add(&p.transfer);
        }
    }
    for p in expire {
        add(&p.transfer);
    }
    ids.into_iter().collect()
}

enum Undo {
    Account(String, Option<Account>),
    Pending(String, PendingState),
    Inserted(String),
}

struct Run<'a> {
    st: &'a mut Loaded,
    undo: Vec<Undo>,
    now_us: i64,
}

impl Run<'_> {
    fn account(&mut self, id: &str, cur: crate::ids::Currency) -> Result<Account, TransferError> {
        let (c, no_overdraft) = parse_account(id).map_err(|_| TransferError::BadAccount)?;
        if c != cur {
            return Err(TransferError::CurrencyMismatch);
        }
        Ok(self.st.accounts.get(id).cloned().unwrap_or(Account {
            id: id.to_string(),
            currency: c,
            no_overdraft,
            debits_pending: 0,
            debits_posted: 0,
            credits_pending: 0,
            credits_posted: 0,
        }))
    }

    fn put(&mut self, a: Account) {
        let old = self.st.accounts.insert(a.id.clone(), a.clone());
        self.undo.push(Undo::Account(a.id, old));
    }

    fn set_pending(&mut self, id: &str, s: PendingState) {
        if let Some(t) = self.st.transfers.get_mut(id) {
            self.undo
                .push(Undo::Pending(id.to_string(), t.pending_state));
            t.pending_state = s;
        }
    }

    fn rollback(&mut self) {
        while let Some(u) = self.undo.pop() {
            match u {
                Undo::Account(id, Some(a)) => {
                    self.st.accounts.insert(id, a);
                }
                Undo::Account(id, None) => {
                    self.st.accounts.remove(&id);
                }
                Undo::Pending(id, s) => {
                    if let Some(t) = self.st.transfers.get_mut(&id) {
                        t.pending_state = s;
                    }
                }
                Undo::Inserted(id) => {
                    self.st.transfers.remove(&id);
                }
            }
        }
    }

    fn apply(&mut self, t: &Transfer) -> Result<StoredTransfer, TransferError> {
        if t.id.is_empty() || t.id.len() > 200 {
            return Err(TransferError::BadId);
        }
        let add = |a: i64, b: i64| a.checked_add(b).ok_or(TransferError::Overflow);
        let mut stored = StoredTransfer {
            transfer: t.clone(),
            ts_us: self.now_us,
            expires_at_us: 0,
            pending_state: PendingState::None,
        };
        match &t.kind {
            TransferKind::Single | TransferKind::Pending { .. } => {
                // An award may move nothing: a medal whose reward is an item.
                let zero_ok = code::is_award(t.code) && t.kind == TransferKind::Single;
                if t.amount < 0 || (t.amount == 0 && !zero_ok) {
                    return Err(TransferError::BadAmount);
                }
                if t.debit_account == t.credit_account {
                    return Err(TransferError::SameAccount);
                }
                let mut dr = self.account(&t.debit_account, t.currency)?;
                let mut cr = self.account(&t.credit_account, t.currency)?;
                let spent = add(add(dr.debits_posted, dr.debits_pending)?, t.amount)?;
                if dr.no_overdraft && spent > dr.credits_posted {
                    return Err(TransferError::InsufficientFunds);
                }
                if let TransferKind::Pending { timeout_s } = t.kind {
                    dr.debits_pending = add(dr.debits_pending, t.amount)?;
                    cr.credits_pending = add(cr.credits_pending, t.amount)?;
                    stored.pending_state = PendingState::Pending;
                    if timeout_s > 0 {
                        let us = timeout_s
                            .checked_mul(1_000_000)
                            .ok_or(TransferError::Overflow)?;
                        stored.expires_at_us = add(self.now_us, us)?;
                    }
                } else {
                    dr.debits_posted = add(dr.debits_posted, t.amount)?;
                    cr.credits_posted = add(cr.credits_posted, t.amount)?;
                }
                add(cr.credits_posted, cr.credits_pending)?;
                self.put(dr);
                self.put(cr);
            }
            TransferKind::PostPending { pending_id } | TransferKind::VoidPending { pending_id } => {
                let p = self
                    .st
                    .transfers
                    .get(pending_id)
                    .cloned()
                    .ok_or(TransferError::PendingNotFound)?;
                if !matches!(p.transfer.kind, TransferKind::Pending { .. }) {
                    return Err(TransferError::PendingNotFound);
                }
                if p.pending_state != PendingState::Pending {
                    return Err(TransferError::PendingResolved);
                }
                if p.expires_at_us != 0 && p.expires_at_us <= self.now_us {
                    return Err(TransferError::PendingExpired);
                }
                let pt = &p.transfer;
                let differs = |given: &str, real: &str| !given.is_empty() && given != real;
                if differs(&t.debit_account, &pt.debit_account)
                    || differs(&t.credit_account, &pt.credit_account)
                    || t.currency != pt.currency
                {
                    return Err(TransferError::BadAccount);
                }
                let post = matches!(t.kind, TransferKind::PostPending { .. });
                let amount = if t.amount == 0 { pt.amount } else { t.amount };
                if amount < 0 || (!post && amount != pt.amount) {
                    return Err(TransferError::BadAmount);
                }
                if amount > pt.amount {
                    return Err(TransferError::ExceedsPending);
                }
                let mut dr = self.account(&pt.debit_account, pt.currency)?;
                let mut cr = self.account(&pt.credit_account, pt.currency)?;
                dr.debits_pending -= pt.amount;
                cr.credits_pending -= pt.amount;
                if post {
                    dr.debits_posted = add(dr.debits_posted, amount)?;
                    cr.credits_posted = add(cr.credits_posted, amount)?;
                }
                self.put(dr);
                self.put(cr);
                let state = if post {
                    PendingState::Posted
                } else {
                    PendingState::Voided
                };
                self.set_pending(pending_id, state);
                stored.transfer.debit_account = pt.debit_account.clone();
                stored.transfer.credit_account = pt.credit_account.clone();
                stored.transfer.amount = amount;
            }
        }
        self.st.transfers.insert(t.id.clone(), stored.clone());
        self.undo.push(Undo::Inserted(t.id.clone()));
        Ok(stored)
    }
}

/// Whether a retried request has the same fields as what was committed.
fn same_fields(req: &Transfer, s: &Transfer) -> bool {
    let acct = |given: &str, real: &str| given.is_empty() || given == real;
    req.kind == s.kind
        && req.currency == s.currency
        && req.code == s.code
        && req.user_data == s.user_data
        && acct(&req.debit_account, &s.debit_account)
        && acct(&req.credit_account, &s.credit_account)
        && (req.amount == s.amount || (req.amount == 0 && req.kind.pending_id().is_some()))
}

/// Whether a chain carries awards beside other transfers: then its awards
/// are best effort (see [`super::code::is_award`]).
fn awards_ride_along(chain: &[Transfer]) -> bool {
    chain.iter().any(|t| !code::is_award(t.code)) && chain.iter().any(|t| code::is_award(t.code))
}

fn existing(st: &Loaded, chain: &[Transfer]) -> Option<ChainOutcome> {
    if awards_ride_along(chain) {
        // A retry is known by the event's own transfers; its awards may have
        // been left out, or granted by another event since.
        let own: Vec<Transfer> = chain
            .iter()
            .filter(|t| !code::is_award(t.code))
            .cloned()
            .collect();
        return existing(st, &own);
    }
    let found: Vec<Option<&StoredTransfer>> =
        chain.iter().map(|t| st.transfers.get(&t.id)).collect();
    let first = found.iter().position(Option::is_some)?;
    if found.iter().any(Option::is_none) {
        return Some(ChainOutcome::Failed {
            index: first,
            error: TransferError::ChainPartlyExists,
        });
    }
    let mut out = Vec::with_capacity(chain.len());
    for (i, (t, s)) in chain.iter().zip(found).enumerate() {
        let s = s?;
        if !same_fields(t, &s.transfer) {
            return Some(ChainOutcome::Failed {
                index: i,
                error: TransferError::ExistsWithDifferentFields,
            });
        }
        out.push(s.clone());
    }
    Some(ChainOutcome::Exists(out))
}

/// Applies `expire` (pending transfers past their timeout) and then each chain
/// of linked transfers, all or nothing per chain.
pub fn apply(
    mut st: Loaded,
    chains: &[Vec<Transfer>],
    expire: &[StoredTransfer],
    now_us: i64,
) -> Output {
    let mut out = Output::default();
    let mut dirty = BTreeSet::new();
    let mut pending: IdMap<PendingState> = IdMap::default();
    for p in expire {
        st.transfers
            .entry(p.transfer.id.clone())
            .or_insert_with(|| p.clone());
    }
    for p in expire {
        let still = st.transfers.get(&p.transfer.id).map(|t| t.pending_state);
        if still != Some(PendingState::Pending) {
            continue;
        }
        let t = &p.transfer;
        for (id, debit) in [(&t.debit_account, true), (&t.credit_account, false)] {
            if let Some(a) = st.accounts.get_mut(id) {
                if debit {
                    a.debits_pending -= t.amount;
                } else {
                    a.credits_pending -= t.amount;
                }
                dirty.insert(id.clone());
            }
        }
        if let Some(s) = st.transfers.get_mut(&t.id) {
            s.pending_state = PendingState::Expired;
        }
        pending.insert(t.id.clone(), PendingState::Expired);
    }
    for chain in chains {
        if chain.is_empty() {
            out.outcomes.push(ChainOutcome::Created(Vec::new()));
            continue;
        }
        if let Some(o) = existing(&st, chain) {
            out.outcomes.push(o);
            continue;
        }
        let mut run = Run {
            st: &mut st,
            undo: Vec::new(),
            now_us,
        };
        let mut created = Vec::with_capacity(chain.len());
        let mut failed = None;
        let best_effort = awards_ride_along(chain);
        for (i, t) in chain.iter().enumerate() {
            let award = best_effort && code::is_award(t.code);
            if award && run.st.transfers.contains_key(&t.id) {
                continue;
            }
            match run.apply(t) {
                Ok(s) => created.push(s),
                Err(_) if award => {}
                Err(e) => {
                    failed = Some((i, e));
                    break;
                }
            }
        }
        if let Some((index, error)) = failed {
            run.rollback();
            out.outcomes.push(ChainOutcome::Failed { index, error });
            continue;
        }
        for u in &run.undo {
            match u {
                Undo::Account(id, _) => {
                    dirty.insert(id.clone());
                }
                Undo::Pending(id, _) => {
                    let s = run.st.transfers.get(id).map(|t| t.pending_state);
                    pending.insert(id.clone(), s.unwrap_or(PendingState::None));
                }
                Undo::Inserted(_) => {}
            }
        }
        out.new_transfers.extend(created.iter().cloned());
        out.outcomes.push(ChainOutcome::Created(created));
    }
    // A pending transfer created in this batch is inserted with its final state.
    for t in &mut out.new_transfers {
        if let Some(s) = pending.remove(&t.transfer.id) {
            t.pending_state = s;
        }
    }
    out.pending_updates = pending.into_iter().collect();
    out.accounts = dirty
        .into_iter()
        .filter_map(|id| st.accounts.remove(&id))
        .collect();
    out
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
