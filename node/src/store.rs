//! The local store: `sled` behind a small API. Groups (crypto state and
//! settings), geofences (one record each), location history with retention,
//! chat history.
//!
//! Every multi-key write is one atomic sled batch, so a crash (even SIGKILL)
//! leaves either all of it or none of it.
//!
//! Writes reach the disk on [`Store::flush`]: the node's task flushes after
//! writes on its housekeeping tick (sled's own flusher thread, which woke
//! every 500 ms whether or not anything was written, was about a third of
//! a background phone's CPU).

use std::path::{Path, PathBuf};
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};
use std::time::{Duration, Instant};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::location::{Fix, Geofence, Precision};

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened, read or written.
    #[error("local store error: {0} (check the data dir is writable and not used by another aura process)")]
    Sled(#[from] sled::Error),
    /// A record did not decode: the store is from another version or damaged.
    #[error("corrupt record in tree {tree}: {source}")]
    Corrupt {
        /// Which tree.
        tree: &'static str,
        /// Decoding error.
        source: postcard::Error,
    },
    /// A record could not be encoded.
    #[error("could not encode record: {0}")]
    Encode(postcard::Error),
    /// Another open store (another aura process, or one not yet closed in
    /// this process) still holds the directory's lock.
    #[error("the local store at {0:?} is in use by another aura process")]
    Locked(PathBuf),
}

/// How long `Store::open` waits for a lock held by a store being closed.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Whether sled refused to open because another handle holds the lock file.
fn is_lock_held(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().starts_with("could not acquire lock"))
}

/// What the node keeps about one group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupRecord {
    /// `GroupSession::export_state()` bytes (secrets included).
    pub session: Vec<u8>,
    /// Whether we share our location with this group.
    pub sharing: bool,
    /// The precision we share at.
    pub precision: Precision,
    /// Geofences as stores before the `fences` tree kept them (read once,
    /// moved to that tree, then saved empty).
    pub fences: Vec<Geofence>,
}

/// One chat message in history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRecord {
    /// Sender member id bytes.
    pub from: [u8; 32],
    /// When it was sent, unix ms.
    pub at_ms: u64,
    /// Text.
    pub text: String,
}

/// The node's sled database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    groups: sled::Tree,
    locations: sled::Tree,
    fences: sled::Tree,
    chat: sled::Tree,
    gifts: sled::Tree,
    peers: sled::Tree,
    /// Set by every write, taken by [`Store::take_written`].
    written: Arc<AtomicBool>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(v).map_err(StoreError::Encode)
}

fn dec<T: DeserializeOwned>(tree: &'static str, b: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(b).map_err(|source| StoreError::Corrupt { tree, source })
}

fn loc_key(group: &[u8; 32], member: &[u8; 32], at_ms: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(72);
    k.extend_from_slice(group);
    k.extend_from_slice(member);
    k.extend_from_slice(&at_ms.to_be_bytes());
    k
}

