//! Runs a pipeline with `[rounds]`: round 0 (the file's stages, shared by
//! every arm), then rounds `1..=count`, round by round, every arm and seed.
//!
//! One round of one chain (arm, seed) is:
//! 1. **data**: the round's stages run as a pipeline of their own, with the
//!    student of round `k − lag` in place of `rounds.model` — the engine's
//!    own run, so its chunks commit and resume exactly once (work directory
//!    `rounds/<arm>/seed-<s>/round-<k>/data-<student sha>/`);
//! 2. **pool**: the arm's policy composes the training pool from round 0's
//!    real records and the synthetic records of the chain's rounds
//!    (`pool.jsonl` lists each record's id and origin);
//! 3. **train**: the round's `train-student` settings, one seed (the
//!    chain's), checkpointed and resumed as the stage is
//!    (`models/<stage>/seed-<s>/`);
//! 4. **monitor**: the collapse metrics ([`monitor`](super::monitor)), saved
//!    with the rest in `round.json`, the round's commit: a chain round with
//!    that file is done and is never paid for again.
//!
//! Chains of one round run side by side, one per core. After each round
//! the arm's means are checked against the alarms; a `stop` alarm ends the
//! arm. `stats.json` and `report.html` of round 0's output directory get the
//! rounds' part when all is done.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use kiln_kernels::Compute;

use super::monitor::{self, Measured};
use super::plan::{ArmPlan, RoundsPlan};
use super::pool::{self, Origin, PoolCounts, Sources};
use super::summary::{AlarmEvent, ArmReport, ChainRound, DataCounts, Reference, RoundSummary, RoundsReport};
use crate::model::{BackendSpec, ModelSpec, StudentSettings, StudentSource};
use crate::pipeline::build::Pipeline;
use crate::pipeline::config::OutputFormat;
use crate::pipeline::config::rounds::AlarmAction;
use crate::pipeline::engine::executor::{RunError, RunOptions, RunSummary, execute};
use crate::pipeline::engine::fingerprint::fingerprint;
use crate::pipeline::engine::phases;
use crate::pipeline::report::progress::Silent;
use crate::pipeline::stages::train_student::{self, StudentStageConfig};
use crate::pipeline::workdir::{FinishedPhase, WorkDir, job_dir, path_component, phase_dir, write_atomic};
use crate::record::Record;

/// Runs `pipeline`: round 0, then its rounds when it has any; then publishes
/// the outputs when they go to object storage.
pub fn run(pipeline: Pipeline, options: &RunOptions) -> Result<RunSummary, RunError> {
    let prefix = pipeline.output_prefix.clone();
    let summary = run_locally(pipeline, options)?;
    crate::pipeline::engine::publish::publish(prefix.as_ref(), summary)
}

