//! The content-addressed plugin store: every component pulled from a
//! registry, under `<cache>/plugins/blobs/sha256/<hex>.wasm`, shared by all
//! runs and tenants of a machine. A blob is written only after its digest is
//! checked, through a temporary file renamed into place, so concurrent pulls
//! of the same plugin race harmlessly (both rename identical content) and a
//! reader never sees half a file. Tags are remembered under `tags/` only as
//! a hint for `kiln plugin pull` output and offline diagnostics: what runs
//! is always chosen by digest.
//!
//! A store may be backed by a [`SharedStore`] — object storage, say, for a
//! cluster whose compute nodes cannot reach the registry: what is stored
//! locally is offered to it under the same layout, and a blob or manifest
//! missing locally is fetched from it, checked against its digest and kept
//! locally. So one machine that pulled (or `kiln lock`ed) a pinned plugin
//! serves every node. It is a trait because this crate speaks OCI, not
//! object storage: the host implements it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::artifact::digest;
use crate::error::RegistryError;
use crate::reference::OciReference;

/// Storage shared by many machines' stores, keyed by the local store's
/// relative paths (`blobs/sha256/<hex>.wasm`, `manifests/sha256/<hex>.json`).
pub trait SharedStore: Send + Sync + std::fmt::Debug {
    /// The bytes kept under `key`, `None` when there are none.
    fn fetch(&self, key: &str) -> Result<Option<Vec<u8>>, String>;
    /// Keeps `bytes` under `key`; content is addressed by digest, so what is
    /// already there stays (a conditional put).
    fn offer(&self, key: &str, bytes: &[u8]) -> Result<(), String>;
    /// Whether something is kept under `key` (without fetching it).
    fn has(&self, key: &str) -> Result<bool, String>;
    /// Keeps `bytes` under `key` in place of what is there (a copy found
    /// damaged, replaced by verified bytes).
    fn replace(&self, key: &str, bytes: &[u8]) -> Result<(), String>;
}

/// A store rooted at a directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    shared: Option<Arc<dyn SharedStore>>,
    /// Keys whose shared copy did not match its digest: replaced by the
    /// verified bytes when this store next stores them.
    damaged: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

