//! Puts a work directory's committed files in the background, one at a
//! time, in the order they were committed, so that a run computes its next
//! chunk while the last one's files travel ([`super::mirror`]).
//!
//! What is queued is the file *as committed*: a hard link to it, made in a
//! staging directory beside the scratch copy before the next commit can
//! replace it (a manifest is rewritten at every chunk), so a queued
//! manifest never goes up naming chunks queued after it. One thread puts
//! the queue in order; the queue holds at most [`QUEUE_DEPTH`] files, and a
//! commit waits for room, so the store is never more than that behind.
//!
//! The store therefore always holds a prefix of the commits, in order: a
//! process killed with files queued leaves the store as if it had been
//! killed a few commits earlier, and whoever resumes redoes those. After
//! the first put that fails, nothing more is put (a later manifest would
//! name what is missing): the failure is returned by the next commit, by
//! [`Uploader::drain`] and by every call after.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

/// Files queued at most.
pub const QUEUE_DEPTH: usize = 8;

/// One file to put.
pub struct Upload {
    /// The hard link to the file as committed, removed once put.
    pub staged: PathBuf,
    /// Its key.
    pub key: ObjectPath,
    /// Its object, for messages.
    pub shown: String,
    /// Called once it is in the store.
    pub done: Box<dyn FnOnce() + Send>,
}

/// How far the queue is.
#[derive(Default)]
struct Progress {
    /// Queued and not yet put (or dropped after a failure).
    pending: usize,
    /// The first put that failed.
    failed: Option<String>,
}

/// The queue and its thread.
pub struct Uploader {
    sender: Mutex<Option<SyncSender<Upload>>>,
    progress: Arc<(Mutex<Progress>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Where the hard links are made (beside the scratch copy, on its file system).
    staging: tempfile::TempDir,
    next: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Uploader({})", self.staging.path().display())
    }
}

impl Uploader {
    /// Starts the thread putting to `store`, staging beside `root`.
    pub fn start(store: Arc<dyn ObjectStore>, root: &Path) -> Result<Uploader, String> {
        let beside = root.parent().unwrap_or(root);
        let staging = tempfile::Builder::new()
            .prefix("kiln-uploads-")
            .tempdir_in(beside)
            .map_err(|e| format!("cannot make a staging directory in {}: {e}", beside.display()))?;
        let (sender, queue) = std::sync::mpsc::sync_channel(QUEUE_DEPTH);
        let progress = Arc::new((Mutex::new(Progress::default()), Condvar::new()));
        let thread = std::thread::Builder::new()
            .name("kiln-work-uploads".into())
            .spawn({
                let progress = progress.clone();
                move || put_in_order(&store, &queue, &progress)
            })
            .map_err(|e| format!("cannot start the upload thread: {e}"))?;
        Ok(Uploader {
            sender: Mutex::new(Some(sender)),
            progress,
            thread: Mutex::new(Some(thread)),
            staging,
            next: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// A new path in the staging directory, for the hard link of a file to queue.
    pub fn staged_path(&self) -> PathBuf {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.staging.path().join(format!("{n:012}"))
    }

    /// Queues `upload`, waiting for room; the first failure so far, if any.
    pub fn enqueue(&self, upload: Upload) -> Result<(), String> {
        {
            let mut progress = lock(&self.progress.0)?;
            if let Some(failed) = &progress.failed {
                let _ = std::fs::remove_file(&upload.staged);
                return Err(failed.clone());
            }
            progress.pending += 1;
        }
        let sent = lock(&self.sender)?.as_ref().map(|sender| sender.clone());
        let sent = match sent {
            Some(sender) => sender.send(upload).map_err(|e| e.0),
            None => Err(upload),
        };
        if let Err(upload) = sent {
            let _ = std::fs::remove_file(&upload.staged);
            let mut progress = lock(&self.progress.0)?;
            progress.pending -= 1;
            return Err("the work directory's uploads have stopped".into());
        }
        Ok(())
    }

    /// Waits until everything queued is in the store; the first failure, if any.
    pub fn drain(&self) -> Result<(), String> {
        let (progress, idle) = &*self.progress;
        let mut progress = lock(progress)?;
        while progress.pending > 0 {
            progress = idle.wait(progress).map_err(|_| "the upload queue's lock is poisoned".to_string())?;
        }
        progress.failed.clone().map_or(Ok(()), Err)
    }

    /// Puts what is queued, then stops the thread.
    pub fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }
}

/// The thread: puts each queued file in turn, none after a failure.
fn put_in_order(store: &Arc<dyn ObjectStore>, queue: &Receiver<Upload>, progress: &(Mutex<Progress>, Condvar)) {
    for upload in queue {
        let failed = progress.0.lock().map_or(true, |p| p.failed.is_some());
        let outcome = if failed {
            None
        } else {
            let (store, staged, key) = (store.clone(), upload.staged.clone(), upload.key.clone());
            Some(
                super::on_runtime(async move { super::publish::put_file(&store, &staged, &key).await })
                    .and_then(|put| put),
            )
        };
        let _ = std::fs::remove_file(&upload.staged);
        match outcome {
            // Recorded before the queue counts it done, so that a drain sees it.
            Some(Ok(_)) => (upload.done)(),
            Some(Err(e)) => {
                if let Ok(mut p) = progress.0.lock() {
                    p.failed.get_or_insert_with(|| format!("cannot put {}: {e}", upload.shown));
                }
            }
            None => {}
        }
        if let Ok(mut p) = progress.0.lock() {
            p.pending -= 1;
        }
        progress.1.notify_all();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, String> {
    mutex.lock().map_err(|_| "the upload queue's lock is poisoned".to_string())
}