fn fence_key(group: &[u8; 32], name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(32 + name.len());
    k.extend_from_slice(group);
    k.extend_from_slice(name.as_bytes());
    k
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    ///
    /// A store dropped a moment ago may still hold the lock while sled's
    /// background threads let go of it, so a held lock is retried for up to
    /// [`LOCK_WAIT`]; after that the error is [`StoreError::Locked`].
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let started = Instant::now();
        let db = loop {
            match sled::Config::new().path(dir).flush_every_ms(None).open() {
                Ok(db) => break db,
                Err(e) if is_lock_held(&e) => {
                    if started.elapsed() >= LOCK_WAIT {
                        return Err(StoreError::Locked(dir.to_path_buf()));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e.into()),
            }
        };
        Ok(Self {
            groups: db.open_tree("groups")?,
            locations: db.open_tree("locations")?,
            fences: db.open_tree("fences")?,
            chat: db.open_tree("chat")?,
            gifts: db.open_tree("gifts")?,
            peers: db.open_tree("peers")?,
            db,
            written: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Saves a group record.
    pub fn put_group(&self, id: &[u8; 32], rec: &GroupRecord) -> Result<(), StoreError> {
        self.wrote();
        self.groups.insert(id, enc(rec)?)?;
        Ok(())
    }

    /// Loads a group record.
    pub fn group(&self, id: &[u8; 32]) -> Result<Option<GroupRecord>, StoreError> {
        self.groups.get(id)?.map(|b| dec("groups", &b)).transpose()
    }

    /// Deletes a group and its history (after leaving it).
    pub fn delete_group(&self, id: &[u8; 32]) -> Result<(), StoreError> {
        self.wrote();
        self.groups.remove(id)?;
        self.db.open_tree(FLOORS_TREE)?.remove(id)?;
        for tree in [&self.locations, &self.fences, &self.chat, &self.gifts] {
            let mut batch = sled::Batch::default();
            for kv in tree.scan_prefix(id) {
                batch.remove(kv?.0);
            }
            tree.apply_batch(batch)?;
        }
        Ok(())
    }

    /// All group records.
    pub fn groups(&self) -> Result<Vec<([u8; 32], GroupRecord)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.groups.iter() {
            let (k, v) = kv?;
            let Ok(id) = <[u8; 32]>::try_from(&k[..]) else {
                continue;
            };
            out.push((id, dec("groups", &v)?));
        }
        Ok(out)
    }

    /// Saves (or replaces) one geofence of `group`, without rewriting the
    /// group record.
    pub fn put_fence(&self, group: &[u8; 32], fence: &Geofence) -> Result<(), StoreError> {
        self.wrote();
        self.fences
            .insert(fence_key(group, &fence.name), enc(fence)?)?;
        Ok(())
    }

    /// Deletes the geofence `name` of `group`.
    pub fn remove_fence(&self, group: &[u8; 32], name: &str) -> Result<(), StoreError> {
        self.wrote();
        self.fences.remove(fence_key(group, name))?;
        Ok(())
    }

    /// The geofences of `group`.
    pub fn fences(&self, group: &[u8; 32]) -> Result<Vec<Geofence>, StoreError> {
        self.fences
            .scan_prefix(group)
            .map(|kv| dec("fences", &kv?.1))
            .collect()
    }

    /// Appends location fixes of members of `group` in one atomic batch.
    pub fn append_locations(
        &self,
        group: &[u8; 32],
        fixes: &[([u8; 32], Fix)],
    ) -> Result<(), StoreError> {
        self.wrote();
        let mut batch = sled::Batch::default();
        for (member, fix) in fixes {
            batch.insert(loc_key(group, member, fix.at_ms), enc(fix)?);
        }
        self.locations.apply_batch(batch)?;
        Ok(())
    }

    /// Location history of `group`, per member, oldest first.
    pub fn locations(&self, group: &[u8; 32]) -> Result<Vec<([u8; 32], Fix)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.locations.scan_prefix(group) {
            let (k, v) = kv?;
            let Ok(member) = <[u8; 32]>::try_from(&k[32..64.min(k.len())]) else {
                continue;
            };
            out.push((member, dec("locations", &v)?));
        }
        Ok(out)
    }

    /// Deletes location fixes older than `before_ms`; returns how many.
    pub fn prune_locations(&self, before_ms: u64) -> Result<usize, StoreError> {
        self.prune_locations_where(|at_ms| at_ms < before_ms)
    }

    /// Deletes location fixes dated after `after_ms` (written before received
    /// fixes were dated at most a little after their receipt, or before our
    /// clock was set back); returns how many.
    pub fn prune_future_locations(&self, after_ms: u64) -> Result<usize, StoreError> {
        self.prune_locations_where(|at_ms| at_ms > after_ms)
    }

    fn prune_locations_where(&self, doomed: impl Fn(u64) -> bool) -> Result<usize, StoreError> {
        self.wrote();
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for kv in self.locations.iter() {
            let (k, _) = kv?;
            if k.len() == 72 {
                let mut t = [0u8; 8];
                t.copy_from_slice(&k[64..72]);
                if doomed(u64::from_be_bytes(t)) {
                    batch.remove(k);
                    n += 1;
                }
            }
        }
        self.locations.apply_batch(batch)?;
        Ok(n)
    }

    /// Appends a chat message to `group`'s history.
    pub fn append_chat(&self, group: &[u8; 32], rec: &ChatRecord) -> Result<(), StoreError> {
        self.wrote();
        let mut k = Vec::with_capacity(48);
        k.extend_from_slice(group);
        k.extend_from_slice(&rec.at_ms.to_be_bytes());
        k.extend_from_slice(&self.db.generate_id()?.to_be_bytes());
        self.chat.insert(k, enc(rec)?)?;
        Ok(())
    }

    /// Chat history of `group`, oldest first.
    pub fn chat(&self, group: &[u8; 32]) -> Result<Vec<ChatRecord>, StoreError> {
        self.chat
            .scan_prefix(group)
            .map(|kv| dec("chat", &kv?.1))
            .collect()
    }

    /// Records a gift receipt (its encoded bytes) of `group` under its
    /// receipt id; `false` when that receipt was already recorded.
    pub fn record_gift(
        &self,
        group: &[u8; 32],
        receipt_id: &str,
        bytes: &[u8],
    ) -> Result<bool, StoreError> {
        self.wrote();
        let mut k = Vec::with_capacity(32 + receipt_id.len());
        k.extend_from_slice(group);
        k.extend_from_slice(receipt_id.as_bytes());
        let fresh = self
            .gifts
            .compare_and_swap(k, None as Option<&[u8]>, Some(bytes))?
            .is_ok();
        Ok(fresh)
    }

    /// Encoded gift receipts of `group`, by receipt id.
    pub fn gifts(&self, group: &[u8; 32]) -> Result<Vec<Vec<u8>>, StoreError> {
        self.gifts
            .scan_prefix(group)
            .map(|kv| Ok(kv?.1.to_vec()))
            .collect()
    }

    /// Remembers where a peer listens (to reconnect after a restart).
    pub fn put_peer(&self, peer: &str, addrs: &[String]) -> Result<(), StoreError> {
        self.wrote();
        self.peers.insert(peer.as_bytes(), enc(&addrs)?)?;
        Ok(())
    }

    /// Known peers and their addresses.
    pub fn peers(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.peers.iter() {
            let (k, v) = kv?;
            out.push((String::from_utf8_lossy(&k).into_owned(), dec("peers", &v)?));
        }
        Ok(out)
    }

    /// Whether anything was written since the last call (then clears it).
    pub fn take_written(&self) -> bool {
        self.written.swap(false, Ordering::AcqRel)
    }

    fn wrote(&self) {
        self.written.store(true, Ordering::Release);
    }

    /// Writes everything to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// A raw tree for tools and the crash test.
    pub fn raw_tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        self.wrote();
        Ok(self.db.open_tree(name)?)
    }
}

