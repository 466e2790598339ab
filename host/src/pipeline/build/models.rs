//! The `[models.*]` tables: each backend's settings checked (a `wasm`
//! model's plugin loaded, a `student` checkpoint opened), and `student`
//! models that name a `train-student` stage resolved to where it saves them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::absolute;
use super::plugin_errors::Owner;
use crate::model::{
    BackendSpec, Endpoint, ModelSpec, OpenAiSettings, RetryPolicy, Sampling, Secrets, StudentSettings, StudentSource,
};
use crate::pipeline::config::checks::foreign_key;
use crate::pipeline::config::diagnostic::{Diagnostic, SourceMap, did_you_mean};
use crate::pipeline::config::{ModelConfig, PipelineFile};
use crate::pipeline::stages::{Stage, StageKind};
use crate::pipeline::workdir::job_dir;
use crate::plugin::{LoadOptions, PluginKind};

/// Checks a `[models.<name>]` declaration (loading its plugin, for `wasm`).
pub(super) fn check_model(
    cx: &super::stage_checks::StageContext<'_>,
    name: &str,
    model: &ModelConfig,
    secrets: &Secrets,
) -> Result<ModelSpec, Vec<Diagnostic>> {
    let (map, base, plugins, sandbox, seed) = (cx.map, cx.base, cx.plugins, cx.sandbox, cx.seed);
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
        return Err(vec![at(here, message.to_string(), "see docs/pipeline.md, section Models")]);
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
                return Err(vec![at(
                    here,
                    format!("`{key}` is for `{owner}` models"),
                    &format!("remove it, or set `backend = \"{owner}\"`"),
                )]);
            }
            let Some(url) = &model.base_url else {
                return Err(vec![at(
                    here,
                    "an `openai` model needs a `base_url`".into(),
                    "e.g. `base_url = \"http://127.0.0.1:8000/v1\"`",
                )]);
            };
            if !(url.get_ref().starts_with("http://") || url.get_ref().starts_with("https://")) {
                return Err(vec![at(
                    url.span(),
                    format!("`{}` is not an http(s) URL", crate::model::redact::display_url(url.get_ref())),
                    "e.g. `http://127.0.0.1:8000/v1`",
                )]);
            }
            let Some(model_id) = model.model.clone() else {
                return Err(vec![at(
                    here,
                    "an `openai` model needs `model`, the server's model id".into(),
                    "e.g. `model = \"Qwen/Qwen2.5-7B-Instruct\"`",
                )]);
            };
            let api_key = model
                .api_key_env
                .as_ref()
                .map(|var| {
                    secrets.get(var).ok_or_else(|| {
                        let (message, hint) = secrets.missing(var);
                        vec![at(here.clone(), message, &hint)]
                    })
                })
                .transpose()?;
            let defaults = RetryPolicy::default();
            BackendSpec::OpenAi(OpenAiSettings {
                base_url: url.get_ref().clone(),
                model: model_id,
                api_key,
                endpoint: model.endpoint.unwrap_or(Endpoint::Chat),
                timeout: std::time::Duration::from_secs_f64(model.timeout_secs.unwrap_or(60.0)),
                retry: RetryPolicy {
                    max_retries: model.max_retries.unwrap_or(defaults.max_retries),
                    base_delay: model.backoff_ms.map_or(defaults.base_delay, std::time::Duration::from_millis),
                    max_delay: model.max_backoff_secs.map_or(defaults.max_delay, std::time::Duration::from_secs_f64),
                },
                structured_output: model.structured_output.and_then(|s| s.form()),
                system_prompt: model.system_prompt.unwrap_or_default(),
            })
        }
        "wasm" => {
            if let Some((key, owner)) = foreign_key(model, "wasm") {
                return Err(vec![at(
                    here,
                    format!("`{key}` is for `{owner}` models"),
                    &format!("remove it, or set `backend = \"{owner}\"`"),
                )]);
            }
            let Some(reference) = &model.plugin else {
                return Err(vec![at(
                    here,
                    "a `wasm` model needs a `plugin`".into(),
                    "add `plugin = \"path/to/model.wasm\"`",
                )]);
            };
            let located =
                plugins.locate(reference.get_ref()).map_err(|e| vec![map.at(Some(reference.span()), None, e)])?;
            let owner = format!("model `{name}`");
            let limits =
                super::limit_caps::apply(map, here, &owner, &model.limits, cx.limit_caps).map_err(|d| vec![d])?;
            let options = LoadOptions {
                stage: format!("models.{name}"),
                expect_kind: Some(PluginKind::Model),
                sha256: located.sha256,
                config: serde_json::to_string(&model.config).unwrap_or_else(|_| "{}".into()),
                limits,
            };
            let plugin = sandbox.load(&located.path, options).map_err(|e| {
                let owner = Owner::Model(name);
                super::plugin_errors::load_error_diagnostics(map, reference.span(), owner, e)
            })?;
            BackendSpec::Wasm(plugin)
        }
        "student" => BackendSpec::Student(check_student(map, base, name, model).map_err(|d| vec![d])?),
        other => {
            let mut d = at(here, format!("unknown backend `{other}`"), "");
            d.hint = did_you_mean(other, ["openai", "wasm", "student"])
                .or_else(|| Some("backends: openai, wasm, student".into()));
            return Err(vec![d]);
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
pub(super) fn check_student_stages(
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
            .filter(|s| s.kind() == Some(StageKind::TrainStudent))
            .map(|s| s.name.get_ref().as_str())
            .collect();
        let Some(position) = file
            .stage
            .iter()
            .position(|s| s.name.get_ref() == target.get_ref() && s.kind() == Some(StageKind::TrainStudent))
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
        let Some(trained) = stages
            .iter()
            .find(|s| s.name == *target.get_ref())
            .and_then(|s| s.op.job())
            .and_then(|job| job.student_seeds())
        else {
            continue;
        };
        let seed = match &config.student_seed {
            Some(seed) if !trained.contains(seed.get_ref()) => {
                let mut d = map.at(
                    Some(seed.span()),
                    None,
                    format!("model `{name}`: stage `{}` trains no seed {}", target.get_ref(), seed.get_ref()),
                );
                let seeds: Vec<String> = trained.iter().map(u64::to_string).collect();
                d.hint = Some(format!("its seeds: {}", seeds.join(", ")));
                errors.push(d);
                continue;
            }
            Some(seed) => *seed.get_ref(),
            None => match trained.first() {
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
                crate::pipeline::stages::train_student::model_path(&job_dir(work_dir, target.get_ref()), seed);
        }
    }
}
