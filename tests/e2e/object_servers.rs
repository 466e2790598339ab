//! Object-storage servers on loopback for the end-to-end tests, stopped on
//! drop: moto's S3 server (PyPI) and Azurite, Microsoft's Blob Storage
//! emulator (npm). `cargo xtask test` installs both and names them in
//! `KILN_MOTO_SERVER` and `KILN_AZURITE`. Tests put and read objects through
//! the [`ObjectServer`] trait as a client would, signed, and point `kiln` at
//! a server with [`ObjectServer::env`].

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use object_store::ObjectStore;

use super::wait_listening;

/// What the tests do with a store, whichever server it is.
pub trait ObjectServer {
    /// The URL scheme Kiln names its objects by (`s3`, `az`).
    fn scheme(&self) -> &'static str;

    /// A client of `bucket` (an Azure container).
    fn store(&self, bucket: &str) -> Box<dyn ObjectStore>;

    /// Creates `bucket` (nothing when it exists).
    fn create_bucket(&self, bucket: &str);

    /// The variables that point Kiln at this server.
    fn env(&self) -> Vec<(&'static str, String)>;

    /// `scheme://bucket/key`.
    fn url(&self, bucket: &str, key: &str) -> String {
        format!("{}://{bucket}/{key}", self.scheme())
    }

    /// Stores `bytes` as `bucket/key` (creating the bucket).
    fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        self.create_bucket(bucket);
        let store = self.store(bucket);
        block_on(store.put(&object_store::path::Path::from(key), bytes.into()))
            .unwrap_or_else(|e| panic!("put {}: {e}", self.url(bucket, key)));
    }

    /// The bytes of `bucket/key`, if it exists.
    fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let store = self.store(bucket);
        let path = object_store::path::Path::from(key);
        match block_on(async { store.get(&path).await?.bytes().await }) {
            Ok(bytes) => Some(bytes.to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("get {}: {e}", self.url(bucket, key)),
        }
    }

    /// The keys under `prefix` in `bucket`, sorted.
    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        use futures::TryStreamExt;
        let store = self.store(bucket);
        let prefix = object_store::path::Path::from(prefix);
        let listed: Vec<object_store::ObjectMeta> =
            block_on(store.list(Some(&prefix)).try_collect()).expect("list objects");
        let mut keys: Vec<String> = listed.into_iter().map(|m| m.location.to_string()).collect();
        keys.sort();
        keys
    }
}

/// Runs `work` on a runtime of its own.
fn block_on<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(work)
}

/// A free loopback port.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// A server process, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bin args`, which must listen on `host` within a minute.
fn serve(bin: &str, args: &[&str], host: &str, what: &str) -> Server {
    let child = Command::new(bin).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap_or_else(|e| {
        panic!("{bin}: {e} (the object-storage tests need {what}: run them with `cargo xtask test`)")
    });
    let server = Server(child);
    wait_listening(host, Duration::from_secs(60), what);
    server
}

/// An S3-compatible server on loopback (moto in server mode).
pub struct LocalS3 {
    _server: Server,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl LocalS3 {
    /// Starts one on a free port.
    pub fn start() -> LocalS3 {
        let bin = std::env::var("KILN_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = free_port().to_string();
        let host = format!("127.0.0.1:{port}");
        let server = serve(&bin, &["-H", "127.0.0.1", "-p", &port], &host, "moto's server");
        LocalS3 { _server: server, endpoint: format!("http://{host}") }
    }
}

impl ObjectServer for LocalS3 {
    fn scheme(&self) -> &'static str {
        "s3"
    }

    fn create_bucket(&self, bucket: &str) {
        // Creating a bucket needs no signature on moto; objects are put
        // signed, as a client would (an anonymous put stores an empty object).
        let created = reqwest::blocking::Client::new().put(format!("{}/{bucket}", self.endpoint)).send();
        assert!(created.is_ok_and(|r| r.status().is_success()), "cannot create bucket {bucket}");
    }

    fn store(&self, bucket: &str) -> Box<dyn ObjectStore> {
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(&self.endpoint)
            .with_allow_http(true);
        for (key, value) in self.env() {
            builder = match key {
                "AWS_ACCESS_KEY_ID" => builder.with_access_key_id(value),
                "AWS_SECRET_ACCESS_KEY" => builder.with_secret_access_key(value),
                "AWS_REGION" => builder.with_region(value),
                _ => builder,
            };
        }
        Box::new(builder.build().expect("an S3 client"))
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "kiln-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "kiln-test-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}

/// Azurite's Blob Storage emulator on loopback, with its well-known
/// development account, its data in a temporary directory.
pub struct LocalAzurite {
    _server: Server,
    _data: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

/// Azurite's development account, and its key (public, documented by
/// Microsoft; it opens nothing but the emulator).
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

impl LocalAzurite {
    /// Starts one on a free port.
    pub fn start() -> LocalAzurite {
        let bin = std::env::var("KILN_AZURITE").unwrap_or_else(|_| "azurite-blob".into());
        let data = tempfile::tempdir().expect("tempdir");
        let port = free_port().to_string();
        let host = format!("127.0.0.1:{port}");
        let location = data.path().to_str().expect("utf-8 temp path");
        let args = ["--blobHost", "127.0.0.1", "--blobPort", &port, "--location", location, "--silent"];
        let server = serve(&bin, &[&args[..], &["--skipApiVersionCheck"]].concat(), &host, "Azurite");
        LocalAzurite { _server: server, _data: data, endpoint: format!("http://{host}") }
    }
}

impl ObjectServer for LocalAzurite {
    fn scheme(&self) -> &'static str {
        "az"
    }

    /// Creating a container is a Blob Storage request `object_store` does
    /// not make; it is signed here with the account's shared key.
    fn create_bucket(&self, container: &str) {
        use base64::Engine as _;
        use hmac::Mac as _;
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let version = "2021-08-06";
        let signed = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n\
             /{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{container}\nrestype:container"
        );
        let key = base64::engine::general_purpose::STANDARD.decode(AZURITE_KEY).expect("the account key");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("an HMAC key");
        mac.update(signed.as_bytes());
        let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let created = reqwest::blocking::Client::new()
            .put(format!("{}/{AZURITE_ACCOUNT}/{container}?restype=container", self.endpoint))
            .header("x-ms-date", date)
            .header("x-ms-version", version)
            .header("Authorization", format!("SharedKey {AZURITE_ACCOUNT}:{signature}"))
            .send()
            .expect("Azurite answers");
        // 409: the container exists.
        assert!(
            created.status().is_success() || created.status().as_u16() == 409,
            "cannot create container {container}: {}",
            created.status()
        );
    }

    fn store(&self, container: &str) -> Box<dyn ObjectStore> {
        let builder = object_store::azure::MicrosoftAzureBuilder::new().with_container_name(container);
        let builder = self.env().into_iter().fold(builder, |builder, (key, value)| {
            builder.with_config(key.to_ascii_lowercase().parse().expect("an Azure setting"), value)
        });
        Box::new(builder.build().expect("an Azure client"))
    }

    /// The account, its key and its endpoint, as for an account in Azure
    /// (path-style, the account first, as Azurite serves it).
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_ACCOUNT_NAME", AZURITE_ACCOUNT.into()),
            ("AZURE_STORAGE_ACCOUNT_KEY", AZURITE_KEY.into()),
            ("AZURE_STORAGE_ENDPOINT", format!("{}/{AZURITE_ACCOUNT}", self.endpoint)),
            ("AZURE_ALLOW_HTTP", "true".into()),
        ]
    }
}
