//! Reading an object as one streamed GET: a thread of its own downloads it
//! and hands the bytes over a bounded channel, so the engine's synchronous
//! input reader works on objects exactly as on files (`.gz` and `.zst`
//! included) and memory stays bounded (at most [`BUFFERED_CHUNKS`] chunks of
//! the response in flight).

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

use super::on_own_runtime;

/// Chunks of an object buffered between the download thread and the reader.
const BUFFERED_CHUNKS: usize = 64;

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

impl ObjectReader {
    /// A reader of the whole object.
    pub fn open(store: Arc<dyn ObjectStore>, path: ObjectPath) -> Result<ObjectReader, String> {
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
