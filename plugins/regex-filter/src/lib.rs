//! `regex-filter`: keeps or drops records by regular expressions on their text.
//!
//! # Config
//!
//! - `drop`: patterns; a record whose text matches any of them is dropped.
//! - `keep`: patterns; when given (non-empty), a record must match at least one
//!   of them to be kept.
//! - `case_insensitive` (default `false`): match every pattern ignoring case.
//!
//! At least one of `drop` and `keep` must be non-empty. A pattern is either a
//! plain string, or a table `{ name = "...", pattern = "..." }` that gives it a
//! name for drop reasons:
//!
//! ```toml
//! [stages.config]
//! drop = ["(?i)lorem ipsum", { name = "boilerplate", pattern = "^(Click|Subscribe) here" }]
//! keep = ['\p{Latin}{3,}']
//! ```
//!
//! Patterns use the syntax of the Rust `regex` crate (no look-around, no
//! back-references; Unicode-aware classes; `(?m)`, `(?s)`... flags inline). A
//! pattern matches when it matches anywhere in the text (use `^`/`$` to
//! anchor). An invalid pattern rejects the configuration with a message that
//! names the pattern and gives the regex error.
//!
//! # Drop reasons
//!
//! - `regex:drop:<name>`: the text matches a `drop` pattern; `<name>` is the
//!   pattern's name, or the pattern text itself when it has none. When several
//!   match, the first in the list names the drop.
//! - `regex:no-keep-match`: `keep` is given and the text matches none of it.
//!
//! `drop` is checked first: a text that matches both a `drop` and a `keep`
//! pattern is dropped. Each list is compiled into one `regex::RegexSet`, so
//! that a record costs one pass over its text per list.

use kiln_pdk::{Plugin, TextFilter, Verdict};
use regex::{RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Deserialize;

/// A pattern: a plain regex string, or a named one.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(untagged, expecting = "a pattern string, or a table { name = \"...\", pattern = \"...\" }")]
pub enum Pattern {
    /// A regex, named by its own text.
    Plain(String),
    /// A regex with a name for drop reasons.
    Named(NamedPattern),
}

/// A regex with a name.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedPattern {
    /// The name used in drop reasons.
    pub name: String,
    /// The regex.
    pub pattern: String,
}

impl Pattern {
    /// The regex text.
    pub fn pattern(&self) -> &str {
        match self {
            Pattern::Plain(p) => p,
            Pattern::Named(n) => &n.pattern,
        }
    }

    /// The name used in drop reasons: the name if given, else the regex text.
    pub fn label(&self) -> &str {
        match self {
            Pattern::Plain(p) => p,
            Pattern::Named(n) => &n.name,
        }
    }

    fn describe(&self) -> String {
        match self {
            Pattern::Plain(p) => format!("{p:?}"),
            Pattern::Named(n) => format!("{:?} ({:?})", n.name, n.pattern),
        }
    }
}

/// The patterns.
#[derive(Debug, Default, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// A record matching any of these is dropped.
    pub drop: Vec<Pattern>,
    /// When non-empty, a record must match one of these to be kept.
    pub keep: Vec<Pattern>,
    /// Match ignoring case.
    pub case_insensitive: bool,
}

/// The filter, configured.
pub struct RegexFilter {
    drop: Option<RegexSet>,
    /// `regex:drop:<label>` for each drop pattern, by index.
    drop_reasons: Vec<String>,
    keep: Option<RegexSet>,
}

/// The compiled set of `patterns`, or `None` when there are none.
fn compile(which: &str, patterns: &[Pattern], case_insensitive: bool) -> Result<Option<RegexSet>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    // Compile one by one first: a set's error does not say which pattern is wrong.
    for p in patterns {
        RegexBuilder::new(p.pattern())
            .case_insensitive(case_insensitive)
            .build()
            .map_err(|e| format!("invalid {which} pattern {}: {e}", p.describe()))?;
    }
    RegexSetBuilder::new(patterns.iter().map(Pattern::pattern))
        .case_insensitive(case_insensitive)
        .build()
        .map(Some)
        .map_err(|e| format!("cannot compile the {which} patterns together: {e}"))
}

impl Plugin for RegexFilter {
    type Config = Config;
    const DESCRIPTION: &'static str = "drops records that match drop patterns or miss every keep pattern";

