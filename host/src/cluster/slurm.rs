//! Running a split run's steps on Slurm: job arrays in a chain, then a merge job.
//!
//! `kiln launch slurm` submits each step of the run that has not finished
//! as one job array (`sbatch --array=INDICES`, `SLURM_ARRAY_TASK_ID` as the
//! rank or band) depending on the step before (`--dependency=afterok`) —
//! the tasks, and for each dedup stage its band merges, its clustering and
//! the tasks again — and the merge after the last, then watches `squeue`
//! until all have left the queue. What finished is read from the
//! tasks' own completion markers, not from Slurm's accounting (which a
//! cluster may not keep): a failed piece is reported with the end of its
//! log, jobs whose dependency can never be satisfied are cancelled, and
//! running the command again submits only what did not finish.
//!
//! Slurm is driven through its command-line tools, as its users do: there is
//! no stable Rust API, and `sbatch`/`squeue`/`scancel` are what every site has.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::shell_quote;

/// How a Slurm launch went wrong.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// A Slurm command could not be started or failed.
    #[error("`{command}` failed: {message} (is Slurm installed and its controller reachable?)")]
    Command {
        /// The command.
        command: String,
        /// What it said.
        message: String,
    },
    /// The job script could not be written.
    #[error("cannot write {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

/// What to submit.
#[derive(Debug, Clone)]
pub struct Submission {
    /// A name for the jobs (`kiln-<pipeline>`).
    pub name: String,
    /// The steps, in order: each a job array that depends on the one before.
    pub steps: Vec<ArrayJob>,
    /// The command line of the merge, which depends on the last step.
    pub merge: Vec<String>,
    /// Where the scripts and logs go.
    pub dir: PathBuf,
    /// `--partition`, if any.
    pub partition: Option<String>,
    /// More `sbatch` arguments (`--time=…`, `--mem=…`, `--gres=gpu:1`).
    pub sbatch_args: Vec<String>,
}

/// One step: a job array.
#[derive(Debug, Clone)]
pub struct ArrayJob {
    /// Names its script (`LABEL.sh`) and its jobs.
    pub label: String,
    /// The array indices to run (a step with none is not submitted).
    pub indices: Vec<u32>,
    /// The command line of one element, with `{index}` where its index goes.
    pub command: Vec<String>,
    /// Its log file name, with `%a` for the index; several steps may share
    /// one (each appends).
    pub log: String,
    /// More `sbatch` arguments for this step alone (a GPU for a training job).
    pub sbatch_args: Vec<String>,
}

/// The jobs a submission made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jobs {
    /// The job arrays submitted: the step's label and the job id.
    pub steps: Vec<(String, String)>,
    /// The merge job.
    pub merge: String,
}

impl Jobs {
    /// Every job id, the merge's last.
    pub fn ids(&self) -> Vec<&str> {
        self.steps.iter().map(|(_, id)| id.as_str()).chain([self.merge.as_str()]).collect()
    }
}

/// Submits the steps, each after the one before, and the merge after them.
pub fn submit(s: &Submission) -> Result<Jobs, SlurmError> {
    std::fs::create_dir_all(&s.dir).map_err(|error| SlurmError::Io { path: s.dir.clone(), error })?;
    let common = |extra: &[String]| {
        let mut args: Vec<String> = vec!["--parsable".into()];
        if let Some(p) = &s.partition {
            args.push(format!("--partition={p}"));
        }
        args.extend(s.sbatch_args.iter().cloned());
        args.extend(extra.iter().cloned());
        args
    };
    let mut steps = Vec::new();
    let mut after: Option<String> = None;
    for step in s.steps.iter().filter(|step| !step.indices.is_empty()) {
        let script = s.dir.join(format!("{}.sh", step.label));
        let line = step
            .command
            .iter()
            .map(|w| shell_quote(w).replace("'{index}'", "\"$SLURM_ARRAY_TASK_ID\""))
            .collect::<Vec<_>>();
        let text = format!(
            "#!/bin/sh\n# One piece of a split Kiln run ({}); its index is the array index.\nexec {}\n",
            step.label,
            line.join(" ")
        );
        std::fs::write(&script, text).map_err(|error| SlurmError::Io { path: script.clone(), error })?;
        let indices: Vec<String> = step.indices.iter().map(u32::to_string).collect();
        let mut extra = vec![
            format!("--array={}", indices.join(",")),
            format!("--job-name={}-{}", s.name, step.label),
            format!("--output={}", s.dir.join(&step.log).display()),
            "--open-mode=append".into(),
        ];
        if let Some(id) = &after {
            extra.push(format!("--dependency=afterok:{id}"));
        }
        extra.extend(step.sbatch_args.iter().cloned());
        extra.push(script.display().to_string());
        let id = job_id(&run("sbatch", &common(&extra))?);
        steps.push((step.label.clone(), id.clone()));
        after = Some(id);
    }
    let merge_line: Vec<String> = s.merge.iter().map(|w| shell_quote(w)).collect();
    let mut extra =
        vec![format!("--job-name={}-merge", s.name), format!("--output={}", s.dir.join("merge-%j.log").display())];
    if let Some(id) = &after {
        extra.push(format!("--dependency=afterok:{id}"));
    }
    extra.push(format!("--wrap=exec {}", merge_line.join(" ")));
    let merge = job_id(&run("sbatch", &common(&extra))?);
    Ok(Jobs { steps, merge })
}

