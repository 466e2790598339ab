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

use super::config::{InputConfig, InputFormat, ModelConfig, OnError, OutputFormat, PipelineFile, StageConfig};
use super::diagnostic::{Diagnostic, Diagnostics, SourceMap, did_you_mean};
use super::stages::builtin::{Builtin, SampleConfig, ThresholdConfig};
use super::workdir::is_valid_name;
use crate::human::printable;
use crate::model::{
    BackendSpec, Endpoint, ModelSpec, OpenAiSettings, RetryPolicy, Sampling, StudentSettings, StudentSource,
};
use crate::plugin::{LoadOptions, PluginError, PluginKind, Sandbox};

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
    /// Generate records: generator plugin → prompts → model → parsed records.
    Generate,
    /// Judge records: critic plugin → judge prompts → model → scores.
    Critique,
    /// Rewrite real records: refiner plugin → prompt → model → verified rewrite.
    Refine,
    /// Barrier: train a hashed n-gram classifier on labels a judge set.
    TrainClassifier,
    /// Built-in: score records with a trained classifier and filter by threshold.
    Classify,
    /// Barrier: train character-level students on the records.
    TrainStudent,
    /// Barrier: evaluate trained students on held-out items.
    Eval,
}

impl StageKind {
    /// Every stage kind, as written in a pipeline file.
    pub const NAMES: [(&'static str, StageKind); 13] = [
        ("filter", StageKind::Filter),
        ("map", StageKind::Map),
        ("dedup", StageKind::Dedup),
        ("threshold", StageKind::Threshold),
        ("sample", StageKind::Sample),
        ("decontaminate", StageKind::Decontaminate),
        ("generate", StageKind::Generate),
        ("critique", StageKind::Critique),
        ("refine", StageKind::Refine),
        ("train-classifier", StageKind::TrainClassifier),
        ("classify", StageKind::Classify),
        ("train-student", StageKind::TrainStudent),
        ("eval", StageKind::Eval),
    ];

    /// The kind as written in a pipeline file.
    pub fn name(self) -> &'static str {
        StageKind::NAMES.iter().find(|(_, k)| *k == self).map_or("?", |(n, _)| n)
    }

    /// The plugin kind the stage needs.
    pub fn plugin_kind(self) -> Option<PluginKind> {
        match self {
            StageKind::Filter => Some(PluginKind::Filter),
            StageKind::Map => Some(PluginKind::Mapper),
            StageKind::Generate => Some(PluginKind::Generator),
            StageKind::Critique => Some(PluginKind::Critic),
            StageKind::Refine => Some(PluginKind::Refiner),
            StageKind::Dedup
            | StageKind::Threshold
            | StageKind::Sample
            | StageKind::Decontaminate
            | StageKind::TrainClassifier
            | StageKind::Classify
            | StageKind::TrainStudent
            | StageKind::Eval => None,
        }
    }
}

/// A checked stage: the settings every kind shares, and what its kind does.
#[derive(Debug)]
pub struct Stage {
    /// Unique name.
    pub name: String,
    /// What it does, as written in the file.
    pub kind: StageKind,
    /// Records per call.
    pub batch_size: usize,
    /// Parallel instances.
    pub concurrency: usize,
    /// What to do with failing records.
    pub on_error: OnError,
    /// Its kind's runtime (see [`super::stages`]).
    pub op: std::sync::Arc<dyn super::stages::StageOp>,
}

impl Stage {
    /// Whether the stage needs every record before it acts (and so ends a phase).
    pub fn is_barrier(&self) -> bool {
        self.op.shape() == super::stages::Shape::Barrier
    }
}

/// How a model-backed stage uses its model.
#[derive(Debug, Clone)]
pub struct ModelUse {
    /// The model's name (`None`: a critic that checks without a model).
    pub model: Option<String>,
    /// Completions per prompt.
    pub samples: u32,
    /// Rewrites tried per record (`refine`).
    pub attempts: u32,
    /// Prompts to generate (`generate`).
    pub count: u64,
    /// Seed records handed to the generator (`generate`).
    pub seeds: Vec<crate::record::Record>,
    /// Round recorded on generated records.
    pub round: u32,
    /// Share of records judged (`critique`).
    pub fraction: f64,
    /// Ask once per distinct prompt: identical prompts share one completion
    /// (by default each slot gets its own).
    pub dedupe_prompts: bool,
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
    /// Model backends by name.
    pub models: BTreeMap<String, std::sync::Arc<ModelSpec>>,
    /// Output directory (absolute).
    pub output_dir: PathBuf,
    /// Format of the outputs.
    pub output_format: OutputFormat,
    /// Input lines per committed chunk.
    pub chunk_size: u64,
    /// The pipeline file's text (part of the work directory's fingerprint).
    pub source: String,
}

