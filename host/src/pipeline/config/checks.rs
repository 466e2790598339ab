//! The checks that need only the pipeline file: names, the order of stages,
//! keys that do not belong to a stage's kind or a model's backend, and
//! numbers that cannot work. They read the parsed file and nothing else (no
//! plugin, no input, no disk): the build step runs them among its own checks,
//! at the points that keep every error in file order.

use std::collections::HashMap;

use super::diagnostic::{Diagnostic, SourceMap, did_you_mean};
use super::{ModelConfig, PipelineFile, StageConfig, StageKind};
use crate::human::printable;
use crate::pipeline::workdir::is_valid_name;

/// What a stage or model name may be.
pub(crate) const NAME_RULE: &str =
    "names are 1 to 64 ASCII letters, digits, `_` and `-` (they name files in the work directory)";

/// Model names that cannot name files in the work directory.
pub(crate) fn model_names(map: &SourceMap<'_>, file: &PipelineFile, errors: &mut Vec<Diagnostic>) {
    for name in file.models.keys().filter(|name| !is_valid_name(name)) {
        let mut d = map.at(None, None, format!("model name `{}` is not allowed", printable(name)));
        d.hint = Some(NAME_RULE.into());
        errors.push(d);
    }
}

/// A stage's name (allowed, unique) and place (`generate` first); `seen`
/// holds the names of the stages before it.
pub(crate) fn stage_header<'f>(
    map: &SourceMap<'_>,
    stage: &'f StageConfig,
    position: usize,
    seen: &mut HashMap<&'f str, usize>,
    errors: &mut Vec<Diagnostic>,
) {
    let name = stage.name.get_ref().as_str();
    if !is_valid_name(name) {
        let mut d = map.at(Some(stage.name.span()), None, format!("stage name `{}` is not allowed", printable(name)));
        d.hint = Some(NAME_RULE.into());
        errors.push(d);
    }
    if let Some(first) = seen.insert(name, stage.name.span().start) {
        let mut d = map.at(Some(stage.name.span()), Some(name), "duplicate stage name");
        let first = map.at(Some(first..first), None, "");
        d.hint = Some(format!("the first stage named `{name}` is on line {}; stage names must be unique", first.line));
        errors.push(d);
    }
    if stage.kind() == Some(StageKind::Generate) && position > 0 {
        let mut d = map.at(Some(stage.kind.span()), Some(name), "a `generate` stage must come first");
        d.hint = Some("generation is where records come from; move the stage to the top".into());
        errors.push(d);
    }
}

/// What the file as a whole must hold: a usable chunk size, and inputs
/// exactly when the first stage does not generate its records.
pub(crate) fn file_level(map: &SourceMap<'_>, file: &PipelineFile, errors: &mut Vec<Diagnostic>) {
    if file.pipeline.chunk_size == 0 {
        errors.push(map.at(None, None, "[pipeline] chunk_size must be at least 1"));
    }
    let generates = file.stage.first().is_some_and(|s| s.kind() == Some(StageKind::Generate));
    if file.input.is_empty() && !generates {
        let mut d = map.at(None, None, "no [[input]]: the pipeline has nothing to read");
        d.hint = Some("add `[[input]]` with `path = \"data/*.jsonl\"`, or start with a `generate` stage".into());
        errors.push(d);
    } else if let (Some(input), true) = (file.input.first(), generates) {
        let mut d = map.at(Some(input.path.span()), None, "a pipeline that starts with `generate` reads no [[input]]");
        d.hint = Some(
            "remove [[input]]; to condition generation on records, give the stage `seeds = \"file.jsonl\"`".into(),
        );
        errors.push(d);
    }
}

/// A TOML or schema error, with the closest known key suggested for unknown ones.
pub(crate) fn syntax_diagnostic(
    map: &SourceMap<'_>,
    message: &str,
    span: Option<std::ops::Range<usize>>,
) -> Diagnostic {
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

/// A `[models.*]` key, the backends that take it, and whether a model sets it.
type BackendKey = (&'static str, &'static [&'static str], fn(&ModelConfig) -> bool);

/// The `[models.*]` keys that belong to some backends only, and which: the
/// one table every backend's check reads (keys not listed, such as
/// `temperature` or `token_budget`, are for every backend). `limits` on an
/// `openai` model used to pass unnoticed: with one table it cannot.
const BACKEND_KEYS: [BackendKey; 17] = [
    ("plugin", &["wasm"], |m| m.plugin.is_some()),
    ("config", &["wasm"], |m| !m.config.is_empty()),
    ("limits", &["wasm"], |m| m.limits != crate::plugin::PluginLimits::default()),
    ("base_url", &["openai"], |m| m.base_url.is_some()),
    ("model", &["openai"], |m| m.model.is_some()),
    ("api_key_env", &["openai"], |m| m.api_key_env.is_some()),
    ("endpoint", &["openai"], |m| m.endpoint.is_some()),
    ("structured_output", &["openai"], |m| m.structured_output.is_some()),
    ("system_prompt", &["openai"], |m| m.system_prompt.is_some()),
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
pub(crate) fn foreign_key(model: &ModelConfig, backend: &str) -> Option<(&'static str, &'static str)> {
    BACKEND_KEYS
        .iter()
        .find(|(_, owners, set)| !owners.contains(&backend) && set(model))
        .map(|(key, owners, _)| (*key, owners[0]))
}

/// Stage keys that do not apply to the stage's kind.
pub(crate) fn misplaced_keys(map: &SourceMap<'_>, kind: StageKind, stage: &StageConfig, errors: &mut Vec<Diagnostic>) {
    let name = stage.name.get_ref().as_str();
    let kind_name = stage.kind.get_ref().as_str();
    let uses_model = kind.uses_model();
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
            map.at(Some(stage.kind.span()), Some(name), format!("`{key}` does not apply to a `{kind_name}` stage"));
        d.hint = Some("see docs/pipeline.md for the keys of each stage kind".into());
        errors.push(d);
    }
}
