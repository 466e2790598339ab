//! Where a plugin named in a pipeline comes from: a file beside the pipeline
//! (optionally pinned by sha256), or a published artifact (`oci://…`)
//! resolved through `kiln.lock` and the machine's content-addressed plugin
//! store ([`kiln_registry`]), pulled from its registry only when the store
//! does not already hold the digest that runs. Both end as a local file and
//! the digest the sandbox must find in it, so loading is one path for both
//! and a component is verified again as it is read.
//!
//! Which digest runs: the pipeline's own `digest = …` if it pins one; else
//! the lock's entry for the reference; else (no entry, or `kiln lock
//! --update`) what the tag names now, which becomes the lock's entry. Every
//! change to the lock is recorded as a [`LockChange`]; with `--locked` a
//! change is an error at the reference instead.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kiln_registry::{OciReference, Registry, Store};

use super::lock::{LockedPlugin, Lockfile};
use super::trust::TrustPolicy;
use crate::pipeline::config::PluginSpec;

/// A plugin found on disk.
#[derive(Debug, Clone)]
pub struct Located {
    /// The component file.
    pub path: PathBuf,
    /// The sha256 (hex or `sha256:hex`) it must have.
    pub sha256: Option<String>,
}

/// How the build treats `kiln.lock`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LockMode {
    /// Honour it; add what it lacks in memory, write nothing (`kiln validate`).
    #[default]
    Read,
    /// Honour it; write it when something was added or changed (`kiln run`).
    Write,
    /// Honour it; any change is an error (`kiln run --locked`).
    Locked,
    /// Resolve every tag again and write the result (`kiln lock --update`).
    Update,
}

/// A change the build made (or, with `--locked`, refused to make) to the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockChange {
    /// A reference the lock did not have.
    Added {
        /// The reference.
        reference: String,
        /// Its digest.
        digest: String,
    },
    /// The same digest, now checked against another signer (the policy changed).
    Signer {
        /// The reference.
        reference: String,
        /// The signer the lock had.
        from: String,
        /// The signer now.
        to: String,
    },
    /// A reference now resolving to another digest.
    Moved {
        /// The reference.
        reference: String,
        /// The digest the lock had.
        from: String,
        /// The digest it has now.
        to: String,
    },
}

impl std::fmt::Display for LockChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockChange::Added { reference, digest } => write!(f, "added {reference} -> {digest}"),
            LockChange::Moved { reference, from, to } => write!(f, "moved {reference}: {from} -> {to}"),
            LockChange::Signer { reference, from, to } => write!(f, "signer of {reference}: {from} -> {to}"),
        }
    }
}

/// Resolves every plugin of one pipeline file, against its directory's lock.
pub struct PluginResolver {
    base: PathBuf,
    store: Option<PathBuf>,
    trust: TrustPolicy,
    mode: LockMode,
    lock_path: PathBuf,
    state: RefCell<ResolverState>,
}

#[derive(Default)]
struct ResolverState {
    lock: Lockfile,
    existed: bool,
    changes: Vec<LockChange>,
    registry: Option<Registry>,
    resolved: HashMap<(String, Option<String>), Located>,
}

impl PluginResolver {
    /// A resolver for a pipeline in `base` whose lock is `lock` (as read).
    pub fn new(
        base: &Path,
        mode: LockMode,
        lock: Option<Lockfile>,
        trust: TrustPolicy,
        store: Option<PathBuf>,
    ) -> PluginResolver {
        let existed = lock.is_some();
        let lock = lock.unwrap_or_default();
        PluginResolver {
            base: base.to_path_buf(),
            store,
            trust,
            mode,
            lock_path: Lockfile::path_in(base),
            state: RefCell::new(ResolverState { lock, existed, ..ResolverState::default() }),
        }
    }