/// Round 0, then the rounds, the outputs in the local output directory.
fn run_locally(mut pipeline: Pipeline, options: &RunOptions) -> Result<RunSummary, RunError> {
    let Some(plan) = pipeline.rounds.take() else { return execute(pipeline, options) };
    let base = Base::of(&pipeline, &plan)?;
    let mut summary = execute(pipeline, options)?;
    let started = Instant::now();
    let compute = crate::compute::shared().map_err(|e| RunError::Runtime(format!("no kernel device: {e}")))?;
    let round0 = base.round0_records()?;
    let real: Vec<(Record, Origin)> = round0
        .iter()
        .map(|r| (r.clone(), pool::origin(r, 0, &plan.refiners)))
        .filter(|(_, o)| *o != Origin::Synthetic(0))
        .collect();
    let synthetic0: Vec<Record> =
        round0.iter().filter(|r| pool::origin(r, 0, &plan.refiners) == Origin::Synthetic(0)).cloned().collect();
    let real_texts: Vec<String> = real.iter().map(|(r, _)| r.text.clone()).collect();
    // A mix that asks for more real records than round 0 kept fails now, before any round's work.
    for arm in &plan.arms {
        if let super::plan::Policy::Mix { real_fraction, size } = arm.policy {
            let wanted = (real_fraction * size as f64).round() as usize;
            if wanted > real.len() {
                return Err(RunError::Runtime(format!(
                    "{}: arm `{}`: the mix takes {wanted} real records ({real_fraction} of {size}), but round 0 \
                     kept only {} real ones; lower `size` or `real_fraction`, or add real data (nothing of the \
                     rounds has run)",
                    arm.location,
                    arm.name,
                    real.len()
                )));
            }
        }
    }
    let driver = Driver { base: &base, plan: &plan, options, compute: &compute, real: &real, real_texts: &real_texts };
    let mut report = RoundsReport {
        count: plan.count,
        lag: plan.lag,
        model: plan.model.clone(),
        seeds: plan.seeds.clone(),
        heldout: plan.heldout_file.clone(),
        ..RoundsReport::default()
    };
    // Round 0, shared: one student per seed, trained by the file's stage.
    let round0_texts: Vec<String> = round0.iter().map(|r| r.text.clone()).collect();
    let mut counts0 = PoolCounts::default();
    for (_, o) in &real {
        if *o == Origin::Real { counts0.real += 1 } else { counts0.refined += 1 }
    }
    if !synthetic0.is_empty() {
        counts0.synthetic.insert(0, synthetic0.len() as u64);
    }
    let mut chains0 = Vec::new();
    for &seed in &plan.seeds {
        let checkpoint = train_student::model_path(&job_dir(&base.work_dir, &plan.first), seed);
        let measured = driver.measure_cached(
            &base.rounds_dir.join("round-0").join(format!("seed-{seed}")),
            &checkpoint,
            &synthetic_or_real(&synthetic0, &real_texts),
            &round0_texts,
            seed,
        )?;
        chains0.push(ChainRound {
            seed,
            measured,
            pool: counts0.clone(),
            data: DataCounts::default(),
            student: base.relative(&checkpoint),
        });
    }
    let ppl0: BTreeMap<u64, f64> =
        chains0.iter().filter_map(|c| Some((c.seed, *c.measured.metrics.get("perplexity")?))).collect();
    for c in &mut chains0 {
        if c.measured.metrics.contains_key("perplexity") {
            c.measured.metrics.insert("perplexity_rise".into(), 0.0);
        }
    }
    let round0_summary = RoundSummary::of(0, chains0);
    report.references = references(&summary.stats.jobs);
    let mut arms: Vec<ArmState> = plan
        .arms
        .iter()
        .map(|arm| ArmState {
            report: ArmReport {
                name: arm.name.clone(),
                policy: arm.policy.describe(),
                rounds: vec![round0_summary.clone()],
                ..ArmReport::default()
            },
            chains: plan
                .seeds
                .iter()
                .map(|&seed| Chain {
                    seed,
                    synthetic: vec![synthetic0.clone()],
                    students: vec![train_student::model_path(&job_dir(&base.work_dir, &plan.first), seed)],
                })
                .collect(),
        })
        .collect();
    for k in 1..=plan.count {
        let jobs: Vec<(usize, usize)> = arms
            .iter()
            .enumerate()
            .filter(|(_, a)| a.report.stopped_after.is_none())
            .flat_map(|(a, state)| (0..state.chains.len()).map(move |c| (a, c)))
            .collect();
        if jobs.is_empty() {
            break;
        }
        let results = driver.round(&arms, &jobs, k, &ppl0);
        let mut by_arm: BTreeMap<usize, Vec<ChainRound>> = BTreeMap::new();
        for ((a, c), result) in jobs.iter().zip(results) {
            let (chain_round, kept, student) = result?;
            let chain = &mut arms[*a].chains[*c];
            chain.synthetic.push(kept);
            chain.students.push(student);
            by_arm.entry(*a).or_default().push(chain_round);
        }
        for (a, chains) in by_arm {
            let round = RoundSummary::of(k, chains);
            let state = &mut arms[a];
            for event in alarms(&plan, &state.report.name, &round) {
                tracing::warn!(arm = %state.report.name, "{}", event.message);
                if event.action == AlarmAction::Stop {
                    state.report.stopped_after = Some(k);
                }
                state.report.alarms.push(event);
            }
            tracing::info!(arm = %state.report.name, round = k, "{}", round_line(&round));
            state.report.rounds.push(round);
        }
    }
    for state in &arms {
        for round in &state.report.rounds {
            for chain in &round.chains {
                report.unavailable.extend(chain.measured.unavailable.clone());
            }
        }
    }
    report.arms = arms.into_iter().map(|a| a.report).collect();
    report.seconds = started.elapsed().as_secs_f64();
    summary.stats.rounds = Some(report);
    let out = &summary.output_dir;
    let bytes = serde_json::to_vec_pretty(&summary.stats).map_err(|e| RunError::Runtime(e.to_string()))?;
    write_atomic(&out.join("stats.json"), &bytes)?;
    let html = crate::pipeline::report::html::render(&summary.stats)
        .map_err(|e| RunError::Runtime(format!("cannot draw the report: {e}")))?;
    write_atomic(&out.join("report.html"), html.as_bytes())?;
    Ok(summary)
}

