//! Where a value of a plugin's `config` table sits in the pipeline file.
//!
//! Plugin configs are kept as plain tables (`toml::Table`, without spans),
//! and a plugin's config schema names each problem by JSON pointer
//! (`/aspects/0/name`). To report it at a line and column, the file is read
//! again with spans (toml's `DeTable`), the table that owns the config (a
//! stage or a model) is found by the span of its `plugin` value, which the
//! config layer keeps, and the pointer is walked down its `config`.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The byte range of what `pointer` names inside the `config` of the table
/// whose `plugin` value spans `plugin_span`: the key of a table entry, the
/// item of an array; where the pointer leads past what the file holds (a
/// missing key), the deepest part that exists. `None` when the file does not
/// parse or the owner has no `config` written out.
pub(crate) fn config_value_span(text: &str, plugin_span: &Range<usize>, pointer: &str) -> Option<Range<usize>> {
    let root = DeTable::parse(text).ok()?;
    let owner = find_owner(root.get_ref(), plugin_span)?;
    let (config_key, config) = entry(owner, "config")?;
    let mut span = config_key.span();
    let mut value = config;
    for segment in kiln_sandbox::config_schema::pointer_segments(pointer) {
        let next = match value.get_ref() {
            DeValue::Table(table) => entry(table, &segment).map(|(key, value)| (key.span(), value)),
            DeValue::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)).map(|v| (v.span(), v)),
            _ => None,
        };
        match next {
            Some((next_span, next_value)) => (span, value) = (next_span, next_value),
            None => break,
        }
    }
    Some(span)
}

type Key<'i> = Spanned<std::borrow::Cow<'i, str>>;

/// The entry of `table` named `name`.
fn entry<'t, 'i>(table: &'t DeTable<'i>, name: &str) -> Option<(&'t Key<'i>, &'t Spanned<DeValue<'i>>)> {
    table.iter().find(|(key, _)| key.get_ref() == name)
}

/// The table, anywhere in `table`, with a `plugin` value spanning `plugin_span`.
fn find_owner<'t, 'i>(table: &'t DeTable<'i>, plugin_span: &Range<usize>) -> Option<&'t DeTable<'i>> {
    if entry(table, "plugin").is_some_and(|(_, value)| contains(&value.span(), plugin_span)) {
        return Some(table);
    }
    table.iter().find_map(|(_, value)| find_in_value(value.get_ref(), plugin_span))
}

fn find_in_value<'t, 'i>(value: &'t DeValue<'i>, plugin_span: &Range<usize>) -> Option<&'t DeTable<'i>> {
    match value {
        DeValue::Table(table) => find_owner(table, plugin_span),
        DeValue::Array(items) => items.iter().find_map(|item| find_in_value(item.get_ref(), plugin_span)),
        _ => None,
    }
}

/// Whether `outer` covers `inner` (the config layer may span a plugin
/// reference table `{ oci = …, digest = … }` or one of its values).
fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIPELINE: &str = r#"[[stage]]
name = "first"
kind = "filter"
plugin = "a.wasm"
config = { min_words = 3 }

[[stage]]
name = "judge"
kind = "critique"
plugin = "judge.wasm"

[stage.config]
rubric = "be kind"
aspects = [{ name = "x" }, { nme = "y" }]

[models.local]
backend = "wasm"
plugin = { oci = "oci://127.0.0.1:5000/kiln/model:1" }
config.seed = 7
"#;

    fn span_of(needle: &str, nth: usize) -> Range<usize> {
        let start = PIPELINE.match_indices(needle).nth(nth).expect("in the text").0;
        start..start + needle.len()
    }

    fn at(plugin: Range<usize>, pointer: &str) -> Option<&'static str> {
        config_value_span(PIPELINE, &plugin, pointer).map(|r| &PIPELINE[r.start..])
    }

    #[test]
    fn a_key_of_an_inline_config_is_found() {
        let found = at(span_of("\"a.wasm\"", 0), "/min_words").expect("found");
        assert!(found.starts_with("min_words = 3"));
    }

    #[test]
    fn a_nested_key_of_a_config_table_is_found() {
        let found = at(span_of("\"judge.wasm\"", 0), "/aspects/1/nme").expect("found");
        assert!(found.starts_with("nme = \"y\""), "{found}");
        let found = at(span_of("\"judge.wasm\"", 0), "/rubric").expect("found");
        assert!(found.starts_with("rubric ="), "{found}");
    }

    #[test]
    fn a_missing_key_points_at_the_deepest_part_that_exists() {
        let found = at(span_of("\"judge.wasm\"", 0), "/aspects/0/weight").expect("found");
        assert!(found.starts_with("{ name = \"x\" }"), "{found}");
        let found = at(span_of("\"judge.wasm\"", 0), "").expect("found");
        assert!(found.starts_with("config]"), "{found}");
    }

    #[test]
    fn a_model_with_a_published_plugin_is_found() {
        let found = at(span_of("oci = ", 0), "/seed").expect("found");
        assert!(found.starts_with("seed = 7"), "{found}");
    }

    #[test]
    fn no_owner_or_no_config_gives_none() {
        assert_eq!(at(10_000..10_001, "/x"), None);
        assert_eq!(config_value_span("not toml = = =", &(0..1), "/x"), None);
    }
}
