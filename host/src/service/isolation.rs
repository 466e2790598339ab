//! What a tenant's pipeline may name, checked before it is loaded.
//!
//! In the service a pipeline runs in its own directory (its uploads, work
//! directory and outputs under the tenant's root). It may name files only by
//! relative paths that stay inside that directory. Every string of the file
//! is checked, not only the keys known to hold paths today: a key added
//! tomorrow must not become a way out. Refused, each at its line and column:
//! absolute paths, `~`, any `..` segment, `file:` URLs, and `api_key_env`
//! naming a secret the operator did not set for the tenant (model
//! credentials are the operator's to give). `oci://` references and
//! `http(s)://` URLs are not paths, but the service would fetch them, so each
//! must lie under a prefix the operator allows (`kiln serve --allow-url`):
//! otherwise a tenant could point a model at the cloud's metadata endpoint or
//! an internal service.

use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::objects::Scheme;
use crate::pipeline::Diagnostic;
use crate::pipeline::config::diagnostic::SourceMap;

/// Every way `text` (the run's `pipeline.toml`) reaches outside its run
/// directory, in file order; empty when it stays inside.
pub fn check_pipeline(text: &str, granted_env: &[String], allowed: &AllowedUrls) -> Vec<Diagnostic> {
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        // The loader reports syntax errors with their place.
        Err(_) => return Vec::new(),
    };
    let map = SourceMap::new(Path::new("pipeline.toml"), text);
    let mut problems = Vec::new();
    let walk = Walk { map: &map, granted: granted_env, allowed };
    walk.table(root.get_ref(), false, &mut problems);
    problems.sort_by_key(|d| (d.line, d.column));
    problems
}

/// The URL prefixes a tenant's pipeline may name: model servers
/// (`http(s)://`), plugin registries (`oci://`) and object-storage inputs
/// (`s3://bucket/prefix`, `gs://…`, `az://container/prefix`, read with the
/// service's own credentials).
#[derive(Debug, Clone, Default)]
pub struct AllowedUrls(Vec<reqwest::Url>);

impl AllowedUrls {
    /// Parses the operator's prefixes (`http://10.0.0.5:8000/v1`, `oci://registry.internal`).
    pub fn parse(prefixes: &[String]) -> Result<AllowedUrls, String> {
        prefixes
            .iter()
            .map(|p| {
                let url = reqwest::Url::parse(p).map_err(|e| format!("allowed URL `{p}`: {e}"))?;
                let object = Scheme::ALL.iter().any(|s| s.name() == url.scheme());
                if url.host_str().is_none() || !(object || ["http", "https", "oci"].contains(&url.scheme())) {
                    return Err(format!(
                        "allowed URL `{p}`: give an http(s)://, oci://, {} URL with a host",
                        Scheme::listed()
                    ));
                }
                Ok(url)
            })
            .collect::<Result<_, _>>()
            .map(AllowedUrls)
    }

    /// Whether `text` lies under one of the prefixes: same scheme, host and
    /// port, and a path equal to the prefix's or below it.
    pub fn allows(&self, text: &str) -> bool {
        if let Some(scheme) = object_scheme(text) {
            return self.allows_objects(scheme, &text[scheme.name().len() + 3..]);
        }
        let Ok(url) = reqwest::Url::parse(text) else { return false };
        self.0.iter().any(|prefix| {
            let base = prefix.path().trim_end_matches('/');
            url.scheme() == prefix.scheme()
                && url.host_str().map(str::to_ascii_lowercase) == prefix.host_str().map(str::to_ascii_lowercase)
                && url.port_or_known_default() == prefix.port_or_known_default()
                && (base.is_empty() || url.path() == base || url.path().starts_with(&format!("{base}/")))
        })
    }

    /// Whether the objects `rest` (what follows `scheme://`) names — one
    /// key, or a prefix or glob, listed from its literal part — all lie
    /// under an allowed prefix of the same store, compared part by part. Read as Kiln reads it, not as a URL:
    /// there `?` would start a query and hide the rest of the key, where
    /// Kiln takes it as a glob character. `#`, `%`, `\\` and `.`/`..` parts are
    /// refused outright.
    fn allows_objects(&self, scheme: Scheme, rest: &str) -> bool {
        if rest.contains(['#', '%', '\\']) {
            return false;
        }
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if key.split('/').any(|part| part == "." || part == "..") {
            return false;
        }
        let literal = crate::objects::literal_part(key);
        self.0.iter().filter(|prefix| prefix.scheme() == scheme.name()).any(|prefix| {
            let base = prefix.path().trim_matches('/');
            prefix.host_str() == Some(bucket)
                && (base.is_empty() || literal == base || literal.starts_with(&format!("{base}/")))
        })
    }

