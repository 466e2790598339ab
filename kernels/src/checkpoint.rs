//! Checkpoints in the safetensors format (the ecosystem's choice: a JSON
//! header of names, dtypes, shapes and string metadata, then raw
//! little-endian data; loadable from Python with `safetensors.torch.load_file`).
//!
//! Kiln writes only `F32` tensors. Files are written to a temporary name and
//! renamed, so a checkpoint is either the old one or the new one, never half.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

/// A named f32 tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Its name in the file.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub data: Vec<f32>,
}

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file could not be read or written.
    #[error("checkpoint {path}: {action}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a readable safetensors file.
    #[error("checkpoint {path} is corrupt or not a safetensors file ({message}); delete it and train again")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The file lacks a tensor or a metadata key the model needs.
    #[error("checkpoint {path} has no `{name}`: it was not written for this model; delete it and train again")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The tensor or key.
        name: String,
    },
    /// A tensor's shape or dtype differs from the model's.
    #[error(
        "checkpoint {path}: `{name}` is {found} but this model needs {expected}; the checkpoint is from a model of \
         another shape (train again, or set the sizes it was trained with)"
    )]
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// The model's shape.
        expected: String,
        /// The file's shape.
        found: String,
    },
    /// A metadata value is unreadable or differs from what the caller needs.
    #[error("checkpoint {path}: metadata `{key}`: {message}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// Writes `tensors` and `metadata` to `path` atomically.
pub fn save(path: &Path, tensors: &[NamedTensor], metadata: &BTreeMap<String, String>) -> Result<(), CheckpointError> {
    let io = |action| move |source| CheckpointError::Io { path: path.to_path_buf(), action, source };
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|t| t.data.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            TensorView::new(Dtype::F32, t.shape.clone(), b)
                .map(|v| (t.name.clone(), v))
                .map_err(|e| CheckpointError::Corrupt { path: path.to_path_buf(), message: e.to_string() })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let info: HashMap<String, String> = metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let data = safetensors::serialize(views, Some(info))
        .map_err(|e| CheckpointError::Corrupt { path: path.to_path_buf(), message: e.to_string() })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("cannot create its directory"))?;
    }
    let tmp = path.with_extension("safetensors.tmp");
    std::fs::write(&tmp, data).map_err(io("cannot write"))?;
    std::fs::rename(&tmp, path).map_err(io("cannot rename into place"))
}

/// A checkpoint read into memory.
#[derive(Debug)]
pub struct Loaded {
    path: PathBuf,
    /// The string metadata.
    pub metadata: BTreeMap<String, String>,
    tensors: HashMap<String, NamedTensor>,
}

/// Reads the checkpoint at `path`.
pub fn load(path: &Path) -> Result<Loaded, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        action: "cannot read",
        source,
    })?;
    let corrupt = |message: String| CheckpointError::Corrupt { path: path.to_path_buf(), message };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let metadata: BTreeMap<String, String> =
        header.metadata().as_ref().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    let parsed = SafeTensors::deserialize(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let mut tensors = HashMap::new();
    for (name, view) in parsed.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(CheckpointError::Shape {
                path: path.to_path_buf(),
                name,
                expected: "F32".into(),
                found: format!("{:?}", view.dtype()),
            });
        }
        let data = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        tensors.insert(name.clone(), NamedTensor { name, shape: view.shape().to_vec(), data });
    }
    Ok(Loaded { path: path.to_path_buf(), metadata, tensors })
}

impl Loaded {
    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes and returns tensor `name`, which must have `shape`.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, CheckpointError> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| CheckpointError::Missing { path: self.path.clone(), name: name.to_string() })?;
        if t.shape != shape {
            return Err(CheckpointError::Shape {
                path: self.path.clone(),
                name: name.to_string(),
                expected: format!("{shape:?}"),
                found: format!("{:?}", t.shape),
            });
        }
        Ok(t.data)
    }

    /// Metadata value `key`.
    pub fn meta(&self, key: &str) -> Result<&str, CheckpointError> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| CheckpointError::Missing { path: self.path.clone(), name: key.to_string() })
    }

    /// Metadata value `key`, parsed.
    pub fn meta_parsed<T: std::str::FromStr>(&self, key: &str) -> Result<T, CheckpointError>
    where
        T::Err: std::fmt::Display,
    {
        self.meta(key)?.trim().parse().map_err(|e: T::Err| self.bad_meta(key, e.to_string()))
    }

    /// A [`CheckpointError::Metadata`] about `key`.
    pub fn bad_meta(&self, key: &str, message: String) -> CheckpointError {
        CheckpointError::Metadata { path: self.path.clone(), key: key.to_string(), message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_wrong_shapes_and_garbage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.safetensors");
        let t = NamedTensor { name: "w".into(), shape: vec![2, 3], data: vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.5] };
        let meta = BTreeMap::from([("format".to_string(), "x/1".to_string())]);
        save(&path, std::slice::from_ref(&t), &meta).expect("save");
        let mut loaded = load(&path).expect("load");
        assert_eq!(loaded.meta("format").expect("meta"), "x/1");
        assert!(matches!(loaded.take("w", &[3, 2]), Err(CheckpointError::Shape { .. })));
        let mut loaded = load(&path).expect("load");
        assert_eq!(loaded.take("w", &[2, 3]).expect("take"), t.data);
        assert!(matches!(loaded.take("b", &[1]), Err(CheckpointError::Missing { .. })));
        std::fs::write(&path, b"not a checkpoint at all").expect("write");
        let e = load(&path).expect_err("garbage");
        assert!(matches!(e, CheckpointError::Corrupt { .. }), "{e}");
        save(&path, std::slice::from_ref(&t), &meta).expect("save");
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
        assert!(load(&path).is_err());
    }
}
