//! Group fsync, off the writer's path. The SQLite writer commits with
//! `synchronous=NORMAL` (the commit writes its WAL frames but does not wait
//! for the disk) and hands the batch's answers here; this thread fsyncs the
//! WAL file once for every batch committed since its last fsync, then answers
//! them. So no request is answered before its transfers are on disk, and the
//! writer prepares and commits the next batch while the disk flushes the last.
//!
//! Why it is safe: WAL frames are appended in commit order and recovery after
//! a power loss stops at the first frame that is missing or torn, so a lost
//! batch can only take later batches with it, and none of those was answered
//! either (answers go out in commit order, each after an fsync covering it).
use std::{
    fs::OpenOptions,
    path::PathBuf,
    sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError},
};

use tokio::sync::oneshot;

/// Answers waiting for the disk: each request's reply and its result.
pub(crate) type Answers<T> = Vec<(oneshot::Sender<T>, T)>;

/// Committed batches waiting for their fsync; bounded, so a slow disk slows
/// the writer down instead of queueing without end.
const WAITING_BATCHES: usize = 64;

/// Hands committed batches to the fsync thread.
pub(crate) struct WalSyncer<T> {
    tx: SyncSender<Answers<T>>,
}

impl<T: Send + 'static> WalSyncer<T> {
    /// Starts the thread that fsyncs `wal` (the database's `-wal` file);
    /// `failed` turns a request's result into the error it gets when the
    /// fsync fails.
    pub(crate) fn start(wal: PathBuf, failed: fn(T) -> T) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(WAITING_BATCHES);
        std::thread::Builder::new()
            .name("ledger-fsync".into())
            .spawn(move || run(&wal, &rx, failed))?;
        Ok(WalSyncer { tx })
    }

    /// Queues a committed batch's answers; blocks while [`WAITING_BATCHES`]
    /// batches wait (the disk is the bottleneck then). Answers directly
    /// (unsynced) only if the thread is gone, which never happens while the
    /// process runs.
    pub(crate) fn answer_when_durable(&self, answers: Answers<T>) {
        let answers = match self.tx.try_send(answers) {
            Ok(()) => return,
            Err(TrySendError::Full(a)) => match self.tx.send(a) {
                Ok(()) => return,
                Err(e) => e.0,
            },
            Err(TrySendError::Disconnected(a)) => a,
        };
        tracing::error!("ledger fsync thread stopped; answering without it");
        for (reply, result) in answers {
            let _ = reply.send(result);
        }
    }
}

fn run<T>(wal: &std::path::Path, rx: &Receiver<Answers<T>>, failed: fn(T) -> T) {
    let mut dir_synced = false;
    while let Ok(first) = rx.recv() {
        let mut waiting = vec![first];
        while let Ok(more) = rx.try_recv() {
            waiting.push(more);
        }
        let synced = sync(wal, &mut dir_synced);
        if let Err(e) = &synced {
            tracing::error!(error = %e, wal = %wal.display(), "fsync of the ledger's WAL failed");
        }
        for (reply, result) in waiting.into_iter().flatten() {
            let result = if synced.is_ok() {
                result
            } else {
                failed(result)
            };
            let _ = reply.send(result);
        }
    }
}

/// `fdatasync` of the WAL file.
pub(crate) fn fsync(wal: &std::path::Path) -> std::io::Result<()> {
    OpenOptions::new().append(true).open(wal)?.sync_data()
}

/// [`fsync`], and once its directory too (so the file itself survives a
/// power loss after it was created).
fn sync(wal: &std::path::Path, dir_synced: &mut bool) -> std::io::Result<()> {
    fsync(wal)?;
    if !*dir_synced {
        if let Some(dir) = wal.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        *dir_synced = true;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Waiting = Vec<oneshot::Receiver<Result<u32, u32>>>;

    fn answers(n: usize) -> (Answers<Result<u32, u32>>, Waiting) {
        (0..n)
            .map(|i| {
                let (tx, rx) = oneshot::channel();
                ((tx, Ok(i as u32)), rx)
            })
            .unzip()
    }

    #[tokio::test]
    async fn answers_come_after_the_fsync_and_in_order() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let wal = dir.path().join("ledger.db-wal");
        std::fs::write(&wal, b"frames")?;
        let syncer = WalSyncer::start(wal, |r: Result<u32, u32>| Err(r.unwrap_or(0)))?;
        let (a, rx) = answers(5);
        syncer.answer_when_durable(a);
        for (i, rx) in rx.into_iter().enumerate() {
            assert_eq!(rx.await?, Ok(i as u32));
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_failed_fsync_turns_every_waiting_answer_into_an_error(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        // No WAL file there: the fsync fails.
        let syncer = WalSyncer::start(dir.path().join("missing/db-wal"), |r: Result<u32, u32>| {
            Err(r.unwrap_or(0) + 100)
        })?;
        let (a, rx) = answers(3);
        syncer.answer_when_durable(a);
        for (i, rx) in rx.into_iter().enumerate() {
            assert_eq!(rx.await?, Err(i as u32 + 100));
        }
        Ok(())
    }
}