/// What the rounds need of the pipeline once round 0 has consumed it.
struct Base {
    file: PathBuf,
    name: String,
    seed: u64,
    work_dir: PathBuf,
    rounds_dir: PathBuf,
    chunk_size: u64,
    models: BTreeMap<String, Arc<ModelSpec>>,
    fingerprint: String,
    /// Round 0's phase that ends with its `train-student` stage.
    phase: (usize, std::ops::Range<usize>),
}

impl Base {
    fn of(pipeline: &Pipeline, plan: &RoundsPlan) -> Result<Base, RunError> {
        let phase = phases::split(pipeline)
            .into_iter()
            .enumerate()
            .find(|(_, r)| {
                r.end.checked_sub(1).and_then(|i| pipeline.stages.get(i)).is_some_and(|s| s.name == plan.first)
            })
            .ok_or_else(|| RunError::Runtime(format!("round 0 has no phase ending at `{}`", plan.first)))?;
        Ok(Base {
            file: pipeline.file.clone(),
            name: pipeline.name.clone(),
            seed: pipeline.seed,
            work_dir: pipeline.work_dir.clone(),
            rounds_dir: pipeline.work_dir.join("rounds"),
            chunk_size: pipeline.chunk_size,
            models: pipeline.models.clone(),
            fingerprint: fingerprint(pipeline),
            phase,
        })
    }

    /// The records round 0's student trained on.
    fn round0_records(&self) -> Result<Vec<Record>, RunError> {
        let (k, stages) = self.phase.clone();
        let work = WorkDir::open(&phase_dir(&self.work_dir, k))?;
        let manifest = work.manifest(&self.fingerprint, self.chunk_size)?;
        let phase = FinishedPhase { work: Arc::new(work), manifest, other_parts: Vec::new(), stages, barrier: None };
        Ok(phase.kept_records()?)
    }

    /// `path` relative to the work directory, for reports.
    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.work_dir).unwrap_or(path).display().to_string()
    }
}

/// One chain's history: its synthetic records and students, by round.
struct Chain {
    seed: u64,
    synthetic: Vec<Vec<Record>>,
    students: Vec<PathBuf>,
}

struct ArmState {
    report: ArmReport,
    chains: Vec<Chain>,
}

struct Driver<'a> {
    base: &'a Base,
    plan: &'a RoundsPlan,
    options: &'a RunOptions,
    compute: &'a Compute,
    real: &'a [(Record, Origin)],
    real_texts: &'a [String],
}

/// A chain's round before it runs: where it lives and what it depends on.
struct ChainPlan {
    dir: PathBuf,
    /// The student that writes its data, and that student's sha256.
    used: PathBuf,
    sha: String,
    /// What its data depends on: shared by chains with the same.
    data_key: String,
    /// What its result depends on.
    key: String,
    committed: Option<Committed>,
}