/// Directories given on the command line in place of the pipeline file's
/// `work_dir` and `[output] dir`, relative to the current directory.
///
/// They are applied before any check, so every path derived from the work
/// dir (student checkpoints, phases) and every check on them (they must not
/// hold the pipeline file or an input) sees the directory the run will use.
#[derive(Debug, Clone, Default)]
pub struct PathOverrides {
    /// Replaces `[pipeline] work_dir`.
    pub work_dir: Option<PathBuf>,
    /// Replaces `[output] dir`.
    pub output_dir: Option<PathBuf>,
}

impl Pipeline {
    /// Reads and checks the pipeline file at `path`, loading its plugins into `sandbox`.
    pub fn load(path: &Path, sandbox: &Sandbox) -> Result<Pipeline, Diagnostics> {
        Pipeline::load_with(path, sandbox, &PathOverrides::default())
    }

    /// [`Pipeline::load`], with the file's directories replaced by `overrides`.
    pub fn load_with(path: &Path, sandbox: &Sandbox, overrides: &PathOverrides) -> Result<Pipeline, Diagnostics> {
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
        Pipeline::parse_with(path, &text, sandbox, overrides)
    }

    /// Checks pipeline `text`, read from `path` (relative paths in it are
    /// relative to the file's directory).
    pub fn parse(path: &Path, text: &str, sandbox: &Sandbox) -> Result<Pipeline, Diagnostics> {
        Pipeline::parse_with(path, text, sandbox, &PathOverrides::default())
    }

    /// [`Pipeline::parse`], with the file's directories replaced by `overrides`.
    pub fn parse_with(
        path: &Path,
        text: &str,
        sandbox: &Sandbox,
        overrides: &PathOverrides,
    ) -> Result<Pipeline, Diagnostics> {
        let map = SourceMap::new(path, text);
        // Every unknown key, wrong type and unknown variant at once, not the first.
        let structural = super::schema_errors::collect(text);
        if !structural.is_empty() {
            return Err(Diagnostics(
                structural.into_iter().map(|e| syntax_diagnostic(&map, &e.message, e.span)).collect(),
            ));
        }
        let file: PipelineFile =
            toml::from_str(text).map_err(|e| Diagnostics(vec![syntax_diagnostic(&map, e.message(), e.span())]))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
        let mut errors = Vec::new();
        let inputs: Vec<Input> =
            file.input.iter().filter_map(|i| check_input(&map, &base, i).map_err(|d| errors.push(d)).ok()).collect();
        let mut models = BTreeMap::new();
        for name in file.models.keys().filter(|name| !is_valid_name(name)) {
            let mut d = map.at(None, None, format!("model name `{}` is not allowed", printable(name)));
            d.hint = Some(NAME_RULE.into());
            errors.push(d);
        }
        for (name, model) in &file.models {
            match check_model(&map, &base, name, model, sandbox, file.pipeline.seed) {
                Ok(spec) => {
                    models.insert(name.clone(), std::sync::Arc::new(spec));
                }
                Err(d) => errors.push(d),
            }
        }
        let model_names: Vec<&str> = file.models.keys().map(String::as_str).collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut stages = Vec::new();
        for (position, stage) in file.stage.iter().enumerate() {
            let name = stage.name.get_ref().as_str();
            if !is_valid_name(name) {
                let mut d =
                    map.at(Some(stage.name.span()), None, format!("stage name `{}` is not allowed", printable(name)));
                d.hint = Some(NAME_RULE.into());
                errors.push(d);
            }
            if let Some(first) = seen.insert(name, stage.name.span().start) {
                let mut d = map.at(Some(stage.name.span()), Some(name), "duplicate stage name");
                let first = map.at(Some(first..first), None, "");
                d.hint = Some(format!(
                    "the first stage named `{name}` is on line {}; stage names must be unique",
                    first.line
                ));
                errors.push(d);
            }
            if stage.kind.get_ref() == "generate" && position > 0 {
                let mut d = map.at(Some(stage.kind.span()), Some(name), "a `generate` stage must come first");
                d.hint = Some("generation is where records come from; move the stage to the top".into());
                errors.push(d);
            }
            let context =
                StageContext { map: &map, base: &base, sandbox, seed: file.pipeline.seed, models: &model_names };
            match check_stage(&context, stage) {
                Ok(s) => stages.push(s),
                Err(mut ds) => errors.append(&mut ds),
            }
        }
        check_references(&map, &file.stage, &stages, &mut errors);
        let cwd = Path::new(".");
        let work_dir = match &overrides.work_dir {
            Some(dir) => absolute(cwd, dir),
            None => absolute(&base, &file.pipeline.work_dir),
        };
        let output_dir = match &overrides.output_dir {
            Some(dir) => absolute(cwd, dir),
            None => absolute(&base, &file.output.dir),
        };
        let input_files: Vec<&Path> = inputs.iter().flat_map(|i: &Input| &i.files).map(PathBuf::as_path).collect();
        let keys = [
            if overrides.work_dir.is_some() { "--work-dir" } else { "[pipeline] work_dir" },
            if overrides.output_dir.is_some() { "--out" } else { "[output] dir" },
        ];
        for (key, dir) in keys.into_iter().zip([&work_dir, &output_dir]) {
            if let Some(inside) = std::iter::once(path).chain(input_files.iter().copied()).find(|p| contains(dir, p)) {
                let what = if inside == path { "the pipeline file" } else { "an input" };
                let mut d = map.at(None, None, format!("{key} {} holds {what} ({})", dir.display(), inside.display()));
                d.hint = Some(
                    "Kiln writes and, with --fresh, removes files there: use a directory of its own, e.g. \
                     `work/<pipeline>` or `out/<pipeline>` beside the pipeline file"
                        .into(),
                );
                errors.push(d);
            }
        }
        check_student_stages(&map, &file, &work_dir, &stages, &mut models, &mut errors);
        if file.pipeline.chunk_size == 0 {
            errors.push(map.at(None, None, "[pipeline] chunk_size must be at least 1"));
        }
        let generates = file.stage.first().is_some_and(|s| s.kind.get_ref() == "generate");
        if file.input.is_empty() && !generates {
            let mut d = map.at(None, None, "no [[input]]: the pipeline has nothing to read");
            d.hint = Some("add `[[input]]` with `path = \"data/*.jsonl\"`, or start with a `generate` stage".into());
            errors.push(d);
        } else if let (Some(input), true) = (file.input.first(), generates) {
            let mut d =
                map.at(Some(input.path.span()), None, "a pipeline that starts with `generate` reads no [[input]]");
            d.hint = Some(
                "remove [[input]]; to condition generation on records, give the stage `seeds = \"file.jsonl\"`".into(),
            );
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
            work_dir,
            inputs,
            stages,
            models,
            output_dir,
            output_format: file.output.format,
            chunk_size: file.pipeline.chunk_size,
            source: text.to_string(),
        })
    }
}

