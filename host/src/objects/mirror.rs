//! A work directory on object storage (`work_dir = "s3://bucket/prefix"`,
//! or `gs://…`, `az://…`):
//! each process works in a local scratch copy of the part it needs, and the
//! prefix is the work directory every process shares.
//!
//! A work directory is a transactional store of files committed by rename
//! (chunks, then the manifest that names them; a step's files, then its
//! `done` marker). Object stores have no rename, but S3, GCS and Azure all
//! have whole-object puts that are visible at once and strongly consistent
//! reads, which is all the commit protocol needs if the order of puts
//! follows the order of commits:
//!
//! - **down**: a process starts from an empty scratch directory and pulls
//!   only the objects its role reads (a task its own directory and the
//!   staged results it applies, a band merge that band's keys, the merge
//!   every task's chunks — the caller says which, [`WorkMirror::pull`]);
//! - **up**: every file committed by rename is queued, as committed, right
//!   after its rename, and put in the background in commit order while the
//!   run goes on, so a manifest reaches the store after the chunks it names
//!   ([`committed`], [`super::uploader`]); committing a `done` marker first
//!   waits for the queue, then puts every file of the scratch copy that
//!   changed since it was pulled or put (files that steps write by other
//!   means: sorted keys, edges, trained models) and deletes what was
//!   removed, then the marker. A reader that finds a marker in the store
//!   therefore finds everything it covers.
//!
//! The request cache, the run lock and temporary files stay local. The
//! scratch directory is removed when the pipeline that made it is dropped
//! (`$KILN_WORK_SCRATCH`, else the system's temporary directory, holds it).
//! Two processes must not run the same task at once: the run lock is local,
//! so on object storage it is the scheduler that runs one process per rank.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

use super::uploader::{Upload, Uploader};
use super::{ObjectUrl, error_text, on_runtime};

/// Downloads and uploads in flight at once.
const IN_FLIGHT: usize = 16;

/// When a file was last pulled or put: changed when either differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        meta.is_file().then(|| Stamp { size: meta.len(), modified: meta.modified().ok() })
    }
}

/// What a pull brought down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pulled {
    /// Files.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// A local scratch directory mirroring a work directory's prefix.
pub struct WorkMirror {
    root: PathBuf,
    prefix: ObjectUrl,
    store: Arc<dyn ObjectStore>,
    /// Every file pulled or put, relative to the root, as it was then.
    known: Arc<Mutex<HashMap<String, Stamp>>>,
    /// Every object pulled, as the store listed it then (size, entity tag).
    seen: Mutex<HashMap<String, (u64, Option<String>)>>,
    /// Held by every put and sync, so that a sync never takes a file being
    /// put meanwhile for one removed.
    order: Mutex<()>,
    /// Committed files on their way to the store.
    uploads: Uploader,
    /// Held for as long as the mirror lives, removed with it.
    _scratch: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for WorkMirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WorkMirror({} in {})", self.prefix, self.root.display())
    }
}

/// The mirrors of this process, found by the local path a write is under.
static MIRRORS: RwLock<Vec<Arc<WorkMirror>>> = RwLock::new(Vec::new());

/// A mirror in use; dropping the last handle forgets it and removes its scratch directory.
#[derive(Debug)]
pub struct Attached(Arc<WorkMirror>);

impl Drop for Attached {
    fn drop(&mut self) {
        MIRRORS.write().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|m| !Arc::ptr_eq(m, &self.0));
        // What is queued still goes up (a failure is already said, or the run ended early anyway).
        self.0.uploads.close();
    }
}

impl std::ops::Deref for Attached {
    type Target = WorkMirror;
    fn deref(&self) -> &WorkMirror {
        &self.0
    }
}

/// Whether a file (relative to a work directory's root) never leaves the
/// machine: request caches, run locks, temporary files and write probes,
/// and the outputs assembled before they are converted or published.
fn stays_local(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let name = parts.last().copied().unwrap_or_default();
    let under_root =
        |dir: &str| parts.first() == Some(&dir) || (parts.first() == Some(&"tasks") && parts.get(2) == Some(&dir));
    name.contains(".tmp")
        || name == "run.lock"
        || name.starts_with(".kiln-write-test")
        || under_root("cache")
        || parts.first() == Some(&"out")
        // A run's outputs assembled before they are converted to Parquet.
        || (parts.len() == 1 && name.starts_with("assembled-"))
}

