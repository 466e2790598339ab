//! Talking to OCI registries: push a component as a Wasm artifact, pull one
//! by tag or digest into the [`Store`]. Plain HTTP is used only for
//! registries on loopback (tests, a local mirror) or named in
//! `KILN_INSECURE_REGISTRIES` (comma-separated `host:port`); every other
//! registry is spoken to over HTTPS with the system's roots. Transient
//! failures (no connection, 5xx) are retried a bounded number of times with
//! backoff, then reported with the reference; a registry's other refusals
//! are reported at once. Nothing reaches the store unverified: the manifest
//! digest (when pinned), the artifact's media types, the layer digest and
//! the component header are all checked first.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};

use crate::artifact::{self, CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE};
use crate::auth;
use crate::error::RegistryError;
use crate::reference::OciReference;
use crate::store::Store;

/// How many times a transient failure is tried in all.
const ATTEMPTS: u32 = 4;

/// A published component.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The reference pinned to the manifest's digest.
    pub reference: OciReference,
    /// The manifest's digest (what `@sha256:` names).
    pub manifest_digest: String,
    /// The component's digest (the layer).
    pub component_digest: String,
}

/// A component resolved into the store.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The reference pinned to the manifest's digest.
    pub reference: OciReference,
    /// The manifest's digest.
    pub manifest_digest: String,
    /// The component's digest.
    pub component_digest: String,
    /// The component in the store.
    pub path: PathBuf,
    /// Whether it came from the store without asking the registry.
    pub from_store: bool,
}

/// A registry client with a local store.
pub struct Registry {
    store: Store,
    runtime: tokio::runtime::Runtime,
    backoff: Duration,
}

