//! Which object store a URL names, by its scheme, and how Kiln makes a
//! client of it: `s3://` (Amazon S3 and every S3-compatible server: MinIO,
//! Ceph, moto), `gs://` (Google Cloud Storage) and `az://` (Azure Blob
//! Storage; the "bucket" is a container). Everything above this module is
//! the same for all three: it speaks `object_store`'s one trait.
//!
//! Each client is configured from the variables its platform's own tools
//! read, so the credentials a user already has work unchanged, and none is
//! ever written into a pipeline:
//! - S3: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//!   `AWS_REGION` (or `AWS_DEFAULT_REGION`), and `AWS_ENDPOINT_URL` for an
//!   S3-compatible server (an `http://` endpoint is allowed as given;
//!   requests use path-style addressing, which every such server accepts).
//! - GCS: `GOOGLE_APPLICATION_CREDENTIALS` or `GOOGLE_SERVICE_ACCOUNT` (a
//!   service-account key file), `GOOGLE_SERVICE_ACCOUNT_KEY` (the key
//!   itself), else the machine's metadata server; `STORAGE_EMULATOR_HOST`
//!   (as Google's client libraries read it) points at an emulator, without
//!   credentials.
//! - Azure: `AZURE_STORAGE_ACCOUNT_NAME` with `AZURE_STORAGE_ACCOUNT_KEY`, a
//!   SAS token (`AZURE_STORAGE_SAS_KEY`) or a service principal
//!   (`AZURE_STORAGE_CLIENT_ID`, `…_CLIENT_SECRET`, `…_TENANT_ID`), else the
//!   machine's managed identity; `AZURE_STORAGE_USE_EMULATOR=true` points at
//!   Azurite (at `AZURITE_BLOB_STORAGE_URL`, by default
//!   `http://127.0.0.1:10000`, with its well-known development account).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;

/// The object stores Kiln reads and writes, by URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `s3://bucket/key`: Amazon S3 or an S3-compatible server.
    S3,
    /// `gs://bucket/key`: Google Cloud Storage.
    Gcs,
    /// `az://container/key`: Azure Blob Storage.
    Azure,
}

impl Scheme {
    /// Every scheme, in the order messages list them.
    pub const ALL: [Scheme; 3] = [Scheme::S3, Scheme::Gcs, Scheme::Azure];

    /// The URL scheme without `://` (`s3`, `gs`, `az`).
    pub fn name(self) -> &'static str {
        match self {
            Scheme::S3 => "s3",
            Scheme::Gcs => "gs",
            Scheme::Azure => "az",
        }
    }

    /// What the store calls the first part of a URL.
    pub fn bucket_word(self) -> &'static str {
        match self {
            Scheme::S3 | Scheme::Gcs => "bucket",
            Scheme::Azure => "container",
        }
    }

    /// The scheme `text` starts with (`s3://…`, `gs://…`, `az://…`), and
    /// the rest after its `://`.
    pub fn split(text: &str) -> Option<(Scheme, &str)> {
        Scheme::ALL.into_iter().find_map(|scheme| {
            text.strip_prefix(scheme.name()).and_then(|rest| rest.strip_prefix("://")).map(|rest| (scheme, rest))
        })
    }

    /// `s3://BUCKET/KEY`, `gs://BUCKET/KEY` or `az://CONTAINER/KEY`: the
    /// form messages ask for.
    pub fn form(self) -> String {
        format!("{}://{}/KEY", self.name(), self.bucket_word().to_ascii_uppercase())
    }

    /// Where this store's credentials and endpoint come from, for a hint.
    pub fn credentials_hint(self) -> &'static str {
        match self {
            Scheme::S3 => {
                "credentials and endpoint come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and \
                 AWS_ENDPOINT_URL"
            }
            Scheme::Gcs => {
                "credentials come from GOOGLE_APPLICATION_CREDENTIALS (a service-account key file), \
                 GOOGLE_SERVICE_ACCOUNT_KEY or the machine's metadata server; STORAGE_EMULATOR_HOST names an emulator"
            }
            Scheme::Azure => {
                "credentials and endpoint come from AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY (or \
                 AZURE_STORAGE_SAS_KEY, or a service principal's AZURE_STORAGE_CLIENT_ID, _CLIENT_SECRET and \
                 _TENANT_ID) and AZURE_STORAGE_ENDPOINT"
            }
        }
    }

    /// The schemes as a user writes them: `s3://, gs:// or az://`.
    pub fn listed() -> &'static str {
        "s3://, gs:// or az://"
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A client of `bucket` in the store `scheme` names, configured from the
/// environment (see the module's docs): made once per process and bucket,
/// so that its connections and its cached credentials (an OAuth token, a
/// managed identity's) serve every object, not one each.
pub fn client(scheme: Scheme, bucket: &str) -> Result<Arc<dyn ObjectStore>, String> {
    type Clients = Mutex<HashMap<(Scheme, String), Arc<dyn ObjectStore>>>;
    static CLIENTS: OnceLock<Clients> = OnceLock::new();
    let clients = CLIENTS.get_or_init(Clients::default);
    let key = (scheme, bucket.to_string());
    if let Some(client) = clients.lock().map_err(|_| "the object-storage clients' lock is poisoned")?.get(&key) {
        return Ok(client.clone());
    }
    let client = new_client(scheme, bucket)?;
    clients.lock().map_err(|_| "the object-storage clients' lock is poisoned")?.insert(key, client.clone());
    Ok(client)
}

