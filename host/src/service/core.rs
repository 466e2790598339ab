//! The service itself: takes submissions, queues them fairly, runs them on a
//! fixed pool of workers through the engine's library API, and records every
//! change in the database so that a restarted service takes up where a
//! killed one stopped (a run resumes from its last committed chunk: the
//! engine's exactly-once guarantee).
//!
//! On disk, everything of a tenant is under `DATA/tenants/NAME/`: a run's
//! directory `runs/ID/` holds its `pipeline.toml`, its uploads, `work/` and
//! `out/`. The pipeline's own `work_dir` and `[output] dir` are replaced.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, watch};

use super::db::Db;
use super::error::ServiceError;
use super::fair_queue::FairQueue;
use super::isolation;
use super::progress::{LiveProgress, Progress};
use super::quotas::{self, RunBudget, Usage};
use super::runs::{Outcome, Run, Status};
use super::tenants::Tenant;
use crate::model::Secrets;
use crate::pipeline::stages::StageError;
use crate::pipeline::{BuildOptions, Diagnostics, Pipeline, RunError, RunOptions, run_rounds};
use crate::plugin::Sandbox;

/// How the service is set up.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Where tenants' runs and the SQLite database live.
    pub data_dir: PathBuf,
    /// A database URL (`postgres://…`, `sqlite://…`); the SQLite file in
    /// `data_dir` when `None`.
    pub database: Option<String>,
    /// Runs executed at once, across all tenants.
    pub workers: usize,
    /// The model servers and registries pipelines may name.
    pub allowed_urls: isolation::AllowedUrls,
}

/// A file uploaded with a pipeline, by its path relative to the run.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Relative path (`data/in.jsonl`, `plugins/filter.wasm`).
    pub path: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A run on a worker.
struct Live {
    tenant: String,
    cancel: Arc<AtomicBool>,
    progress: watch::Receiver<Progress>,
}

/// The running service.
pub struct Service {
    db: Db,
    config: ServiceConfig,
    sandbox: Sandbox,
    queue: Mutex<FairQueue>,
    wake: Notify,
    live: Mutex<HashMap<String, Live>>,
}

