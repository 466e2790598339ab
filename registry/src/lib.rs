//! Distributing plugins through OCI registries.
//!
//! A plugin is a WebAssembly component; published, it is an OCI artifact in
//! the CNCF Wasm layout (config `application/vnd.wasm.config.v0+json`, one
//! `application/wasm` layer), so `wkg` and other tools of the ecosystem pull
//! what Kiln pushes and Kiln pulls what they push. Pulled components land in
//! a content-addressed [`Store`] shared by every run on the machine, written
//! only once their digest is verified, so later runs that name the digest
//! need no network.
//!
//! The crate is shaped around three jobs, one module each: naming an
//! artifact ([`reference`]), building and checking its manifest and config
//! ([`artifact`]), and keeping verified blobs ([`store`]); [`client`] talks
//! to registries with `oci-client`, and [`auth`] finds credentials the way
//! docker does. Nothing here prints a credential: errors name the reference
//! and the registry, never what was sent to it.

pub mod artifact;
pub mod auth;
pub mod client;
pub mod error;
pub mod reference;
pub mod signature;
pub mod store;

pub use client::{Pulled, Pushed, Registry};
pub use error::RegistryError;
pub use reference::OciReference;
pub use store::{SharedStore, Store};
