//! From a pipeline file to a runnable [`Pipeline`], or every problem in it
//! at once, each with file, line, column and the stage's name.
//!
//! The file is parsed into the pure types of [`config`](crate::pipeline::config)
//! (every unknown key and wrong type at once, the nearest known key
//! suggested), then built: inputs expanded (`inputs`), models declared and
//! their plugins or checkpoints loaded (`models`), stages checked and built
//! (`stage_checks`) — with the checks that need only the file
//! ([`checks`]) run among them, so that
//! errors come in file order. Plugins are loaded (and compiled, or fetched
//! from the cache) here, so that `kiln validate` catches everything a run would
//! before any work starts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::model::ModelSpec;
use crate::objects::ObjectUrl;
use crate::pipeline::config::checks;
use crate::pipeline::config::diagnostic::{Diagnostic, Diagnostics, SourceMap};
use crate::pipeline::config::{OutputFormat, PipelineFile};
use crate::pipeline::input::Input;
use crate::pipeline::stages::Stage;
use crate::plugin::Sandbox;

mod inputs;
mod limit_caps;
pub mod lock;
mod models;
mod plugin_errors;
pub mod plugin_source;
mod rounds;
mod stage_checks;
pub mod trust;

/// A checked pipeline, ready to run.
#[derive(Debug)]
pub struct Pipeline {
    /// The pipeline file.
    pub file: PathBuf,
    /// Its name.
    pub name: String,
    /// Seed of every random choice.
    pub seed: u64,
    /// Work directory (absolute): a local scratch copy when the work
    /// directory is on object storage (`work_store`).
    pub work_dir: PathBuf,
    /// When `[pipeline] work_dir` (or `--work-dir`) is an `s3://bucket/prefix`:
    /// the mirror that keeps `work_dir` there ([`crate::objects::mirror`]).
    pub work_store: Option<std::sync::Arc<crate::objects::mirror::Attached>>,
    /// Inputs, in order.
    pub inputs: Vec<Input>,
    /// Stages, in order.
    pub stages: Vec<Stage>,
    /// Model backends by name.
    pub models: BTreeMap<String, std::sync::Arc<ModelSpec>>,
    /// Output directory (absolute): where the run assembles its outputs —
    /// under the work directory when they are published to object storage.
    pub output_dir: PathBuf,
    /// Where the outputs are published once assembled, when `[output] dir`
    /// (or `--out`) is an `s3://bucket/prefix` ([`crate::objects::publish`]).
    pub output_prefix: Option<crate::objects::ObjectUrl>,
    /// Format of the outputs.
    pub output_format: OutputFormat,
    /// Input lines per committed chunk.
    pub chunk_size: u64,
    /// The pipeline file's text (part of the work directory's fingerprint).
    pub source: String,
    /// `[rounds]`, when the file declares recursive rounds after these stages.
    pub rounds: Option<crate::pipeline::rounds::plan::RoundsPlan>,
    /// What building it changed in `kiln.lock` (added references, moved tags).
    pub lock_changes: Vec<plugin_source::LockChange>,
}

/// What the caller changes about building a pipeline file: the directories
/// given in place of its `work_dir` and `[output] dir` (relative to the
/// current directory), how `kiln.lock` is treated, where API keys come from,
/// and the most any plugin may be given (`kiln serve`'s per-tenant quotas).
///
/// They are applied before any check, so every path derived from the work
/// dir (student checkpoints, phases) and every check on them (they must not
/// hold the pipeline file or an input) sees the directory the run will use.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Replaces `[pipeline] work_dir`.
    pub work_dir: Option<PathBuf>,
    /// Replaces `[output] dir`.
    pub output_dir: Option<PathBuf>,
    /// Read, write, refuse changes to, or update `kiln.lock`.
    pub lock: plugin_source::LockMode,
    /// Where published plugins are kept (default: `Store::default_root`,
    /// under `$KILN_CACHE_DIR`); `--cache-dir DIR` makes it `DIR/plugins`.
    pub plugin_store: Option<PathBuf>,
    /// Where `api_key_env` values come from (the environment by default).
    pub secrets: crate::model::Secrets,
    /// The most memory and time per call any plugin may have: a stage asking
    /// for more is refused, defaults above them are lowered to them.
    pub limit_caps: Option<kiln_sandbox::PluginLimits>,
    /// Reviewers' labels that `review` stages apply instead of reading their
    /// labels files (the service's review queue).
    pub review_labels: Option<std::sync::Arc<crate::pipeline::stages::review_gate::ReviewLabels>>,
}

