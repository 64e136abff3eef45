//! The ledger writer's copy of recently used accounts, so a batch of gifts
//! reads from the database only the accounts it has not seen lately.
//!
//! It is only correct while the writer is the sole writer of the accounts it
//! holds: a backend clears it whenever anything else may have committed (for
//! SQLite, `PRAGMA data_version` moved) and after any commit whose outcome is
//! unknown, and fills it only with rows it read inside a transaction or wrote
//! in a transaction that committed.
use hashlink::LruCache;

use crate::ledger::Account;

/// Accounts kept by default (~20 MB at worst; the active senders and
/// receivers of a busy service fit).
pub const DEFAULT_CAPACITY: usize = 65_536;

/// A bounded least-recently-used map of account id to its committed state.
#[derive(Debug)]
pub struct AccountCache {
    map: LruCache<String, Account>,
}

impl AccountCache {
    /// An empty cache holding at most `capacity` accounts.
    pub fn new(capacity: usize) -> Self {
        AccountCache {
            map: LruCache::new(capacity.max(1)),
        }
    }

    /// Splits `ids` into the cached accounts and the ids to read from the database.
    pub fn lookup(&mut self, ids: Vec<String>) -> (Vec<Account>, Vec<String>) {
        let mut found = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match self.map.get(&id) {
                Some(a) => found.push(a.clone()),
                None => missing.push(id),
            }
        }
        (found, missing)
    }

    /// Whether `id` is held (so it exists in the database).
    pub fn contains(&self, id: &str) -> bool {
        self.map.contains_key(id)
    }

    /// Records accounts as they are in the database now (read in, or written
    /// by, a committed transaction).
    pub fn store<'a>(&mut self, accounts: impl IntoIterator<Item = &'a Account>) {
        for a in accounts {
            self.map.insert(a.id.clone(), a.clone());
        }
    }

    /// Forgets everything (another writer committed, or a commit's outcome is unknown).
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Accounts held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Currency;

    fn acct(id: &str, credits: i64) -> Account {
        Account {
            id: id.into(),
            currency: Currency::Coins,
            no_overdraft: true,
            debits_pending: 0,
            debits_posted: 0,
            credits_pending: 0,
            credits_posted: credits,
        }
    }

    #[test]
    fn lookup_splits_hits_from_misses_and_store_overwrites() {
        let mut c = AccountCache::new(8);
        c.store(&[acct("a", 1), acct("b", 2)]);
        c.store(&[acct("a", 5)]);
        let (found, missing) = c.lookup(vec!["a".into(), "x".into(), "b".into()]);
        assert_eq!(found, vec![acct("a", 5), acct("b", 2)]);
        assert_eq!(missing, vec!["x".to_string()]);
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn holds_at_most_its_capacity_dropping_the_least_recently_used() {
        let mut c = AccountCache::new(2);
        c.store(&[acct("a", 1), acct("b", 2)]);
        let _ = c.lookup(vec!["a".into()]);
        c.store(&[acct("c", 3)]);
        assert_eq!(c.len(), 2);
        let (found, missing) = c.lookup(vec!["a".into(), "b".into(), "c".into()]);
        assert_eq!(found, vec![acct("a", 1), acct("c", 3)]);
        assert_eq!(missing, vec!["b".to_string()]);
    }
}