    fn new(c: Config) -> Result<Self, String> {
        if c.drop.is_empty() && c.keep.is_empty() {
            return Err("no patterns: give at least one of `drop` (patterns that drop a record) \
                        or `keep` (patterns a record must match)"
                .into());
        }
        Ok(RegexFilter {
            drop: compile("drop", &c.drop, c.case_insensitive)?,
            drop_reasons: c.drop.iter().map(|p| format!("regex:drop:{}", p.label())).collect(),
            keep: compile("keep", &c.keep, c.case_insensitive)?,
        })
    }
}

impl RegexFilter {
    /// Why `text` is dropped, or `None` if it is kept.
    pub fn check(&self, text: &str) -> Option<&str> {
        if let Some(set) = &self.drop {
            // `is_match` stops at the first match; only a drop pays for `matches`.
            if set.is_match(text) {
                let first = set.matches(text).iter().next().unwrap_or(0);
                return Some(self.drop_reasons.get(first).map_or("regex:drop", String::as_str));
            }
        }
        if let Some(set) = &self.keep
            && !set.is_match(text)
        {
            return Some("regex:no-keep-match");
        }
        None
    }
}

impl TextFilter for RegexFilter {
    fn filter_text(&self, text: &str) -> Verdict {
        match self.check(text) {
            None => Verdict::Keep,
            Some(reason) => Verdict::drop(reason.to_owned()),
        }
    }
}

