//! # kiln-pdk: the Kiln plugin development kit
//!
//! Kiln runs policy stages — filters, mappers, prompt builders, critics,
//! refiners and embedded models — as WebAssembly components in a sandbox. This
//! crate hides the component-model plumbing: implement one trait on a plain Rust
//! type, call one export macro, and build with
//! `cargo build --release --target wasm32-wasip2`.
//!
//! ```ignore
//! use kiln_pdk::{Plugin, TextFilter, Verdict};
//!
//! #[derive(serde::Deserialize, kiln_pdk::schemars::JsonSchema)]
//! #[schemars(crate = "kiln_pdk::schemars")]
//! #[serde(deny_unknown_fields)]
//! pub struct Config {
//!     /// Fewest words a kept record has.
//!     min_words: usize,
//! }
//!
//! pub struct MinWords(Config);
//!
//! impl Plugin for MinWords {
//!     type Config = Config;
//!     const DESCRIPTION: &'static str = "drops records with too few words";
//!     fn new(config: Config) -> Result<Self, String> { Ok(Self(config)) }
//! }
//!
//! impl TextFilter for MinWords {
//!     fn filter_text(&self, text: &str) -> Verdict {
//!         if text.split_whitespace().count() >= self.0.min_words { Verdict::Keep }
//!         else { Verdict::drop("too-few-words") }
//!     }
//! }
//!
//! kiln_pdk::export_text_filter!(MinWords);
//! ```
//!
//! A filter that needs more than the text (metadata, scores, lineage)
//! implements [`Filter`] and is exported with `export_filter!`.
//!
//! The same types compile natively, so a plugin's logic is unit-tested with a
//! plain `cargo test` and can be benchmarked against its WASM build.
//!
//! The contract a plugin implements is `wit/kiln.wit` (package
//! `kiln:plugin@0.1.0`); see `wit/README.md` for its guarantees.

mod batch;
mod export;
pub mod log;
mod types;
mod verdicts;

pub use types::*;

#[doc(hidden)]
pub use batch::{Packed as __Packed, Parts as __Parts};
#[doc(hidden)]
pub use verdicts::Verdicts as __Verdicts;

/// Re-exported so that plugins derive `JsonSchema` for their config with the
/// version this SDK publishes schemas with.
pub use schemars;
#[doc(hidden)]
pub use serde_json as __serde_json;
#[doc(hidden)]
pub use wit_bindgen;

include!(concat!(env!("OUT_DIR"), "/wit_macro.rs"));

/// The version of the WIT contract this SDK builds plugins against, as
/// `wit/kiln.wit` declares it (read by the build script).
pub const CONTRACT: &str = env!("KILN_CONTRACT");

/// Identity and configuration, shared by every kind of plugin.
pub trait Plugin: Sized + 'static {
    /// The stage's `config` table, deserialised from JSON. Use
    /// `#[serde(deny_unknown_fields)]` so that typos are rejected, and
    /// [`NoConfig`] when the plugin takes none. Derive
    /// [`JsonSchema`](schemars::JsonSchema) too: the export macros publish
    /// the schema (`plugin-info.config-schema`), and the host checks every
    /// stage's `config` against it before `configure`, naming each wrong key
    /// at its line in the pipeline file. Doc comments on fields become the
    /// schema's descriptions, shown by `kiln plugin inspect`.
    type Config: serde::de::DeserializeOwned + schemars::JsonSchema;

    /// One line shown by `kiln plugin inspect`.
    const DESCRIPTION: &'static str;

    /// Builds the plugin from its configuration. An `Err` rejects the
    /// configuration; the message is shown to the user as is, so say what to fix.
    fn new(config: Self::Config) -> Result<Self, String>;
}

/// Keep or drop records.
pub trait Filter: Plugin {
    /// The verdict on one record.
    fn filter(&self, record: &Record) -> Verdict;

    /// The verdicts on a batch, one per record in order. Override to share work
    /// across a batch.
    fn filter_batch(&self, records: &[Record]) -> Vec<Verdict> {
        records.iter().map(|r| self.filter(r)).collect()
    }
}

