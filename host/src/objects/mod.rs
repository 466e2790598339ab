//! Object storage — S3 and S3-compatible servers (`s3://`), Google Cloud
//! Storage (`gs://`) and Azure Blob Storage (`az://`): inputs read from
//! `s3://bucket/key` (one object, a prefix or a glob of them), outputs
//! published to an `s3://bucket/prefix` once a run has assembled them, work
//! directories ([`mirror`]) and the shared plugin store ([`plugin_store`]).
//!
//! Everything goes through the `object_store` crate, which retries what fails
//! transiently (its default: up to 10 retries with exponential backoff per
//! request). Objects are read as one streamed GET ([`read`]), never as many
//! small range reads — the anchors' users lost an hour to 340-byte reads —
//! and written whole ([`publish`]): a single PUT or a multipart upload that
//! becomes visible only when it completes, so no reader ever sees half an
//! object. Each call runs on a small runtime of its own, so the engine's
//! synchronous code uses objects from any thread, inside an async runtime or
//! not.
//!
//! Credentials and endpoints come from each platform's standard variables
//! ([`stores`]).

pub mod list;
pub mod mirror;
pub mod plugin_store;
pub mod publish;
pub mod read;
pub mod stores;
mod uploader;

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

pub use list::ObjectPattern;
pub use read::ObjectReader;
pub use stores::Scheme;

/// An object's location, `s3://bucket/key`, or a prefix of keys
/// (`s3://bucket/prefix`, the key empty for the whole bucket); likewise
/// `gs://` and `az://container/key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    /// Which store.
    pub scheme: Scheme,
    /// The bucket (an Azure container).
    pub bucket: String,
    /// The key (or prefix), without a leading or trailing `/`.
    pub key: String,
    /// The object's version as last seen (from the listing or HEAD that
    /// found it), when known.
    pub version: Option<ObjectVersion>,
}

/// What an object was when last seen: what, changed, makes a count of its
/// items stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    /// Its size in bytes.
    pub size: u64,
    /// Its entity tag, when the store gives one.
    pub e_tag: Option<String>,
}

impl ObjectVersion {
    fn of(meta: &object_store::ObjectMeta) -> ObjectVersion {
        ObjectVersion { size: meta.size, e_tag: meta.e_tag.clone() }
    }
}

impl std::fmt::Display for ObjectVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.size, self.e_tag.as_deref().unwrap_or("-"))
    }
}

/// The characters that make a key a glob.
const GLOB_CHARS: [char; 4] = ['*', '?', '[', '{'];

/// Whether a key holds glob characters.
fn has_glob(key: &str) -> bool {
    key.contains(GLOB_CHARS)
}

/// The literal part of `key` that a listing of it starts from: for a glob,
/// the whole `/`-separated parts before its first glob character; else the
/// key itself (without a trailing `/`). Everything the key names lies under
/// it — which is what `kiln serve` checks against a tenant's allowed prefixes.
pub fn literal_part(key: &str) -> &str {
    match key.find(GLOB_CHARS) {
        None => key.trim_end_matches('/'),
        Some(glob) => key[..glob].rsplit_once('/').map_or("", |(dir, _)| dir),
    }
}

impl ObjectUrl {
    /// Whether `text` names an object rather than a file.
    pub fn is_object(text: &str) -> bool {
        Scheme::split(text).is_some()
    }

    /// Splits `s3://bucket/rest` into the store, the bucket and the rest.
    fn split(text: &str) -> Result<(Scheme, &str, &str), String> {
        let (scheme, rest) =
            Scheme::split(text).ok_or_else(|| format!("`{text}` is not an object URL: write {}", Scheme::listed()))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || has_glob(bucket) {
            return Err(format!("`{text}` names no {}: write {}", scheme.bucket_word(), scheme.form()));
        }
        Ok((scheme, bucket, key))
    }

    /// Parses `s3://bucket/key`: one object, no glob.
    pub fn parse(text: &str) -> Result<ObjectUrl, String> {
        let (scheme, bucket, key) = ObjectUrl::split(text)?;
        if key.is_empty() || key.ends_with('/') {
            return Err(format!("`{text}` names no object: write {}", scheme.form()));
        }
        if has_glob(key) {
            return Err(format!("`{text}`: a glob names many objects, not one"));
        }
        check_key(text, key)?;
        Ok(ObjectUrl { scheme, bucket: bucket.to_string(), key: key.to_string(), version: None })
    }

    /// Parses `s3://bucket[/prefix][/]`: where objects are written.
    pub fn parse_prefix(text: &str) -> Result<ObjectUrl, String> {
        let (scheme, bucket, key) = ObjectUrl::split(text)?;
        if has_glob(key) {
            return Err(format!("`{text}`: an output prefix holds no glob"));
        }
        let key = key.trim_matches('/');
        if !key.is_empty() {
            check_key(text, key)?;
        }
        Ok(ObjectUrl { scheme, bucket: bucket.to_string(), key: key.to_string(), version: None })
    }

