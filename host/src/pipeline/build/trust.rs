//! The plugin trust policy of a pipeline (`[trust]`): which Ed25519 keys
//! may sign which plugins, and whether a plugin without such a signature is
//! refused. Checked for every plugin — a file or a published artifact —
//! as it is located, before it is compiled and before any record is read,
//! so a refusal names the plugin, the key that signed it and the keys that
//! were trusted. A signature that does not verify is refused whatever the
//! policy says: it means the component changed after it was signed.

use std::fmt;
use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use kiln_registry::signature::{self, PublicKey};

use crate::pipeline::config::TrustConfig;
use crate::pipeline::config::diagnostic::{Diagnostic, SourceMap};

/// The policy, built from `[trust]`.
#[derive(Debug, Default)]
pub struct TrustPolicy {
    require: bool,
    keys: Vec<TrustedKey>,
}

#[derive(Debug)]
struct TrustedKey {
    name: String,
    key: PublicKey,
    plugins: GlobSet,
}

/// Who signed a plugin, as the lockfile records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// No signature was required or checked.
    Unsigned,
    /// A valid signature by a trusted key.
    Key {
        /// The key's name in `[trust]`.
        name: String,
        /// Its id.
        id: String,
    },
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signer::Unsigned => write!(f, "unsigned"),
            Signer::Key { name, id } => write!(f, "{name} ({id})"),
        }
    }
}

/// Build the policy of the pipeline's `[trust]` and of the user's trust
/// file (`KILN_TRUST_FILE`, else `$XDG_CONFIG_HOME/kiln/trust.toml`, else
/// `~/.config/kiln/trust.toml`, when it exists): signatures are required if
/// either requires them, and the keys of both are trusted. A bad key or glob
/// is a diagnostic at its position in the file that names it.
pub(crate) fn policy(
    map: &SourceMap<'_>,
    base: &Path,
    config: Option<&TrustConfig>,
    errors: &mut Vec<Diagnostic>,
) -> TrustPolicy {
    let mut policy = TrustPolicy::default();
    if let Some(config) = config {
        policy.add(map, base, config, errors);
    }
    let Some(path) = user_trust_file() else { return policy };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            // A trust file that was asked for but cannot be read must not
            // leave the plugins unchecked.
            let mut d = SourceMap::new(&path, "").at(None, None, format!("cannot read the user trust file: {e}"));
            d.hint = Some("fix KILN_TRUST_FILE, or remove it from the environment".into());
            errors.push(d);
            return policy;
        }
    };
    let user_map = SourceMap::new(&path, &text);
    match toml::from_str::<TrustConfig>(&text) {
        Ok(config) => {
            let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            policy.add(&user_map, &dir, &config, errors);
        }
        Err(e) => errors.push(user_map.at(e.span(), None, format!("user trust file: {}", e.message()))),
    }
    policy
}

/// The user-level trust file, if one is configured or present.
fn user_trust_file() -> Option<std::path::PathBuf> {
    if let Some(file) = std::env::var_os("KILN_TRUST_FILE") {
        return Some(file.into());
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
    let path = config.join("kiln").join("trust.toml");
    path.is_file().then_some(path)
}

impl TrustPolicy {
    /// Add the keys of `config` (key files relative to `base`).
    fn add(&mut self, map: &SourceMap<'_>, base: &Path, config: &TrustConfig, errors: &mut Vec<Diagnostic>) {
        self.require |= config.require_signature;
        for k in &config.key {
            let name = k.name.get_ref().clone();
            let text = match (&k.public_key, &k.file) {
                (Some(inline), None) => Ok((inline.get_ref().clone(), inline.span())),
                (None, Some(file)) => {
                    std::fs::read_to_string(base.join(file.get_ref())).map(|t| (t, file.span())).map_err(|e| {
                        map.at(Some(file.span()), None, format!("trust key `{name}`: {}: {e}", file.get_ref()))
                    })
                }
                _ => Err(map.at(
                    Some(k.name.span()),
                    None,
                    format!("trust key `{name}` needs exactly one of `public_key` or `file`"),
                )),
            };
            let parsed = text.and_then(|(text, span)| {
                PublicKey::parse(&text).map_err(|why| map.at(Some(span), None, format!("trust key `{name}`: {why}")))
            });
            let mut globs = GlobSetBuilder::new();
            for pattern in &k.plugins {
                match Glob::new(pattern) {
                    Ok(glob) => {
                        globs.add(glob);
                    }
                    Err(e) => errors.push(map.at(Some(k.name.span()), None, format!("trust key `{name}`: {e}"))),
                }
            }
            match (parsed, globs.build()) {
                (Ok(key), Ok(plugins)) => self.keys.push(TrustedKey { name, key, plugins }),
                (Err(d), _) => errors.push(d),
                (_, Err(e)) => errors.push(map.at(Some(k.name.span()), None, format!("trust key `{name}`: {e}"))),
            }
        }
    }

    /// Check the component at `path`, written in the pipeline as `written`.
    pub fn verify(&self, written: &str, path: &Path) -> Result<Signer, String> {
        if !self.require && self.keys.is_empty() {
            return Ok(Signer::Unsigned);
        }
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let found = match signature::signatures(&bytes) {
            Ok(found) => found,
            // Not a component: the sandbox says why when it loads it.
            Err(_) if !self.require => return Ok(Signer::Unsigned),
            Err(why) => return Err(format!("plugin `{written}`: cannot read its signatures: {why}")),
        };
        if let Some(bad) = found.iter().find(|f| !f.valid) {
            return Err(format!(
                "plugin `{written}`: the signature by key {} does not verify: the component was changed after it \
                 was signed; refusing it",
                bad.key.id()
            ));
        }
        let trusted: Vec<&TrustedKey> = self.keys.iter().filter(|k| k.plugins.is_match(written)).collect();
        if let Some(key) = trusted.iter().find(|k| found.iter().any(|f| f.key == k.key)) {
            return Ok(Signer::Key { name: key.name.clone(), id: key.key.id() });
        }
        if !self.require {
            return Ok(Signer::Unsigned);
        }
        let trusted_list = if trusted.is_empty() {
            "none ([[trust.key]] `plugins` patterns match no key to it)".to_string()
        } else {
            trusted.iter().map(|k| format!("`{}` ({})", k.name, k.key.id())).collect::<Vec<_>>().join(", ")
        };
        if found.is_empty() {
            return Err(format!(
                "plugin `{written}` is not signed, and [trust] require_signature = true; keys trusted for it: \
                 {trusted_list} (sign it with `kiln plugin sign`)"
            ));
        }
        let signers = found.iter().map(|f| format!("{} ({})", f.key.id(), f.key.encode())).collect::<Vec<_>>();
        Err(format!(
            "plugin `{written}` is signed by key {}, which [trust] does not trust for it; keys trusted for it: \
             {trusted_list}",
            signers.join(", ")
        ))
    }
}