/// Whether `name` is a commit marker: a finished step's `done`, `*.done`.
fn is_marker(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n == "done" || n.ends_with(".done"))
}

impl WorkMirror {
    /// Mirrors `prefix` in a new scratch directory (under
    /// `$KILN_WORK_SCRATCH`, else the system's temporary directory); writes
    /// under it are put under the prefix from now on. Nothing is pulled yet.
    pub fn attach(prefix: ObjectUrl) -> Result<Attached, String> {
        let scratch = match std::env::var_os("KILN_WORK_SCRATCH") {
            Some(dir) => {
                std::fs::create_dir_all(&dir).map_err(|e| format!("$KILN_WORK_SCRATCH {}: {e}", dir.display()))?;
                tempfile::Builder::new().prefix("kiln-work-").tempdir_in(&dir)
            }
            None => tempfile::Builder::new().prefix("kiln-work-").tempdir(),
        }
        .map_err(|e| format!("cannot make a scratch directory for the work directory: {e}"))?;
        // The copy in `work/`, and the upload queue's staging directory beside it.
        let root = scratch.path().join("work");
        std::fs::create_dir(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        WorkMirror::attach_at(prefix, root, Some(scratch))
    }

    /// Mirrors `prefix` in `root` (which the caller keeps).
    pub fn attach_at(prefix: ObjectUrl, root: PathBuf, scratch: Option<tempfile::TempDir>) -> Result<Attached, String> {
        let store = prefix.client()?;
        WorkMirror::attach_to(store, prefix, root, scratch)
    }

    /// Mirrors `prefix` of `store` in `root`.
    fn attach_to(
        store: Arc<dyn ObjectStore>,
        prefix: ObjectUrl,
        root: PathBuf,
        scratch: Option<tempfile::TempDir>,
    ) -> Result<Attached, String> {
        let uploads = Uploader::start(store.clone(), &root)?;
        let mirror = Arc::new(WorkMirror {
            store,
            root,
            prefix,
            known: Arc::new(Mutex::new(HashMap::new())),
            seen: Mutex::new(HashMap::new()),
            order: Mutex::new(()),
            uploads,
            _scratch: scratch,
        });
        MIRRORS.write().unwrap_or_else(std::sync::PoisonError::into_inner).push(mirror.clone());
        Ok(Attached(mirror))
    }

    /// The local directory standing for the prefix.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The prefix.
    pub fn prefix(&self) -> &ObjectUrl {
        &self.prefix
    }

    fn key(&self, rel: &str) -> ObjectPath {
        self.prefix.child(rel).path()
    }

    fn rel(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        parts.map(|p| p.join("/")).filter(|r| !r.is_empty())
    }

    /// Brings down every object under the prefix that `wanted` accepts (by
    /// its key relative to the prefix) into the scratch directory, replacing
    /// what is there; a file pulled before, unchanged here since and gone
    /// from the store (another process started it over) is removed here too.
    pub fn pull(&self, wanted: &dyn Fn(&str) -> bool) -> Result<Pulled, String> {
        self.uploads.drain()?;
        let store = self.store.clone();
        let base = self.prefix.path();
        let listed: Vec<object_store::ObjectMeta> =
            on_runtime(async move { store.list(Some(&base)).try_collect().await.map_err(|e| error_text(&e)) })??;
        let cut = if self.prefix.key.is_empty() { 0 } else { self.prefix.key.len() + 1 };
        let mut jobs = Vec::new();
        let mut listed_here = std::collections::HashSet::new();
        for meta in listed {
            let Some(rel) = meta.location.as_ref().get(cut..).map(str::to_string) else { continue };
            if rel.is_empty() || stays_local(&rel) || !wanted(&rel) {
                continue;
            }
            listed_here.insert(rel.clone());
            let local = self.root.join(&rel);
            let version = (meta.size, meta.e_tag.clone());
            // Unchanged here since pulled, and the same object in the store.
            if self.unchanged_since_pulled(&rel, &local, &version) {
                continue;
            }
            jobs.push((rel, meta.location, local, version));
        }
        let store = self.store.clone();
        let downloads = jobs.clone();
        let bytes = on_runtime(async move {
            futures::stream::iter(downloads)
                .map(|(_, key, local, _)| download(store.clone(), key, local))
                .buffer_unordered(IN_FLIGHT)
                .try_fold(0u64, |sum, n| async move { Ok(sum + n) })
                .await
        })??;
        let mut known = self.known.lock().map_err(|_| "the mirror's lock is poisoned".to_string())?;
        let mut seen = self.seen.lock().map_err(|_| "the mirror's lock is poisoned".to_string())?;
        for (rel, _, local, version) in &jobs {
            if let Some(stamp) = Stamp::of(local) {
                known.insert(rel.clone(), stamp);
                seen.insert(rel.clone(), version.clone());
            }
        }
        let gone: Vec<String> = known
            .iter()
            .filter(|(rel, stamp)| {
                !listed_here.contains(*rel) && wanted(rel) && Stamp::of(&self.root.join(rel)) == Some(**stamp)
            })
            .map(|(rel, _)| rel.clone())
            .collect();
        for rel in gone {
            let local = self.root.join(&rel);
            std::fs::remove_file(&local).map_err(|e| format!("cannot remove {}: {e}", local.display()))?;
            known.remove(&rel);
            seen.remove(&rel);
        }
        Ok(Pulled { files: jobs.len() as u64, bytes })
    }

    /// Whether `rel` was pulled as `version` of its object and not changed here since.
    fn unchanged_since_pulled(&self, rel: &str, local: &Path, version: &(u64, Option<String>)) -> bool {
        let known = self.known.lock().ok().and_then(|k| k.get(rel).copied());
        let seen = self.seen.lock().ok().and_then(|s| s.get(rel).cloned());
        known.is_some() && Stamp::of(local) == known && seen.as_ref() == Some(version)
    }

    /// Queues the file `rel` as it is now, to be put after everything
    /// queued before it (put at once where it cannot be linked).
    fn put(&self, rel: &str) -> Result<(), String> {
        let _order = self.order.lock().map_err(|_| "the mirror's lock is poisoned".to_string())?;
        let local = self.root.join(rel);
        let Some(stamp) = Stamp::of(&local) else { return Ok(()) };
        let staged = self.uploads.staged_path();
        if std::fs::hard_link(&local, &staged).is_err() {
            self.uploads.drain()?;
            return self.put_in_order(rel);
        }
        let (known, rel_owned) = (self.known.clone(), rel.to_string());
        self.uploads.enqueue(Upload {
            staged,
            key: self.key(rel),
            shown: self.prefix.child(rel).to_string(),
            done: Box::new(move || {
                if let Ok(mut known) = known.lock() {
                    known.insert(rel_owned, stamp);
                }
            }),
        })
    }

    /// [`WorkMirror::put`], the order lock held.
    fn put_in_order(&self, rel: &str) -> Result<(), String> {
        let local = self.root.join(rel);
        let Some(stamp) = Stamp::of(&local) else { return Ok(()) };
        let store = self.store.clone();
        let key = self.key(rel);
        let shown = self.prefix.child(rel);
        on_runtime(async move { super::publish::put_file(&store, &local, &key).await })?
            .map_err(|e| format!("cannot put {shown}: {e}"))?;
        self.known.lock().map_err(|_| "the mirror's lock is poisoned".to_string())?.insert(rel.to_string(), stamp);
        Ok(())
    }

    /// Puts every file of the scratch copy that changed since it was pulled
    /// or put (but `last`, put after them), and deletes from the store what
    /// was pulled or put and is gone here.
    fn sync(&self, last: Option<&str>) -> Result<(), String> {
        let _order = self.order.lock().map_err(|_| "the mirror's lock is poisoned".to_string())?;
        self.uploads.drain()?;
        let mut changed = Vec::new();
        let mut present = std::collections::HashSet::new();
        for entry in walkdir::WalkDir::new(&self.root) {
            // A directory that cannot be read must not look like files removed.
            let entry = entry.map_err(|e| format!("cannot read the scratch copy: {e}"))?;
            if !entry.file_type().is_file() {
                continue;
            }
            let Some(rel) = self.rel(entry.path()) else { continue };
            if stays_local(&rel) {
                continue;
            }
            let stamp = Stamp::of(entry.path());
            let known = self.known.lock().map_err(|_| "the mirror's lock is poisoned".to_string())?.get(&rel).copied();
            if stamp != known && Some(rel.as_str()) != last {
                changed.push(rel.clone());
            }
            present.insert(rel);
        }
        let gone: Vec<String> = {
            let known = self.known.lock().map_err(|_| "the mirror's lock is poisoned".to_string())?;
            known.keys().filter(|rel| !present.contains(*rel)).cloned().collect()
        };
        changed.sort();
        let store = self.store.clone();
        let uploads: Vec<(String, PathBuf, ObjectPath)> =
            changed.iter().map(|rel| (rel.clone(), self.root.join(rel), self.key(rel))).collect();
        let stamps: Vec<(String, Option<Stamp>)> =
            uploads.iter().map(|(rel, p, _)| (rel.clone(), Stamp::of(p))).collect();
        let deletions: Vec<ObjectPath> = gone.iter().map(|rel| self.key(rel)).collect();
        on_runtime(async move {
            futures::stream::iter(uploads)
                .map(|(rel, local, key)| {
                    let store = store.clone();
                    async move {
                        super::publish::put_file(&store, &local, &key)
                            .await
                            .map_err(|e| format!("cannot put {rel}: {e}"))
                    }
                })
                .buffer_unordered(IN_FLIGHT)
                .try_collect::<Vec<u64>>()
                .await?;
            for key in deletions {
                delete(&store, &key).await?;
            }
            Ok::<(), String>(())
        })??;
        {
            let mut known = self.known.lock().map_err(|_| "the mirror's lock is poisoned".to_string())?;
            for (rel, stamp) in stamps {
                if let Some(stamp) = stamp {
                    known.insert(rel, stamp);
                }
            }
            for rel in &gone {
                known.remove(rel);
            }
        }
        match last {
            Some(rel) => self.put_in_order(rel),
            None => Ok(()),
        }
    }

    /// Deletes from the store every entry at the top of the prefix (an
    /// object, or a "directory" of them) whose name `cleared` accepts: a run
    /// started over, without bringing down what it removes.
    pub fn remove_top_level(&self, cleared: &dyn Fn(&str) -> bool) -> Result<(), String> {
        let store = self.store.clone();
        let base = self.prefix.path();
        let listed =
            on_runtime(async move { store.list_with_delimiter(Some(&base)).await.map_err(|e| error_text(&e)) })??;
        let names: Vec<String> = listed
            .common_prefixes
            .iter()
            .chain(listed.objects.iter().map(|o| &o.location))
            .filter_map(|path| path.filename().map(str::to_string))
            .filter(|name| cleared(name))
            .collect();
        for name in names {
            self.remove(&name)?;
        }
        Ok(())
    }

    /// Puts every change in the scratch copy (a process's last step: what
    /// it wrote by means other than a commit, such as logs).
    pub fn flush(&self) -> Result<(), String> {
        self.sync(None)
    }

    /// Deletes `rel` and everything under `rel/` from the store.
    fn remove(&self, rel: &str) -> Result<(), String> {
        // A put still queued must not bring back what is deleted.
        self.uploads.drain()?;
        let store = self.store.clone();
        let key = self.key(rel);
        let below = self.key(rel);
        on_runtime(async move {
            delete(&store, &key).await?;
            let mut listed: Vec<object_store::ObjectMeta> =
                store.list(Some(&below)).try_collect().await.map_err(|e| error_text(&e))?;
            // Markers first: none may outlive, even for a moment, what it covers.
            listed.sort_by_key(|m| !is_marker(Path::new(m.location.as_ref())));
            for meta in listed {
                delete(&store, &meta.location).await?;
            }
            Ok::<(), String>(())
        })??;
        let prefix = format!("{rel}/");
        self.known
            .lock()
            .map_err(|_| "the mirror's lock is poisoned".to_string())?
            .retain(|k, _| k != rel && !k.starts_with(&prefix));
        Ok(())
    }
}

/// Downloads `key` into `local` (through a temporary file beside it).
async fn download(store: Arc<dyn ObjectStore>, key: ObjectPath, local: PathBuf) -> Result<u64, String> {
    use std::io::Write;
    let dir = local.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut file =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))?;
    let mut stream =
        store.get(&key).await.map_err(|e| format!("cannot get `{key}`: {}", error_text(&e)))?.into_stream();
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("cannot get `{key}`: {}", error_text(&e)))?;
        file.write_all(&chunk).map_err(|e| format!("cannot write {}: {e}", local.display()))?;
        bytes += chunk.len() as u64;
    }
    file.persist(&local).map_err(|e| format!("cannot write {}: {}", local.display(), e.error))?;
    Ok(bytes)
}