impl Pipeline {
    /// Whose a work directory is when this pipeline runs in it: its name and
    /// its file (absolute where it resolves).
    pub fn owner(&self) -> crate::pipeline::workdir::Owner {
        crate::pipeline::workdir::Owner {
            pipeline: self.name.clone(),
            file: std::fs::canonicalize(&self.file).unwrap_or_else(|_| self.file.clone()),
        }
    }

    /// Reads and checks the pipeline file at `path`, loading its plugins into `sandbox`.
    pub fn load(path: &Path, sandbox: &Sandbox) -> Result<Pipeline, Diagnostics> {
        Pipeline::load_with(path, sandbox, &BuildOptions::default())
    }

    /// [`Pipeline::load`], with the file's directories replaced by `overrides`.
    pub fn load_with(path: &Path, sandbox: &Sandbox, overrides: &BuildOptions) -> Result<Pipeline, Diagnostics> {
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
        Pipeline::parse_with(path, text, sandbox, &BuildOptions::default())
    }

    /// [`Pipeline::parse`], with the file's directories replaced by `overrides`.
    pub fn parse_with(
        path: &Path,
        text: &str,
        sandbox: &Sandbox,
        overrides: &BuildOptions,
    ) -> Result<Pipeline, Diagnostics> {
        let map = SourceMap::new(path, text);
        // Every unknown key, wrong type and unknown variant at once, not the first.
        let structural = crate::pipeline::config::schema_errors::collect(text);
        if !structural.is_empty() {
            return Err(Diagnostics(
                structural.into_iter().map(|e| checks::syntax_diagnostic(&map, &e.message, e.span)).collect(),
            ));
        }
        let file: PipelineFile = toml::from_str(text)
            .map_err(|e| Diagnostics(vec![checks::syntax_diagnostic(&map, e.message(), e.span())]))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
        let lock = lock::Lockfile::read(&lock::Lockfile::path_in(&base)).map_err(|d| Diagnostics(vec![d]))?;
        let mut errors = Vec::new();
        let trust = trust::policy(&map, &base, file.trust.as_ref(), &mut errors);
        let plugins =
            plugin_source::PluginResolver::new(&base, overrides.lock, lock, trust, overrides.plugin_store.clone());
        let inputs: Vec<Input> = file
            .input
            .iter()
            .filter_map(|i| inputs::check_input(&map, &base, i).map_err(|d| errors.push(d)).ok())
            .collect();
        let model_names: Vec<&str> = file.models.keys().map(String::as_str).collect();
        let context = stage_checks::StageContext {
            map: &map,
            base: &base,
            plugins: &plugins,
            sandbox,
            seed: file.pipeline.seed,
            models: &model_names,
            limit_caps: overrides.limit_caps.as_ref(),
            review_labels: overrides.review_labels.as_ref(),
            // In a file with rounds, the stages above them are round 0.
            default_round: u32::from(file.rounds.is_none()),
        };
        let mut models = BTreeMap::new();
        checks::model_names(&map, &file, &mut errors);
        for (name, model) in &file.models {
            match models::check_model(&context, name, model, &overrides.secrets) {
                Ok(spec) => {
                    models.insert(name.clone(), std::sync::Arc::new(spec));
                }
                Err(d) => errors.extend(d),
            }
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut stages = Vec::new();
        for (position, stage) in file.stage.iter().enumerate() {
            checks::stage_header(&map, stage, position, &mut seen, &mut errors);
            match stage_checks::check_stage(&context, stage) {
                Ok(s) => stages.push(s),
                Err(mut ds) => errors.append(&mut ds),
            }
        }
        stage_checks::check_references(&map, &file.stage, &stages, &mut errors);
        let cwd = Path::new(".");
        let (work_dir, work_store) = match work_location(&map, overrides, &file.pipeline.work_dir) {
            Ok(Some(mirror)) => (mirror.root().to_path_buf(), Some(std::sync::Arc::new(mirror))),
            Ok(None) => match &overrides.work_dir {
                Some(dir) => (absolute(cwd, dir), None),
                None => (absolute(&base, &file.pipeline.work_dir), None),
            },
            Err(d) => {
                errors.push(*d);
                (absolute(&base, Path::new("work")), None)
            }
        };
        let (output_dir, output_prefix) = match output_location(&map, overrides, &file.output.dir, &work_dir) {
            Ok(Some((staging, prefix))) => (staging, Some(prefix)),
            Ok(None) => match &overrides.output_dir {
                Some(dir) => (absolute(cwd, dir), None),
                None => (absolute(&base, &file.output.dir), None),
            },
            Err(d) => {
                errors.push(*d);
                (work_dir.join("out"), None)
            }
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
        models::check_student_stages(&map, &file, &work_dir, &stages, &mut models, &mut errors);
        let rounds_plan = file.rounds.as_ref().and_then(|r| {
            let cx = rounds::RoundsContext {
                stage: stage_checks::StageContext { default_round: 1, ..context },
                file: &file,
                stages: &stages,
                text,
            };
            rounds::check(&cx, r, &mut errors)
        });
        checks::file_level(&map, &file, &mut errors);
        if errors.is_empty()
            && let Err(e) = plugins.finish()
        {
            errors.push(map.at(None, None, format!("cannot write {}: {e}", plugins.lock_path().display())));
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
            work_store,
            inputs,
            stages,
            models,
            output_dir,
            output_prefix,
            output_format: file.output.format,
            chunk_size: file.pipeline.chunk_size,
            source: text.to_string(),
            rounds: rounds_plan,
            lock_changes: plugins.changes(),
        })
    }
}

/// When the work directory is on object storage (`--work-dir`, else
/// `[pipeline] work_dir`, is `s3://bucket/prefix`): its mirror, in a new
/// scratch directory (checked writable now, not after the first chunk).
fn work_location(
    map: &SourceMap<'_>,
    overrides: &BuildOptions,
    dir: &Path,
) -> Result<Option<crate::objects::mirror::Attached>, Box<Diagnostic>> {
    let place = Place::of(map, ("--work-dir", overrides.work_dir.as_deref()), ("[pipeline] work_dir", dir));
    let Some(prefix) = place.writable_prefix("e.g. s3://runs/clean-web/work")? else { return Ok(None) };
    let mirror = crate::objects::mirror::WorkMirror::attach(prefix).map_err(|e| {
        place.refused(format!("`{}`: {e}", place.text), "set $KILN_WORK_SCRATCH to a local directory Kiln may write")
    })?;
    Ok(Some(mirror))
}

/// A directory setting that may name object storage: the override's flag
/// and value when given, else the file's key and value.
struct Place<'m, 'p> {
    map: &'m SourceMap<'m>,
    key: &'static str,
    text: &'p str,
}

impl<'m, 'p> Place<'m, 'p> {
    fn of(
        map: &'m SourceMap<'m>,
        flag: (&'static str, Option<&'p Path>),
        file: (&'static str, &'p Path),
    ) -> Place<'m, 'p> {
        let (key, dir) = match flag {
            (flag, Some(dir)) => (flag, dir),
            (_, None) => file,
        };
        Place { map, key, text: dir.to_str().unwrap_or_default() }
    }