/// A job's state in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// Job id (`123_4` for an array task).
    pub id: String,
    /// `PENDING`, `RUNNING`, …
    pub state: String,
    /// Why it waits (`Dependency`, `DependencyNeverSatisfied`, …).
    pub reason: String,
}

/// The jobs of `jobs` still in the queue.
pub fn queued(jobs: &Jobs) -> Result<Vec<Queued>, SlurmError> {
    let ids = jobs.ids();
    let text = run("squeue", &["-h".into(), "-j".into(), ids.join(","), "-o".into(), "%i|%T|%r".into()]).or_else(
        |e| match e {
            // squeue refuses ids that have all left the queue.
            SlurmError::Command { ref message, .. } if message.contains("Invalid job id") => Ok(String::new()),
            e => Err(e),
        },
    )?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut parts = l.split('|');
            Some(Queued {
                id: parts.next()?.trim().to_string(),
                state: parts.next()?.trim().to_string(),
                reason: parts.next().unwrap_or("").trim().to_string(),
            })
        })
        .collect())
}

/// The jobs of `jobs` that can never run — the first in the chain whose
/// dependency can never be satisfied, and every job after it — once no job
/// before it is still queued (`None` otherwise).
pub fn never_runnable(jobs: &Jobs, queue: &[Queued]) -> Option<Vec<String>> {
    let chain = jobs.ids();
    // An array element is `ID_INDEX` or `ID_[RANGE]`.
    let queued = |id: &str| queue.iter().any(|q| q.id.split('_').next() == Some(id));
    let stuck = chain.iter().position(|id| {
        queue.iter().any(|q| q.id.split('_').next() == Some(*id) && q.reason.contains("DependencyNeverSatisfied"))
    })?;
    if chain[..stuck].iter().any(|id| queued(id)) {
        return None;
    }
    Some(chain[stuck..].iter().filter(|id| queued(id)).map(|id| id.to_string()).collect())
}

/// Cancels job `id`.
pub fn cancel(id: &str) -> Result<(), SlurmError> {
    run("scancel", &[id.to_string()]).map(|_| ())
}

/// How long to wait between two looks at the queue.
pub const POLL: Duration = Duration::from_secs(2);

fn run(program: &str, args: &[String]) -> Result<String, SlurmError> {
    let shown = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| SlurmError::Command { command: shown.clone(), message: e.to_string() })?;
    if !out.status.success() {
        let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(SlurmError::Command { command: shown, message });
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// `sbatch --parsable` prints `ID` or `ID;CLUSTER`.
fn job_id(out: &str) -> String {
    out.trim().split(';').next().unwrap_or_default().to_string()
}

/// The log of element `index` of a step whose log is `pattern` (`%a` for the index), under `dir`.
pub fn log_of(dir: &Path, pattern: &str, index: u32) -> PathBuf {
    dir.join(pattern.replace("%a", &index.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_step_cancels_what_comes_after_it_once_nothing_before_it_runs() {
        let jobs = Jobs { steps: vec![("a".into(), "16".into()), ("b".into(), "17".into())], merge: "18".into() };
        let q = |id: &str, reason: &str| Queued { id: id.into(), state: "PENDING".into(), reason: reason.into() };
        let stuck = vec![q("17_[0-3]", "DependencyNeverSatisfied"), q("18", "Dependency")];
        assert_eq!(never_runnable(&jobs, &stuck), Some(vec!["17".to_string(), "18".to_string()]));
        let running =
            [vec![Queued { id: "16_2".into(), state: "RUNNING".into(), reason: "None".into() }], stuck].concat();
        assert_eq!(never_runnable(&jobs, &running), None, "an earlier step still runs");
        assert_eq!(never_runnable(&jobs, &[q("17_[0-3]", "Dependency")]), None);
    }

    #[test]
    fn words_are_quoted_for_the_shell_and_the_rank_is_left_to_slurm() {
        assert_eq!(shell_quote("/a/b.toml"), "/a/b.toml");
        assert_eq!(shell_quote("it's here"), r"'it'\''s here'");
        assert_eq!(shell_quote("{index}").replace("'{index}'", "\"$SLURM_ARRAY_TASK_ID\""), "\"$SLURM_ARRAY_TASK_ID\"");
        assert_eq!(log_of(Path::new("/l"), "task-%a.log", 3), Path::new("/l/task-3.log"));
        assert_eq!(job_id("123;cluster\n"), "123");
    }
}
