//! Inputs on S3-compatible object storage: `path = "s3://bucket/key.jsonl"`.
//!
//! An object is read as one streamed GET (the `object_store` crate, which
//! retries what fails transiently), never as many small range reads: the
//! anchors' users lost an hour to 340-byte reads from object storage. The
//! stream runs on a thread of its own with its own small runtime and hands
//! bytes over a bounded channel, so the engine's synchronous input reader
//! works on objects exactly as on files (`.gz` and `.zst` included), from any
//! thread, inside an async runtime or not, and memory stays bounded.
//!
//! Credentials and endpoint come from the standard variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` or
//! `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` for S3-compatible servers such
//! as MinIO or moto; an `http://` endpoint is allowed as given). Requests use
//! path-style addressing, which every S3-compatible server accepts.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;

/// Chunks of an object buffered between the download thread and the reader.
const BUFFERED_CHUNKS: usize = 64;

/// An object's location: `s3://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
}

impl ObjectUrl {
    /// Whether `text` names an object rather than a file.
    pub fn is_object(text: &str) -> bool {
        text.starts_with("s3://")
    }

    /// Parses `s3://bucket/key`.
    pub fn parse(text: &str) -> Result<ObjectUrl, String> {
        let rest = text.strip_prefix("s3://").ok_or_else(|| format!("`{text}` is not an s3:// URL"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || key.is_empty() {
            return Err(format!("`{text}` names no object: write s3://BUCKET/KEY"));
        }
        if key.contains(['*', '?', '[']) {
            return Err(format!("`{text}`: globs are not supported for objects; name each object"));
        }
        Ok(ObjectUrl { bucket: bucket.to_string(), key: key.to_string() })
    }

    fn store(&self) -> Result<Arc<dyn ObjectStore>, String> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&self.bucket);
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
            builder = builder.with_allow_http(endpoint.starts_with("http://")).with_endpoint(endpoint);
        }
        builder.build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>).map_err(|e| e.to_string())
    }

    /// The object's size, or why it cannot be read.
    pub fn size(&self) -> Result<u64, String> {
        let store = self.store()?;
        let path = ObjectPath::from(self.key.as_str());
        on_own_runtime(async move { store.head(&path).await.map(|m| m.size).map_err(|e| e.to_string()) })?
    }

    /// A reader of the whole object.
    pub fn open(&self) -> Result<ObjectReader, String> {
        let store = self.store()?;
        let path = ObjectPath::from(self.key.as_str());
        let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Bytes>>(BUFFERED_CHUNKS);
        std::thread::Builder::new()
            .name("kiln-object-read".into())
            .spawn(move || {
                let sender = tx.clone();
                let download = async move {
                    let failed = |e: object_store::Error| std::io::Error::other(e.to_string());
                    let mut stream = match store.get(&path).await {
                        Ok(got) => got.into_stream(),
                        Err(e) => {
                            let _ = sender.send(Err(failed(e)));
                            return;
                        }
                    };
                    while let Some(chunk) = stream.next().await {
                        // The reader was dropped: stop downloading.
                        if sender.send(chunk.map_err(failed)).is_err() {
                            return;
                        }
                    }
                };
                if let Err(e) = on_own_runtime(download) {
                    let _ = tx.send(Err(std::io::Error::other(e)));
                }
            })
            .map_err(|e| format!("cannot start a download thread: {e}"))?;
        Ok(ObjectReader { rx, current: Bytes::new() })
    }
}

impl std::fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// Runs `work` to completion on a runtime of its own (callers may be inside
/// another runtime, where blocking on it is not allowed).
fn on_own_runtime<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> Result<T, String> {
    let run = move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(work))
            .map_err(|e| format!("cannot start a runtime for object storage: {e}"))
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| s.spawn(run).join().map_err(|_| "object storage thread panicked".to_string())?)
    } else {
        run()
    }
}

/// The bytes of an object, as they arrive.
pub struct ObjectReader {
    rx: std::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => self.current = chunk,
                Ok(Err(e)) => return Err(e),
                // The download ended.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
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
        assert!(ObjectUrl::parse("s3://corpus/web/*.jsonl").expect_err("glob").contains("globs"));
        assert!(ObjectUrl::is_object("s3://a/b") && !ObjectUrl::is_object("data/s3.jsonl"));
    }
}