/// Deletes `key`; one that is not there is fine.
async fn delete(store: &Arc<dyn ObjectStore>, key: &ObjectPath) -> Result<(), String> {
    match store.delete(key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(format!("cannot delete `{key}`: {}", error_text(&e))),
    }
}

/// The mirror `path` lies in, with its path relative to the mirror's root.
fn mirror_of(path: &Path) -> Option<(Arc<WorkMirror>, String)> {
    // A panic elsewhere while the list was being changed leaves it whole.
    let mirrors = MIRRORS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    mirrors.iter().find_map(|m| m.rel(path).map(|rel| (m.clone(), rel)))
}

/// Called once `path` was committed (renamed into place): when it lies in a
/// mirrored work directory, puts it — after every other change there, when
/// it is a `done` marker. Nothing to do for a path outside every mirror.
pub fn committed(path: &Path) -> Result<(), String> {
    let Some((mirror, rel)) = mirror_of(path) else { return Ok(()) };
    if stays_local(&rel) {
        return Ok(());
    }
    if is_marker(path) { mirror.sync(Some(&rel)) } else { mirror.put(&rel) }
}

/// Called once `path` (a file or a directory) was removed: when it lies in
/// a mirrored work directory, removes it (and all under it) from the store.
pub fn removed(path: &Path) -> Result<(), String> {
    match mirror_of(path) {
        Some((mirror, rel)) if !stays_local(&rel) => mirror.remove(&rel),
        _ => Ok(()),
    }
}

