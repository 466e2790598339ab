//! Publishing a run's outputs to object storage (`[output] dir =
//! "s3://bucket/prefix"`, or `--out s3://…`).
//!
//! A run assembles its outputs in a local staging directory as always (under
//! its work directory, so a resumed run finds them), then puts each file
//! under the prefix by name. The commit protocol makes the set of objects as
//! atomic as one object can be:
//!
//! 1. `stats.json`, the run's commit marker, is deleted from the prefix first;
//! 2. every other output is put whole — one PUT up to [`SINGLE_PUT_BYTES`],
//!    else a multipart upload of [`PART_BYTES`] parts (each part retried on
//!    its own), which S3 makes visible only when it completes — and Kiln's
//!    outputs of another format left there by an earlier run are deleted;
//! 3. `stats.json` is put last.
//!
//! So a reader that finds `stats.json` under a prefix finds beside it the
//! very outputs it counts; one that does not must wait (or rerun: publishing
//! again puts the same bytes again, so it is idempotent). Objects under the
//! prefix that Kiln does not write are never touched. One prefix takes one
//! run's outputs at a time: Kiln does not lock a prefix, so two runs
//! publishing to the same prefix at once can interleave their objects.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload, WriteMultipart};

use super::{ObjectUrl, error_text, on_runtime};

/// Files up to this size are put in one request.
pub const SINGLE_PUT_BYTES: u64 = 8 << 20;
/// Part size of a multipart upload (S3's minimum is 5 MiB).
pub const PART_BYTES: usize = 8 << 20;
/// Parts uploaded at once.
const PARTS_IN_FLIGHT: usize = 4;

/// The commit marker, put last.
pub const COMMIT_MARKER: &str = "stats.json";

/// Every file a run writes to its output directory, in every format.
pub const OUTPUT_FILES: [&str; 8] = [
    "kept.jsonl",
    "rejected.jsonl",
    "quarantine.jsonl",
    "kept.parquet",
    "rejected.parquet",
    "quarantine.parquet",
    "report.html",
    COMMIT_MARKER,
];

/// What publishing put.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    /// Objects put.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Puts the outputs in `dir` under `prefix`, `stats.json` last.
pub fn publish(dir: &Path, prefix: &ObjectUrl) -> Result<Published, String> {
    let mut files: Vec<&str> = OUTPUT_FILES.iter().copied().filter(|name| dir.join(name).is_file()).collect();
    if !files.contains(&COMMIT_MARKER) {
        return Err(format!("{} holds no {COMMIT_MARKER}: the run has not finished", dir.display()));
    }
    // The marker goes last.
    files.retain(|name| *name != COMMIT_MARKER);
    files.push(COMMIT_MARKER);
    let stale: Vec<ObjectPath> =
        OUTPUT_FILES.iter().filter(|name| !files.contains(name)).map(|name| key(prefix, name)).collect();
    let store = prefix.client()?;
    let dir = dir.to_path_buf();
    let prefix = prefix.clone();
    on_runtime(async move {
        delete(&store, &key(&prefix, COMMIT_MARKER)).await?;
        for path in &stale {
            delete(&store, path).await?;
        }
        let mut published = Published::default();
        for name in files {
            let file = dir.join(name);
            published.bytes += put_file(&store, &file, &key(&prefix, name))
                .await
                .map_err(|e| format!("cannot put {} as {}: {e}", file.display(), prefix.child(name)))?;
            published.objects += 1;
        }
        Ok(published)
    })?
}

fn key(prefix: &ObjectUrl, name: &str) -> ObjectPath {
    prefix.child(name).path()
}

/// Deletes `path`; an object that is not there is fine.
async fn delete(store: &Arc<dyn ObjectStore>, path: &ObjectPath) -> Result<(), String> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(format!("cannot delete the old `{path}` (its commit marker goes first): {}", error_text(&e))),
    }
}

/// Puts `file` whole as `path`; returns its size.
pub(super) async fn put_file(store: &Arc<dyn ObjectStore>, file: &Path, path: &ObjectPath) -> Result<u64, String> {
    let mut reader = std::fs::File::open(file).map_err(|e| e.to_string())?;
    let size = reader.metadata().map_err(|e| e.to_string())?.len();
    if size <= SINGLE_PUT_BYTES {
        let mut bytes = Vec::with_capacity(size as usize);
        reader.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        store.put(path, PutPayload::from(bytes)).await.map_err(|e| error_text(&e))?;
        return Ok(size);
    }
    let upload = store.put_multipart(path).await.map_err(|e| error_text(&e))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
    let mut buf = vec![0u8; PART_BYTES];
    let written = loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => break Err(e.to_string()),
        };
        if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
            break Err(error_text(&e));
        }
        writer.write(&buf[..n]);
    };
    match written {
        Ok(()) => writer.finish().await.map(|_| size).map_err(|e| error_text(&e)),
        Err(e) => {
            // Nothing becomes visible; the parts uploaded are discarded.
            let _ = writer.abort().await;
            Err(e)
        }
    }
}
