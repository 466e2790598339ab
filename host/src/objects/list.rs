//! Inputs naming many objects: `s3://bucket/web/` (every object under the
//! prefix) or a glob over keys (`s3://bucket/web/**/*.jsonl.gz`: `*` and `?`
//! within one `/`-separated part, `**` across parts, as for local files).
//!
//! A pattern is listed once, when the pipeline is checked, from its longest
//! literal prefix (a LIST request per thousand keys, never a walk of the
//! bucket), capped at [`MAX_LISTED`] keys, and sorted by key, so that every
//! process of a split run sees the same objects in the same order.

use futures::TryStreamExt;
use globset::{GlobBuilder, GlobMatcher};
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

use super::{ObjectUrl, Scheme, error_text, has_glob, on_runtime, stores};

/// Keys a pattern may list before it is refused.
pub const MAX_LISTED: usize = 1_000_000;

/// Objects named by a prefix or a glob.
#[derive(Debug, Clone)]
pub struct ObjectPattern {
    text: String,
    scheme: Scheme,
    bucket: String,
    /// The literal part of the key the listing starts from (whole `/` parts).
    listed: String,
    /// Keys under `listed` that count (none: all of them).
    glob: Option<GlobMatcher>,
}

impl ObjectPattern {
    /// Whether `text` names many objects (a prefix ending in `/`, or a glob)
    /// rather than one.
    pub fn names_many(text: &str) -> bool {
        let key = Scheme::split(text).and_then(|(_, rest)| rest.split_once('/')).map_or("", |(_, key)| key);
        key.is_empty() || key.ends_with('/') || has_glob(key)
    }

    /// Parses `s3://bucket/prefix/` or `s3://bucket/glob`.
    pub fn parse(text: &str) -> Result<ObjectPattern, String> {
        let (scheme, bucket, key) = ObjectUrl::split(text)?;
        let listed = super::literal_part(key).to_string();
        let glob = if has_glob(key) {
            let glob = GlobBuilder::new(key)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("`{text}` is not a valid glob: {}", e.kind()))?;
            Some(glob.compile_matcher())
        } else {
            None
        };
        Ok(ObjectPattern { text: text.to_string(), scheme, bucket: bucket.to_string(), listed, glob })
    }

    /// The objects it names, sorted by key.
    pub fn expand(&self) -> Result<Vec<ObjectUrl>, String> {
        let store = stores::client(self.scheme, &self.bucket)?;
        let prefix = (!self.listed.is_empty()).then(|| ObjectPath::from(self.listed.as_str()));
        let (text, scheme) = (self.text.clone(), self.scheme);
        let mut keys = on_runtime(async move {
            let mut listing = store.list(prefix.as_ref());
            let mut keys = Vec::new();
            while let Some(meta) = listing.try_next().await.map_err(|e| error_text(&e))? {
                if keys.len() == MAX_LISTED {
                    return Err(format!(
                        "`{text}` lists more than {MAX_LISTED} objects; narrow it (a longer prefix, e.g. \
                         {}://{}/web/2024/*.jsonl.gz)",
                        scheme.name(),
                        scheme.bucket_word().to_ascii_uppercase()
                    ));
                }
                // A zero-byte key holds no records (and one ending in `/`
                // is a folder marker, not an object).
                if meta.size > 0 {
                    keys.push((meta.location.to_string(), super::ObjectVersion::of(&meta)));
                }
            }
            Ok(keys)
        })??;
        keys.retain(|(key, _)| self.glob.as_ref().is_none_or(|glob| glob.is_match(key)));
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(keys
            .into_iter()
            .map(|(key, version)| ObjectUrl {
                scheme: self.scheme,
                bucket: self.bucket.clone(),
                key,
                version: Some(version),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_list_from_their_literal_prefix() {
        let glob = ObjectPattern::parse("s3://corpus/web/2024/**/*.jsonl.gz").expect("glob");
        assert_eq!(glob.listed, "web/2024");
        let matcher = glob.glob.as_ref().expect("a glob");
        assert!(matcher.is_match("web/2024/01/part-0.jsonl.gz") && matcher.is_match("web/2024/part-0.jsonl.gz"));
        assert!(!matcher.is_match("web/2024/01/part-0.parquet"));
        let one_level = ObjectPattern::parse("s3://corpus/web/*.jsonl").expect("glob");
        let matcher = one_level.glob.as_ref().expect("a glob");
        assert!(matcher.is_match("web/a.jsonl") && !matcher.is_match("web/sub/a.jsonl"), "`*` stays in its part");
        let prefix = ObjectPattern::parse("s3://corpus/web/").expect("prefix");
        assert_eq!((prefix.listed.as_str(), prefix.glob.is_none()), ("web", true));
        assert_eq!(ObjectPattern::parse("s3://corpus/part-*.jsonl").expect("glob").listed, "");
        assert!(ObjectPattern::names_many("s3://corpus/web/") && ObjectPattern::names_many("s3://corpus/w/*.jsonl"));
        assert!(ObjectPattern::names_many("s3://corpus") && !ObjectPattern::names_many("s3://corpus/web/a.jsonl"));
        assert!(ObjectPattern::parse("s3://corpus/web/[a.jsonl").is_err());
        let azure = ObjectPattern::parse("az://box/web/*.jsonl").expect("an Azure glob");
        assert_eq!((azure.scheme, azure.bucket.as_str(), azure.listed.as_str()), (Scheme::Azure, "box", "web"));
        assert!(ObjectPattern::names_many("gs://corpus/web/") && !ObjectPattern::names_many("gs://corpus/a.jsonl"));
    }
}
