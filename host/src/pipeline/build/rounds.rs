//! `[rounds]` checked and built: every problem of every arm and round
//! reported with the rest of the file (file:line:col), before round 0 starts;
//! then a [`RoundsPlan`] with each arm's stages built for each round.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use super::stage_checks::{StageContext, check_stage};
use crate::pipeline::config::checks;
use crate::pipeline::config::diagnostic::{Diagnostic, SourceMap, did_you_mean};
use crate::pipeline::config::rounds::{ArmConfig, RoundsConfig};
use crate::pipeline::config::{PipelineFile, StageConfig, StageKind};
use crate::pipeline::rounds::plan::{Alarm, ArmPlan, METRICS, MonitorItem, Policy, RoundsPlan};
use crate::pipeline::stages::{Job, Stage};
use crate::pipeline::workdir::is_valid_name;

/// What checking `[rounds]` needs from the rest of the file.
pub(super) struct RoundsContext<'a> {
    pub stage: StageContext<'a>,
    pub file: &'a PipelineFile,
    /// Round 0's built stages.
    pub stages: &'a [Stage],
    /// The file's text.
    pub text: &'a str,
}

/// Checks `rounds`, pushing every problem to `errors`; the plan when there is none.
pub(super) fn check(cx: &RoundsContext<'_>, rounds: &RoundsConfig, errors: &mut Vec<Diagnostic>) -> Option<RoundsPlan> {
    let map = cx.stage.map;
    let before = errors.len();
    if *rounds.count.get_ref() == 0 {
        errors.push(map.at(Some(rounds.count.span()), None, "`rounds.count` must be at least 1"));
    }
    let lag = rounds.lag.as_ref().map_or(1, |l| *l.get_ref());
    if let Some(l) = rounds.lag.as_ref().filter(|l| *l.get_ref() == 0) {
        let mut d = map.at(
            Some(l.span()),
            None,
            "`lag = 0` makes each round use the student it is about to train, which is not trained yet",
        );
        d.hint = Some("`lag = 1` uses the previous round's student (the default)".into());
        errors.push(d);
    }
    let first = first_student(cx, rounds, errors);
    let seeds = chain_seeds(cx, rounds, first.as_deref(), errors);
    let (heldout, heldout_file) = match &rounds.heldout {
        None => (Vec::new(), None),
        Some(path) => match read_heldout(&cx.stage.base.join(path.get_ref())) {
            Ok(items) => (items, Some(path.get_ref().clone())),
            Err(message) => {
                errors.push(map.at(Some(path.span()), None, message));
                (Vec::new(), None)
            }
        },
    };
    check_monitor(map, rounds, errors);
    let alarms = check_alarms(map, rounds, errors);
    let train = check_round_stages(cx, rounds, errors);
    let arms = check_arms(cx, rounds, train.as_ref().map(|(n, _)| n.as_str()), errors);
    if errors.len() > before {
        return None;
    }
    let (Some(first), Some(train), Some(arms)) = (first, train, arms) else { return None };
    let refiners = cx
        .file
        .stage
        .iter()
        .filter(|s| s.kind() == Some(StageKind::Refine))
        .map(|s| s.name.get_ref().clone())
        .collect();
    Some(RoundsPlan {
        count: *rounds.count.get_ref(),
        lag,
        model: rounds.model.get_ref().clone(),
        first,
        seeds,
        train,
        heldout: Arc::new(heldout),
        heldout_file,
        monitor: rounds.monitor.clone(),
        alarms,
        arms,
        refiners,
    })
}

/// The round-0 `train-student` stage that `rounds.model` is the student of.
fn first_student(cx: &RoundsContext<'_>, rounds: &RoundsConfig, errors: &mut Vec<Diagnostic>) -> Option<String> {
    let map = cx.stage.map;
    let name = rounds.model.get_ref();
    let Some(model) = cx.file.models.get(name) else {
        let mut d = map.at(Some(rounds.model.span()), None, format!("`rounds.model`: no model named `{name}`"));
        d.hint = did_you_mean(name, cx.file.models.keys().map(String::as_str)).or_else(|| {
            Some("declare it: `[models.<name>]` with `backend = \"student\"` and `stage = \"<round 0's train-student stage>\"`".into())
        });
        errors.push(d);
        return None;
    };
    match (model.backend.get_ref().as_str(), &model.stage) {
        ("student", Some(stage)) => Some(stage.get_ref().clone()),
        _ => {
            let mut d = map.at(
                Some(rounds.model.span()),
                None,
                format!(
                    "`rounds.model`: model `{name}` must be the student of a `train-student` stage of round 0, \
                     so that each round's student can take its place"
                ),
            );
            d.hint = Some(format!(
                "declare `[models.{name}]` with `backend = \"student\"` and `stage = \"<a train-student stage above>\"`"
            ));
            errors.push(d);
            None
        }
    }
}

