//! From the text of a pipeline file to a checked [`Pipeline`], or every
//! problem in it at once.
//!
//! Checks, in file order: TOML syntax, unknown keys and wrong types (from
//! serde, with the nearest known key suggested), duplicate stage names, unknown
//! stage kinds, plugins missing or of the wrong kind for their stage, plugin
//! configs the plugin rejects, inputs that match no file, and impossible
//! numbers (a batch size of 0). Plugins are loaded (and compiled, or fetched
//! from the cache) here, so that `kiln validate` catches everything a run would
//! before any work starts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::builtin::{Builtin, SampleConfig, ThresholdConfig};
use super::config::{InputConfig, InputFormat, ModelConfig, OnError, OutputFormat, PipelineFile, StageConfig};
use super::diagnostic::{Diagnostic, Diagnostics, SourceMap, did_you_mean};
use crate::plugin::{LoadOptions, Plugin, PluginError, PluginKind, Sandbox};

/// A stage kind and the plugin kind it runs, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    /// Keep or drop records with a filter plugin.
    Filter,
    /// Rewrite records with a mapper plugin.
    Map,
    /// Built-in: drop records whose normalised text an earlier record had.
    Dedup,
    /// Built-in: keep records whose score lies within bounds.
    Threshold,
    /// Built-in: keep a seeded, deterministic fraction of records.
    Sample,
    /// Built-in: flag records sharing n-grams with benchmark texts.
    Decontaminate,
}

