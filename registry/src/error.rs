//! Everything that can go wrong publishing, resolving or storing a plugin,
//! each naming the reference (never a credential) and what to do.

use std::path::PathBuf;

/// A registry or store failure.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The reference is not `oci://HOST/REPOSITORY[:TAG][@sha256:HEX]`.
    #[error(
        "`{reference}` is not a plugin reference: {why} (expected `oci://HOST[:PORT]/NAMESPACE/NAME:TAG` or `…@sha256:<64 hex>`)"
    )]
    BadReference {
        /// As written.
        reference: String,
        /// What is wrong with it.
        why: String,
    },
    /// The file to push or the artifact pulled is not a WebAssembly component.
    #[error("{what} is not a WebAssembly component: {why}")]
    NotAComponent {
        /// The file or reference.
        what: String,
        /// Why.
        why: String,
    },
    /// The artifact is not in the Wasm OCI layout.
    #[error("`{reference}` is not a Wasm plugin artifact: {why}")]
    NotAPlugin {
        /// The reference.
        reference: String,
        /// Why.
        why: String,
    },
    /// Content whose digest is not the one it was asked for.
    #[error(
        "`{reference}`: digest mismatch: expected {expected}, got {actual}; nothing was stored (the registry's copy is corrupt or was tampered with)"
    )]
    DigestMismatch {
        /// The reference.
        reference: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what came.
        actual: String,
    },
    /// The registry refused, failed or could not be reached (after retries).
    #[error("`{reference}`: registry {registry}: {why}")]
    Registry {
        /// The reference.
        reference: String,
        /// The registry host.
        registry: String,
        /// What happened.
        why: String,
    },
    /// Credentials could not be read.
    #[error("registry credentials in {path}: {why}")]
    Credentials {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The local store could not be read or written.
    #[error("plugin store {path}: {source}")]
    Store {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