/// The chains' seeds: `rounds.seeds`, each trained by round 0's stage, or all of its seeds.
fn chain_seeds(
    cx: &RoundsContext<'_>,
    rounds: &RoundsConfig,
    first: Option<&str>,
    errors: &mut Vec<Diagnostic>,
) -> Vec<u64> {
    let trained: Vec<u64> = first
        .and_then(|f| cx.stages.iter().find(|s| s.name == f))
        .and_then(|s| s.op.job())
        .and_then(Job::student_seeds)
        .map(<[u64]>::to_vec)
        .unwrap_or_default();
    let Some(seeds) = &rounds.seeds else { return trained };
    let map = cx.stage.map;
    if seeds.get_ref().is_empty() || seeds.get_ref().iter().collect::<BTreeSet<_>>().len() != seeds.get_ref().len() {
        errors.push(map.at(Some(seeds.span()), None, "`rounds.seeds` must name at least one seed, each once"));
    }
    for seed in seeds.get_ref().iter().filter(|s| !trained.is_empty() && !trained.contains(s)) {
        let mut d = map.at(
            Some(seeds.span()),
            None,
            format!("`rounds.seeds`: round 0's stage `{}` trains no seed {seed}", first.unwrap_or("?")),
        );
        let list: Vec<String> = trained.iter().map(u64::to_string).collect();
        d.hint = Some(format!("its seeds: {} (add the seed to its `config.seeds`)", list.join(", ")));
        errors.push(d);
    }
    seeds.get_ref().clone()
}

/// The monitor's held-out items, or what is wrong with the file.
fn read_heldout(path: &Path) -> Result<Vec<MonitorItem>, String> {
    let text = crate::files::read_capped_text(path, crate::files::MAX_DATA_FILE_BYTES, "a held-out file")
        .map_err(|e| format!("`rounds.heldout`: {e}"))?;
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let item: MonitorItem = serde_json::from_str(line).map_err(|e| {
            format!(
                "{}:{}: not a held-out item ({e}); each line must be a JSON object with `text` (and optionally \
                 `prompt`, `answer`, `classes`)",
                path.display(),
                i + 1
            )
        })?;
        if item.text.is_none() && (item.prompt.is_none() || item.answer.is_none()) {
            return Err(format!(
                "{}:{}: a held-out item needs `text` (for perplexity) or `prompt` and `answer` (for accuracy)",
                path.display(),
                i + 1
            ));
        }
        items.push(item);
    }
    if items.is_empty() {
        return Err(format!("the held-out file {} holds no items", path.display()));
    }
    Ok(items)
}

fn check_monitor(map: &SourceMap<'_>, rounds: &RoundsConfig, errors: &mut Vec<Diagnostic>) {
    let m = &rounds.monitor;
    let problems = [
        (m.samples == 0 || m.samples > 100_000, "`monitor.samples` must be between 1 and 100000"),
        (m.sample_chars == 0 || m.sample_chars > 65_536, "`monitor.sample_chars` must be between 1 and 65536"),
        (!(0.0..=10.0).contains(&m.temperature), "`monitor.temperature` must be between 0 and 10"),
        (m.ngram == 0 || m.ngram > 16, "`monitor.ngram` must be between 1 and 16"),
        (m.rare_max_count == 0, "`monitor.rare_max_count` must be at least 1"),
        (
            m.max_new == 0 || m.answer_prefix.trim().is_empty(),
            "`monitor.max_new` must be at least 1 and `answer_prefix` not empty",
        ),
        (m.diversity_sample < 2, "`monitor.diversity_sample` must be at least 2"),
    ];
    for (bad, message) in problems {
        if bad {
            errors.push(map.at(Some(rounds.count.span()), None, message));
        }
    }
}