    /// Where the lock lives.
    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }

    /// Find `spec`.
    pub fn locate(&self, spec: &PluginSpec) -> Result<Located, String> {
        let Some((text, digest)) = spec.published() else {
            let path = self.base.join(spec.path());
            if path.is_file() {
                self.trust.verify(spec.path(), &path)?;
            }
            return Ok(Located { path, sha256: spec.sha256().map(str::to_string) });
        };
        let key = (text.to_string(), digest.map(str::to_string));
        if let Some(found) = self.state.borrow().resolved.get(&key) {
            return Ok(found.clone());
        }
        let located = self.resolve(text, digest)?;
        self.state.borrow_mut().resolved.insert(key, located.clone());
        Ok(located)
    }

    fn resolve(&self, text: &str, pinned: Option<&str>) -> Result<Located, String> {
        let mut reference = OciReference::parse(text).map_err(|e| e.to_string())?;
        if let Some(digest) = pinned {
            kiln_registry::reference::check_digest(digest).map_err(|why| format!("`{text}`: {why}"))?;
            if reference.digest.as_deref().is_some_and(|d| d != digest) {
                return Err(format!("`{text}` names a digest other than `digest = \"{digest}\"`; keep one"));
            }
            reference = reference.pinned(digest);
        }
        let locked = self.state.borrow().lock.get(text).cloned();
        let follow_lock = reference.digest.is_none() && self.mode != LockMode::Update;
        if let Some(entry) = locked.as_ref().filter(|_| follow_lock) {
            reference = reference.pinned(&entry.digest);
        }
        let pulled = self.pull(&reference, text)?;
        let signer = self.trust.verify(text, &pulled.path)?;
        let entry = LockedPlugin {
            reference: text.to_string(),
            registry: reference.registry.clone(),
            repository: reference.repository.clone(),
            tag: reference.tag.clone(),
            digest: pulled.manifest_digest.clone(),
            component: pulled.component_digest.clone(),
            signer: signer.to_string(),
        };
        let change = match &locked {
            None => Some(LockChange::Added { reference: text.into(), digest: entry.digest.clone() }),
            Some(old) if old.digest != entry.digest => {
                Some(LockChange::Moved { reference: text.into(), from: old.digest.clone(), to: entry.digest.clone() })
            }
            Some(old) if old.signer != entry.signer => {
                Some(LockChange::Signer { reference: text.into(), from: old.signer.clone(), to: entry.signer.clone() })
            }
            Some(_) => None,
        };
        if let Some(change) = change {
            if self.mode == LockMode::Locked {
                return Err(format!("--locked: {} would change {}: {change}", text, self.lock_path.display())
                    + "; run `kiln lock` (or `kiln lock --update`) and commit kiln.lock");
            }
            let mut state = self.state.borrow_mut();
            state.changes.push(change);
            state.lock.set(entry);
        }
        Ok(Located { path: pulled.path, sha256: Some(pulled.component_digest) })
    }

    fn pull(&self, reference: &OciReference, text: &str) -> Result<kiln_registry::Pulled, String> {
        let mut state = self.state.borrow_mut();
        let registry = match &mut state.registry {
            Some(registry) => registry,
            empty => {
                let root = self
                    .store
                    .clone()
                    .or_else(Store::default_root)
                    .ok_or("no plugin store: set KILN_CACHE_DIR (or HOME) so pulled plugins can be kept")?;
                empty
                    .insert(Registry::new(crate::objects::plugin_store::local_store(root)?).map_err(|e| e.to_string())?)
            }
        };
        let pulled = registry.pull(reference).map_err(|e| {
            let hint =
                registry.store().remembered_tag(reference).filter(|_| reference.digest.is_none()).map(|digest| {
                    format!(
                        "; an earlier pull of this tag stored {digest}: to run without the registry, pin it \
                         (`kiln lock`, or `plugin = {{ oci = \"{text}\", digest = \"{digest}\" }}`)"
                    )
                });
            format!("{e}{}", hint.unwrap_or_default())
        })?;
        if pulled.from_store {
            tracing::debug!(reference = %reference, "plugin from the store");
        } else {
            tracing::info!(reference = %pulled.reference, path = %pulled.path.display(), "plugin pulled");
        }
        Ok(pulled)
    }

    /// What the build changed in the lock.
    pub fn changes(&self) -> Vec<LockChange> {
        self.state.borrow().changes.clone()
    }

    /// Write the lock when the mode asks for it and it changed (or, with
    /// published plugins, did not exist yet).
    pub fn finish(&self) -> std::io::Result<()> {
        let state = self.state.borrow();
        let wanted = matches!(self.mode, LockMode::Write | LockMode::Update);
        let anything = !state.changes.is_empty() || (!state.existed && !state.lock.plugin.is_empty());
        if wanted && anything {
            state.lock.write(&self.lock_path)?;
        }
        Ok(())
    }
}