/// A round's data run: what it kept, where, and its counts.
struct Data {
    kept: Vec<Record>,
    kept_file: PathBuf,
    counts: DataCounts,
}

/// What `round.json` holds: the chain round, committed.
#[derive(serde::Serialize, serde::Deserialize)]
struct Committed {
    key: String,
    round: ChainRound,
    /// Where the round's kept records are (relative to the work directory,
    /// which can be a scratch copy elsewhere when the round is read again).
    kept: PathBuf,
    /// Where its student is (likewise).
    student: PathBuf,
}

/// One chain's round once done: its summary, its kept records and its
/// student's path.
type ChainOutcome = (ChainRound, Vec<Record>, PathBuf);

impl Driver<'_> {
    /// Round `k` of every chain in `jobs` (arm, chain): each its summary,
    /// its kept records and its student, in job order. Chains whose data is
    /// the same (same stages, same student, same seed: round 1 of arms that
    /// differ only by policy) share one data run; the data runs, then the
    /// trainings, go side by side, one per core.
    fn round(
        &self,
        arms: &[ArmState],
        jobs: &[(usize, usize)],
        k: u32,
        ppl0: &BTreeMap<u64, f64>,
    ) -> Vec<Result<ChainOutcome, RunError>> {
        let plans: Vec<Result<ChainPlan, RunError>> =
            jobs.iter().map(|&(a, c)| self.chain_plan(&self.plan.arms[a], &arms[a].chains[c], k)).collect();
        // Every distinct data run that a chain not yet committed needs.
        let mut wanted: BTreeMap<String, usize> = BTreeMap::new();
        for (i, plan) in plans.iter().enumerate() {
            if let Some(p) = plan.as_ref().ok().filter(|p| p.committed.is_none()) {
                wanted.entry(p.data_key.clone()).or_insert(i);
            }
        }
        let wanted: Vec<(String, usize)> = wanted.into_iter().collect();
        let data = run_parallel(&wanted, |(_, i)| {
            let (a, c) = jobs[*i];
            let plan = plans[*i].as_ref().map_err(|e| RunError::Runtime(e.to_string()))?;
            self.data(&self.plan.arms[a], &arms[a].chains[c], k, plan)
        });
        let data: BTreeMap<&str, &Result<Data, RunError>> =
            wanted.iter().map(|(key, _)| key.as_str()).zip(data.iter()).collect();
        let order: Vec<usize> = (0..jobs.len()).collect();
        run_parallel(&order, |&i| {
            let (a, c) = jobs[i];
            let plan = plans[i].as_ref().map_err(|e| RunError::Runtime(e.to_string()))?;
            if let Some(done) = &plan.committed {
                let kept = read_records(&done.kept).map_err(RunError::Runtime)?;
                return Ok((done.round.clone(), kept, done.student.clone()));
            }
            match data.get(plan.data_key.as_str()) {
                Some(Ok(d)) => self.train(&self.plan.arms[a], &arms[a].chains[c], k, plan, d, ppl0),
                Some(Err(e)) => Err(RunError::Runtime(format!("round {k} of arm `{}`: {e}", self.plan.arms[a].name))),
                None => Err(RunError::Runtime(format!("round {k}: no data run for arm `{}`", self.plan.arms[a].name))),
            }
        })
    }

    /// Where chain `chain` of `arm` keeps round `k`, what its data depends
    /// on, and its committed result when it has one.
    fn chain_plan(&self, arm: &ArmPlan, chain: &Chain, k: u32) -> Result<ChainPlan, RunError> {
        let seed = chain.seed;
        let dir = self
            .base
            .rounds_dir
            .join(path_component(&arm.name).as_ref())
            .join(format!("seed-{seed}"))
            .join(format!("round-{k}"));
        let used = chain.students[k.saturating_sub(self.plan.lag) as usize].clone();
        let sha = StudentSettings::digest(&used).map_err(|e| {
            RunError::Runtime(format!(
                "round {k} of arm `{}` (seed {seed}): cannot read student {}: {e}",
                arm.name,
                used.display()
            ))
        })?;
        let source = &arm.sources[k as usize - 1];
        let data_key = round_key(&[source, &sha, &seed.to_string()]);
        let key = round_key(&[&data_key, arm.policy.describe().as_str(), &format!("{:?}", self.plan.monitor)]);
        let committed = read_json::<Committed>(&dir.join("round.json")).filter(|c| c.key == key).map(|mut c| {
            // Relative to the work directory as it is now (an absolute path stays as it is).
            c.kept = self.base.work_dir.join(&c.kept);
            c.student = self.base.work_dir.join(&c.student);
            c
        });
        Ok(ChainPlan { dir, used, sha, data_key, key, committed })
    }

    /// The round's data, by the engine, in `rounds/data/round-<k>/<key>/`.
    fn data(&self, arm: &ArmPlan, chain: &Chain, k: u32, plan: &ChainPlan) -> Result<Data, RunError> {
        let dir = self.base.rounds_dir.join("data").join(format!("round-{k}")).join(&plan.data_key);
        let pipeline = self.round_pipeline(arm, chain, k, &plan.used, &plan.sha, &dir);
        let options =
            RunOptions { no_cache: self.options.no_cache, progress: Arc::new(Silent), ..RunOptions::default() };
        let summary = execute(pipeline, &options)?;
        let kept_file = summary.output_dir.join("kept.jsonl");
        let kept = read_records(&kept_file).map_err(RunError::Runtime)?;
        let s = &summary.stats;
        let counts = DataCounts {
            records: s.input_lines + s.generated,
            kept: s.kept,
            rejected: s.rejected,
            quarantined: s.quarantined,
        };
        Ok(Data { kept, kept_file, counts })
    }

    /// Pool, student and monitor of round `k` of `chain`, committed in `round.json`.
    fn train(
        &self,
        arm: &ArmPlan,
        chain: &Chain,
        k: u32,
        plan: &ChainPlan,
        data: &Data,
        ppl0: &BTreeMap<u64, f64>,
    ) -> Result<ChainOutcome, RunError> {
        let seed = chain.seed;
        let fail = |what: String| RunError::Runtime(format!("round {k} of arm `{}` (seed {seed}): {what}", arm.name));
        let mut synthetic: Vec<Vec<Record>> = chain.synthetic.clone();
        synthetic.push(data.kept.clone());
        let sources = Sources { real: self.real.to_vec(), synthetic };
        let (pool, counts) =
            pool::compose(&arm.policy, &sources, k, self.base.seed ^ seed).map_err(|e| fail(e.to_string()))?;
        write_pool(&plan.dir.join("pool.jsonl"), &pool, k, &self.plan.refiners)?;
        let (train, config) = &self.plan.train;
        let config = StudentStageConfig { seeds: vec![seed], ..config.clone() };
        let texts: Vec<String> = pool.iter().map(|r| r.text.clone()).collect();
        let trained = train_student::run(train, &config, &texts, &job_dir(&plan.dir, train), self.compute)
            .map_err(|e| fail(e.to_string()))?;
        let student = trained
            .seeds
            .first()
            .map(|s| train_student::model_path(&job_dir(&plan.dir, train), s.seed))
            .ok_or_else(|| fail("no seed trained".into()))?;
        let kept_texts: Vec<String> = data.kept.iter().map(|r| r.text.clone()).collect();
        let mut measured = self.measure(&student, &kept_texts, &texts, seed).map_err(fail)?;
        if let (Some(p), Some(p0)) = (measured.metrics.get("perplexity").copied(), ppl0.get(&seed)) {
            measured.metrics.insert("perplexity_rise".into(), p / p0 - 1.0);
        }
        let round = ChainRound {
            seed,
            measured,
            pool: counts,
            data: data.counts.clone(),
            student: self.base.relative(&student),
        };
        let c = Committed {
            key: plan.key.clone(),
            round,
            kept: self.base.relative(&data.kept_file).into(),
            student: self.base.relative(&student).into(),
        };
        write_json(&plan.dir.join("round.json"), &c)?;
        Ok((c.round, data.kept.clone(), student))
    }

    /// Round `k`'s data stages as a pipeline, `used` answering for `rounds.model`.
    fn round_pipeline(&self, arm: &ArmPlan, chain: &Chain, k: u32, used: &Path, sha: &str, dir: &Path) -> Pipeline {
        let mut models = self.base.models.clone();
        let seed = derive_seed(self.base.seed, chain.seed, k);
        if let Some(spec) = models.get(&self.plan.model) {
            let mut spec = (**spec).clone();
            let j = k.saturating_sub(self.plan.lag);
            let stage =
                if j == 0 { self.plan.first.clone() } else { format!("{}/round-{j}/{}", arm.name, self.plan.train.0) };
            spec.backend = BackendSpec::Student(StudentSettings {
                source: StudentSource::Stage { stage, seed: Some(chain.seed) },
                checkpoint: used.to_path_buf(),
                sha256: Some(sha.to_string()),
            });
            spec.sampling.seed = Some(seed);
            models.insert(self.plan.model.clone(), Arc::new(spec));
        }
        Pipeline {
            file: self.base.file.clone(),
            name: format!("{}/round-{k}/seed-{}", self.base.name, chain.seed),
            seed,
            work_dir: dir.join("work"),
            // Under the base run's work directory, and mirrored with it.
            work_store: None,
            inputs: Vec::new(),
            stages: arm.rounds[k as usize - 1].clone(),
            models,
            output_dir: dir.join("out"),
            output_prefix: None,
            output_format: OutputFormat::Jsonl,
            chunk_size: self.base.chunk_size,
            source: format!("{}\n# student {sha}\n", arm.sources[k as usize - 1]),
            rounds: None,
            lock_changes: Vec::new(),
        }
    }

    fn measure(&self, student: &Path, data: &[String], trained_on: &[String], seed: u64) -> Result<Measured, String> {
        monitor::measure(&monitor::Input {
            checkpoint: student,
            compute: self.compute,
            config: &self.plan.monitor,
            heldout: &self.plan.heldout,
            real: self.real_texts,
            data,
            trained_on,
            seed,
        })
    }

    /// Round 0's measurement of seed `seed`, saved in `dir` keyed by its student.
    fn measure_cached(
        &self,
        dir: &Path,
        checkpoint: &Path,
        data: &[String],
        trained_on: &[String],
        seed: u64,
    ) -> Result<Measured, RunError> {
        let fail = |what: String| RunError::Runtime(format!("round 0 (seed {seed}): {what}"));
        let sha = StudentSettings::digest(checkpoint)
            .map_err(|e| fail(format!("cannot read student {}: {e}", checkpoint.display())))?;
        let file = dir.join("monitor.json");
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Saved {
            key: String,
            measured: Measured,
        }
        let key = format!("{sha}:{:?}:{}", self.plan.monitor, self.plan.heldout.len());
        if let Some(s) = read_json::<Saved>(&file).filter(|s| s.key == key) {
            return Ok(s.measured);
        }
        let measured = self.measure(checkpoint, data, trained_on, seed).map_err(fail)?;
        write_json(&file, &Saved { key, measured: measured.clone() })?;
        Ok(measured)
    }
}