/// What a stage or model name may be.
const NAME_RULE: &str = "names are 1 to 64 ASCII letters, digits, `_` and `-` (they name files in the work directory)";

/// Whether `path` is `dir` or lies under it (lexically, and once both are
/// resolved through symbolic links where they exist).
fn contains(dir: &Path, path: &Path) -> bool {
    let resolved = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| absolute(Path::new("."), p));
    let path = absolute(Path::new("."), path);
    path.starts_with(dir) || resolved(&path).starts_with(resolved(dir))
}

/// `classify` must name an earlier `train-classifier` stage, and `eval` earlier `train-student` stages.
fn check_references(map: &SourceMap<'_>, written: &[StageConfig], stages: &[Stage], errors: &mut Vec<Diagnostic>) {
    for stage in stages {
        let Some(position) = written.iter().position(|s| *s.name.get_ref() == stage.name) else {
            continue;
        };
        for (target, kind) in stage.op.references() {
            let earlier = &written[..position];
            if earlier.iter().any(|s| s.name.get_ref() == target && s.kind.get_ref() == kind) {
                continue;
            }
            let candidates: Vec<&str> =
                earlier.iter().filter(|s| s.kind.get_ref() == kind).map(|s| s.name.get_ref().as_str()).collect();
            let mut d = map.at(
                Some(written[position].kind.span()),
                Some(&stage.name),
                format!("`{target}` is not a `{kind}` stage before this one"),
            );
            d.hint = did_you_mean(target, candidates.iter().copied()).or_else(|| {
                Some(if candidates.is_empty() {
                    format!("add a `{kind}` stage before this one")
                } else {
                    format!("earlier `{kind}` stages: {}", candidates.join(", "))
                })
            });
            errors.push(d);
        }
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
fn syntax_diagnostic(map: &SourceMap<'_>, message: &str, span: Option<std::ops::Range<usize>>) -> Diagnostic {
    let message = message.trim().to_string();
    let mut d = map.at(span, None, message.clone());
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
    let files = crate::files::expand_glob(&pattern).map_err(|e| match e {
        crate::files::GlobError::Pattern { message, .. } => at(
            format!("`{}` is not a valid path or glob: {message}", input.path.get_ref()),
            "use `*` and `**` as in `data/**/*.jsonl`",
        ),
        e @ crate::files::GlobError::TooBroad { .. } => at(e.to_string(), "paths are relative to the pipeline file"),
    })?;
    if files.is_empty() && !pattern.is_file() && pattern.exists() {
        return Err(at(
            crate::files::check_regular(&pattern).err().map_or_else(String::new, |e| format!("input {e}")),
            "an input is a JSONL or Parquet file (or a glob of them)",
        ));
    }
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
    if format == InputFormat::Parquet {
        // The footer and schema are read here, so that a corrupt file fails
        // validation rather than the run.
        for file in &files {
            super::parquet_io::ParquetRows::open(file, &input.text_field, &input.id_field).map_err(|e| {
                at(
                    e.to_string(),
                    "check the file (a truncated copy?) and its columns; `text_field` names the text column",
                )
            })?;
        }
    }
    Ok(Input { files, format, text_field: input.text_field.clone(), id_field: input.id_field.clone() })
}

/// Checks a `[models.<name>]` declaration (loading its plugin, for `wasm`).
fn check_model(
    map: &SourceMap<'_>,
    base: &Path,
    name: &str,
    model: &ModelConfig,
    sandbox: &Sandbox,
    seed: u64,
) -> Result<ModelSpec, Diagnostic> {
    let backend = model.backend.get_ref().as_str();
    let at = |span, message: String, hint: &str| {
        let mut d = map.at(Some(span), None, format!("model `{name}`: {message}"));
        d.hint = Some(hint.to_string());
        d
    };
    let here = model.backend.span();
    let numbers = [
        (model.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)), "temperature must be between 0 and 2"),
        (model.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)), "top_p must be in (0, 1]"),
        (model.n == Some(0), "n must be at least 1"),
        (model.concurrency == Some(0), "concurrency must be at least 1"),
        (model.max_tokens == Some(0), "max_tokens must be at least 1"),
        (model.timeout_secs.is_some_and(|t| !(t > 0.0 && t.is_finite())), "timeout_secs must be positive"),
        (model.max_backoff_secs.is_some_and(|t| !(t >= 0.0 && t.is_finite())), "max_backoff_secs must be ≥ 0"),
        (model.token_budget == Some(0), "token_budget must be at least 1 (leave it out for no budget)"),
    ];
    if let Some((_, message)) = numbers.iter().find(|(bad, _)| *bad) {
        return Err(at(here, message.to_string(), "see docs/pipeline.md, section Models"));
    }
    let sampling = Sampling {
        temperature: model.temperature,
        top_p: model.top_p,
        max_tokens: model.max_tokens,
        seed: Some(model.seed.unwrap_or(seed)),
        stop: model.stop.clone(),
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let backend_spec = match backend {
        "openai" => {
            if let Some((key, owner)) = foreign_key(model, "openai") {
                return Err(at(
                    here,
                    format!("`{key}` is for `{owner}` models"),
                    &format!("remove it, or set `backend = \"{owner}\"`"),
                ));
            }
            let Some(url) = &model.base_url else {
                return Err(at(
                    here,
                    "an `openai` model needs a `base_url`".into(),
                    "e.g. `base_url = \"http://127.0.0.1:8000/v1\"`",
                ));
            };
            if !(url.get_ref().starts_with("http://") || url.get_ref().starts_with("https://")) {
                return Err(at(
                    url.span(),
                    format!("`{}` is not an http(s) URL", crate::model::redact::display_url(url.get_ref())),
                    "e.g. `http://127.0.0.1:8000/v1`",
                ));
            }
            let Some(model_id) = model.model.clone() else {
                return Err(at(
                    here,
                    "an `openai` model needs `model`, the server's model id".into(),
                    "e.g. `model = \"Qwen/Qwen2.5-7B-Instruct\"`",
                ));
            };
            if let Some(var) = &model.api_key_env
                && std::env::var(var).map_or(true, |v| v.trim().is_empty())
            {
                return Err(at(
                    here,
                    format!("the environment variable `{var}` (api_key_env) is not set"),
                    &format!("export {var}=<your key> before running; the key is never written to outputs or logs"),
                ));
            }
            let defaults = RetryPolicy::default();
            BackendSpec::OpenAi(OpenAiSettings {
                base_url: url.get_ref().clone(),
                model: model_id,
                api_key_env: model.api_key_env.clone(),
                endpoint: model.endpoint.unwrap_or(Endpoint::Chat),
                timeout: std::time::Duration::from_secs_f64(model.timeout_secs.unwrap_or(60.0)),
                retry: RetryPolicy {
                    max_retries: model.max_retries.unwrap_or(defaults.max_retries),
                    base_delay: model.backoff_ms.map_or(defaults.base_delay, std::time::Duration::from_millis),
                    max_delay: model.max_backoff_secs.map_or(defaults.max_delay, std::time::Duration::from_secs_f64),
                },
            })
        }
        "wasm" => {
            if let Some((key, owner)) = foreign_key(model, "wasm") {
                return Err(at(
                    here,
                    format!("`{key}` is for `{owner}` models"),
                    &format!("remove it, or set `backend = \"{owner}\"`"),
                ));
            }
            let Some(reference) = &model.plugin else {
                return Err(at(
                    here,
                    "a `wasm` model needs a `plugin`".into(),
                    "add `plugin = \"path/to/model.wasm\"`",
                ));
            };
            let options = LoadOptions {
                stage: format!("models.{name}"),
                expect_kind: Some(PluginKind::Model),
                sha256: reference.get_ref().sha256().map(str::to_string),
                config: serde_json::to_string(&model.config).unwrap_or_else(|_| "{}".into()),
                limits: model.limits.clone(),
            };
            let plugin = sandbox
                .load(&base.join(reference.get_ref().path()), options)
                .map_err(|e| map.at(Some(reference.span()), None, e.to_string()))?;
            BackendSpec::Wasm(plugin)
        }
        "student" => BackendSpec::Student(check_student(map, base, name, model)?),
        other => {
            let mut d = at(here, format!("unknown backend `{other}`"), "");
            d.hint = did_you_mean(other, ["openai", "wasm", "student"])
                .or_else(|| Some("backends: openai, wasm, student".into()));
            return Err(d);
        }
    };
    let default_concurrency = match backend_spec {
        BackendSpec::OpenAi(_) => 16,
        BackendSpec::Wasm(_) => cores,
        BackendSpec::Student(_) => 1,
    };
    Ok(ModelSpec {
        name: name.to_string(),
        backend: backend_spec,
        sampling,
        n: model.n.unwrap_or(1),
        concurrency: model.concurrency.unwrap_or(default_concurrency),
        token_budget: model.token_budget,
    })
}

