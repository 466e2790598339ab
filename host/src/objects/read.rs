//! Reading an object as one streamed GET: a task on the object-storage
//! runtime downloads it and hands the bytes over a bounded channel, so the engine's synchronous
//! input reader works on objects exactly as on files (`.gz` and `.zst`
//! included) and memory stays bounded (at most [`BUFFERED_CHUNKS`] chunks of
//! the response in flight).
//!
//! Opening waits for the response, so an object that cannot be read (gone,
//! access denied, a key the credentials cannot decrypt) is an error of the
//! open, naming the object. A failure after that — the connection lost
//! mid-body, after `object_store`'s retries — is a [`TransportError`]: not
//! the data's fault, so the input reader stops the run (which resumes from
//! its last committed chunk) rather than quarantining the rest of the object.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

use super::error_text;

/// Chunks of an object buffered between the download and the reader.
const BUFFERED_CHUNKS: usize = 64;

/// A download that failed after it started.
#[derive(Debug, thiserror::Error)]
#[error("the download broke off: {0}")]
pub struct TransportError(String);

/// Whether `error` is a [`TransportError`] (rather than bad data).
pub fn is_transport_error(error: &std::io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.is::<TransportError>())
}

/// The bytes of an object, as they arrive.
pub struct ObjectReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            // Called from the engine's threads, never from within a runtime's task.
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                // The download ended.
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

impl ObjectReader {
    /// A reader of the whole object, once the store has answered.
    pub fn open(store: Arc<dyn ObjectStore>, path: ObjectPath) -> Result<ObjectReader, String> {
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(BUFFERED_CHUNKS);
        let (answered, answer) = std::sync::mpsc::sync_channel::<Result<(), String>>(1);
        let broke = |e: String| std::io::Error::other(TransportError(e));
        super::runtime()?.spawn(async move {
            let mut stream = match store.get(&path).await {
                Ok(got) => {
                    let _ = answered.send(Ok(()));
                    got.into_stream()
                }
                Err(e) => {
                    let _ = answered.send(Err(error_text(&e)));
                    return;
                }
            };
            while let Some(chunk) = stream.next().await {
                // The reader was dropped: stop downloading.
                if tx.send(chunk.map_err(|e| broke(error_text(&e)))).await.is_err() {
                    return;
                }
            }
        });
        match answer.recv() {
            Ok(Ok(())) => Ok(ObjectReader { rx, current: Bytes::new() }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the download ended without an answer".into()),
        }
    }
}