impl Service {
    /// Opens the database, requeues every run a previous service left
    /// queued or running, and starts the workers.
    pub async fn start(config: ServiceConfig, sandbox: Sandbox) -> Result<Arc<Service>, ServiceError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| ServiceError::io(&config.data_dir, e))?;
        let db = Db::open(config.database.as_deref(), &config.data_dir).await?;
        let service = Arc::new(Service {
            db,
            config,
            sandbox,
            queue: Mutex::new(FairQueue::default()),
            wake: Notify::new(),
            live: Mutex::new(HashMap::new()),
        });
        for run in service.db.unfinished_runs().await? {
            let Some(tenant) = service.db.tenant(&run.tenant).await? else { continue };
            tracing::info!(run = %run.id, tenant = %run.tenant, "taking up a run a previous service left {:?}", run.status);
            service.lock_queue().push(&tenant.name, tenant.weight, tenant.max_running, run.id);
        }
        for _ in 0..service.config.workers.max(1) {
            let service = service.clone();
            tokio::spawn(async move { service.work().await });
        }
        Ok(service)
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, FairQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `tenant`'s directory of run `id`.
    pub fn run_dir(&self, tenant: &str, id: &str) -> PathBuf {
        self.tenant_dir(tenant).join("runs").join(id)
    }

    /// Everything of `tenant` on disk.
    fn tenant_dir(&self, tenant: &str) -> PathBuf {
        self.config.data_dir.join("tenants").join(tenant)
    }

    /// `tenant`'s run `id`; another tenant's is not found, like one that never existed.
    pub async fn run(&self, tenant: &Tenant, id: &str) -> Result<Run, ServiceError> {
        self.db.run(&tenant.name, id).await?.ok_or_else(|| ServiceError::NotFound(format!("no run {id}")))
    }

    /// Refuses, naming the quota, while one of `tenant`'s budgets is spent.
    async fn check_budgets(&self, tenant: &Tenant) -> Result<(), ServiceError> {
        let today = self.db.usage_today(&tenant.name).await?;
        match tenant.quotas.spent(&tenant.name, &today, self.disk_used(&tenant.name).await) {
            Some(spent) => Err(ServiceError::Quota(spent)),
            None => Ok(()),
        }
    }

    /// Checks and queues a pipeline with its uploads. Refused before
    /// anything runs: over the queued-runs quota, paths that leave the run,
    /// and every error `kiln validate` would give.
    pub async fn submit(&self, tenant: &Tenant, pipeline: &str, uploads: Vec<Upload>) -> Result<Run, ServiceError> {
        let queued = self.db.count_runs(&tenant.name, Status::Queued).await?;
        if queued >= u64::from(tenant.max_queued) {
            return Err(ServiceError::Quota(format!(
                "quota `max_queued` of tenant `{}`: {queued} run(s) already waiting (limit {}); wait for one to start, or ask the operator to raise it",
                tenant.name, tenant.max_queued
            )));
        }
        self.check_budgets(tenant).await?;
        let granted = self.db.secret_names(&tenant.name).await?;
        let problems = isolation::check_pipeline(pipeline, &granted, &self.config.allowed_urls);
        if !problems.is_empty() {
            return Err(ServiceError::BadRequest(Diagnostics(problems).to_string()));
        }
        for upload in &uploads {
            check_upload_path(&upload.path)?;
        }
        let id = super::tokens::new_token()?[super::tokens::PREFIX.len()..][..24].to_string();
        let dir = self.run_dir(&tenant.name, &id);
        write_run_files(&dir, pipeline, &uploads)?;
        self.write_reviews(tenant, &dir, pipeline, &uploads).await?;
        let sandbox = self.sandbox.clone();
        let options = self.build_options(tenant, &dir, None).await?;
        let file = dir.join("pipeline.toml");
        let loaded = tokio::task::spawn_blocking(move || Pipeline::load_with(&file, &sandbox, &options))
            .await
            .map_err(|e| ServiceError::BadRequest(format!("validation stopped: {e}")))?;
        let pipeline = match loaded {
            Ok(pipeline) => pipeline,
            Err(diagnostics) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(ServiceError::BadRequest(relative_to_run(&dir, &diagnostics)));
            }
        };
        let run = self.db.insert_run(&id, &tenant.name, &pipeline.name).await?;
        self.lock_queue().push(&tenant.name, tenant.weight, tenant.max_running, id);
        self.wake.notify_one();
        Ok(run)
    }

    /// Writes `reviews/<run>.jsonl` into the run directory for every such
    /// path the pipeline names and did not upload, when `<run>` is one of the
    /// tenant's runs: the records reviewed there, labelled
    /// ([`review`](super::review)). Another tenant's run gives nothing, and
    /// the missing input is then reported like any other.
    async fn write_reviews(
        &self,
        tenant: &Tenant,
        dir: &Path,
        pipeline: &str,
        uploads: &[Upload],
    ) -> Result<(), ServiceError> {
        static NAMED: std::sync::LazyLock<Option<regex::Regex>> =
            std::sync::LazyLock::new(|| regex::Regex::new(r"reviews/([0-9a-f]{24})\.jsonl").ok());
        let Some(named) = NAMED.as_ref() else { return Ok(()) };
        for found in named.captures_iter(pipeline) {
            let (path, run) = (&found[0], &found[1]);
            if uploads.iter().any(|u| u.path == path) || self.db.run(&tenant.name, run).await?.is_none() {
                continue;
            }
            let jsonl = self.db.labelled_jsonl(&tenant.name, run).await?;
            let file = dir.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(|e| ServiceError::io(parent, e))?;
            }
            std::fs::write(&file, jsonl).map_err(|e| ServiceError::io(&file, e))?;
        }
        Ok(())
    }

    /// Cancels a queued run at once, a running one between chunks.
    pub async fn cancel(&self, tenant: &Tenant, id: &str) -> Result<Run, ServiceError> {
        let run = self.run(tenant, id).await?;
        if run.status.is_final() {
            return Err(ServiceError::Conflict(format!("run {id} is already {}", run.status.as_str())));
        }
        if run.status.is_waiting() {
            self.db.finish_run(id, Status::Cancelled, Some("cancelled while paused"), None).await?;
        } else if self.lock_queue().remove(&tenant.name, id) {
            self.db.finish_run(id, Status::Cancelled, Some("cancelled before it started"), None).await?;
        } else if let Some(live) = self.lock_live().get(id) {
            live.cancel.store(true, Ordering::Relaxed);
        }
        self.run(tenant, id).await
    }

    /// Queues a run that a spent quota paused (if the quota allows now) or
    /// that waits for review; it resumes from its last committed chunk.
    pub async fn resume(&self, tenant: &Tenant, id: &str) -> Result<Run, ServiceError> {
        let run = self.run(tenant, id).await?;
        if !run.status.is_waiting() {
            return Err(ServiceError::Conflict(format!("run {id} is {}, not paused", run.status.as_str())));
        }
        self.check_budgets(tenant).await?;
        if self.db.requeue_paused(&tenant.name, id).await? {
            self.lock_queue().push(&tenant.name, tenant.weight, tenant.max_running, id.to_string());
            self.wake.notify_one();
        }
        self.run(tenant, id).await
    }

    /// Bytes under `tenant`'s directory.
    pub async fn disk_used(&self, tenant: &str) -> u64 {
        let dir = self.tenant_dir(tenant);
        tokio::task::spawn_blocking(move || quotas::disk_bytes(&dir)).await.unwrap_or(0)
    }

    /// How `tenant`'s pipelines in `dir` are built: the run's own
    /// directories, the tenant's own store of registry plugins (what one
    /// tenant pulled, perhaps from a registry only it may reach, never runs
    /// for another by digest or remembered tag), its secrets, its plugin caps, and for run `id`
    /// the labels of its review queue (what its `review` stages apply, never
    /// a labels file: a new run has none).
    async fn build_options(&self, tenant: &Tenant, dir: &Path, id: Option<&str>) -> Result<BuildOptions, ServiceError> {
        let verdicts = match id {
            Some(id) => self.db.verdicts(&tenant.name, id).await?,
            None => Default::default(),
        };
        Ok(BuildOptions {
            plugin_store: Some(self.tenant_dir(&tenant.name).join("plugins")),
            review_labels: Some(Arc::new(verdicts)),
            work_dir: Some(dir.join("work")),
            output_dir: Some(dir.join("out")),
            secrets: Secrets::Given(Arc::new(self.db.secrets(&tenant.name).await?)),
            limit_caps: tenant.quotas.limit_caps(),
            ..BuildOptions::default()
        })
    }

    /// The live progress of a running run of `tenant`.
    pub fn progress(&self, tenant: &Tenant, id: &str) -> Option<watch::Receiver<Progress>> {
        self.lock_live().get(id).filter(|l| l.tenant == tenant.name).map(|l| l.progress.clone())
    }

    /// A worker: takes the next run the fair queue gives, runs it, repeats.
    async fn work(self: Arc<Self>) {
        loop {
            let notified = self.wake.notified();
            let next = self.lock_queue().next_run();
            let Some((tenant, id)) = next else {
                notified.await;
                continue;
            };
            if let Err(e) = self.execute(&tenant, &id).await {
                tracing::error!(run = %id, tenant = %tenant, "{e}");
                let _ = self.db.finish_run(&id, Status::Failed, Some(&e.to_string()), None).await;
            }
            self.lock_queue().finished(&tenant);
            // A slot of this tenant is free: another worker may take its next run.
            self.wake.notify_waiters();
            self.wake.notify_one();
        }
    }

    async fn execute(&self, tenant: &str, id: &str) -> Result<(), ServiceError> {
        let tenant =
            self.db.tenant(tenant).await?.ok_or_else(|| ServiceError::NotFound(format!("no tenant `{tenant}`")))?;
        self.db.mark_running(id).await?;
        let dir = self.run_dir(&tenant.name, id);
        let options = self.build_options(&tenant, &dir, Some(id)).await?;
        let cancel = Arc::new(AtomicBool::new(false));
        let today = self.db.usage_today(&tenant.name).await?;
        let budget = Arc::new(RunBudget::new(&tenant.name, &tenant.quotas, today, cancel.clone()));
        let (sink, progress, usage) = LiveProgress::new(budget.clone());
        let live = Live { tenant: tenant.name.clone(), cancel: cancel.clone(), progress };
        self.lock_live().insert(id.to_string(), live);
        let keeper = QuotaKeeper { db: self.db.clone(), tenant_dir: self.tenant_dir(&tenant.name), budget };
        let keeper = tokio::spawn(keeper.watch(usage));
        let sandbox = self.sandbox.clone();
        let result = tokio::task::spawn_blocking(move || -> Result<Outcome, Stop> {
            let pipeline = Pipeline::load_with(&dir.join("pipeline.toml"), &sandbox, &options)
                .map_err(|d| Stop::Failed(relative_to_run(&dir, &d)))?;
            let options = RunOptions { progress: Arc::new(sink), cancel, ..RunOptions::default() };
            match run_rounds(pipeline, &options) {
                Ok(summary) => Ok(Outcome {
                    kept: summary.stats.kept,
                    rejected: summary.stats.rejected,
                    quarantined: summary.stats.quarantined,
                }),
                Err(RunError::Cancelled) => Err(Stop::Cancelled),
                Err(RunError::Stage(StageError::AwaitingReview { stage, count, .. })) => Err(Stop::Review(format!(
                    "{count} record(s) at stage `{stage}` await review: label them in the review queue and resume \
                     (committed chunks are kept)"
                ))),
                Err(e) => Err(Stop::Failed(format!("{e:#}"))),
            }
        })
        .await;
        self.lock_live().remove(id);
        let paused = keeper.await.ok().and_then(|budget| budget.reason());
        match result {
            Ok(Ok(outcome)) => self.db.finish_run(id, Status::Done, None, Some(outcome)).await?,
            Ok(Err(Stop::Cancelled)) => match paused {
                Some(quota) => {
                    let message = format!("paused after its last committed chunk: {quota}");
                    self.db.pause_run(id, Status::Paused, &message).await?;
                    true
                }
                None => self.db.finish_run(id, Status::Cancelled, Some("cancelled while running"), None).await?,
            },
            Ok(Err(Stop::Review(message))) => {
                self.db.pause_run(id, Status::Review, &message).await?;
                true
            }
            Ok(Err(Stop::Failed(message))) => self.db.finish_run(id, Status::Failed, Some(&message), None).await?,
            Err(panic) => {
                self.db.finish_run(id, Status::Failed, Some(&format!("the run crashed: {panic}")), None).await?
            }
        };
        Ok(())
    }
}