/// A filter that looks at nothing but a record's text (most quality filters).
///
/// Every `TextFilter` is a [`Filter`]. Exported with
/// [`export_text_filter!`](crate::export_text_filter), it reads each text
/// where the host put it, in the batch: no record is built in the sandbox.
/// The plugin declares that it reads texts only (`plugin-info.reads`), so
/// the host does not copy ids, metadata, scores or lineage into the sandbox.
pub trait TextFilter: Plugin {
    /// The verdict on one record's text.
    fn filter_text(&self, text: &str) -> Verdict;
}

impl<T: TextFilter> Filter for T {
    fn filter(&self, record: &Record) -> Verdict {
        self.filter_text(&record.text)
    }
}

/// Rewrite or drop records (PII redaction, normalisation...).
pub trait Mapper: Plugin {
    /// The rewritten record (same id), or a reason to drop it.
    fn map(&self, record: Record) -> Mapped;
}

/// Build prompts that ask a model for new records, and parse the answers.
pub trait Generator: Plugin {
    /// Exactly `request.count` prompts.
    fn prompts(&self, request: &GenerationRequest) -> Vec<Prompt>;
    /// The records in one completion, or why it does not parse.
    fn parse(&self, completion: &Completion) -> Result<Vec<Record>, String>;
}

/// Judge records against a rubric.
pub trait Critic: Plugin {
    /// The judge prompt for one record. Its tag must identify the record.
    fn prompt(&self, record: &Record) -> Prompt;
    /// The scores and rationale in one judge completion, or why it does not parse.
    fn parse(&self, completion: &Completion) -> Result<Critique, String>;
}

/// Rewrite real records and verify the rewrite (Generative Data Refinement).
pub trait Refiner: Plugin {
    /// The rewrite prompt for one record.
    fn prompt(&self, record: &Record) -> Prompt;
    /// Whether `rewrite` is an acceptable rewrite of `original`.
    fn verify(&self, original: &Record, rewrite: &str) -> RewriteCheck;
}

/// An embedded model that completes prompts inside the sandbox.
pub trait Model: Plugin {
    /// One completion per prompt, in order, each carrying its prompt's tag.
    /// `seed` makes sampling reproducible.
    fn complete(&mut self, prompts: &[Prompt], seed: u64) -> Vec<Completion>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Config {
        #[allow(dead_code)]
        min_words: usize,
    }

    struct NonEmpty;

    impl Plugin for NonEmpty {
        type Config = NoConfig;
        const DESCRIPTION: &'static str = "drops empty texts";
        fn new(_: NoConfig) -> Result<Self, String> {
            Ok(NonEmpty)
        }
    }

    impl TextFilter for NonEmpty {
        fn filter_text(&self, text: &str) -> Verdict {
            if text.is_empty() { Verdict::drop("empty") } else { Verdict::Keep }
        }
    }

    #[test]
    fn a_text_filter_is_a_filter_of_the_records_texts() {
        let records = [Record::new("a", "x"), Record::new("b", ""), Record { text: "y".into(), ..Record::default() }];
        assert_eq!(NonEmpty.filter_batch(&records), vec![Verdict::Keep, Verdict::drop("empty"), Verdict::Keep]);
    }

    #[test]
    fn config_errors_name_the_field() {
        let e = __parse_config::<Config>(r#"{"min_words": "many"}"#).expect_err("invalid");
        assert_eq!(e, "invalid config at `min_words`: invalid type: string \"many\", expected usize");
        let e = __parse_config::<Config>(r#"{"min_wrds": 1}"#).expect_err("invalid");
        assert!(e.contains("unknown field `min_wrds`"), "{e}");
        assert!(__parse_config::<NoConfig>("").is_ok());
    }
}

/// The configuration of a plugin that takes none: accepts only `{}`.
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// The JSON Schema of a plugin's config type, as the JSON document
/// `plugin-info.config-schema` carries.
#[doc(hidden)]
pub fn __config_schema<C: schemars::JsonSchema>() -> String {
    schemars::schema_for!(C).as_value().to_string()
}

/// Parses a plugin's JSON configuration with a message that says what is wrong.
#[doc(hidden)]
pub fn __parse_config<C: serde::de::DeserializeOwned>(json: &str) -> Result<C, String> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        // The JSON position means nothing to the user, who wrote TOML: drop it.
        let inner = e.inner().to_string();
        let message = inner.rsplit_once(" at line ").map_or(inner.as_str(), |(m, _)| m);
        match e.path().to_string().as_str() {
            "." => format!("invalid config: {message}"),
            path => format!("invalid config at `{path}`: {message}"),
        }
    })
}