/// A stored group record, decoded on its own.
pub type GroupEntry = ([u8; 32], Result<GroupRecord, StoreError>);

/// Groups that failed to load, kept aside (see `task::load`).
impl Store {
    /// All group records, each decoded on its own: one corrupt record does
    /// not hide the others.
    pub fn groups_each(&self) -> Result<Vec<GroupEntry>, StoreError> {
        let mut out = Vec::new();
        for kv in self.groups.iter() {
            let (k, v) = kv?;
            let Ok(id) = <[u8; 32]>::try_from(&k[..]) else {
                continue;
            };
            out.push((id, dec("groups", &v)));
        }
        Ok(out)
    }

    /// Moves a group record that cannot be loaded to the `quarantine` tree
    /// (kept for inspection, never loaded again); its history stays.
    pub fn quarantine_group(&self, id: &[u8; 32]) -> Result<(), StoreError> {
        self.wrote();
        let quarantine = self.db.open_tree("quarantine")?;
        if let Some(v) = self.groups.remove(id)? {
            quarantine.insert(id, v)?;
        }
        Ok(())
    }

    /// Ids of quarantined groups.
    pub fn quarantined_groups(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let quarantine = self.db.open_tree("quarantine")?;
        let mut out = Vec::new();
        for k in quarantine.iter().keys() {
            if let Ok(id) = <[u8; 32]>::try_from(&k?[..]) {
                out.push(id);
            }
        }
        Ok(out)
    }
}

/// Tree of each group's replay floors (kept apart from the group record:
/// written, and flushed, far more often).
const FLOORS_TREE: &str = "replay_floors";

impl Store {
    /// Stores a group's replay floors and flushes them to disk before
    /// returning (a crash must not roll them back).
    pub fn put_replay_floors(
        &self,
        group: &[u8; 32],
        floors: &[aura_crypto::ReplayFloor],
    ) -> Result<(), StoreError> {
        self.wrote();
        self.db
            .open_tree(FLOORS_TREE)?
            .insert(group, enc(&floors)?)?;
        self.db.flush()?;
        Ok(())
    }