/// Records a running run's usage as its chunks commit (and its wall time
/// every few seconds), and stops it after the chunk that spends a quota as
/// the database sees it (the tenant's other runs, wall time, disk).
struct QuotaKeeper {
    db: Db,
    tenant_dir: PathBuf,
    budget: Arc<RunBudget>,
}

impl QuotaKeeper {
    /// How often wall time is recorded while no chunk commits.
    const TICK: Duration = Duration::from_secs(2);

    /// Runs until the run's progress sink is dropped; returns the budget,
    /// which holds the quota that stopped the run, if one did.
    async fn watch(self, mut chunks: mpsc::UnboundedReceiver<Usage>) -> Arc<RunBudget> {
        let tenant = self.budget.tenant().to_string();
        let mut since = Instant::now();
        let mut tick = tokio::time::interval(Self::TICK);
        tick.tick().await;
        loop {
            let (mut used, chunk) = tokio::select! {
                got = chunks.recv() => match got {
                    Some(usage) => (usage, true),
                    None => break,
                },
                _ = tick.tick() => (Usage::default(), false),
            };
            used.wall_ms = since.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
            since = Instant::now();
            if let Err(e) = self.db.add_usage(&tenant, &used).await {
                tracing::error!(tenant = %tenant, "cannot record usage: {e}");
            }
            if let Some(reason) = self.spent(chunk).await {
                self.budget.stop(reason);
            }
        }
        let rest = Usage { wall_ms: since.elapsed().as_millis().try_into().unwrap_or(u64::MAX), ..Usage::default() };
        if let Err(e) = self.db.add_usage(&tenant, &rest).await {
            tracing::error!(tenant = %tenant, "cannot record usage: {e}");
        }
        self.budget
    }