/// A new client of `bucket` (see [`client`]).
fn new_client(scheme: Scheme, bucket: &str) -> Result<Arc<dyn ObjectStore>, String> {
    let built = match scheme {
        Scheme::S3 => s3(bucket).build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        Scheme::Gcs => gcs(bucket).build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        Scheme::Azure => {
            MicrosoftAzureBuilder::from_env().with_container_name(bucket).build().map(|s| Arc::new(s) as _)
        }
    };
    // The error's first clause only: what follows can quote a malformed key's text.
    built.map_err(|e| {
        let text = e.to_string();
        let what =
            text.strip_prefix("Generic ").and_then(|t| t.split_once(" error: ")).map_or(&*text, |(_, what)| what);
        let first = what.split(": ").next().unwrap_or_default();
        format!("cannot make a client of {scheme}://{bucket}: {first}")
    })
}

fn s3(bucket: &str) -> AmazonS3Builder {
    let builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(endpoint) => builder.with_allow_http(endpoint.starts_with("http://")).with_endpoint(endpoint),
        Err(_) => builder,
    }
}

fn gcs(bucket: &str) -> GoogleCloudStorageBuilder {
    let builder = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
    match std::env::var("STORAGE_EMULATOR_HOST") {
        Ok(host) if !host.is_empty() => builder.with_service_account_key(emulator_key(&host)),
        _ => builder,
    }
}

/// The service-account key that points the GCS client at an emulator
/// (`object_store`'s documented way): its base URL, and no OAuth.
fn emulator_key(host: &str) -> String {
    let base = if host.contains("://") { host.to_string() } else { format!("http://{host}") };
    serde_json::json!({
        "gcs_base_url": base.trim_end_matches('/'),
        "disable_oauth": true,
        "client_email": "",
        "private_key": "",
        "private_key_id": "",
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_told_apart_by_their_prefix_only() {
        assert_eq!(Scheme::split("s3://corpus/web"), Some((Scheme::S3, "corpus/web")));
        assert_eq!(Scheme::split("gs://corpus/web"), Some((Scheme::Gcs, "corpus/web")));
        assert_eq!(Scheme::split("az://box/web"), Some((Scheme::Azure, "box/web")));
        assert_eq!(Scheme::split("data/s3://x"), None);
        assert_eq!(Scheme::split("gs:/corpus"), None);
        assert_eq!(Scheme::split("file:///x"), None);
        assert_eq!(Scheme::Azure.form(), "az://CONTAINER/KEY");
    }

    #[test]
    fn every_scheme_makes_a_client_without_network() {
        // Building a client reads the environment and checks the
        // configuration only; no request is made.
        for scheme in Scheme::ALL {
            if scheme == Scheme::Azure {
                // Azure needs an account name (or the emulator) to be built.
                continue;
            }
            assert!(new_client(scheme, "corpus").is_ok(), "{scheme}");
        }
        // Azure without an account (as in CI): said plainly; the caller's hint says where it comes from.
        if std::env::var_os("AZURE_STORAGE_ACCOUNT_NAME").is_none() {
            let azure = new_client(Scheme::Azure, "box").err();
            assert_eq!(azure.as_deref(), Some("cannot make a client of az://box: Account must be specified"));
        }
        let key: serde_json::Value = serde_json::from_str(&emulator_key("localhost:4443/")).expect("json");
        assert_eq!(key["gcs_base_url"], "http://localhost:4443");
        assert_eq!(key["disable_oauth"], true);
    }
}