    /// The object `name` under this prefix.
    pub fn child(&self, name: &str) -> ObjectUrl {
        let key = if self.key.is_empty() { name.to_string() } else { format!("{}/{name}", self.key) };
        ObjectUrl { scheme: self.scheme, bucket: self.bucket.clone(), key, version: None }
    }

    /// A client of the store and bucket this URL names.
    pub(crate) fn client(&self) -> Result<Arc<dyn ObjectStore>, String> {
        stores::client(self.scheme, &self.bucket)
    }

    /// The key as a path of the store: taken as it is (a key listed from the
    /// store, or one [`check_key`] accepted), never encoded a second time.
    pub(crate) fn path(&self) -> ObjectPath {
        ObjectPath::parse(&self.key).unwrap_or_else(|_| ObjectPath::from(self.key.as_str()))
    }

    /// The object's size, or why it cannot be read; remembers its version.
    pub fn head(&mut self) -> Result<u64, String> {
        let store = self.client()?;
        let path = self.path();
        let meta = on_runtime(async move { store.head(&path).await.map_err(|e| error_text(&e)) })??;
        self.version = Some(ObjectVersion::of(&meta));
        Ok(meta.size)
    }

    /// The object's version: the one remembered, else asked for (a HEAD).
    pub fn current_version(&self) -> Result<ObjectVersion, String> {
        match &self.version {
            Some(version) => Ok(version.clone()),
            None => {
                let mut fresh = self.clone();
                let size = fresh.head()?;
                Ok(fresh.version.unwrap_or(ObjectVersion { size, e_tag: None }))
            }
        }
    }

    /// Whether the credentials can write under this prefix: a probe object
    /// put (only if absent) and deleted again.
    pub fn check_writable(&self) -> Result<(), String> {
        let store = self.client()?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let probe = self.child(&format!(".kiln-write-test-{}-{nanos}", std::process::id())).path();
        let bucket = format!("{} `{}`", self.scheme.bucket_word(), self.bucket);
        on_runtime(async move {
            let create = object_store::PutOptions { mode: object_store::PutMode::Create, ..Default::default() };
            store.put_opts(&probe, object_store::PutPayload::new(), create).await.map_err(|e| match e {
                // A put answered "not found" names no missing key: the bucket is missing.
                object_store::Error::NotFound { .. } => {
                    format!("the {bucket} does not exist (or is not at this endpoint)")
                }
                e => error_text(&e),
            })?;
            store.delete(&probe).await.map_err(|e| error_text(&e))
        })?
    }

    /// The bytes `range` of the object (one ranged GET: for a Parquet
    /// footer, which is read at the end of the object).
    pub fn read_range(&self, range: std::ops::Range<u64>) -> Result<bytes::Bytes, String> {
        let store = self.client()?;
        let path = self.path();
        on_runtime(async move { store.get_range(&path, range).await.map_err(|e| error_text(&e)) })?
    }

    /// A reader of the whole object ([`read`]).
    pub fn open(&self) -> Result<ObjectReader, String> {
        ObjectReader::open(self.client()?, self.path())
    }
}

impl std::fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}/{}", self.scheme, self.bucket, self.key)
    }
}

/// Checks that `key` (from `text`) is a key the store takes as written: no
/// empty, `.` or `..` parts, no control characters, no `#`.
fn check_key(text: &str, key: &str) -> Result<(), String> {
    if key.contains('#') {
        return Err(format!("`{text}`: `#` is not allowed in an object key"));
    }
    ObjectPath::parse(key).map(|_| ()).map_err(|_| {
        format!("`{text}` is not a valid object key: no empty, `.` or `..` parts and no control characters")
    })
}

/// What went wrong, said without the store's response body (which can
/// echo request details such as the access key id, or an identity
/// provider's tenant and client ids) and without any URL's query (a SAS
/// token travels in one).
pub fn error_text(error: &object_store::Error) -> String {
    use object_store::Error;
    match error {
        Error::NotFound { path, .. } => format!("`{path}` does not exist"),
        Error::PermissionDenied { path, .. } => {
            format!("access to `{path}` was denied: the credentials lack the permission (or the key to decrypt it)")
        }
        Error::Unauthenticated { path, .. } => format!("the credentials were refused for `{path}`"),
        Error::AlreadyExists { path, .. } => format!("`{path}` exists already"),
        Error::Precondition { path, .. } => format!("`{path}` changed meanwhile"),
        other => {
            let text = without_queries(&without_body(&other.to_string()));
            // A listing or an upload part refused is not told by kind: said here.
            if text.contains("status code: 401") || text.contains("status code: 403") {
                format!("{text}: the credentials were refused or lack the permission")
            } else {
                text
            }
        }
    }
}

