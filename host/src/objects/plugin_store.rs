//! The shared plugin store on object storage: `KILN_PLUGIN_STORE =
//! "s3://bucket/prefix"` backs every machine's local plugin store with one
//! prefix of the same layout (`blobs/sha256/<hex>.wasm`,
//! `manifests/sha256/<hex>.json`; see [`kiln_registry::store`]).
//!
//! What one machine pulls from a registry (or `kiln lock`s) is put there,
//! and a machine that lacks a pinned plugin — a compute node that cannot
//! reach the registry — takes it from there, checked against its digest. A
//! put is conditional (`If-None-Match: *`): content is addressed by digest,
//! so what is already there is never rewritten, and concurrent puts of the
//! same plugin race harmlessly.

use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};

use super::{ObjectUrl, error_text, on_runtime};

/// The variable naming the shared plugin store.
pub const PLUGIN_STORE_VAR: &str = "KILN_PLUGIN_STORE";

/// A plugin store's layout under an object-storage prefix.
#[derive(Debug)]
pub struct ObjectPluginStore {
    prefix: ObjectUrl,
    store: Arc<dyn ObjectStore>,
}

impl ObjectPluginStore {
    /// The store at `prefix` (`s3://bucket/prefix`).
    pub fn new(prefix: &str) -> Result<ObjectPluginStore, String> {
        let prefix = ObjectUrl::parse_prefix(prefix)?;
        let store = prefix.client()?;
        Ok(ObjectPluginStore { prefix, store })
    }

    /// The store `KILN_PLUGIN_STORE` names, if it names one.
    pub fn from_env() -> Result<Option<Arc<dyn kiln_registry::SharedStore>>, String> {
        match std::env::var(PLUGIN_STORE_VAR) {
            Ok(url) if !url.is_empty() => ObjectPluginStore::new(&url)
                .map(|s| Some(Arc::new(s) as Arc<dyn kiln_registry::SharedStore>))
                .map_err(|e| format!("{PLUGIN_STORE_VAR}: {e}")),
            _ => Ok(None),
        }
    }

    fn path(&self, key: &str) -> ObjectPath {
        self.prefix.child(key).path()
    }
}

impl kiln_registry::SharedStore for ObjectPluginStore {
    fn has(&self, key: &str) -> Result<bool, String> {
        let (store, path) = (self.store.clone(), self.path(key));
        on_runtime(async move {
            match store.head(&path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(error_text(&e)),
            }
        })?
    }

    fn fetch(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        let (store, path) = (self.store.clone(), self.path(key));
        on_runtime(async move {
            match store.get(&path).await {
                Ok(got) => got.bytes().await.map(|b| Some(b.to_vec())).map_err(|e| error_text(&e)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(error_text(&e)),
            }
        })?
    }

    fn replace(&self, key: &str, bytes: &[u8]) -> Result<(), String> {
        self.put(key, bytes, PutMode::Overwrite)
    }

    fn offer(&self, key: &str, bytes: &[u8]) -> Result<(), String> {
        self.put(key, bytes, PutMode::Create)
    }
}

impl ObjectPluginStore {
    /// Puts `bytes` as `key` in `mode`; with [`PutMode::Create`], what is
    /// already there stays and that is no error (content is addressed by digest).
    fn put(&self, key: &str, bytes: &[u8], mode: PutMode) -> Result<(), String> {
        let (store, path) = (self.store.clone(), self.path(key));
        let payload = PutPayload::from(bytes.to_vec());
        let create = matches!(mode, PutMode::Create);
        on_runtime(async move {
            match store.put_opts(&path, payload, PutOptions { mode, ..Default::default() }).await {
                Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
                // A store that answers a failed create with 412 rather than 409.
                Err(object_store::Error::Precondition { .. }) if create => Ok(()),
                Err(e) => Err(error_text(&e)),
            }
        })?
    }
}

/// The local plugin store at `root`, backed by the shared store
/// `KILN_PLUGIN_STORE` names, if any.
pub fn local_store(root: std::path::PathBuf) -> Result<kiln_registry::Store, String> {
    let local = kiln_registry::Store::new(root);
    Ok(match ObjectPluginStore::from_env()? {
        Some(shared) => local.with_shared(shared),
        None => local,
    })
}