/// A `[models.*]` key, the backends that take it, and whether a model sets it.
type BackendKey = (&'static str, &'static [&'static str], fn(&ModelConfig) -> bool);

/// The `[models.*]` keys that belong to some backends only, and which: the
/// one table every backend's check reads (keys not listed, such as
/// `temperature` or `token_budget`, are for every backend). `limits` on an
/// `openai` model used to pass unnoticed: with one table it cannot.
const BACKEND_KEYS: [BackendKey; 15] = [
    ("plugin", &["wasm"], |m| m.plugin.is_some()),
    ("config", &["wasm"], |m| !m.config.is_empty()),
    ("limits", &["wasm"], |m| m.limits != crate::plugin::PluginLimits::default()),
    ("base_url", &["openai"], |m| m.base_url.is_some()),
    ("model", &["openai"], |m| m.model.is_some()),
    ("api_key_env", &["openai"], |m| m.api_key_env.is_some()),
    ("endpoint", &["openai"], |m| m.endpoint.is_some()),
    ("max_retries", &["openai"], |m| m.max_retries.is_some()),
    ("timeout_secs", &["openai"], |m| m.timeout_secs.is_some()),
    ("backoff_ms", &["openai"], |m| m.backoff_ms.is_some()),
    ("max_backoff_secs", &["openai"], |m| m.max_backoff_secs.is_some()),
    ("top_p", &["openai", "wasm"], |m| m.top_p.is_some()),
    ("checkpoint", &["student"], |m| m.checkpoint.is_some()),
    ("stage", &["student"], |m| m.stage.is_some()),
    ("student_seed", &["student"], |m| m.student_seed.is_some()),
];

/// The first key set in `model` that `backend` does not take, with a
/// backend that does.
fn foreign_key(model: &ModelConfig, backend: &str) -> Option<(&'static str, &'static str)> {
    BACKEND_KEYS
        .iter()
        .find(|(_, owners, set)| !owners.contains(&backend) && set(model))
        .map(|(key, owners, _)| (*key, owners[0]))
}

/// Checks the keys of a `backend = "student"` model; a `checkpoint` must be
/// a student checkpoint that loads. A `stage`'s student is resolved by
/// [`check_student_stages`] once the stages are checked.
fn check_student(
    map: &SourceMap<'_>,
    base: &Path,
    name: &str,
    model: &ModelConfig,
) -> Result<StudentSettings, Diagnostic> {
    let here = model.backend.span();
    let at = |span, message: String, hint: &str| {
        let mut d = map.at(Some(span), None, format!("model `{name}`: {message}"));
        d.hint = Some(hint.to_string());
        d
    };
    if let Some((key, owner)) = foreign_key(model, "student") {
        return Err(at(
            here,
            format!("`{key}` is for `{owner}` models"),
            "a `student` model takes `checkpoint` or `stage` (+ `student_seed`), `temperature`, `max_tokens`, \
             `seed`, `n`, `stop`, `concurrency`, `token_budget`",
        ));
    }
    let tell = "give `checkpoint = \"path/to/model.safetensors\"` (relative to the pipeline file), or `stage = \"<a \
                train-student stage of this pipeline>\"`";
    match (&model.checkpoint, &model.stage) {
        (Some(_), Some(stage)) => Err(at(stage.span(), "give `checkpoint` or `stage`, not both".into(), tell)),
        (None, None) => Err(at(here, "a `student` model needs a `checkpoint` or a `stage`".into(), tell)),
        (Some(file), None) => {
            if let Some(seed) = &model.student_seed {
                return Err(at(
                    seed.span(),
                    "`student_seed` picks a seed of a `stage`'s students".into(),
                    "remove it: a `checkpoint` is one student",
                ));
            }
            let path = absolute(base, Path::new(file.get_ref()));
            if !path.is_file() {
                return Err(at(
                    file.span(),
                    format!("checkpoint `{}` does not exist (looked for {})", file.get_ref(), path.display()),
                    "train it first with a pipeline that has a train-student stage; paths are relative to the \
                     pipeline file",
                ));
            }
            kiln_kernels::student::CharLm::load(&path, None).map_err(|e| {
                at(
                    file.span(),
                    e.to_string(),
                    "point `checkpoint` at a `model.safetensors` a train-student stage wrote",
                )
            })?;
            let sha256 = StudentSettings::digest(&path)
                .map_err(|e| at(file.span(), format!("cannot read checkpoint {}: {e}", path.display()), ""))?;
            let mut settings = StudentSettings::new(StudentSource::Checkpoint(path.clone()), path);
            settings.sha256 = Some(sha256);
            Ok(settings)
        }
        (None, Some(stage)) => Ok(StudentSettings::new(
            StudentSource::Stage {
                stage: stage.get_ref().clone(),
                seed: model.student_seed.as_ref().map(|s| *s.get_ref()),
            },
            PathBuf::new(),
        )),
    }
}

/// A `student` model with `stage = "<s>"` needs `<s>` to be a `train-student`
/// stage before every stage that uses the model (its student must exist when
/// they run), and `student_seed` one of its seeds. Resolves the model's
/// checkpoint to where that stage saves the seed's student.
fn check_student_stages(
    map: &SourceMap<'_>,
    file: &PipelineFile,
    work_dir: &Path,
    stages: &[Stage],
    models: &mut BTreeMap<String, std::sync::Arc<ModelSpec>>,
    errors: &mut Vec<Diagnostic>,
) {
    for (name, config) in &file.models {
        let Some(target) = &config.stage else { continue };
        let Some(spec) = models.get_mut(name) else { continue };
        let trainers: Vec<&str> = file
            .stage
            .iter()
            .filter(|s| s.kind.get_ref() == "train-student")
            .map(|s| s.name.get_ref().as_str())
            .collect();
        let Some(position) =
            file.stage.iter().position(|s| s.name.get_ref() == target.get_ref() && s.kind.get_ref() == "train-student")
        else {
            let mut d = map.at(
                Some(target.span()),
                None,
                format!("model `{name}`: `{}` is not a `train-student` stage of this pipeline", target.get_ref()),
            );
            d.hint = did_you_mean(target.get_ref(), trainers.iter().copied()).or_else(|| {
                Some(if trainers.is_empty() {
                    "add a `train-student` stage, or give `checkpoint = \"path/to/model.safetensors\"`".into()
                } else {
                    format!("`train-student` stages: {}", trainers.join(", "))
                })
            });
            errors.push(d);
            continue;
        };
        let mut ordered = true;
        for user in &file.stage[..position] {
            let Some(used) = user.model.as_ref().filter(|m| m.get_ref() == name) else { continue };
            let mut d = map.at(
                Some(used.span()),
                Some(user.name.get_ref()),
                format!(
                    "model `{name}` is the student that stage `{}` trains, which comes after this stage",
                    target.get_ref()
                ),
            );
            d.hint = Some(format!(
                "move `{}` before `{}`, or answer with a student an earlier run trained: `checkpoint = \
                 \"path/to/model.safetensors\"`",
                target.get_ref(),
                user.name.get_ref()
            ));
            errors.push(d);
            ordered = false;
        }
        // The stage's seeds, once it passed its own checks.
        let Some(super::jobs::Job::TrainStudent(training)) =
            stages.iter().find(|s| s.name == *target.get_ref()).and_then(|s| s.op.job())
        else {
            continue;
        };
        let seed = match &config.student_seed {
            Some(seed) if !training.seeds.contains(seed.get_ref()) => {
                let mut d = map.at(
                    Some(seed.span()),
                    None,
                    format!("model `{name}`: stage `{}` trains no seed {}", target.get_ref(), seed.get_ref()),
                );
                let seeds: Vec<String> = training.seeds.iter().map(u64::to_string).collect();
                d.hint = Some(format!("its seeds: {}", seeds.join(", ")));
                errors.push(d);
                continue;
            }
            Some(seed) => *seed.get_ref(),
            None => match training.seeds.first() {
                Some(seed) => *seed,
                None => continue,
            },
        };
        if !ordered {
            continue;
        }
        if let BackendSpec::Student(settings) = &mut std::sync::Arc::make_mut(spec).backend {
            settings.source = StudentSource::Stage { stage: target.get_ref().clone(), seed: Some(seed) };
            settings.checkpoint =
                super::stages::train_student::model_path(&super::phases::job_dir(work_dir, target.get_ref()), seed);
        }
    }
}

/// What checking a stage needs from the rest of the file.
struct StageContext<'a> {
    map: &'a SourceMap<'a>,
    base: &'a Path,
    sandbox: &'a Sandbox,
    seed: u64,
    models: &'a [&'a str],
}

