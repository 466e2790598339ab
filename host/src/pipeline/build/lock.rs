//! `kiln.lock`, beside the pipeline file: every published plugin reference
//! the pipelines of that directory name, resolved to registry, repository,
//! tag, manifest digest and component digest. A reference found here runs
//! what the lock says, not what its tag names today, so a tag moved upstream
//! never silently changes what runs (`kiln lock --update` moves it, and says
//! so). The format is TOML with a version; entries are sorted by reference
//! so that diffs stay small. A lock edited into an invalid state is refused
//! with its file, line and column, never repaired silently.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::pipeline::config::diagnostic::{Diagnostic, SourceMap};

/// The lockfile's name.
pub const LOCK_FILE: &str = "kiln.lock";
/// The format version written.
const VERSION: u32 = 1;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    /// The format version.
    pub version: u32,
    /// One entry per reference.
    #[serde(default)]
    pub plugin: Vec<LockedPlugin>,
}

/// One reference, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPlugin {
    /// The reference as the pipeline writes it (`oci://…:TAG`).
    pub reference: String,
    /// `host[:port]`.
    pub registry: String,
    /// `namespace/name`.
    pub repository: String,
    /// The tag it was resolved from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The manifest digest that runs.
    pub digest: String,
    /// The component's (layer's) digest.
    pub component: String,
    /// Who signed it: `unsigned` until signatures are checked.
    pub signer: String,
}

impl Default for Lockfile {
    /// An empty lock of the version this Kiln writes.
    fn default() -> Self {
        Lockfile { version: VERSION, plugin: Vec::new() }
    }
}

impl Lockfile {
    /// The entry for `reference` as written.
    pub fn get(&self, reference: &str) -> Option<&LockedPlugin> {
        self.plugin.iter().find(|p| p.reference == reference)
    }

    /// Add or replace the entry for its reference.
    pub fn set(&mut self, entry: LockedPlugin) {
        match self.plugin.iter_mut().find(|p| p.reference == entry.reference) {
            Some(old) => *old = entry,
            None => self.plugin.push(entry),
        }
        self.plugin.sort_by(|a, b| a.reference.cmp(&b.reference));
    }

    /// `kiln.lock` in `dir`.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(LOCK_FILE)
    }

    /// Read the lock at `path`: `None` when there is none; every problem
    /// with its position in the lock.
    pub fn read(path: &Path) -> Result<Option<Lockfile>, Diagnostic> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SourceMap::new(path, "").at(None, None, format!("cannot read the lockfile: {e}"))),
        };
        let map = SourceMap::new(path, &text);
        let hint = "the lock is written by `kiln lock`: fix the line, or delete kiln.lock and run `kiln lock` again";
        let lock: Lockfile = toml::from_str(&text).map_err(|e| {
            let mut d = map.at(e.span(), None, format!("invalid lockfile: {}", e.message()));
            d.hint = Some(hint.into());
            d
        })?;
        if lock.version != VERSION {
            let mut d = map.at(None, None, format!("lockfile version {} is not {VERSION}", lock.version));
            d.hint = Some("written by another Kiln: run `kiln lock` to rewrite it".into());
            return Err(d);
        }
        for entry in &lock.plugin {
            if let Err(why) = entry.check() {
                let offset = text.find(&format!("\"{}\"", entry.reference)).map(|o| o..o + 1);
                let mut d = map.at(offset, None, format!("invalid lockfile entry `{}`: {why}", entry.reference));
                d.hint = Some(hint.into());
                return Err(d);
            }
        }
        Ok(Some(lock))
    }

    /// Write the lock to `path` atomically.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let body = toml::to_string(self).map_err(std::io::Error::other)?;
        let text = format!(
            "# Written by `kiln lock` and `kiln run`: the published plugins the pipelines\n\
             # of this directory run, pinned by digest. Commit it; do not edit it by hand.\n{body}"
        );
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        file.write_all(text.as_bytes())?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

impl LockedPlugin {
    /// The entry agrees with itself: its reference parses to its registry,
    /// repository and tag, and both digests are `sha256:` and 64 hex digits.
    fn check(&self) -> Result<(), String> {
        let parsed = kiln_registry::OciReference::parse(&self.reference).map_err(|e| e.to_string())?;
        if parsed.registry != self.registry || parsed.repository != self.repository || parsed.tag != self.tag {
            return Err("its registry, repository or tag is not the reference's".into());
        }
        kiln_registry::reference::check_digest(&self.digest)?;
        kiln_registry::reference::check_digest(&self.component)?;
        if parsed.digest.as_ref().is_some_and(|d| *d != self.digest) {
            return Err("its digest is not the one its reference names".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn entry(reference: &str) -> LockedPlugin {
        let r = kiln_registry::OciReference::parse(reference).expect("ref");
        LockedPlugin {
            reference: reference.into(),
            registry: r.registry,
            repository: r.repository,
            tag: r.tag,
            digest: A.into(),
            component: A.into(),
            signer: "unsigned".into(),
        }
    }

    #[test]
    fn round_trips_sorted_and_refuses_hand_edits_with_their_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = Lockfile::path_in(dir.path());
        assert_eq!(Lockfile::read(&path).expect("none"), None);
        let mut lock = Lockfile::default();
        lock.set(entry("oci://r:5000/b/x:1"));
        lock.set(entry("oci://r:5000/a/x:1"));
        lock.write(&path).expect("write");
        let back = Lockfile::read(&path).expect("read").expect("some");
        assert_eq!(back, lock);
        assert_eq!(back.plugin[0].reference, "oci://r:5000/a/x:1");

        let text = std::fs::read_to_string(&path).expect("text");
        std::fs::write(&path, text.replacen("sha256:0123", "sha256:zz23", 1)).expect("edit");
        let d = Lockfile::read(&path).expect_err("hand-edited");
        assert!(d.message.contains("invalid lockfile entry `oci://r:5000/a/x:1`"), "{}", d.message);
        assert!(d.line > 2, "the entry's line: {}", d.line);
        std::fs::write(&path, text.replacen("signer", "signr", 1)).expect("edit");
        let d = Lockfile::read(&path).expect_err("unknown key");
        assert!(d.message.contains("signr") && d.line > 2, "{}:{}", d.line, d.message);
    }
}
