//! What a tenant's pipeline may name, checked before it is loaded.
//!
//! In the service a pipeline runs in its own directory (its uploads, work
//! directory and outputs under the tenant's root). It may name files only by
//! relative paths that stay inside that directory. Every string of the file
//! is checked, not only the keys known to hold paths today: a key added
//! tomorrow must not become a way out. Refused, each at its line and column:
//! absolute paths, `~`, any `..` segment, `file:` URLs, and `api_key_env`
//! naming a variable the operator did not grant to the tenant (model
//! credentials are the operator's to give). `oci://` references and
//! `http(s)://` URLs are not paths and pass.

use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::pipeline::Diagnostic;
use crate::pipeline::config::diagnostic::SourceMap;

/// Every way `text` (the run's `pipeline.toml`) reaches outside its run
/// directory, in file order; empty when it stays inside.
pub fn check_pipeline(text: &str, granted_env: &[String]) -> Vec<Diagnostic> {
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        // The loader reports syntax errors with their place.
        Err(_) => return Vec::new(),
    };
    let map = SourceMap::new(Path::new("pipeline.toml"), text);
    let mut problems = Vec::new();
    walk_table(&map, root.get_ref(), granted_env, &mut problems);
    problems.sort_by_key(|d| (d.line, d.column));
    problems
}

fn walk_table(map: &SourceMap<'_>, table: &DeTable<'_>, granted: &[String], problems: &mut Vec<Diagnostic>) {
    for (key, value) in table.iter() {
        if key.get_ref() == "api_key_env"
            && let DeValue::String(name) = value.get_ref()
            && !granted.iter().any(|g| g == name.as_ref())
        {
            problems.push(map.at(
                Some(value.span()),
                None,
                format!(
                    "`api_key_env = \"{}\"`: the operator has not granted this variable to your tenant (model credentials are set by the operator)",
                    name.escape_default()
                ),
            ));
            continue;
        }
        walk_value(map, value, granted, problems);
    }
}

fn walk_value(map: &SourceMap<'_>, value: &Spanned<DeValue<'_>>, granted: &[String], problems: &mut Vec<Diagnostic>) {
    match value.get_ref() {
        DeValue::String(s) => {
            if let Some(why) = escapes(s) {
                problems.push(map.at(
                    Some(value.span()),
                    None,
                    format!(
                        "`{}` {why}: a pipeline in the service names only files it uploaded, by relative paths inside its run",
                        s.escape_default()
                    ),
                ));
            }
        }
        DeValue::Array(items) => items.iter().for_each(|item| walk_value(map, item, granted, problems)),
        DeValue::Table(table) => walk_table(map, table, granted, problems),
        _ => {}
    }
}

/// Why `s`, read as a path, would leave the run directory.
fn escapes(s: &str) -> Option<&'static str> {
    if s.starts_with("oci://") || s.starts_with("http://") || s.starts_with("https://") {
        return None;
    }
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
config = { words = ["../x", "a..b"], pattern = "(?i)wait.. what" }

[models.m]
backend = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "AWS_SECRET_ACCESS_KEY"
"#;
        let problems: Vec<String> = check_pipeline(text, &[]).iter().map(ToString::to_string).collect();
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
        assert_eq!(check_pipeline(text, &["TEAM_A_KEY".to_string()]), Vec::new());
        assert_eq!(check_pipeline(text, &[]).len(), 1);
    }
}