/// Checks how a model-backed stage uses its model; `errors` collects problems.
fn check_model_use(
    cx: &StageContext<'_>,
    kind: StageKind,
    stage: &StageConfig,
    errors: &mut Vec<Diagnostic>,
) -> Option<ModelUse> {
    let name = stage.name.get_ref().as_str();
    let kind_name = stage.kind.get_ref().as_str();
    let uses_model = matches!(kind, StageKind::Generate | StageKind::Critique | StageKind::Refine);
    let misplaced = [
        ("model", stage.model.is_some(), uses_model),
        ("samples", stage.samples.is_some(), matches!(kind, StageKind::Generate | StageKind::Critique)),
        ("attempts", stage.attempts.is_some(), kind == StageKind::Refine),
        ("count", stage.count.is_some(), kind == StageKind::Generate),
        ("seeds", stage.seeds.is_some(), kind == StageKind::Generate),
        ("round", stage.round.is_some(), kind == StageKind::Generate),
        ("fraction", stage.fraction.is_some(), kind == StageKind::Critique),
        ("dedupe_prompts", stage.dedupe_prompts.is_some(), uses_model),
    ];
    for (key, _, _) in misplaced.iter().filter(|(_, set, allowed)| *set && !*allowed) {
        let mut d =
            cx.map.at(Some(stage.kind.span()), Some(name), format!("`{key}` does not apply to a `{kind_name}` stage"));
        d.hint = Some("see docs/pipeline.md for the keys of each stage kind".into());
        errors.push(d);
    }
    if !uses_model {
        return None;
    }
    let model = match &stage.model {
        Some(m) if cx.models.contains(&m.get_ref().as_str()) => Some(m.get_ref().clone()),
        Some(m) => {
            let mut d = cx.map.at(Some(m.span()), Some(name), format!("no model named `{}`", m.get_ref()));
            d.hint = did_you_mean(m.get_ref(), cx.models.iter().copied())
                .or_else(|| Some("declare it under `[models.<name>]`".into()));
            errors.push(d);
            None
        }
        None if kind == StageKind::Critique => None,
        None => {
            let mut d =
                cx.map.at(Some(stage.name.span()), Some(name), format!("a `{kind_name}` stage needs a `model`"));
            d.hint = Some(match cx.models.first() {
                Some(m) => format!("add `model = \"{m}\"`"),
                None => "declare one under `[models.<name>]` and name it with `model = \"<name>\"`".into(),
            });
            errors.push(d);
            None
        }
    };
    if stage.fraction.is_some_and(|f| !(f > 0.0 && f <= 1.0)) {
        errors.push(cx.map.at(Some(stage.name.span()), Some(name), "`fraction` must be in (0, 1]"));
    }
    if stage.samples == Some(0) || stage.attempts == Some(0) {
        errors.push(cx.map.at(Some(stage.name.span()), Some(name), "`samples` and `attempts` must be at least 1"));
    }
    let count = match (kind, stage.count) {
        (StageKind::Generate, None | Some(0)) => {
            let mut d = cx.map.at(
                Some(stage.name.span()),
                Some(name),
                "a `generate` stage needs `count`, the number of prompts (at least 1)",
            );
            d.hint = Some("e.g. `count = 1000`".into());
            errors.push(d);
            0
        }
        (_, count) => count.unwrap_or(0),
    };
    let seeds = match &stage.seeds {
        Some(path) => match load_seed_records(&cx.base.join(path.get_ref())) {
            Ok(records) if !records.is_empty() => records,
            Ok(_) => {
                errors.push(cx.map.at(
                    Some(path.span()),
                    Some(name),
                    format!("seed file `{}` holds no records", path.get_ref()),
                ));
                Vec::new()
            }
            Err(message) => {
                errors.push(cx.map.at(Some(path.span()), Some(name), message));
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    Some(ModelUse {
        model,
        samples: stage.samples.unwrap_or(0),
        attempts: stage.attempts.unwrap_or(3),
        count,
        seeds,
        round: stage.round.unwrap_or(1),
        fraction: stage.fraction.unwrap_or(1.0),
        dedupe_prompts: stage.dedupe_prompts.unwrap_or(false),
    })
}

/// The records of a seed file (JSONL), or the first problem in it.
fn load_seed_records(path: &Path) -> Result<Vec<crate::record::Record>, String> {
    let text = crate::files::read_capped_text(path, crate::files::MAX_DATA_FILE_BYTES, "a seed file")
        .map_err(|e| format!("seed file: {e}"))?;
    let name = path.display().to_string();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| crate::record::Record::from_json_line(l, &name, i + 1).map_err(|e| e.to_string()))
        .collect()
}

/// The checked configuration of a built-in stage.
pub enum BuiltinSetup {
    /// `threshold`, `sample`, `decontaminate`.
    Stateless(Builtin),
    /// `dedup`.
    Dedup(super::stages::dedup::DedupConfig),
    /// A barrier's job.
    Job(super::jobs::Job),
    /// `classify`.
    Classify(super::stages::classify::ClassifyConfig),
}

/// The configuration of a built-in stage, checked (benchmark files are read
/// relative to `base`); `None` for the kinds that run a plugin.
fn check_builtin(kind: StageKind, stage: &StageConfig, seed: u64, base: &Path) -> Result<Option<BuiltinSetup>, String> {
    let config = stage.config.clone();
    let invalid = |e: toml::de::Error| format!("invalid config: {}", e.message());
    match kind {
        StageKind::Threshold => {
            let t: ThresholdConfig = config.try_into().map_err(invalid)?;
            t.check()?;
            Ok(Some(BuiltinSetup::Stateless(Builtin::Threshold(t))))
        }
        StageKind::Sample => {
            let c: SampleConfig = config.try_into().map_err(invalid)?;
            c.check()?;
            Ok(Some(BuiltinSetup::Stateless(Builtin::Sample { config: c, seed })))
        }
        StageKind::Dedup => {
            let c: super::stages::dedup::DedupConfig = config.try_into().map_err(invalid)?;
            if c.method == super::stages::dedup::Method::Minhash {
                c.minhash_params()?;
            }
            Ok(Some(BuiltinSetup::Dedup(c)))
        }
        StageKind::Decontaminate => {
            let c: super::stages::decontaminate::DecontamConfig = config.try_into().map_err(invalid)?;
            let d = super::stages::decontaminate::Decontaminator::load(c, base)?;
            Ok(Some(BuiltinSetup::Stateless(Builtin::Decontaminate(std::sync::Arc::new(d)))))
        }
        StageKind::TrainStudent => {
            let c: super::stages::train_student::StudentStageConfig = config.try_into().map_err(invalid)?;
            c.check()?;
            Ok(Some(BuiltinSetup::Job(super::jobs::Job::TrainStudent(c))))
        }
        StageKind::TrainClassifier => {
            let c: super::stages::train_classifier::ClassifierStageConfig = config.try_into().map_err(invalid)?;
            c.check()?;
            Ok(Some(BuiltinSetup::Job(super::jobs::Job::TrainClassifier(c))))
        }
        StageKind::Eval => {
            let c: super::stages::evaluate::EvalStageConfig = config.try_into().map_err(invalid)?;
            Ok(Some(BuiltinSetup::Job(super::jobs::Job::Eval(c.load(base)?))))
        }
        StageKind::Classify => {
            let c: super::stages::classify::ClassifyConfig = config.try_into().map_err(invalid)?;
            c.check()?;
            Ok(Some(BuiltinSetup::Classify(c)))
        }
        StageKind::Filter | StageKind::Map | StageKind::Generate | StageKind::Critique | StageKind::Refine => Ok(None),
    }
}

fn check_stage(cx: &StageContext<'_>, stage: &StageConfig) -> Result<Stage, Vec<Diagnostic>> {
    let (map, base, sandbox, seed) = (cx.map, cx.base, cx.sandbox, cx.seed);
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
    let mut builtin = None;
    match kind.map(|k| check_builtin(k, stage, seed, base)) {
        Some(Err(message)) => errors.push(map.at(Some(stage.kind.span()), Some(name), message)),
        Some(Ok(setup)) => builtin = setup,
        None => {}
    }
    let model_use = kind.and_then(|k| check_model_use(cx, k, stage, &mut errors));
    let op = match kind {
        Some(kind) if errors.is_empty() => {
            super::stages::build(super::stages::Parts { kind, plugin, builtin, model_use })
        }
        _ => None,
    };
    match (kind, op) {
        (Some(kind), Some(op)) => Ok(Stage {
            name: name.to_string(),
            kind,
            batch_size: stage.batch_size,
            concurrency: stage
                .concurrency
                .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
            on_error: stage.on_error,
            op,
        }),
        (Some(_), None) if errors.is_empty() => {
            Err(vec![map.at(Some(stage.kind.span()), Some(name), format!("stage `{name}` is incomplete"))])
        }
        _ => Err(errors),
    }
}