impl StageKind {
    /// Every stage kind, as written in a pipeline file.
    pub const NAMES: [(&'static str, StageKind); 6] = [
        ("filter", StageKind::Filter),
        ("map", StageKind::Map),
        ("dedup", StageKind::Dedup),
        ("threshold", StageKind::Threshold),
        ("sample", StageKind::Sample),
        ("decontaminate", StageKind::Decontaminate),
    ];

    /// The plugin kind the stage needs.
    pub fn plugin_kind(self) -> Option<PluginKind> {
        match self {
            StageKind::Filter => Some(PluginKind::Filter),
            StageKind::Map => Some(PluginKind::Mapper),
            StageKind::Dedup | StageKind::Threshold | StageKind::Sample | StageKind::Decontaminate => None,
        }
    }
}

/// A checked stage.
#[derive(Debug)]
pub struct Stage {
    /// Unique name.
    pub name: String,
    /// What it does.
    pub kind: StageKind,
    /// Its loaded, configured plugin.
    pub plugin: Option<Plugin>,
    /// Its configuration, for the stateless built-ins.
    pub builtin: Option<Builtin>,
    /// Its configuration, for `dedup`.
    pub dedup: Option<super::dedup::DedupConfig>,
    /// Records per call.
    pub batch_size: usize,
    /// Parallel instances.
    pub concurrency: usize,
    /// What to do with failing records.
    pub on_error: OnError,
}

/// One input: the files it matched.
#[derive(Debug)]
pub struct Input {
    /// Files, sorted.
    pub files: Vec<PathBuf>,
    /// Their format.
    pub format: InputFormat,
    /// Field holding the text.
    pub text_field: String,
    /// Field holding the id.
    pub id_field: String,
}

/// A checked pipeline, ready to run.
#[derive(Debug)]
pub struct Pipeline {
    /// The pipeline file.
    pub file: PathBuf,
    /// Its name.
    pub name: String,
    /// Seed of every random choice.
    pub seed: u64,
    /// Work directory (absolute).
    pub work_dir: PathBuf,
    /// Inputs, in order.
    pub inputs: Vec<Input>,
    /// Stages, in order.
    pub stages: Vec<Stage>,
    /// Model backends by name (loaded model plugins).
    pub models: BTreeMap<String, Plugin>,
    /// Output directory (absolute).
    pub output_dir: PathBuf,
    /// Format of the outputs.
    pub output_format: OutputFormat,
    /// Input lines per committed chunk.
    pub chunk_size: u64,
    /// The pipeline file's text (part of the work directory's fingerprint).
    pub source: String,
}

impl Pipeline {
    /// Reads and checks the pipeline file at `path`, loading its plugins into `sandbox`.
    pub fn load(path: &Path, sandbox: &Sandbox) -> Result<Pipeline, Diagnostics> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Diagnostics(vec![Diagnostic {
                file: path.to_path_buf(),
                line: 1,
                column: 1,
                stage: None,
                message: format!("cannot read the pipeline file: {e}"),
                hint: None,
            }])
        })?;
        Pipeline::parse(path, &text, sandbox)
    }

    /// Checks pipeline `text`, read from `path` (relative paths in it are
    /// relative to the file's directory).
    pub fn parse(path: &Path, text: &str, sandbox: &Sandbox) -> Result<Pipeline, Diagnostics> {
        let map = SourceMap::new(path, text);
        let file: PipelineFile = toml::from_str(text).map_err(|e| Diagnostics(vec![syntax_diagnostic(&map, &e)]))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
        let mut errors = Vec::new();
        let inputs =
            file.input.iter().filter_map(|i| check_input(&map, &base, i).map_err(|d| errors.push(d)).ok()).collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut stages = Vec::new();
        for stage in &file.stage {
            let name = stage.name.get_ref().as_str();
            if let Some(first) = seen.insert(name, stage.name.span().start) {
                let mut d = map.at(Some(stage.name.span()), Some(name), "duplicate stage name");
                let first = map.at(Some(first..first), None, "");
                d.hint = Some(format!(
                    "the first stage named `{name}` is on line {}; stage names must be unique",
                    first.line
                ));
                errors.push(d);
            }
            match check_stage(&map, &base, stage, sandbox, file.pipeline.seed) {
                Ok(s) => stages.push(s),
                Err(mut ds) => errors.append(&mut ds),
            }
        }
        let mut models = BTreeMap::new();
        for (name, model) in &file.models {
            match check_model(&map, &base, name, model, sandbox) {
                Ok(plugin) => {
                    models.insert(name.clone(), plugin);
                }
                Err(d) => errors.push(d),
            }
        }
        if file.pipeline.chunk_size == 0 {
            errors.push(map.at(None, None, "[pipeline] chunk_size must be at least 1"));
        }
        if file.input.is_empty() {
            let mut d = map.at(None, None, "no [[input]]: the pipeline has nothing to read");
            d.hint = Some("add `[[input]]` with `path = \"data/*.jsonl\"`".into());
            errors.push(d);
        }
        if !errors.is_empty() {
            errors.sort_by_key(|d| (d.line, d.column));
            return Err(Diagnostics(errors));
        }
        Ok(Pipeline {
            file: path.to_path_buf(),
            name: file.pipeline.name,
            seed: file.pipeline.seed,
            work_dir: absolute(&base, &file.pipeline.work_dir),
            inputs,
            stages,
            models,
            output_dir: absolute(&base, &file.output.dir),
            output_format: file.output.format,
            chunk_size: file.pipeline.chunk_size,
            source: text.to_string(),
        })
    }
}

