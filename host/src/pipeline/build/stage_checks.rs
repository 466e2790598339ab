//! Each `[[stage]]`: its kind known, its plugin loaded and of the right
//! kind, its use of a model checked (seed files read), its kind's
//! configuration built ([`stages::build`](crate::pipeline::stages::build)),
//! and the earlier stages it reads from present.

use std::path::Path;

use super::plugin_errors::{Owner, load_error_diagnostics};
use crate::pipeline::config::StageConfig;
use crate::pipeline::config::diagnostic::{Diagnostic, SourceMap, did_you_mean};
use crate::pipeline::stages::{BuildCx, ModelUse, Stage, StageKind};
use crate::plugin::{LoadOptions, Sandbox};

/// What checking a stage needs from the rest of the file.
pub(super) struct StageContext<'a> {
    pub map: &'a SourceMap<'a>,
    pub base: &'a Path,
    pub plugins: &'a super::plugin_source::PluginResolver,
    pub sandbox: &'a Sandbox,
    pub seed: u64,
    pub models: &'a [&'a str],
    /// The most any plugin may be given ([`BuildOptions::limit_caps`](super::BuildOptions)).
    pub limit_caps: Option<&'a kiln_sandbox::PluginLimits>,
    /// The lineage round of generated records when a stage does not say.
    pub default_round: u32,
    /// Reviewers' labels in place of `review` stages' files ([`BuildOptions::review_labels`](super::BuildOptions)).
    pub review_labels: Option<&'a std::sync::Arc<crate::pipeline::stages::review_gate::ReviewLabels>>,
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
    crate::pipeline::config::checks::misplaced_keys(cx.map, kind, stage, errors);
    let uses_model = kind.uses_model();
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
        round: stage.round.unwrap_or(cx.default_round),
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

pub(super) fn check_stage(cx: &StageContext<'_>, stage: &StageConfig) -> Result<Stage, Vec<Diagnostic>> {
    let (map, base, sandbox, seed) = (cx.map, cx.base, cx.sandbox, cx.seed);
    let name = stage.name.get_ref().as_str();
    let mut errors = Vec::new();
    let kind_name = stage.kind.get_ref().as_str();
    let kind = StageKind::from_name(kind_name);
    if kind.is_none() {
        let mut d = map.at(Some(stage.kind.span()), Some(name), format!("unknown stage kind `{kind_name}`"));
        let known: Vec<&str> = StageKind::KINDS.iter().map(|(n, _, _)| *n).collect();
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
            let config = serde_json::to_string(&stage.config).unwrap_or_else(|_| "{}".into());
            let loaded = match cx.plugins.locate(reference.get_ref()) {
                Err(message) => Err(vec![map.at(Some(reference.span()), Some(name), message)]),
                Ok(located) => {
                    let owner = format!("stage `{name}`");
                    match super::limit_caps::apply(map, stage.name.span(), &owner, &stage.limits, cx.limit_caps) {
                        Err(d) => Err(vec![d]),
                        Ok(limits) => {
                            let options = LoadOptions {
                                stage: name.to_string(),
                                expect_kind: needed,
                                sha256: located.sha256,
                                config,
                                limits,
                            };
                            sandbox
                                .load(&located.path, options)
                                .map_err(|e| load_error_diagnostics(map, reference.span(), Owner::Stage(name), e))
                        }
                    }
                }
            };
            match loaded {
                Ok(p) => plugin = Some(p),
                Err(diagnostics) => errors.extend(diagnostics),
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
    // A built-in's config errors come before its model-use errors, as they
    // are listed at the same place.
    let mut model_errors = Vec::new();
    let model_use = kind.and_then(|k| check_model_use(cx, k, stage, &mut model_errors));
    let built = kind.map(|kind| {
        crate::pipeline::stages::build(
            kind,
            BuildCx {
                config: &stage.config,
                seed,
                base,
                plugin,
                model_use,
                review_labels: cx.review_labels,
                cache_dir: sandbox.cache_dir(),
            },
        )
    });
    let op = match built {
        Some(Err(message)) => {
            errors.push(map.at(Some(stage.kind.span()), Some(name), message));
            None
        }
        Some(Ok(op)) => op,
        None => None,
    };
    errors.append(&mut model_errors);
    for model in op.iter().flat_map(|op| op.model_references()) {
        if !cx.models.contains(&model) {
            let mut d = map.at(Some(stage.kind.span()), Some(name), format!("no model named `{model}`"));
            d.hint = did_you_mean(model, cx.models.iter().copied())
                .or_else(|| Some("declare it under `[models.<name>]`".into()));
            errors.push(d);
        }
    }
    let op = op.filter(|_| errors.is_empty());
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

/// `classify` must name an earlier `train-classifier` stage, and `eval` earlier `train-student` stages.
pub(super) fn check_references(
    map: &SourceMap<'_>,
    written: &[StageConfig],
    stages: &[Stage],
    errors: &mut Vec<Diagnostic>,
) {
    for stage in stages {
        let Some(position) = written.iter().position(|s| *s.name.get_ref() == stage.name) else {
            continue;
        };
        for (target, kind) in stage.op.references() {
            let earlier = &written[..position];
            let kind_name = kind.name();
            if earlier.iter().any(|s| s.name.get_ref() == target && s.kind() == Some(kind)) {
                continue;
            }
            let candidates: Vec<&str> =
                earlier.iter().filter(|s| s.kind() == Some(kind)).map(|s| s.name.get_ref().as_str()).collect();
            let mut d = map.at(
                Some(written[position].kind.span()),
                Some(&stage.name),
                format!("`{target}` is not a `{kind_name}` stage before this one"),
            );
            d.hint = did_you_mean(target, candidates.iter().copied()).or_else(|| {
                Some(if candidates.is_empty() {
                    format!("add a `{kind_name}` stage before this one")
                } else {
                    format!("earlier `{kind_name}` stages: {}", candidates.join(", "))
                })
            });
            errors.push(d);
        }
    }
}