    /// The quota spent now, if any (disk is measured only after a chunk).
    async fn spent(&self, after_chunk: bool) -> Option<String> {
        let quotas = self.budget.quotas();
        let today = self.db.usage_today(self.budget.tenant()).await.ok()?;
        let disk = if after_chunk && quotas.disk_mib.is_some() {
            let dir = self.tenant_dir.clone();
            tokio::task::spawn_blocking(move || quotas::disk_bytes(&dir)).await.unwrap_or(0)
        } else {
            0
        };
        quotas.spent(self.budget.tenant(), &today, disk)
    }
}

/// Diagnostics of a run's files, named relative to the run's directory (the
/// tenant never sees where the service keeps it).
fn relative_to_run(dir: &Path, diagnostics: &Diagnostics) -> String {
    diagnostics.to_string().replace(&format!("{}/", dir.display()), "")
}

/// Checks the path an upload is stored under: relative, plain, inside the run.
pub fn check_upload_path(path: &str) -> Result<(), ServiceError> {
    let bad = |why: &str| ServiceError::BadRequest(format!("upload `{}`: {why}", path.escape_default()));
    if path.is_empty() || path.len() > 200 {
        return Err(bad("give a relative path of 1 to 200 characters"));
    }
    if !path.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b)) {
        return Err(bad("use only letters, digits, `.`, `_`, `-` and `/`"));
    }
    let components: Vec<Component<'_>> = Path::new(path).components().collect();
    if !components.iter().all(|c| matches!(c, Component::Normal(_))) || path.ends_with('/') {
        return Err(bad("must be a relative path without `..` or `.` segments"));
    }
    if components.len() > 8 {
        return Err(bad("at most 8 directories deep"));
    }
    let first = components.first().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
    if ["pipeline.toml", "work", "out", "kiln.lock"].contains(&first.as_str()) {
        return Err(bad("this name is the service's (pipeline.toml, work/, out/, kiln.lock)"));
    }
    Ok(())
}

fn write_run_files(dir: &Path, pipeline: &str, uploads: &[Upload]) -> Result<(), ServiceError> {
    std::fs::create_dir_all(dir).map_err(|e| ServiceError::io(dir, e))?;
    let write = |path: &Path, bytes: &[u8]| -> Result<(), ServiceError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ServiceError::io(parent, e))?;
        }
        std::fs::write(path, bytes).map_err(|e| ServiceError::io(path, e))
    };
    write(&dir.join("pipeline.toml"), pipeline.as_bytes())?;
    for upload in uploads {
        write(&dir.join(&upload.path), &upload.bytes)?;
    }
    Ok(())
}

/// Why a run stopped before its end.
enum Stop {
    /// Cancelled by its tenant, or by a spent budget.
    Cancelled,
    /// A `review` stage holds records: the message says how many and where.
    Review(String),
    /// It failed: why.
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_paths_stay_inside_the_run() {
        for ok in ["in.jsonl", "data/in.jsonl", "plugins/my_filter.wasm"] {
            assert!(check_upload_path(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/../../b", "./a", "a b", "work/x", "pipeline.toml", "a/", "a\\b"] {
            assert!(check_upload_path(bad).is_err(), "{bad}");
        }
    }
}