impl Store {
    /// A store at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into(), shared: None, damaged: Arc::default() }
    }

    /// This store, backed by `shared`.
    pub fn with_shared(mut self, shared: Arc<dyn SharedStore>) -> Store {
        self.shared = Some(shared);
        self
    }

    /// `$KILN_CACHE_DIR/plugins`, else `$XDG_CACHE_HOME/kiln/plugins`, else
    /// `~/.cache/kiln/plugins` (beside the compiled-component cache).
    pub fn default_root() -> Option<PathBuf> {
        let cache = if let Some(dir) = std::env::var_os("KILN_CACHE_DIR") {
            PathBuf::from(dir)
        } else if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            PathBuf::from(dir).join("kiln")
        } else {
            PathBuf::from(std::env::var_os("HOME")?).join(".cache").join("kiln")
        };
        Some(cache.join("plugins"))
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` (`sha256:<hex>`) lives, stored or not.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root.join("blobs").join("sha256").join(format!("{hex}.wasm"))
    }

    /// The stored blob with `digest`, if present (here, or in the shared store).
    pub fn get(&self, digest: &str) -> Option<PathBuf> {
        let path = self.blob_path(digest);
        if path.is_file() || self.fetch_shared(&path, digest) {
            return Some(path);
        }
        None
    }

    /// Store `bytes`, which must have digest `expected`; returns its path.
    pub fn put(&self, reference: &OciReference, bytes: &[u8], expected: &str) -> Result<PathBuf, RegistryError> {
        check(reference, bytes, expected)?;
        let path = self.blob_path(expected);
        write_atomically(&path, bytes)?;
        self.offer_shared(&path, bytes);
        Ok(path)
    }

    /// Store a manifest, which must have digest `expected`.
    pub fn put_manifest(&self, reference: &OciReference, bytes: &[u8], expected: &str) -> Result<(), RegistryError> {
        check(reference, bytes, expected)?;
        let path = self.manifest_path(expected);
        write_atomically(&path, bytes)?;
        self.offer_shared(&path, bytes);
        Ok(())
    }

    /// The stored manifest with `digest`, if present (here, or in the shared store).
    pub fn manifest(&self, digest: &str) -> Option<Vec<u8>> {
        let path = self.manifest_path(digest);
        if !path.is_file() && !self.fetch_shared(&path, digest) {
            return None;
        }
        std::fs::read(path).ok()
    }

    /// Offers the shared store the manifest and blob with these digests when
    /// it lacks them (a store filled before it was shared — a login node's —
    /// then serves the nodes that cannot reach the registry).
    pub fn share(&self, manifest_digest: &str, blob_digest: &str) {
        let Some(shared) = &self.shared else { return };
        for path in [self.manifest_path(manifest_digest), self.blob_path(blob_digest)] {
            let Some(key) = self.shared_key(&path) else { continue };
            if matches!(shared.has(&key), Ok(false))
                && let Ok(bytes) = std::fs::read(&path)
            {
                self.offer_shared(&path, &bytes);
            }
        }
    }

    /// `path`'s key in the shared store: its path under the root.
    fn shared_key(&self, path: &Path) -> Option<String> {
        let relative = path.strip_prefix(&self.root).ok()?;
        Some(relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"))
    }

    /// Fetches what belongs at `path` (content with `digest`) from the shared
    /// store into this one; false when it is not there, does not match its
    /// digest, or cannot be had (said in the log: the registry is asked next).
    fn fetch_shared(&self, path: &Path, digest: &str) -> bool {
        let (Some(shared), Some(key)) = (&self.shared, self.shared_key(path)) else { return false };
        match shared.fetch(&key) {
            Ok(Some(bytes)) if crate::artifact::digest(&bytes) == digest => match write_atomically(path, &bytes) {
                Ok(()) => {
                    tracing::info!(digest, "plugin store: {key} from the shared store");
                    true
                }
                Err(e) => {
                    tracing::warn!("plugin store: cannot keep {key}: {e}");
                    false
                }
            },
            Ok(Some(_)) => {
                tracing::warn!(digest, "plugin store: the shared store's {key} does not match its digest; not used");
                if let Ok(mut damaged) = self.damaged.lock() {
                    damaged.insert(key);
                }
                false
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!("plugin store: cannot read {key} from the shared store: {e}");
                false
            }
        }
    }

    /// Offers what was just stored at `path` to the shared store (a failure
    /// costs other machines a pull from the registry, nothing more: logged).
    fn offer_shared(&self, path: &Path, bytes: &[u8]) {
        let (Some(shared), Some(key)) = (&self.shared, self.shared_key(path)) else { return };
        let damaged = self.damaged.lock().is_ok_and(|mut damaged| damaged.remove(&key));
        let put = if damaged { shared.replace(&key, bytes) } else { shared.offer(&key, bytes) };
        match put {
            Ok(()) if damaged => tracing::info!("plugin store: replaced the damaged shared {key}"),
            Ok(()) => {}
            Err(e) => tracing::warn!("plugin store: cannot put {key} in the shared store: {e}"),
        }
    }

    fn manifest_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root.join("manifests").join("sha256").join(format!("{hex}.json"))
    }

    /// Remember that `reference`'s tag pointed at `digest` when last asked.
    pub fn remember_tag(&self, reference: &OciReference, digest: &str) -> Result<(), RegistryError> {
        let Some(path) = self.tag_path(reference) else { return Ok(()) };
        write_atomically(&path, digest.as_bytes())
    }

    /// The digest `reference`'s tag pointed at when last pulled, if known.
    pub fn remembered_tag(&self, reference: &OciReference) -> Option<String> {
        let text = std::fs::read_to_string(self.tag_path(reference)?).ok()?;
        let digest = text.trim().to_string();
        crate::reference::check_digest(&digest).ok().map(|()| digest)
    }

    fn tag_path(&self, reference: &OciReference) -> Option<PathBuf> {
        let tag = reference.tag.as_ref()?;
        let registry = reference.registry.replace([':', '[', ']'], "_");
        Some(self.root.join("tags").join(registry).join(&reference.repository).join(tag))
    }
}

/// `bytes` must have digest `expected`.
fn check(reference: &OciReference, bytes: &[u8], expected: &str) -> Result<(), RegistryError> {
    let actual = digest(bytes);
    if actual != expected {
        return Err(RegistryError::DigestMismatch {
            reference: reference.to_string(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(())
}

/// Write `bytes` to `path` through a temporary file in the same directory
/// renamed into place: readers see the old file or the whole new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RegistryError::Store { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
    file.write_all(bytes).and_then(|()| file.as_file().sync_all()).map_err(io(path))?;
    file.persist(path).map_err(|e| RegistryError::Store { path: path.to_path_buf(), source: e.error })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_only_what_matches_its_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path());
        let r = OciReference::parse("oci://127.0.0.1:5000/kiln/x:1").expect("ref");
        let bytes = b"\0asm\x0d\0\x01\0";
        let wrong = digest(b"something else");
        let e = store.put(&r, bytes, &wrong).expect_err("mismatch").to_string();
        assert!(e.contains("digest mismatch") && e.contains("oci://127.0.0.1:5000/kiln/x:1"), "{e}");
        assert!(store.get(&wrong).is_none());
        let right = digest(bytes);
        let path = store.put(&r, bytes, &right).expect("put");
        assert_eq!(store.get(&right), Some(path.clone()));
        assert_eq!(std::fs::read(&path).expect("read"), bytes);
        // A second put of the same content is harmless.
        assert_eq!(store.put(&r, bytes, &right).expect("again"), path);
        store.remember_tag(&r, &right).expect("tag");
        assert_eq!(store.remembered_tag(&r), Some(right));
    }

    /// A shared store in memory: what the host's object storage does, for a unit test.
    #[derive(Debug, Default)]
    struct InMemory(std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>);

    impl SharedStore for InMemory {
        fn fetch(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
            Ok(self.0.lock().map_err(|e| e.to_string())?.get(key).cloned())
        }
        fn offer(&self, key: &str, bytes: &[u8]) -> Result<(), String> {
            self.0.lock().map_err(|e| e.to_string())?.entry(key.to_string()).or_insert_with(|| bytes.to_vec());
            Ok(())
        }
        fn has(&self, key: &str) -> Result<bool, String> {
            Ok(self.0.lock().map_err(|e| e.to_string())?.contains_key(key))
        }
        fn replace(&self, key: &str, bytes: &[u8]) -> Result<(), String> {
            self.0.lock().map_err(|e| e.to_string())?.insert(key.to_string(), bytes.to_vec());
            Ok(())
        }
    }

    #[test]
    fn a_shared_store_serves_other_machines_what_one_stored() {
        let shared = Arc::new(InMemory::default());
        let (one, two) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
        let first = Store::new(one.path()).with_shared(shared.clone());
        let second = Store::new(two.path()).with_shared(shared.clone());
        let r = OciReference::parse("oci://127.0.0.1:5000/kiln/x:1").expect("ref");
        let (blob, manifest) = (b"\0asm\x0d\0\x01\0".as_slice(), b"{\"schemaVersion\":2}".as_slice());
        first.put(&r, blob, &digest(blob)).expect("put");
        first.put_manifest(&r, manifest, &digest(manifest)).expect("manifest");
        let key = format!("blobs/sha256/{}.wasm", digest(blob).trim_start_matches("sha256:"));
        assert!(shared.fetch(&key).expect("fetch").is_some(), "offered under the local layout");
        // The other machine has neither, and takes both from the shared store.
        let path = second.get(&digest(blob)).expect("from the shared store");
        assert!(path.starts_with(two.path()) && std::fs::read(&path).expect("read") == blob);
        assert_eq!(second.manifest(&digest(manifest)).as_deref(), Some(manifest));
        // What does not match its digest is not taken.
        let other = b"another component".as_slice();
        let forged = format!("blobs/sha256/{}.wasm", digest(other).trim_start_matches("sha256:"));
        shared.offer(&forged, b"tampered").expect("offer");
        assert!(second.get(&digest(other)).is_none());
        assert!(Store::new(two.path()).get(&digest(other)).is_none());
        // Stored again from verified bytes (a pull from the registry), the damaged copy is replaced.
        second.put(&r, other, &digest(other)).expect("put");
        assert_eq!(shared.fetch(&forged).expect("fetch").as_deref(), Some(other));
        // A store filled before it was shared offers what it holds when asked.
        let (three, late) = (tempfile::tempdir().expect("tempdir"), Arc::new(InMemory::default()));
        let before = Store::new(three.path());
        before.put(&r, blob, &digest(blob)).expect("put");
        before.put_manifest(&r, manifest, &digest(manifest)).expect("manifest");
        before.with_shared(late.clone()).share(&digest(manifest), &digest(blob));
        assert_eq!(late.0.lock().expect("lock").len(), 2);
    }
}