kiln_pdk::export_text_filter!(RegexFilter);

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_pdk::{Filter, Record};

    fn plain(p: &str) -> Pattern {
        Pattern::Plain(p.into())
    }

    fn named(name: &str, p: &str) -> Pattern {
        Pattern::Named(NamedPattern { name: name.into(), pattern: p.into() })
    }

    fn filter(c: Config, text: &str) -> Verdict {
        RegexFilter::new(c).expect("valid config").filter(&Record::new("r", text))
    }

    #[test]
    fn drop_by_plain_pattern_names_the_pattern() {
        let c = Config { drop: vec![plain(r"lorem\s+ipsum")], ..Config::default() };
        assert_eq!(filter(c.clone(), "xx lorem  ipsum yy"), Verdict::drop(r"regex:drop:lorem\s+ipsum"));
        assert_eq!(filter(c, "dolor sit amet"), Verdict::Keep);
    }

    #[test]
    fn drop_by_named_pattern_uses_the_name() {
        let c = Config { drop: vec![named("boilerplate", "^(Click|Subscribe) here")], ..Config::default() };
        assert_eq!(filter(c.clone(), "Click here to win"), Verdict::drop("regex:drop:boilerplate"));
        assert_eq!(filter(c, "Please Click here"), Verdict::Keep);
    }

    #[test]
    fn first_matching_drop_pattern_names_the_drop() {
        let c = Config { drop: vec![plain("zzz"), named("b", "bbb"), plain("aaa")], ..Config::default() };
        assert_eq!(filter(c.clone(), "aaa bbb"), Verdict::drop("regex:drop:b"));
        assert_eq!(filter(c.clone(), "aaa"), Verdict::drop("regex:drop:aaa"));
        assert_eq!(filter(c, "ccc"), Verdict::Keep);
    }

    #[test]
    fn keep_requires_a_match() {
        let c = Config { keep: vec![plain("apple"), plain("pear")], ..Config::default() };
        assert_eq!(filter(c.clone(), "a pear tree"), Verdict::Keep);
        assert_eq!(filter(c.clone(), "an apple"), Verdict::Keep);
        assert_eq!(filter(c, "a plum"), Verdict::drop("regex:no-keep-match"));
    }

    #[test]
    fn drop_takes_precedence_over_keep() {
        let c = Config { drop: vec![plain("rotten")], keep: vec![plain("apple")], ..Config::default() };
        assert_eq!(filter(c.clone(), "a rotten apple"), Verdict::drop("regex:drop:rotten"));
        assert_eq!(filter(c.clone(), "a fresh apple"), Verdict::Keep);
        assert_eq!(filter(c, "a rotten pear"), Verdict::drop("regex:drop:rotten"));
    }

    #[test]
    fn case_insensitive_applies_to_both_lists() {
        let sensitive = Config { drop: vec![plain("spam")], keep: vec![plain("hello")], ..Config::default() };
        assert_eq!(filter(sensitive.clone(), "SPAM, Hello"), Verdict::drop("regex:no-keep-match"));
        let insensitive = Config { case_insensitive: true, ..sensitive };
        assert_eq!(filter(insensitive.clone(), "SPAM, Hello"), Verdict::drop("regex:drop:spam"));
        assert_eq!(filter(insensitive, "HELLO world"), Verdict::Keep);
    }

    #[test]
    fn invalid_pattern_is_named_in_the_error() {
        let c = Config { drop: vec![plain("ok"), plain("(unclosed")], ..Config::default() };
        let err = RegexFilter::new(c).err().expect("rejected");
        assert!(err.starts_with("invalid drop pattern \"(unclosed\": "), "{err}");
        assert!(err.contains("unclosed group"), "{err}");
        let c = Config { keep: vec![named("digits", r"\d{3")], ..Config::default() };
        let err = RegexFilter::new(c).err().expect("rejected");
        assert!(err.contains("invalid keep pattern \"digits\" (\"\\\\d{3\")"), "{err}");
    }

    #[test]
    fn no_patterns_is_rejected() {
        for c in [Config::default(), Config { case_insensitive: true, ..Config::default() }] {
            let err = RegexFilter::new(c).err().expect("rejected");
            assert!(err.contains("at least one of `drop`"), "{err}");
            assert!(err.contains("`keep`"), "{err}");
        }
    }

    #[test]
    fn config_from_json_mixes_strings_and_tables() {
        let c: Config = kiln_pdk::__parse_config(
            r#"{"drop": ["spam", {"name": "ads", "pattern": "buy now"}], "keep": ["\\w+"], "case_insensitive": true}"#,
        )
        .expect("parses");
        assert_eq!(c.drop, [plain("spam"), named("ads", "buy now")]);
        assert_eq!(c.keep, [plain(r"\w+")]);
        assert!(c.case_insensitive);
        assert_eq!(filter(c.clone(), "BUY NOW"), Verdict::drop("regex:drop:ads"));
        assert_eq!(filter(c, "!!!"), Verdict::drop("regex:no-keep-match"));
        let c: Config = kiln_pdk::__parse_config(r#"{"keep": ["x"]}"#).expect("parses");
        assert!(c.drop.is_empty() && !c.case_insensitive);
    }

    #[test]
    fn malformed_configs_are_rejected() {
        let err = kiln_pdk::__parse_config::<Config>(r#"{"drop": [42]}"#).expect_err("rejected");
        assert!(err.contains("a pattern string, or a table"), "{err}");
        let err =
            kiln_pdk::__parse_config::<Config>(r#"{"drop": [{"name": "x", "regex": "y"}]}"#).expect_err("rejected");
        assert!(err.contains("a pattern string, or a table"), "{err}");
        let err = kiln_pdk::__parse_config::<Config>(r#"{"drops": ["x"]}"#).expect_err("rejected");
        assert!(err.contains("unknown field `drops`"), "{err}");
    }

    #[test]
    fn unicode_text_and_patterns() {
        let c = Config { drop: vec![plain(r"\p{Han}{2,}")], keep: vec![plain("(?i)straße")], ..Config::default() };
        assert_eq!(filter(c.clone(), "Die STRASSE und 中文"), Verdict::drop(r"regex:drop:\p{Han}{2,}"));
        assert_eq!(filter(c.clone(), "Die STRAßE 👍"), Verdict::Keep);
        assert_eq!(filter(c, ""), Verdict::drop("regex:no-keep-match"));
        let c = Config { drop: vec![plain("é")], case_insensitive: true, ..Config::default() };
        assert_eq!(filter(c, "CAFÉ"), Verdict::drop("regex:drop:é"));
    }

    #[test]
    fn batches_judge_each_record() {
        let f = RegexFilter::new(Config { drop: vec![plain("bad")], ..Config::default() }).expect("valid");
        let records = [Record::new("a", "good"), Record::new("b", "bad"), Record::new("c", "")];
        assert_eq!(f.filter_batch(&records), [Verdict::Keep, Verdict::drop("regex:drop:bad"), Verdict::Keep]);
    }
}
