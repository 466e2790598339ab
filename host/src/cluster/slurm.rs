//! Running a split run's tasks on Slurm: a job array, then a merge job.
//!
//! `kiln launch slurm` submits the tasks that have not finished as one job
//! array (`sbatch --array=RANKS`, `SLURM_ARRAY_TASK_ID` as the rank) and the
//! merge as a job that depends on it (`--dependency=afterok`), then watches
//! `squeue` until both have left the queue. What finished is read from the
//! tasks' own completion markers, not from Slurm's accounting (which a
//! cluster may not keep): a failed task is reported with the end of its log,
//! a merge whose dependency can never be satisfied is cancelled, and running
//! the command again submits only the ranks that did not finish.
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
    /// The ranks to run.
    pub ranks: Vec<u32>,
    /// The command line of one task, with `{rank}` where the rank goes.
    pub task: Vec<String>,
    /// The command line of the merge.
    pub merge: Vec<String>,
    /// Where the scripts and logs go.
    pub dir: PathBuf,
    /// `--partition`, if any.
    pub partition: Option<String>,
    /// More `sbatch` arguments (`--time=…`, `--mem=…`, `--gres=gpu:1`).
    pub sbatch_args: Vec<String>,
}

/// The jobs a submission made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jobs {
    /// The job array of the tasks (`None` when every task had finished).
    pub tasks: Option<String>,
    /// The merge job.
    pub merge: String,
}

/// Submits the tasks and the merge.
pub fn submit(s: &Submission) -> Result<Jobs, SlurmError> {
    std::fs::create_dir_all(&s.dir).map_err(|error| SlurmError::Io { path: s.dir.clone(), error })?;
    let script = s.dir.join("task.sh");
    let task_line =
        s.task.iter().map(|w| shell_quote(w).replace("'{rank}'", "\"$SLURM_ARRAY_TASK_ID\"")).collect::<Vec<_>>();
    let text = format!(
        "#!/bin/sh\n# One task of a split Kiln run; the rank is the array index.\nexec {}\n",
        task_line.join(" ")
    );
    std::fs::write(&script, text).map_err(|error| SlurmError::Io { path: script.clone(), error })?;
    let common = |extra: &[String]| {
        let mut args: Vec<String> = vec!["--parsable".into()];
        if let Some(p) = &s.partition {
            args.push(format!("--partition={p}"));
        }
        args.extend(s.sbatch_args.iter().cloned());
        args.extend(extra.iter().cloned());
        args
    };
    let tasks = if s.ranks.is_empty() {
        None
    } else {
        let ranks: Vec<String> = s.ranks.iter().map(u32::to_string).collect();
        let args = common(&[
            format!("--array={}", ranks.join(",")),
            format!("--job-name={}", s.name),
            format!("--output={}", s.dir.join("task-%a.log").display()),
            script.display().to_string(),
        ]);
        Some(job_id(&run("sbatch", &args)?))
    };
    let merge_line: Vec<String> = s.merge.iter().map(|w| shell_quote(w)).collect();
    let mut extra =
        vec![format!("--job-name={}-merge", s.name), format!("--output={}", s.dir.join("merge-%j.log").display())];
    if let Some(id) = &tasks {
        extra.push(format!("--dependency=afterok:{id}"));
    }
    extra.push(format!("--wrap=exec {}", merge_line.join(" ")));
    let merge = job_id(&run("sbatch", &common(&extra))?);
    Ok(Jobs { tasks, merge })
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
    let ids: Vec<&str> = jobs.tasks.iter().map(String::as_str).chain([jobs.merge.as_str()]).collect();
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

/// The log of task `rank` under `dir`.
pub fn task_log(dir: &Path, rank: u32) -> PathBuf {
    dir.join(format!("task-{rank}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_shell_and_the_rank_is_left_to_slurm() {
        assert_eq!(shell_quote("/a/b.toml"), "/a/b.toml");
        assert_eq!(shell_quote("it's here"), r"'it'\''s here'");
        assert_eq!(shell_quote("{rank}").replace("'{rank}'", "\"$SLURM_ARRAY_TASK_ID\""), "\"$SLURM_ARRAY_TASK_ID\"");
        assert_eq!(job_id("123;cluster\n"), "123");
    }
}