fn check_alarms(map: &SourceMap<'_>, rounds: &RoundsConfig, errors: &mut Vec<Diagnostic>) -> Vec<Alarm> {
    let mut out = Vec::new();
    for alarm in &rounds.alarm {
        let metric = alarm.metric.get_ref();
        if !METRICS.contains(&metric.as_str()) {
            let mut d = map.at(Some(alarm.metric.span()), None, format!("no monitor metric named `{metric}`"));
            d.hint = did_you_mean(metric, METRICS).or_else(|| Some(format!("metrics: {}", METRICS.join(", "))));
            errors.push(d);
            continue;
        }
        if alarm.below.is_none() && alarm.above.is_none() {
            let mut d = map.at(Some(alarm.metric.span()), None, "an alarm needs `below` or `above`");
            d.hint = Some("e.g. `below = 0.5` for tail coverage, `above = 0.1` for perplexity_rise".into());
            errors.push(d);
            continue;
        }
        out.push(Alarm { metric: metric.clone(), below: alarm.below, above: alarm.above, action: alarm.action });
    }
    out
}

/// The round stages' shape: a `generate` first, one `train-student` last,
/// names unique, no `round` key; the training settings when they check.
fn check_round_stages(
    cx: &RoundsContext<'_>,
    rounds: &RoundsConfig,
    errors: &mut Vec<Diagnostic>,
) -> Option<(String, crate::pipeline::stages::train_student::StudentStageConfig)> {
    let map = cx.stage.map;
    let Some(last) = rounds.stage.last() else {
        let mut d = map.at(Some(rounds.count.span()), None, "`[rounds]` has no stages");
        d.hint = Some(
            "add `[[rounds.stage]]` tables: a `generate` stage using `rounds.model`, any filters, and a \
             `train-student` stage last"
                .into(),
        );
        errors.push(d);
        return None;
    };
    let mut seen = HashMap::new();
    for (position, stage) in rounds.stage.iter().enumerate() {
        checks::stage_header(map, stage, position, &mut seen, errors);
        if let Some(round) = stage.round {
            errors.push(map.at(
                Some(stage.name.span()),
                Some(stage.name.get_ref()),
                format!("`round = {round}`: a round stage's records carry the number of the round that made them"),
            ));
        }
        let barrier =
            matches!(stage.kind(), Some(StageKind::TrainStudent | StageKind::TrainClassifier | StageKind::Eval));
        if barrier && position + 1 != rounds.stage.len() {
            errors.push(map.at(
                Some(stage.kind.span()),
                Some(stage.name.get_ref()),
                "only the last round stage may be a barrier: the round's `train-student` stage",
            ));
        }
    }
    if rounds.stage.first().and_then(StageConfig::kind) != Some(StageKind::Generate) {
        let first = &rounds.stage[0];
        let mut d =
            map.at(Some(first.kind.span()), Some(first.name.get_ref()), "a round's first stage must be `generate`");
        d.hint = Some(format!("each round's data is written by `rounds.model` (`{}`)", rounds.model.get_ref()));
        errors.push(d);
    }
    if last.kind() != Some(StageKind::TrainStudent) {
        let mut d =
            map.at(Some(last.kind.span()), Some(last.name.get_ref()), "a round's last stage must be `train-student`");
        d.hint = Some("it trains the round's student on the pool its arm's policy composes".into());
        errors.push(d);
        return None;
    }
    let built = check_stage(&cx.stage, last).map_err(|mut ds| errors.append(&mut ds)).ok()?;
    match built.op.job() {
        Some(Job::TrainStudent(config)) => Some((built.name.clone(), config.clone())),
        _ => None,
    }
}

