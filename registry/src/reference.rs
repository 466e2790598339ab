//! `oci://HOST[:PORT]/NAMESPACE/NAME[:TAG][@sha256:HEX]`: how a pipeline,
//! the lockfile and `kiln plugin push|pull` name a published plugin.
//!
//! The scheme is explicit and the registry host is required (no implicit
//! Docker Hub), so that a reference in a tenant's pipeline says exactly
//! where its code comes from. Repository and tag follow the OCI
//! distribution spec's grammar; a digest is always `sha256:` and 64
//! lowercase hex digits.

use std::fmt;

use crate::error::RegistryError;

/// The scheme every plugin reference starts with.
pub const SCHEME: &str = "oci://";

/// A parsed plugin reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OciReference {
    /// `host[:port]`.
    pub registry: String,
    /// `namespace/name`.
    pub repository: String,
    /// The tag, if named.
    pub tag: Option<String>,
    /// `sha256:<hex>`, if named.
    pub digest: Option<String>,
}

impl OciReference {
    /// Parse `oci://…`.
    pub fn parse(text: &str) -> Result<OciReference, RegistryError> {
        let bad = |why: &str| RegistryError::BadReference { reference: text.to_string(), why: why.to_string() };
        let rest = text.strip_prefix(SCHEME).ok_or_else(|| bad("it does not start with `oci://`"))?;
        let (rest, digest) = match rest.split_once('@') {
            Some((rest, digest)) => {
                check_digest(digest).map_err(|why| bad(&why))?;
                (rest, Some(digest.to_string()))
            }
            None => (rest, None),
        };
        let (registry, path) = rest.split_once('/').ok_or_else(|| bad("it names no repository after the host"))?;
        let host_chars = registry.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
        if !host_chars || !registry.chars().any(|c| c.is_ascii_alphanumeric()) {
            return Err(bad("the registry host is empty or has characters a host cannot have"));
        }
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag.to_string())),
            _ => (path, None),
        };
        check_repository(repository).map_err(|why| bad(&why))?;
        if let Some(tag) = &tag {
            check_tag(tag).map_err(|why| bad(&why))?;
        }
        if tag.is_none() && digest.is_none() {
            return Err(bad("it names neither a tag (`:1.0.0`) nor a digest (`@sha256:…`)"));
        }
        Ok(OciReference { registry: registry.to_string(), repository: repository.to_string(), tag, digest })
    }

    /// The same artifact, pinned to `digest`.
    pub fn pinned(&self, digest: &str) -> OciReference {
        OciReference { digest: Some(digest.to_string()), ..self.clone() }
    }

    /// Whether the registry is on this machine (spoken to over plain HTTP).
    pub fn is_loopback(&self) -> bool {
        let host = self.host();
        host == "localhost" || host == "::1" || host.starts_with("127.")
    }

    /// The host without its port.
    pub fn host(&self) -> &str {
        let r = self.registry.as_str();
        if let Some(inner) = r.strip_prefix('[') {
            return inner.split(']').next().unwrap_or(inner);
        }
        r.rsplit_once(':').map_or(r, |(host, _)| host)
    }

    /// The reference as `oci-client` takes it: by digest when pinned.
    pub fn to_oci(&self) -> oci_client::Reference {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => {
                oci_client::Reference::with_digest(self.registry.clone(), self.repository.clone(), digest.clone())
            }
            (None, Some(tag)) => {
                oci_client::Reference::with_tag(self.registry.clone(), self.repository.clone(), tag.clone())
            }
            (None, None) => {
                oci_client::Reference::with_tag(self.registry.clone(), self.repository.clone(), "latest".into())
            }
        }
    }
}

impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `sha256:` and 64 lowercase hex digits.
pub fn check_digest(digest: &str) -> Result<(), String> {
    let hex = digest.strip_prefix("sha256:").ok_or_else(|| format!("digest `{digest}` is not `sha256:…`"))?;
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
        return Err(format!("digest `{digest}` does not have 64 lowercase hex digits"));
    }
    Ok(())
}

/// Path components of lowercase letters and digits joined by `.`, `_`,
/// `__` or runs of `-` (the OCI distribution spec's grammar).
fn check_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("the repository is empty".into());
    }
    for part in repository.split('/') {
        let ok = !part.is_empty()
            && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            && part.starts_with(|c: char| c.is_ascii_alphanumeric())
            && part.ends_with(|c: char| c.is_ascii_alphanumeric())
            && !part.contains("..")
            && !part.contains("___");
        if !ok {
            return Err(format!(
                "repository component `{part}` must be lowercase letters and digits joined by `.`, `_` or `-`"
            ));
        }
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn check_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok { Ok(()) } else { Err(format!("tag `{tag}` must be letters, digits, `.`, `_` or `-` (at most 128)")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_tags_digests_and_ports() {
        let r = OciReference::parse("oci://127.0.0.1:5000/kiln/gopher-quality:1.0.0").expect("parse");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "kiln/gopher-quality");
        assert_eq!(r.tag.as_deref(), Some("1.0.0"));
        assert!(r.is_loopback());
        assert_eq!(r.to_string(), "oci://127.0.0.1:5000/kiln/gopher-quality:1.0.0");
        let pinned = format!("oci://ghcr.io/acme/filters/pii@sha256:{HEX}");
        let r = OciReference::parse(&pinned).expect("parse");
        assert_eq!((r.host(), r.tag.as_deref()), ("ghcr.io", None));
        assert!(!r.is_loopback());
        assert_eq!(r.to_string(), pinned);
    }

    #[test]
    fn refuses_what_a_registry_would_not_take() {
        for (text, why) in [
            ("ghcr.io/acme/x:1", "oci://"),
            ("oci://ghcr.io", "no repository"),
            ("oci://ghcr.io/Acme/x:1", "lowercase"),
            ("oci://ghcr.io/acme/x", "neither a tag"),
            ("oci://ghcr.io/acme/x:1@sha256:abc", "64 lowercase hex"),
            ("oci://ghcr.io/acme/x:-1", "tag `-1`"),
            ("oci://gh cr.io/acme/x:1", "host"),
            ("oci://../acme/x:1", "host"),
            ("oci://ghcr.io/acme/../x:1", "component `..`"),
        ] {
            let e = OciReference::parse(text).expect_err(text).to_string();
            assert!(e.contains(why) && e.contains(text), "{text}: {e}");
        }
    }
}