/// Round 0's data for the monitor's diversity: its synthetic records, or
/// its real ones when it generated none.
fn synthetic_or_real(synthetic: &[Record], real: &[String]) -> Vec<String> {
    if synthetic.is_empty() { real.to_vec() } else { synthetic.iter().map(|r| r.text.clone()).collect() }
}

/// A digest of `parts` (each length-prefixed), hex: the keys of data runs and committed rounds.
fn round_key(parts: &[&str]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// The seed of chain `chain`'s round `k`: the same in every arm, so that
/// arms differ by their policy, not by their luck.
fn derive_seed(pipeline: u64, chain: u64, k: u32) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(&[chain.to_le_bytes(), u64::from(k).to_le_bytes()].concat(), pipeline)
}

/// Runs `f` on every job, one per core, results in job order.
fn run_parallel<J: Sync, T: Send>(jobs: &[J], f: impl Fn(&J) -> T + Sync) -> Vec<T> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len()).max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let result = f(job);
                    results.lock().unwrap_or_else(PoisonError::into_inner)[i] = Some(result);
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(PoisonError::into_inner).into_iter().flatten().collect()
}

/// The alarms `round` sets off for arm `arm`.
fn alarms(plan: &RoundsPlan, arm: &str, round: &RoundSummary) -> Vec<AlarmEvent> {
    let mut out = Vec::new();
    for alarm in &plan.alarms {
        let Some(value) = round.mean.get(&alarm.metric).map(|i| i.mean).filter(|v| v.is_finite()) else { continue };
        let bound = match (alarm.below, alarm.above) {
            (Some(b), _) if value < b => format!("< {b}"),
            (_, Some(a)) if value > a => format!("> {a}"),
            _ => continue,
        };
        let what = if alarm.action == AlarmAction::Stop { "collapse alarm, arm stopped" } else { "collapse alarm" };
        out.push(AlarmEvent {
            round: round.round,
            metric: alarm.metric.clone(),
            value,
            bound: bound.clone(),
            action: alarm.action,
            message: format!("{what}: {} {value:.3} {bound} at round {} (arm `{arm}`)", alarm.metric, round.round),
        });
    }
    out
}