/// Each arm: a unique name, a known policy with its settings, skips and
/// overrides naming round stages; its stages built for every round.
fn check_arms(
    cx: &RoundsContext<'_>,
    rounds: &RoundsConfig,
    train: Option<&str>,
    errors: &mut Vec<Diagnostic>,
) -> Option<Vec<ArmPlan>> {
    let map = cx.stage.map;
    if rounds.arm.is_empty() {
        let mut d = map.at(Some(rounds.count.span()), None, "`[rounds]` declares no arm");
        d.hint = Some(
            "add `[[rounds.arm]]` with `name` and `policy` (replace, accumulate, mix, accumulate-subsample)".into(),
        );
        errors.push(d);
        return None;
    }
    let has_real = !cx.file.input.is_empty();
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::new();
    let data_stages: Vec<&StageConfig> =
        rounds.stage.iter().filter(|s| Some(s.name.get_ref().as_str()) != train).collect();
    for arm in &rounds.arm {
        let before = errors.len();
        let name = arm.name.get_ref();
        if !is_valid_name(name) {
            let mut d = map.at(Some(arm.name.span()), None, format!("arm name `{name}` is not allowed"));
            d.hint = Some("use letters, digits, `_` and `-` (it names a directory)".into());
            errors.push(d);
        }
        if let Some(first) = names.insert(name, arm.name.span().start) {
            let line = map.at(Some(first..first), None, "").line;
            let mut d = map.at(Some(arm.name.span()), None, format!("two arms are named `{name}`"));
            d.hint = Some(format!("the first is on line {line}; arm names must be unique"));
            errors.push(d);
        }
        let policy = check_policy(map, arm, has_real, errors);
        let stage_names: Vec<&str> = data_stages.iter().map(|s| s.name.get_ref().as_str()).collect();
        for skip in &arm.skip {
            if !stage_names.contains(&skip.get_ref().as_str()) {
                let mut d = map.at(
                    Some(skip.span()),
                    None,
                    format!("arm `{name}` skips `{}`, which is not a round stage", skip.get_ref()),
                );
                d.hint = did_you_mean(skip.get_ref(), stage_names.iter().copied())
                    .or_else(|| Some(format!("round stages it may skip: {}", stage_names.join(", "))));
                errors.push(d);
            }
        }
        for key in arm.config.keys().filter(|k| !stage_names.contains(&k.as_str())) {
            let mut d = map.at(
                Some(arm.name.span()),
                None,
                format!("arm `{name}` configures `{key}`, which is not a round stage"),
            );
            d.hint = did_you_mean(key, stage_names.iter().copied());
            errors.push(d);
        }
        if errors.len() > before {
            continue;
        }
        let Some(policy) = policy else { continue };
        let mut rounds_built = Vec::new();
        let mut sources = Vec::new();
        for k in 1..=*rounds.count.get_ref() {
            let mut built = Vec::new();
            let mut tables = Vec::new();
            for stage in data_stages.iter().filter(|s| !arm.skip.iter().any(|k| k.get_ref() == s.name.get_ref())) {
                let stage = arm_stage(stage, arm, k);
                tables.push(stage_source(&stage));
                match check_stage(&cx.stage, &stage) {
                    Ok(s) => built.push(s),
                    Err(ds) => {
                        // Round 1's problems are every round's; a problem
                        // of a stage two arms share is said once.
                        for d in ds.into_iter().filter(|_| k == 1) {
                            let said =
                                errors.iter().any(|e| (e.line, e.column, &e.message) == (d.line, d.column, &d.message));
                            if !said {
                                errors.push(d);
                            }
                        }
                    }
                }
            }
            rounds_built.push(built);
            sources.push(round_source(cx.text, &tables, k));
        }
        let at = map.at(Some(arm.size.as_ref().map_or(arm.name.span(), Spanned::span)), None, "");
        let location = format!("{}:{}:{}", at.file.display(), at.line, at.column);
        out.push(ArmPlan { name: name.clone(), policy, rounds: rounds_built, sources, location });
    }
    Some(out)
}