/// `base/p` made absolute, with `.` and `..` resolved lexically (for messages
/// that show where outputs are).
fn absolute(base: &Path, p: &Path) -> PathBuf {
    let joined = base.join(p);
    let joined = std::path::absolute(&joined).unwrap_or(joined);
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A TOML or schema error, with the closest known key suggested for unknown ones.
fn syntax_diagnostic(map: &SourceMap<'_>, e: &toml::de::Error) -> Diagnostic {
    let message = e.message().trim().to_string();
    let mut d = map.at(e.span(), None, message.clone());
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        d.hint = did_you_mean(field, candidates);
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (variant, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        d.hint = did_you_mean(variant, candidates);
    }
    d
}

fn check_input(map: &SourceMap<'_>, base: &Path, input: &InputConfig) -> Result<Input, Diagnostic> {
    let pattern = base.join(input.path.get_ref());
    let pattern_text = pattern.to_string_lossy().into_owned();
    let at = |message: String, hint: &str| {
        let mut d = map.at(Some(input.path.span()), None, message);
        d.hint = Some(hint.to_string());
        d
    };
    let paths = glob::glob(&pattern_text).map_err(|e| {
        at(
            format!("`{}` is not a valid path or glob: {e}", input.path.get_ref()),
            "use `*` and `**` as in `data/**/*.jsonl`",
        )
    })?;
    let mut files: Vec<PathBuf> = paths.filter_map(Result::ok).filter(|p| p.is_file()).collect();
    files.sort();
    if files.is_empty() {
        return Err(at(
            format!("input `{}` matches no file (looked for {pattern_text})", input.path.get_ref()),
            "paths are relative to the pipeline file",
        ));
    }
    let format = match input.format {
        Some(f) => f,
        None => {
            let name = input.path.get_ref().to_ascii_lowercase();
            if name.ends_with(".parquet") {
                InputFormat::Parquet
            } else if [".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".ndjson"].iter().any(|ext| name.ends_with(ext)) {
                InputFormat::Jsonl
            } else {
                return Err(at(
                    format!("cannot tell the format of `{}` from its extension", input.path.get_ref()),
                    "set `format = \"jsonl\"` or `format = \"parquet\"`",
                ));
            }
        }
    };
    Ok(Input { files, format, text_field: input.text_field.clone(), id_field: input.id_field.clone() })
}

/// Loads a `[models.<name>]` backend.
fn check_model(
    map: &SourceMap<'_>,
    base: &Path,
    name: &str,
    model: &ModelConfig,
    sandbox: &Sandbox,
) -> Result<Plugin, Diagnostic> {
    let backend = model.backend.get_ref().as_str();
    let at = |span, message: String| {
        let mut d = map.at(Some(span), None, format!("model `{name}`: {message}"));
        d.hint = Some(
            "`backend = \"wasm\"` with `plugin = \"path/to/model.wasm\"`; server backends come with a later release"
                .into(),
        );
        d
    };
    if backend != "wasm" {
        return Err(at(model.backend.span(), format!("unknown or unavailable backend `{backend}`")));
    }
    let Some(reference) = &model.plugin else {
        return Err(at(model.backend.span(), "a `wasm` model needs a `plugin`".into()));
    };
    let options = LoadOptions {
        stage: format!("models.{name}"),
        expect_kind: Some(PluginKind::Model),
        sha256: reference.get_ref().sha256().map(str::to_string),
        config: serde_json::to_string(&model.config).unwrap_or_else(|_| "{}".into()),
        limits: model.limits.clone(),
    };
    sandbox
        .load(&base.join(reference.get_ref().path()), options)
        .map_err(|e| map.at(Some(reference.span()), None, e.to_string()))
}

/// The checked configuration of a built-in stage.
enum BuiltinSetup {
    None,
    Stateless(Builtin),
    Dedup(super::dedup::DedupConfig),
}

/// The configuration of a built-in stage, checked (benchmark files are read
/// relative to `base`).
fn check_builtin(kind: StageKind, stage: &StageConfig, seed: u64, base: &Path) -> Result<BuiltinSetup, String> {
    let config = stage.config.clone();
    let invalid = |e: toml::de::Error| format!("invalid config: {}", e.message());
    match kind {
        StageKind::Threshold => {
            let t: ThresholdConfig = config.try_into().map_err(invalid)?;
            t.check()?;
            Ok(BuiltinSetup::Stateless(Builtin::Threshold(t)))
        }
        StageKind::Sample => {
            let c: SampleConfig = config.try_into().map_err(invalid)?;
            c.check()?;
            Ok(BuiltinSetup::Stateless(Builtin::Sample { config: c, seed }))
        }
        StageKind::Dedup => {
            let c: super::dedup::DedupConfig = config.try_into().map_err(invalid)?;
            if c.method == super::dedup::Method::Minhash {
                c.minhash_params()?;
            }
            Ok(BuiltinSetup::Dedup(c))
        }
        StageKind::Decontaminate => {
            let c: super::decontaminate::DecontamConfig = config.try_into().map_err(invalid)?;
            let d = super::decontaminate::Decontaminator::load(c, base)?;
            Ok(BuiltinSetup::Stateless(Builtin::Decontaminate(std::sync::Arc::new(d))))
        }
        StageKind::Filter | StageKind::Map => Ok(BuiltinSetup::None),
    }
}

fn check_stage(
    map: &SourceMap<'_>,
    base: &Path,
    stage: &StageConfig,
    sandbox: &Sandbox,
    seed: u64,
) -> Result<Stage, Vec<Diagnostic>> {
    let name = stage.name.get_ref().as_str();
    let mut errors = Vec::new();
    let kind_name = stage.kind.get_ref().as_str();
    let kind = StageKind::NAMES.iter().find(|(n, _)| *n == kind_name).map(|(_, k)| *k);
    if kind.is_none() {
        let mut d = map.at(Some(stage.kind.span()), Some(name), format!("unknown stage kind `{kind_name}`"));
        let known: Vec<&str> = StageKind::NAMES.iter().map(|(n, _)| *n).collect();
        d.hint = did_you_mean(kind_name, known.iter().copied())
            .or_else(|| Some(format!("known kinds: {}", known.join(", "))));
        errors.push(d);
    }
    if stage.batch_size == 0 {
        errors.push(map.at(Some(stage.name.span()), Some(name), "batch_size must be at least 1"));
    }
    if stage.concurrency == Some(0) {
        errors.push(map.at(Some(stage.name.span()), Some(name), "concurrency must be at least 1"));
    }
    let mut plugin = None;
    match (kind.and_then(StageKind::plugin_kind), &stage.plugin) {
        (Some(needed), None) => {
            let mut d =
                map.at(Some(stage.name.span()), Some(name), format!("a `{kind_name}` stage needs a {needed} plugin"));
            d.hint = Some("add `plugin = \"path/to/plugin.wasm\"`".into());
            errors.push(d);
        }
        (needed, Some(reference)) if kind.is_some() => {
            let path = base.join(reference.get_ref().path());
            let config = serde_json::to_string(&stage.config).unwrap_or_else(|_| "{}".into());
            let options = LoadOptions {
                stage: name.to_string(),
                expect_kind: needed,
                sha256: reference.get_ref().sha256().map(str::to_string),
                config,
                limits: stage.limits.clone(),
            };
            match sandbox.load(&path, options) {
                Ok(p) => plugin = Some(p),
                Err(e) => {
                    let mut d = map.at(Some(reference.span()), Some(name), e.to_string());
                    if let PluginError::Read { .. } = e {
                        d.hint = Some("plugin paths are relative to the pipeline file; build first-party plugins with `cargo xtask plugins`".into());
                    }
                    errors.push(d);
                }
            }
        }
        (None, Some(reference)) if kind.is_some() => {
            let mut d = map.at(
                Some(reference.span()),
                Some(name),
                format!("a `{kind_name}` stage is built in and takes no plugin"),
            );
            d.hint = Some("remove `plugin`".into());
            errors.push(d);
        }
        _ => {}
    }
    let (builtin, dedup) = match kind.map(|k| check_builtin(k, stage, seed, base)) {
        Some(Err(message)) => {
            errors.push(map.at(Some(stage.kind.span()), Some(name), message));
            (None, None)
        }
        Some(Ok(BuiltinSetup::Stateless(b))) => (Some(b), None),
        Some(Ok(BuiltinSetup::Dedup(d))) => (None, Some(d)),
        Some(Ok(BuiltinSetup::None)) | None => (None, None),
    };
    match kind {
        Some(kind) if errors.is_empty() => Ok(Stage {
            name: name.to_string(),
            kind,
            plugin,
            builtin,
            dedup,
            batch_size: stage.batch_size,
            concurrency: stage
                .concurrency
                .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
            on_error: stage.on_error,
        }),
        _ => Err(errors),
    }
}