/// Where a user finds `path`: its object (`s3://bucket/prefix/rel`) when it
/// lies in a mirrored work directory — the scratch copy is gone once its
/// process ends — else `path` itself.
pub fn shown(path: &Path) -> PathBuf {
    match mirror_of(path) {
        Some((mirror, rel)) => PathBuf::from(mirror.prefix.child(&rel).to_string()),
        None => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_locks_temporary_files_and_staged_outputs_stay_local() {
        for rel in ["cache/completions.sqlite", "tasks/00000-of-00002/cache/x", "run.lock", "chunks/1.kept.jsonl.tmp"] {
            assert!(stays_local(rel), "{rel}");
        }
        assert!(stays_local("out/kept.jsonl"), "the outputs are published, not mirrored");
        assert!(stays_local("assembled-kept.jsonl"), "converted to Parquet, not mirrored");
        assert!(stays_local(".kiln-write-test-4242-17"), "a write probe");
        for rel in [
            "manifest.json",
            "tasks/00000-of-00002/out/done",
            "models/cache/report.json",
            "tasks/input-counts.json",
            "tasks/00001-of-00002/staged/near/band-000.keys",
        ] {
            assert!(!stays_local(rel), "{rel}");
        }
    }

    /// Two processes sharing one store, each in a scratch directory of its own.
    fn two_processes() -> (tempfile::TempDir, Attached, tempfile::TempDir, Attached) {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let prefix = ObjectUrl::parse_prefix("s3://runs/work").expect("prefix");
        let (a, b) = (tempfile::tempdir().expect("a"), tempfile::tempdir().expect("b"));
        let first = WorkMirror::attach_to(store.clone(), prefix.clone(), a.path().to_path_buf(), None).expect("a");
        let second = WorkMirror::attach_to(store, prefix, b.path().to_path_buf(), None).expect("b");
        (a, first, b, second)
    }

    fn keys(mirror: &WorkMirror) -> Vec<String> {
        let store = mirror.store.clone();
        let mut keys: Vec<String> =
            on_runtime(
                async move { store.list(None).map_ok(|m| m.location.to_string()).try_collect::<Vec<_>>().await },
            )
            .expect("runtime")
            .expect("list");
        keys.sort();
        keys
    }

    fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn commits_are_put_in_order_and_a_marker_after_everything_it_covers() {
        let (a, first, b, second) = two_processes();
        let root = a.path();
        let chunk = write(root, "chunks/00000000.kept.jsonl", "{}\n");
        committed(&chunk).expect("chunk");
        // Queued as committed: replaced right after, the first version still goes up first.
        std::fs::write(root.join("replacement"), "{\"v\": 2}\n").expect("write");
        std::fs::rename(root.join("replacement"), &chunk).expect("rename");
        first.uploads.drain().expect("put");
        assert_eq!(keys(&first), ["work/chunks/00000000.kept.jsonl"], "put in the background once committed");
        let store = first.store.clone();
        let text =
            on_runtime(
                async move { store.get(&ObjectPath::from("work/chunks/00000000.kept.jsonl")).await?.bytes().await },
            )
            .expect("runtime")
            .expect("get");
        assert_eq!(&text[..], b"{}\n", "the file as committed, not as it is now");
        committed(&chunk).expect("the new version");
        // Written by other means (sorted keys), then covered by a marker.
        write(root, "tasks/00000-of-00002/staged/near/band-000.keys", "keys");
        write(root, "cache/completions.sqlite", "stays here");
        write(root, "run.lock", "pid 1");
        assert_eq!(keys(&first).len(), 1, "nothing but commits is put");
        committed(&write(root, "tasks/00000-of-00002/staged/near/done", "{}")).expect("marker");
        assert_eq!(
            keys(&first),
            [
                "work/chunks/00000000.kept.jsonl",
                "work/tasks/00000-of-00002/staged/near/band-000.keys",
                "work/tasks/00000-of-00002/staged/near/done"
            ]
        );
        assert_eq!(shown(&chunk), PathBuf::from("s3://runs/work/chunks/00000000.kept.jsonl"));

        // Another process pulls only what it asks for.
        let pulled = second.pull(&|rel| !rel.ends_with(".keys")).expect("pull");
        assert_eq!(pulled.files, 2);
        assert_eq!(
            std::fs::read_to_string(b.path().join("chunks/00000000.kept.jsonl")).expect("pulled"),
            "{\"v\": 2}\n"
        );
        assert!(!b.path().join("tasks/00000-of-00002/staged/near/band-000.keys").exists());
        assert_eq!(second.pull(&|_| true).expect("again").files, 1, "only what it lacks");

        // Removed by the first (started over): gone from the store and, at its next pull, from the second.
        let staged = root.join("tasks/00000-of-00002/staged");
        std::fs::remove_dir_all(&staged).expect("remove");
        removed(&staged).expect("removed");
        assert_eq!(keys(&first), ["work/chunks/00000000.kept.jsonl"]);
        second.pull(&|_| true).expect("pull");
        assert!(!b.path().join("tasks/00000-of-00002/staged/near/done").exists(), "a marker gone from the store");
        assert!(b.path().join("chunks/00000000.kept.jsonl").exists());
    }

    #[test]
    fn a_flush_puts_what_changed_and_deletes_what_was_removed() {
        let (a, first, _b, _second) = two_processes();
        let root = a.path();
        let log = write(root, "tasks/00000-of-00002.log", "started\n");
        first.flush().expect("flush");
        let unsorted = write(root, "tasks/00000-of-00002/staged/near/band-000.unsorted", "x");
        committed(&write(root, "tasks/00000-of-00002/out/done", "")).expect("marker");
        assert!(keys(&first).contains(&"work/tasks/00000-of-00002/staged/near/band-000.unsorted".to_string()));
        std::fs::remove_file(&unsorted).expect("remove");
        std::fs::write(&log, "started\nfinished\n").expect("append");
        first.flush().expect("flush");
        assert_eq!(keys(&first), ["work/tasks/00000-of-00002.log", "work/tasks/00000-of-00002/out/done"]);
        let store = first.store.clone();
        let text =
            on_runtime(
                async move { store.get(&ObjectPath::from("work/tasks/00000-of-00002.log")).await?.bytes().await },
            )
            .expect("runtime")
            .expect("get");
        assert_eq!(&text[..], b"started\nfinished\n");
    }

    #[test]
    fn markers_are_done_files() {
        assert!(is_marker(Path::new("/w/tasks/00000-of-00002/out/done")));
        assert!(is_marker(Path::new("/w/tasks/staged-of-00002/near/band-003.done")));
        assert!(!is_marker(Path::new("/w/manifest.json")));
        assert!(!is_marker(Path::new("/w/chunks/00000001.kept.jsonl")));
    }
}