impl Registry {
    /// A client whose pulls land in `store`.
    pub fn new(store: Store) -> Result<Registry, RegistryError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| RegistryError::Store { path: store.root().to_path_buf(), source })?;
        Ok(Registry { store, runtime, backoff: Duration::from_millis(250) })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What the manifest `manifest_digest`, held in the store, says about
    /// its plugin (its annotations); `None` when it is not in the store.
    pub fn metadata(&self, manifest_digest: &str) -> Option<artifact::PluginMetadata> {
        let manifest: OciImageManifest = serde_json::from_slice(&self.store.manifest(manifest_digest)?).ok()?;
        Some(artifact::PluginMetadata::from_annotations(&manifest.annotations.unwrap_or_default()))
    }

    /// Push the component `bytes` (read from `what`) to `reference`, which
    /// must name a tag, with `annotations` on the manifest (what the plugin
    /// says about itself, under the OCI keys: see [`artifact::annotations`]).
    pub fn push(
        &self,
        bytes: &[u8],
        what: &str,
        reference: &OciReference,
        annotations: BTreeMap<String, String>,
    ) -> Result<Pushed, RegistryError> {
        let world = artifact::component_world(bytes, what)?;
        let component_digest = artifact::digest(bytes);
        let created = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let config = artifact::config_for(world, &component_digest, created);
        let config = serde_json::to_vec(&config).map_err(|e| self.failed(reference, e.to_string()))?;
        let mut manifest = manifest(bytes, &component_digest, &config, what);
        if !annotations.is_empty() {
            manifest.annotations = Some(annotations.into_iter().collect());
        }
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| self.failed(reference, e.to_string()))?;
        let manifest_digest = artifact::digest(&manifest_bytes);
        let client = client_for(reference);
        let oci = reference.to_oci();
        let auth = auth::credentials(&reference.registry)?;
        self.retrying(reference, || async {
            client.store_auth_if_needed(oci.resolve_registry(), &auth).await;
            client.push_blob(&oci, bytes, &component_digest).await?;
            client.push_blob(&oci, &config, &manifest.config.digest).await?;
            let content_type = OCI_IMAGE_MEDIA_TYPE.parse().map_err(|_| OciDistributionError::GenericError(None))?;
            client.push_manifest_raw(&oci, manifest_bytes.clone(), content_type).await?;
            Ok(())
        })?;
        // What was pushed is also what a pull would store.
        self.store.put(reference, bytes, &component_digest)?;
        self.store.put_manifest(reference, &manifest_bytes, &manifest_digest)?;
        self.store.remember_tag(reference, &manifest_digest)?;
        Ok(Pushed { reference: reference.pinned(&manifest_digest), manifest_digest, component_digest })
    }

    /// Resolve `reference` into the store: from the store alone when it is
    /// pinned by digest and present (no network), else from the registry.
    pub fn pull(&self, reference: &OciReference) -> Result<Pulled, RegistryError> {
        if let Some(pulled) = self.stored(reference) {
            self.store.share(&pulled.manifest_digest, &pulled.component_digest);
            return Ok(pulled);
        }
        let client = client_for(reference);
        let oci = reference.to_oci();
        let auth = auth::credentials(&reference.registry)?;
        let (manifest_bytes, _) = self
            .retrying(reference, || async { client.pull_manifest_raw(&oci, &auth, &[OCI_IMAGE_MEDIA_TYPE]).await })?;
        let manifest_digest = artifact::digest(&manifest_bytes);
        if let Some(expected) = &reference.digest
            && *expected != manifest_digest
        {
            return Err(RegistryError::DigestMismatch {
                reference: reference.to_string(),
                expected: expected.clone(),
                actual: manifest_digest,
            });
        }
        let layer = plugin_layer(reference, &manifest_bytes)?;
        let pinned = reference.pinned(&manifest_digest).to_oci();
        let bytes = self.retrying(reference, || {
            let (client, pinned, layer) = (&client, &pinned, &layer);
            async move {
                let mut bytes = Vec::new();
                client.pull_blob(pinned, layer, &mut bytes).await.map(|()| bytes)
            }
        })?;
        artifact::component_world(&bytes, &reference.to_string())?;
        let path = self.store.put(reference, &bytes, &layer.digest)?;
        self.store.put_manifest(reference, &manifest_bytes, &manifest_digest)?;
        self.store.remember_tag(reference, &manifest_digest)?;
        Ok(Pulled {
            reference: reference.pinned(&manifest_digest),
            manifest_digest,
            component_digest: layer.digest,
            path,
            from_store: false,
        })
    }

    /// `reference` resolved from the store alone, when pinned and present.
    pub fn stored(&self, reference: &OciReference) -> Option<Pulled> {
        let manifest_digest = reference.digest.as_ref()?;
        let manifest = self.store.manifest(manifest_digest)?;
        let layer = plugin_layer(reference, &manifest).ok()?;
        let path = self.store.get(&layer.digest)?;
        Some(Pulled {
            reference: reference.clone(),
            manifest_digest: manifest_digest.clone(),
            component_digest: layer.digest,
            path,
            from_store: true,
        })
    }

    /// Run `op` until it succeeds, fails for good, or has been tried
    /// [`ATTEMPTS`] times.
    fn retrying<T, F, Fut>(&self, reference: &OciReference, mut op: F) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let mut wait = self.backoff;
        for attempt in 1..=ATTEMPTS {
            match self.runtime.block_on(op()) {
                Ok(value) => return Ok(value),
                Err(e) if transient(&e) && attempt < ATTEMPTS => {
                    tracing::warn!(reference = %reference, attempt, "registry: {e}; retrying in {wait:?}");
                    std::thread::sleep(wait);
                    wait *= 2;
                }
                Err(OciDistributionError::DigestError(e)) => {
                    return Err(self.failed(
                        reference,
                        format!("digest mismatch: {e}; nothing was stored (the registry's copy is corrupt or was tampered with)"),
                    ));
                }
                Err(e) if transient(&e) => {
                    return Err(self.failed(reference, format!("{e} (gave up after {ATTEMPTS} tries)")));
                }
                Err(e) => return Err(self.failed(reference, e.to_string())),
            }
        }
        Err(self.failed(reference, "no attempt was made".into()))
    }

    fn failed(&self, reference: &OciReference, why: String) -> RegistryError {
        RegistryError::Registry { reference: reference.to_string(), registry: reference.registry.clone(), why }
    }
}

/// The manifest of a Wasm artifact holding `bytes`.
fn manifest(bytes: &[u8], component_digest: &str, config: &[u8], what: &str) -> OciImageManifest {
    let title = std::path::Path::new(what).file_name().map(|n| n.to_string_lossy().into_owned());
    let mut manifest = OciImageManifest { media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_string()), ..Default::default() };
    manifest.config = OciDescriptor {
        media_type: CONFIG_MEDIA_TYPE.to_string(),
        digest: artifact::digest(config),
        size: config.len() as i64,
        ..Default::default()
    };
    manifest.layers = vec![OciDescriptor {
        media_type: LAYER_MEDIA_TYPE.to_string(),
        digest: component_digest.to_string(),
        size: bytes.len() as i64,
        annotations: title.map(|t| [("org.opencontainers.image.title".to_string(), t)].into_iter().collect()),
        ..Default::default()
    }];
    manifest
}

/// The one `application/wasm` layer of a Wasm artifact's manifest.
fn plugin_layer(reference: &OciReference, manifest: &[u8]) -> Result<OciDescriptor, RegistryError> {
    let not = |why: String| RegistryError::NotAPlugin { reference: reference.to_string(), why };
    let manifest: OciImageManifest =
        serde_json::from_slice(manifest).map_err(|e| not(format!("its manifest does not parse: {e}")))?;
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(not(format!(
            "its config has media type `{}`, not `{CONFIG_MEDIA_TYPE}` (is it a container image?)",
            manifest.config.media_type
        )));
    }
    match manifest.layers.as_slice() {
        [layer] if layer.media_type == LAYER_MEDIA_TYPE => {
            crate::reference::check_digest(&layer.digest).map_err(not)?;
            Ok(layer.clone())
        }
        [layer] => Err(not(format!("its layer has media type `{}`, not `{LAYER_MEDIA_TYPE}`", layer.media_type))),
        layers => Err(not(format!("it has {} layers; a Wasm artifact has exactly one", layers.len()))),
    }
}