/// The declared models round 0's `eval` stages scored: what students are compared with.
fn references(jobs: &[crate::pipeline::stages::JobReport]) -> Vec<Reference> {
    let mut out = Vec::new();
    for job in jobs {
        if let crate::pipeline::stages::JobReport::Eval(e) = job {
            for m in &e.models {
                out.push(Reference {
                    model: m.model.clone(),
                    stage: e.stage.clone(),
                    accuracy: m.accuracy,
                    by_class: m.by_class.iter().map(|(c, s)| (c.clone(), s.accuracy)).collect(),
                });
            }
        }
    }
    out
}

/// One log line per arm and round: the headline metrics.
fn round_line(round: &RoundSummary) -> String {
    ["perplexity", "accuracy", "tail_coverage", "entropy_bits", "js_divergence", "pool_records"]
        .iter()
        .filter_map(|m| round.mean.get(*m).map(|i| format!("{m} {:.4} ± {:.4}", i.mean, i.half_width)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), RunError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|error| {
            RunError::WorkDir(crate::pipeline::workdir::WorkDirError::Io {
                action: "cannot create",
                path: parent.to_path_buf(),
                error,
            })
        })?;
    }
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| RunError::Runtime(e.to_string()))?;
    Ok(write_atomic(path, &bytes)?)
}

/// The records of a JSONL file the engine wrote.
fn read_records(path: &Path) -> Result<Vec<Record>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1)))
        .collect()
}

/// `pool.jsonl`: the id and origin of every record the round's student trained on.
fn write_pool(path: &Path, pool: &[Record], k: u32, refiners: &[String]) -> Result<(), RunError> {
    let mut out = String::new();
    for r in pool {
        let origin = match pool::origin(r, k, refiners) {
            Origin::Real => "real".to_string(),
            Origin::Refined => "refined".to_string(),
            Origin::Synthetic(_) => format!("synthetic-round-{}", r.lineage.round),
        };
        let line = serde_json::json!({ "id": r.id, "origin": origin, "source": r.lineage.source });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|error| {
            RunError::WorkDir(crate::pipeline::workdir::WorkDirError::Io {
                action: "cannot create",
                path: parent.to_path_buf(),
                error,
            })
        })?;
    }
    Ok(write_atomic(path, out.as_bytes())?)
}