    /// A diagnostic naming the setting.
    fn refused(&self, message: String, hint: &str) -> Box<Diagnostic> {
        let mut d = self.map.at(None, None, format!("{} {message}", self.key));
        d.hint = Some(hint.to_string());
        Box::new(d)
    }

    /// The prefix the setting names when it is `s3://bucket/prefix`, which
    /// the environment's credentials must be able to write; `None` for a path.
    fn writable_prefix(&self, example: &str) -> Result<Option<ObjectUrl>, Box<Diagnostic>> {
        if !ObjectUrl::is_object(self.text) {
            return Ok(None);
        }
        let prefix = ObjectUrl::parse_prefix(self.text).map_err(|e| self.refused(e, example))?;
        prefix.check_writable().map_err(|e| {
            self.refused(format!("`{}` cannot be written: {e}", self.text), prefix.scheme.credentials_hint())
        })?;
        Ok(Some(prefix))
    }
}

/// Whether `path` is `dir` or lies under it (lexically, and once both are
/// resolved through symbolic links where they exist).
fn contains(dir: &Path, path: &Path) -> bool {
    let resolved = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| absolute(Path::new("."), p));
    let path = absolute(Path::new("."), path);
    path.starts_with(dir) || resolved(&path).starts_with(resolved(dir))
}

/// When the outputs go to object storage (`--out`, else `[output] dir`, is
/// `s3://bucket/prefix`): the local directory they are assembled in (the
/// work directory's `out`) and the prefix, which the environment's
/// credentials must be able to write (checked now, not after the run).
fn output_location(
    map: &SourceMap<'_>,
    overrides: &BuildOptions,
    dir: &Path,
    work_dir: &Path,
) -> Result<Option<(PathBuf, ObjectUrl)>, Box<Diagnostic>> {
    let place = Place::of(map, ("--out", overrides.output_dir.as_deref()), ("[output] dir", dir));
    Ok(place.writable_prefix("e.g. s3://curated/web/2026-12")?.map(|prefix| (work_dir.join("out"), prefix)))
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
