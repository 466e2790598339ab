//! Where a plugin named in a pipeline comes from: a file beside the pipeline
//! (optionally pinned by sha256), or a published artifact (`oci://…`)
//! resolved through the machine's content-addressed plugin store
//! ([`kiln_registry`]), pulled from its registry only when the store does
//! not already hold the pinned digest. Both end as a local file and the
//! digest the sandbox must find in it, so loading is one path for both and a
//! component is verified again as it is read.

use std::path::{Path, PathBuf};

use kiln_registry::{OciReference, Registry, Store};

use crate::pipeline::config::PluginSpec;

/// A plugin found on disk.
#[derive(Debug, Clone)]
pub struct Located {
    /// The component file.
    pub path: PathBuf,
    /// The sha256 (hex or `sha256:hex`) it must have.
    pub sha256: Option<String>,
}

/// Find `spec` for a pipeline whose directory is `base`.
pub fn locate(base: &Path, spec: &PluginSpec) -> Result<Located, String> {
    let Some((text, digest)) = spec.published() else {
        return Ok(Located { path: base.join(spec.path()), sha256: spec.sha256().map(str::to_string) });
    };
    let mut reference = OciReference::parse(text).map_err(|e| e.to_string())?;
    if let Some(digest) = digest {
        kiln_registry::reference::check_digest(digest).map_err(|why| format!("`{text}`: {why}"))?;
        if reference.digest.as_deref().is_some_and(|d| d != digest) {
            return Err(format!("`{text}` names a digest other than `digest = \"{digest}\"`; keep one"));
        }
        reference = reference.pinned(digest);
    }
    let root =
        Store::default_root().ok_or("no plugin store: set KILN_CACHE_DIR (or HOME) so pulled plugins can be kept")?;
    let registry = Registry::new(Store::new(root)).map_err(|e| e.to_string())?;
    let pulled = registry.pull(&reference).map_err(|e| {
        let hint = registry.store().remembered_tag(&reference).filter(|_| reference.digest.is_none()).map(|digest| {
            format!(
                "; an earlier pull of this tag stored {digest}: to run without the registry, pin it: \
                     `plugin = {{ oci = \"{text}\", digest = \"{digest}\" }}`"
            )
        });
        format!("{e}{}", hint.unwrap_or_default())
    })?;
    if pulled.from_store {
        tracing::debug!(reference = %reference, "plugin from the store");
    } else {
        tracing::info!(reference = %pulled.reference, path = %pulled.path.display(), "plugin pulled");
    }
    Ok(Located { path: pulled.path, sha256: Some(pulled.component_digest) })
}