/// `text` up to the response body it quotes: after the status line
/// (`…status code: 500 Internal Server Error`), whatever the body's format,
/// or else before the XML of one.
fn without_body(text: &str) -> String {
    const STATUS: &str = "status code: ";
    let cut = match text.find(STATUS) {
        Some(at) => {
            let from = at + STATUS.len();
            text[from..].find(": ").map_or(text.len(), |end| from + end)
        }
        None => text.find("<?xml").or_else(|| text.find("<Error")).unwrap_or(text.len()),
    };
    text[..cut].trim_end_matches([':', ' ', '\u{feff}']).to_string()
}

/// `text` with the query of every `http(s)://` URL in it cut off.
fn without_queries(text: &str) -> String {
    text.split(' ')
        .map(|word| match word.find("://").zip(word.find('?')) {
            Some((scheme, query)) if scheme < query => &word[..query],
            _ => word,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The process's runtime for object storage: one for every call, so that
/// the clients of [`stores::client`] — their connection pools, their cached
/// tokens — outlive each call.
pub(crate) fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RUNTIME: std::sync::OnceLock<Result<tokio::runtime::Runtime, String>> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("kiln-objects")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a runtime for object storage: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Runs `work` on the object-storage runtime and waits for it, from any
/// thread (one inside another runtime included) but the runtime's own.
pub(crate) fn on_runtime<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.recv().map_err(|_| "object storage stopped answering".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_urls_parse_strictly() {
        let url = ObjectUrl::parse("s3://corpus/web/part-0001.jsonl.gz").expect("url");
        assert_eq!((url.bucket.as_str(), url.key.as_str()), ("corpus", "web/part-0001.jsonl.gz"));
        assert_eq!(url.to_string(), "s3://corpus/web/part-0001.jsonl.gz");
        assert!(ObjectUrl::parse("s3://corpus").expect_err("no key").contains("s3://BUCKET/KEY"));
        assert!(ObjectUrl::parse("s3://corpus/web/").expect_err("a prefix").contains("s3://BUCKET/KEY"));
        assert!(ObjectUrl::parse("s3://corpus/web/*.jsonl").expect_err("glob").contains("glob"));
        assert!(ObjectUrl::parse("s3:///web/a.jsonl").expect_err("no bucket").contains("no bucket"));
        assert!(ObjectUrl::is_object("s3://a/b") && !ObjectUrl::is_object("data/s3.jsonl"));
        let gcs = ObjectUrl::parse("gs://corpus/web/part-1.jsonl").expect("a GCS url");
        assert_eq!((gcs.scheme, gcs.to_string().as_str()), (Scheme::Gcs, "gs://corpus/web/part-1.jsonl"));
        let azure = ObjectUrl::parse("az://box/web/part-1.jsonl").expect("an Azure url");
        assert_eq!(
            (azure.scheme, azure.bucket.as_str(), azure.key.as_str()),
            (Scheme::Azure, "box", "web/part-1.jsonl")
        );
        assert!(ObjectUrl::parse("az:///web/a.jsonl").expect_err("no container").contains("az://CONTAINER/KEY"));
        assert!(ObjectUrl::parse("wasb://box/a.jsonl").expect_err("unknown").contains("s3://, gs:// or az://"));
    }

    #[test]
    fn error_texts_quote_no_body_and_no_query() {
        let json = "Error performing GET https://box.blob.core.windows.net/c/k?sv=2022&sig=SECRET in 1s - \
                    Server returned non-2xx status code: 400 Bad Request: {\"error\": \"tenant 123\"}";
        let text = without_queries(&without_body(json));
        assert!(!text.contains("SECRET") && !text.contains("tenant"), "{text}");
        assert!(text.ends_with("status code: 400 Bad Request") && text.contains("windows.net/c/k "), "{text}");
        let xml = "Error performing PUT http://127.0.0.1/b/k: <?xml version=\"1.0\"?><Error>AKIA</Error>";
        assert_eq!(without_body(xml), "Error performing PUT http://127.0.0.1/b/k");
    }

    #[test]
    fn output_prefixes_parse_strictly() {
        let prefix = ObjectUrl::parse_prefix("s3://curated/runs/web/").expect("prefix");
        assert_eq!(prefix.key, "runs/web");
        assert_eq!(prefix.child("kept.jsonl").to_string(), "s3://curated/runs/web/kept.jsonl");
        let bucket = ObjectUrl::parse_prefix("s3://curated").expect("bucket");
        assert_eq!(bucket.child("stats.json").to_string(), "s3://curated/stats.json");
        assert!(ObjectUrl::parse_prefix("s3://curated/runs/*").is_err());
        assert!(ObjectUrl::parse_prefix("s3://curated/runs/../other").is_err());
        assert!(ObjectUrl::parse_prefix("s3://curated/runs//web").is_err());
        let azure = ObjectUrl::parse_prefix("az://runs/work/").expect("an Azure prefix");
        assert_eq!(azure.child("done").to_string(), "az://runs/work/done");
    }
}