    fn describe(&self) -> String {
        if self.0.is_empty() {
            "the operator allows none (`kiln serve --allow-url PREFIX`)".into()
        } else {
            let list: Vec<String> =
                self.0.iter().map(|u| format!("`{}`", crate::model::redact::display_url(u.as_str()))).collect();
            format!("allowed: {}", list.join(", "))
        }
    }
}

/// The walk over a file's values.
struct Walk<'a> {
    map: &'a SourceMap<'a>,
    granted: &'a [String],
    allowed: &'a AllowedUrls,
}

impl Walk<'_> {
    /// `in_config`: inside a plugin's `config`, where a URL is only data (a
    /// plugin can fetch nothing), so only paths are checked.
    fn table(&self, table: &DeTable<'_>, in_config: bool, problems: &mut Vec<Diagnostic>) {
        for (key, value) in table.iter() {
            if key.get_ref() == "api_key_env"
                && let DeValue::String(name) = value.get_ref()
                && !self.granted.iter().any(|g| g == name.as_ref())
            {
                problems.push(self.map.at(
                    Some(value.span()),
                    None,
                    format!(
                        "`api_key_env = \"{}\"`: the operator has not granted this secret to your tenant (model credentials are set by the operator)",
                        name.escape_default()
                    ),
                ));
                continue;
            }
            self.value(value, in_config || key.get_ref() == "config", problems);
        }
    }

    fn value(&self, value: &Spanned<DeValue<'_>>, in_config: bool, problems: &mut Vec<Diagnostic>) {
        match value.get_ref() {
            DeValue::String(s) => {
                let why = if in_config && is_url(s) {
                    None
                } else if is_url(s) {
                    (!self.allowed.allows(s)).then(|| {
                        format!(
                            "`{}` is not under a URL the operator allows for the service ({})",
                            crate::model::redact::display_url(s),
                            self.allowed.describe()
                        )
                    })
                } else {
                    escapes(s).map(|why| {
                        format!(
                            "`{}` {why}: a pipeline in the service names only files it uploaded, by relative paths inside its run",
                            s.escape_default()
                        )
                    })
                };
                if let Some(why) = why {
                    problems.push(self.map.at(Some(value.span()), None, why));
                }
            }
            DeValue::Array(items) => items.iter().for_each(|item| self.value(item, in_config, problems)),
            DeValue::Table(table) => self.table(table, in_config, problems),
            _ => {}
        }
    }
}

/// Whether `s` is a URL the service would fetch.
fn is_url(s: &str) -> bool {
    object_scheme(s).is_some()
        || ["oci://", "http://", "https://"]
            .iter()
            .any(|scheme| s.get(..scheme.len()).is_some_and(|p| p.eq_ignore_ascii_case(scheme)))
}

/// The object store `s` names by its scheme, in any case (`S3://` is taken
/// for `s3://` here, so that no spelling passes for a relative path).
fn object_scheme(s: &str) -> Option<Scheme> {
    Scheme::ALL.into_iter().find(|scheme| {
        let prefix = format!("{}://", scheme.name());
        s.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(&prefix))
    })
}