/// The policy of `arm`, with the settings it needs and no others.
fn check_policy(map: &SourceMap<'_>, arm: &ArmConfig, has_real: bool, errors: &mut Vec<Diagnostic>) -> Option<Policy> {
    let name = arm.name.get_ref();
    let size = arm.size.as_ref().map(|s| *s.get_ref());
    let fraction = arm.real_fraction.as_ref().map(|f| *f.get_ref());
    let policy = match arm.policy.get_ref().as_str() {
        "replace" => Policy::Replace,
        "accumulate" => Policy::Accumulate,
        "mix" => Policy::Mix { real_fraction: fraction.unwrap_or(f64::NAN), size: size.unwrap_or(0) },
        "accumulate-subsample" => Policy::AccumulateSubsample { size: size.unwrap_or(0) },
        other => {
            let known = ["replace", "accumulate", "mix", "accumulate-subsample"];
            let mut d = map.at(Some(arm.policy.span()), None, format!("arm `{name}`: unknown policy `{other}`"));
            d.hint = did_you_mean(other, known).or_else(|| Some(format!("policies: {}", known.join(", "))));
            errors.push(d);
            return None;
        }
    };
    let mut bad = |span: Option<std::ops::Range<usize>>, message: String, hint: &str| {
        let mut d = map.at(span.or(Some(arm.policy.span())), None, message);
        d.hint = Some(hint.into());
        errors.push(d);
    };
    match policy {
        Policy::Mix { real_fraction, .. } => {
            if !(0.0..=1.0).contains(&real_fraction) {
                bad(
                    arm.real_fraction.as_ref().map(Spanned::span),
                    format!("arm `{name}`: `real_fraction` must be in [0, 1]"),
                    "e.g. `real_fraction = 0.1` (a tenth of the pool is real data)",
                );
            }
            if size.unwrap_or(0) == 0 {
                bad(
                    arm.size.as_ref().map(Spanned::span),
                    format!("arm `{name}`: `mix` needs `size`, the pool's records (at least 1)"),
                    "e.g. `size = 2000`",
                );
            }
            if real_fraction > 0.0 && !has_real {
                bad(
                    arm.real_fraction.as_ref().map(Spanned::span),
                    format!("arm `{name}`: `mix` takes real records, but this pipeline has no `[[input]]`"),
                    "add the real data as an `[[input]]`, or use `replace` / `accumulate`",
                );
            }
        }
        Policy::AccumulateSubsample { size: 0 } => bad(
            arm.size.as_ref().map(Spanned::span),
            format!("arm `{name}`: `accumulate-subsample` needs `size`, the pool's records (at least 1)"),
            "e.g. `size = 2000`",
        ),
        _ => {}
    }
    if arm.real_fraction.is_some() && !matches!(policy, Policy::Mix { .. }) {
        bad(
            arm.real_fraction.as_ref().map(Spanned::span),
            format!("arm `{name}`: `real_fraction` is a setting of `mix`"),
            "remove it, or use `policy = \"mix\"`",
        );
    }
    if arm.size.is_some() && matches!(policy, Policy::Replace | Policy::Accumulate) {
        bad(
            arm.size.as_ref().map(Spanned::span),
            format!("arm `{name}`: `size` is a setting of `mix` and `accumulate-subsample`"),
            "remove it",
        );
    }
    Some(policy)
}

use toml::Spanned;

/// `stage` as arm `arm` runs it in round `k`: its overrides merged, its round set.
fn arm_stage(stage: &StageConfig, arm: &ArmConfig, k: u32) -> StageConfig {
    let mut stage = stage.clone();
    if let Some(toml::Value::Table(extra)) = arm.config.get(stage.name.get_ref()) {
        for (key, value) in extra {
            stage.config.insert(key.clone(), value.clone());
        }
    }
    if stage.kind() == Some(StageKind::Generate) {
        stage.round = Some(k);
    }
    stage
}

/// What of a stage determines its records, for the round's fingerprint.
fn stage_source(stage: &StageConfig) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("name".into(), stage.name.get_ref().clone().into());
    t.insert("kind".into(), stage.kind.get_ref().clone().into());
    if let Some(p) = &stage.plugin {
        t.insert("plugin".into(), p.get_ref().path().to_string().into());
    }
    t.insert("config".into(), toml::Value::Table(stage.config.clone()));
    if let Some(m) = &stage.model {
        t.insert("model".into(), m.get_ref().clone().into());
    }
    for (key, value) in
        [("count", stage.count), ("samples", stage.samples.map(u64::from)), ("attempts", stage.attempts.map(u64::from))]
    {
        if let Some(v) = value {
            t.insert(key.into(), toml::Value::Integer(i64::try_from(v).unwrap_or(i64::MAX)));
        }
    }
    t.insert("round".into(), toml::Value::Integer(i64::from(stage.round.unwrap_or(0))));
    t
}

/// Round `k` as a pipeline source: the file's `[pipeline]` and `[models]`
/// with the round's stages. Arms whose stages are the same have the same
/// source, so they share the round's data when they share its student.
fn round_source(text: &str, stages: &[toml::Table], k: u32) -> String {
    let mut doc = text.parse::<toml::Table>().unwrap_or_default();
    doc.retain(|key, _| key == "pipeline" || key == "models");
    doc.insert("stage".into(), toml::Value::Array(stages.iter().cloned().map(toml::Value::Table).collect()));
    let mut round = toml::Table::new();
    round.insert("round".into(), toml::Value::Integer(i64::from(k)));
    doc.insert("round".into(), toml::Value::Table(round));
    doc.to_string()
}
