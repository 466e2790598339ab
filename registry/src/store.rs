//! The content-addressed plugin store: every component pulled from a
//! registry, under `<cache>/plugins/blobs/sha256/<hex>.wasm`, shared by all
//! runs and tenants of a machine. A blob is written only after its digest is
//! checked, through a temporary file renamed into place, so concurrent pulls
//! of the same plugin race harmlessly (both rename identical content) and a
//! reader never sees half a file. Tags are remembered under `tags/` only as
//! a hint for `kiln plugin pull` output and offline diagnostics: what runs
//! is always chosen by digest.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::artifact::digest;
use crate::error::RegistryError;
use crate::reference::OciReference;

/// A store rooted at a directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// A store at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
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

    /// The stored blob with `digest`, if present.
    pub fn get(&self, digest: &str) -> Option<PathBuf> {
        let path = self.blob_path(digest);
        path.is_file().then_some(path)
    }

    /// Store `bytes`, which must have digest `expected`; returns its path.
    pub fn put(&self, reference: &OciReference, bytes: &[u8], expected: &str) -> Result<PathBuf, RegistryError> {
        check(reference, bytes, expected)?;
        let path = self.blob_path(expected);
        write_atomically(&path, bytes)?;
        Ok(path)
    }

    /// Store a manifest, which must have digest `expected`.
    pub fn put_manifest(&self, reference: &OciReference, bytes: &[u8], expected: &str) -> Result<(), RegistryError> {
        check(reference, bytes, expected)?;
        let path = self.manifest_path(expected);
        write_atomically(&path, bytes)
    }

    /// The stored manifest with `digest`, if present.
    pub fn manifest(&self, digest: &str) -> Option<Vec<u8>> {
        std::fs::read(self.manifest_path(digest)).ok()
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
}