/// Why `s`, read as a path, would leave the run directory.
fn escapes(s: &str) -> Option<&'static str> {
    if s.starts_with('/') || s.starts_with('\\') || s.as_bytes().get(1) == Some(&b':') && s.len() > 2 {
        return Some("is an absolute path");
    }
    if s.starts_with('~') {
        return Some("names a home directory");
    }
    if s.starts_with("file:") {
        return Some("is a file URL");
    }
    if s.split(['/', '\\']).any(|segment| segment == "..") {
        return Some("climbs out with `..`");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_out_of_the_run_are_refused_at_their_place() {
        let text = r#"[pipeline]
name = "x"

[[input]]
path = "/etc/passwd"

[[input]]
path = "data/../../other-tenant/in.jsonl"

[[stage]]
name = "q"
plugin = "~/.ssh/id.wasm"
config = { words = ["../x", "a..b"], pattern = "(?i)wait.. what", link = "https://example.com/x" }

[models.m]
backend = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "AWS_SECRET_ACCESS_KEY"
"#;
        let allowed = AllowedUrls::parse(&["http://127.0.0.1:9/v1".to_string()]).expect("prefix");
        let problems: Vec<String> = check_pipeline(text, &[], &allowed).iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems[0].starts_with("pipeline.toml:5:8: `/etc/passwd` is an absolute path"), "{}", problems[0]);
        assert!(problems[1].starts_with("pipeline.toml:8:8: ") && problems[1].contains("`..`"), "{}", problems[1]);
        assert!(
            problems[2].starts_with("pipeline.toml:12:10: ") && problems[2].contains("home directory"),
            "{}",
            problems[2]
        );
        assert!(problems[3].contains("`../x`"), "{}", problems[3]);
        assert!(
            problems[4].starts_with("pipeline.toml:18:15: ") && problems[4].contains("not granted"),
            "{}",
            problems[4]
        );
    }

    #[test]
    fn relative_paths_references_and_granted_variables_pass() {
        let text = r#"[[input]]
path = "data/*.jsonl"
[[stage]]
plugin = "oci://127.0.0.1:5000/kiln/gopher:1"
[models.m]
base_url = "https://api.example.com/v1"
api_key_env = "TEAM_A_KEY"
"#;
        let prefixes = ["oci://127.0.0.1:5000/kiln".to_string(), "https://api.example.com".to_string()];
        let allowed = AllowedUrls::parse(&prefixes).expect("prefixes");
        assert_eq!(check_pipeline(text, &["TEAM_A_KEY".to_string()], &allowed), Vec::new());
        assert_eq!(check_pipeline(text, &[], &allowed).len(), 1);
        let refused = check_pipeline(text, &["TEAM_A_KEY".to_string()], &AllowedUrls::default());
        assert_eq!(refused.len(), 2, "{refused:#?}");
        assert!(refused[0].to_string().contains("the operator allows none"), "{}", refused[0]);
    }

    #[test]
    fn url_prefixes_match_scheme_host_port_and_whole_path_segments() {
        let allowed = AllowedUrls::parse(&[
            "http://10.0.0.5:8000/v1".to_string(),
            "oci://reg.internal".to_string(),
            "s3://corpus/team-a".to_string(),
            "az://box/team-a".to_string(),
        ])
        .expect("prefixes");
        for ok in [
            "http://10.0.0.5:8000/v1",
            "http://10.0.0.5:8000/v1/",
            "http://10.0.0.5:8000/v1/chat",
            "oci://reg.internal/a/b:1",
            "s3://corpus/team-a/web/part-1.jsonl",
            "s3://corpus/team-a/",
            "s3://corpus/team-a/**/*.jsonl.gz",
            "s3://corpus/team-a/x?y/*.jsonl",
            "az://box/team-a/web/*.jsonl",
        ] {
            assert!(allowed.allows(ok), "{ok}");
        }
        for bad in [
            "http://10.0.0.5:8000/v10",
            "http://10.0.0.5:80001/v1",
            "http://10.0.0.5/v1",
            "https://10.0.0.5:8000/v1",
            "http://10.0.0.5:8000@169.254.169.254/v1",
            "http://169.254.169.254/latest/meta-data",
            "oci://reg.internal.evil.com/a",
            "s3://corpus/team-b/web/part-1.jsonl",
            "s3://corpus/team-a-secret/x.jsonl",
            // `?` is a glob to Kiln, a query to a URL parser: the listing would start at the bucket.
            "s3://corpus/team-a?secret/**",
            "s3://corpus/team-a*/x.jsonl",
            "s3://corpus/team-a#x/k.jsonl",
            "s3://corpus/team-a/../team-b/k.jsonl",
            "s3://corpus/team-a%2F..%2Fteam-b/k.jsonl",
            "s3://other/team-a/k.jsonl",
            // The same bucket and key in another store is another object.
            "gs://corpus/team-a/web/part-1.jsonl",
            "az://corpus/team-a/web/part-1.jsonl",
            "az://box/team-b/k.jsonl",
            "not a url",
        ] {
            assert!(!allowed.allows(bad), "{bad}");
        }
        // An object-storage input is a URL the service would fetch, not a relative path.
        let text = "[[input]]\npath = \"s3://corpus/team-b/in.jsonl\"\n";
        let problems = check_pipeline(text, &[], &allowed);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].to_string().contains("not under a URL the operator allows"), "{}", problems[0]);
        assert!(check_pipeline(&text.replace("team-b", "team-a"), &[], &allowed).is_empty());
        let shouted = AllowedUrls::parse(&["AZ://box/team-a".to_string()]).expect("a prefix");
        assert!(shouted.allows("az://box/team-a/k.jsonl") && shouted.allows("Az://box/team-a/k.jsonl"));
        assert!(!shouted.allows("az://box/team-b/k.jsonl") && !shouted.allows("s3://box/team-a/k.jsonl"));
        for other_store in ["gs://corpus/team-a/in.jsonl", "GS://corpus/x.jsonl", "Az://box/team-b/in.jsonl"] {
            let text = format!("[[input]]\npath = \"{other_store}\"\n");
            assert_eq!(check_pipeline(&text, &[], &allowed).len(), 1, "{other_store}");
        }
        assert!(AllowedUrls::parse(&["file:///etc".to_string()]).is_err());
        assert!(AllowedUrls::parse(&["127.0.0.1:8000".to_string()]).is_err());
    }
}