/// An `oci-client` for `reference`'s registry: HTTP on loopback and for
/// `KILN_INSECURE_REGISTRIES`, HTTPS otherwise.
fn client_for(reference: &OciReference) -> oci_client::Client {
    let insecure = std::env::var("KILN_INSECURE_REGISTRIES").unwrap_or_default();
    let listed = insecure.split(',').map(str::trim).any(|r| r == reference.registry);
    let protocol = if reference.is_loopback() || listed {
        ClientProtocol::HttpsExcept(vec![reference.registry.clone()])
    } else {
        ClientProtocol::Https
    };
    oci_client::Client::new(ClientConfig {
        protocol,
        connect_timeout: Some(Duration::from_secs(10)),
        read_timeout: Some(Duration::from_secs(60)),
        ..Default::default()
    })
}

/// Worth trying again: no connection, a timeout, a 5xx.
fn transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(e) => e.is_connect() || e.is_timeout() || e.is_request(),
        OciDistributionError::ServerError { code, .. } => *code >= 500,
        OciDistributionError::RegistryError { .. } | OciDistributionError::GenericError(_) => false,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> OciReference {
        OciReference::parse("oci://127.0.0.1:5000/kiln/x:1").expect("ref")
    }

    #[test]
    fn only_the_wasm_layout_is_a_plugin() {
        let component = [0, b'a', b's', b'm', 0x0d, 0, 1, 0];
        let config = b"{}";
        let good =
            serde_json::to_vec(&manifest(&component, &artifact::digest(&component), config, "x.wasm")).expect("json");
        let layer = plugin_layer(&reference(), &good).expect("a plugin");
        assert_eq!(layer.digest, artifact::digest(&component));
        assert_eq!(
            layer.annotations.as_ref().and_then(|a| a.get("org.opencontainers.image.title")).map(String::as_str),
            Some("x.wasm")
        );
        // A container image's manifest: another config type, a tar layer.
        let mut image: serde_json::Value = serde_json::from_slice(&good).expect("json");
        image["config"]["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
        let e = plugin_layer(&reference(), &serde_json::to_vec(&image).expect("json")).expect_err("image");
        assert!(e.to_string().contains("container image"), "{e}");
        let mut tar: serde_json::Value = serde_json::from_slice(&good).expect("json");
        tar["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar".into();
        let e = plugin_layer(&reference(), &serde_json::to_vec(&tar).expect("json")).expect_err("tar");
        assert!(e.to_string().contains("not `application/wasm`"), "{e}");
        let e = plugin_layer(&reference(), b"<html>").expect_err("garbage");
        assert!(e.to_string().contains("does not parse"), "{e}");
    }

    #[test]
    fn a_registry_that_is_down_is_retried_then_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut registry = Registry::new(Store::new(dir.path())).expect("registry");
        registry.backoff = Duration::from_millis(1);
        // Port 9 on loopback: nothing listens (discard is not run here).
        let down = OciReference::parse("oci://127.0.0.1:9/kiln/x:1").expect("ref");
        let e = registry.pull(&down).expect_err("down").to_string();
        assert!(e.contains("oci://127.0.0.1:9/kiln/x:1") && e.contains("after 4 tries"), "{e}");
        assert!(!dir.path().join("blobs").exists());
    }
}

#[cfg(test)]
mod server_error_tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn a_registry_answering_500_is_tried_a_bounded_number_of_times() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                counted.fetch_add(1, Ordering::SeqCst);
                let body = r#"{"errors":[{"code":"UNKNOWN","message":"database is on fire"}]}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let mut registry = Registry::new(Store::new(dir.path())).expect("registry");
        registry.backoff = Duration::from_millis(1);
        let reference = OciReference::parse(&format!("oci://127.0.0.1:{port}/kiln/x:1")).expect("ref");
        let e = registry.pull(&reference).expect_err("500").to_string();
        assert!(e.contains(&reference.to_string()) && e.contains("500"), "{e}");
        assert!(e.contains(&format!("after {ATTEMPTS} tries")), "{e}");
        // Each try is one manifest request, which oci-client may precede by
        // one probe of the registry: bounded, never a retry storm.
        let n = requests.load(Ordering::SeqCst);
        assert!((ATTEMPTS as usize..=2 * ATTEMPTS as usize).contains(&n), "{n} requests for {ATTEMPTS} tries");
        assert!(!dir.path().join("blobs").exists(), "nothing stored");
    }
}