    /// A group's replay floors (empty if none stored).
    pub fn replay_floors(
        &self,
        group: &[u8; 32],
    ) -> Result<Vec<aura_crypto::ReplayFloor>, StoreError> {
        match self.db.open_tree(FLOORS_TREE)?.get(group)? {
            Some(b) => dec(FLOORS_TREE, &b),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::Position;

    #[test]
    fn writes_are_flagged_until_taken_and_reads_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(!s.take_written());
        s.put_peer("p", &["/ip4/127.0.0.1/tcp/1".into()]).unwrap();
        assert!(s.take_written());
        assert!(!s.take_written(), "taken once");
        s.peers().unwrap();
        assert!(!s.take_written(), "a read is not a write");
        s.raw_tree("profiles").unwrap();
        assert!(s.take_written(), "a raw tree may be written");
    }

    #[test]
    fn history_roundtrip_and_retention() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let g = [1u8; 32];
        let fix = |t| Fix {
            pos: Position::new(1.0, 2.0).unwrap(),
            at_ms: t,
            precision: Precision::Exact,
        };
        s.append_locations(&g, &[([2u8; 32], fix(10)), ([3u8; 32], fix(20))])
            .unwrap();
        s.append_locations(&[9u8; 32], &[([2u8; 32], fix(5))])
            .unwrap();
        assert_eq!(s.locations(&g).unwrap().len(), 2);
        assert_eq!(s.prune_locations(15).unwrap(), 2);
        assert_eq!(s.locations(&g).unwrap(), vec![([3u8; 32], fix(20))]);
        s.append_chat(
            &g,
            &ChatRecord {
                from: [2; 32],
                at_ms: 1,
                text: "hi".into(),
            },
        )
        .unwrap();
        assert_eq!(s.chat(&g).unwrap()[0].text, "hi");
        let rec = GroupRecord {
            session: vec![1, 2],
            sharing: true,
            precision: Precision::Approx1km,
            fences: vec![],
        };
        s.put_group(&g, &rec).unwrap();
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.groups().unwrap()[0].1.precision, Precision::Approx1km);
        s.delete_group(&g).unwrap();
        assert!(s.group(&g).unwrap().is_none() && s.chat(&g).unwrap().is_empty());
    }

    #[test]
    fn fences_are_records_of_their_own() {
        use crate::location::Shape;
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let (g, other) = ([1u8; 32], [2u8; 32]);
        let fence = |name: &str, radius_m| Geofence {
            name: name.into(),
            shape: Shape::Circle {
                center: Position::new(1.0, 2.0).unwrap(),
                radius_m,
            },
        };
        s.put_fence(&g, &fence("hut", 10.0)).unwrap();
        s.put_fence(&g, &fence("lake", 20.0)).unwrap();
        s.put_fence(&g, &fence("hut", 30.0)).unwrap();
        s.put_fence(&other, &fence("hut", 40.0)).unwrap();
        s.remove_fence(&g, "lake").unwrap();
        assert_eq!(s.fences(&g).unwrap(), vec![fence("hut", 30.0)]);
        s.delete_group(&g).unwrap();
        assert!(s.fences(&g).unwrap().is_empty());
        assert_eq!(s.fences(&other).unwrap().len(), 1);
    }

    #[test]
    fn a_fix_dated_far_in_the_future_is_pruned_once_retention_has_passed() {
        use crate::location::{as_received, MAX_FUTURE_SKEW_MS};
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let (g, mallory) = ([1u8; 32], [6u8; 32]);
        let received_ms = 1_800_000_000_000u64;
        let retention_ms = 7 * 86_400_000;
        let claimed = Fix {
            pos: Position::new(1.0, 2.0).unwrap(),
            at_ms: received_ms + 10 * 365 * 86_400_000,
            precision: Precision::Exact,
        };
        s.append_locations(&g, &[(mallory, as_received(claimed, received_ms))])
            .unwrap();
        // Retention runs a day after the point has expired.
        let later = received_ms + MAX_FUTURE_SKEW_MS + retention_ms + 86_400_000;
        assert_eq!(s.prune_locations(later - retention_ms).unwrap(), 1);
        assert!(s.locations(&g).unwrap().is_empty());
        // A point stored dated in the future before receipt times were
        // clamped is pruned as soon as it is seen.
        s.append_locations(&g, &[(mallory, claimed)]).unwrap();
        assert_eq!(
            s.prune_future_locations(received_ms + MAX_FUTURE_SKEW_MS)
                .unwrap(),
            1
        );
        assert!(s.locations(&g).unwrap().is_empty());
    }

    #[test]
    fn a_store_in_use_is_refused_with_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let _held = Store::open(dir.path()).unwrap();
        let started = Instant::now();
        let err = Store::open(dir.path()).err().unwrap();
        assert!(matches!(err, StoreError::Locked(_)), "{err}");
        assert!(started.elapsed() >= LOCK_WAIT);
    }

    #[test]
    fn reopening_right_after_drop_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..20u8 {
            let s = Store::open(dir.path()).unwrap();
            s.put_group(
                &[i; 32],
                &GroupRecord {
                    session: vec![i],
                    sharing: false,
                    precision: Precision::Exact,
                    fences: vec![],
                },
            )
            .unwrap();
            drop(s);
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.groups().unwrap().len(), 20);
    }
}
