//! What each process of a run brings down from a work directory on object
//! storage ([`crate::objects::mirror`]): only what its role reads, so that a
//! task of a thousand does not download the other 999 tasks' chunks.
//!
//! Small files of the split run — manifests, markers, task stats, the input
//! counts — are pulled by every role: every role decides from them. The bulk
//! is pulled by role:
//!
//! | bulk                                         | pulled by                                  |
//! |----------------------------------------------|--------------------------------------------|
//! | a task's own directory                       | that task                                  |
//! | every task's kept chunks of a phase a training or evaluation stage ended | the tasks after it |
//! | every task's kept chunks                     | the jobs, the merge                        |
//! | every task's rejected and quarantined chunks | the merge                                  |
//! | band `B`'s keys of stage `S`                 | band merge `B` of `S`                      |
//! | ids and edges of stage `S`                   | the clustering of `S`                      |
//! | decisions for task `R`                       | task `R`                                   |
//! | `models/` (what jobs trained)                | tasks, jobs, the merge                     |
//! | the launch's logs                            | the launcher, which appends to them        |
//!
//! A one-process run pulls its own files, not a split run's beside them.

use crate::pipeline::build::Pipeline;
use crate::pipeline::engine::executor::RunError;
use crate::pipeline::engine::shard::Shard;
use crate::pipeline::workdir::{WorkDirError, path_component};

/// A process of a run, by what it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A one-process run (`kiln run`): everything.
    Whole,
    /// A one-process run started over (`kiln run --fresh`): only what says
    /// whose the work directory is ([`start_over`] deletes the rest).
    Fresh,
    /// A task of a split run.
    Task(Shard),
    /// Band merge `band` of dedup stage `stage`.
    Band {
        /// How many tasks.
        world: u32,
        /// The dedup stage.
        stage: String,
        /// The band.
        band: u32,
    },
    /// The clustering of dedup stage `stage`.
    Cluster {
        /// How many tasks.
        world: u32,
        /// The dedup stage.
        stage: String,
    },
    /// A barrier stage's job.
    Job {
        /// How many tasks.
        world: u32,
    },
    /// The merge of the tasks' outputs.
    Merge {
        /// How many tasks.
        world: u32,
    },
    /// A launcher deciding what is left to run: markers only.
    Launcher {
        /// How many tasks.
        world: u32,
    },
}

impl Role {
    fn world(&self) -> Option<u32> {
        match self {
            Role::Whole | Role::Fresh => None,
            Role::Task(shard) => Some(shard.world),
            Role::Band { world, .. }
            | Role::Cluster { world, .. }
            | Role::Job { world }
            | Role::Merge { world }
            | Role::Launcher { world } => Some(*world),
        }
    }

    /// Whether this role reads `rel`, a file's path relative to the work
    /// directory (`shared_phases`: the phases ended by a training or
    /// evaluation stage, whose kept records every task reads after it).
    pub fn wants(&self, rel: &str, shared_phases: &[usize]) -> bool {
        if *self == Role::Fresh {
            return rel == crate::pipeline::workdir::OWNER_FILE;
        }
        let Some(world) = self.world() else {
            // A one-process run's own files, not a split run's beside them.
            return !rel.starts_with("tasks/");
        };
        let parts: Vec<&str> = rel.split('/').collect();
        let name = parts.last().copied().unwrap_or_default();
        match parts.as_slice() {
            ["models", ..] => matches!(self, Role::Task(_) | Role::Job { .. } | Role::Merge { .. }),
            // The input counts; the logs for the launcher, which appends to them.
            ["tasks", file] => !file.ends_with(".log") || matches!(self, Role::Launcher { .. }),
            ["tasks", task, rest @ ..] if task.starts_with("staged-of-") => {
                *task == format!("staged-of-{world:05}") && self.wants_global(rest)
            }
            ["tasks", task, rest @ ..] => {
                if !task.ends_with(&format!("-of-{world:05}")) {
                    return false;
                }
                if let Role::Task(shard) = self
                    && *task == shard.label()
                {
                    return true;
                }
                self.wants_of_other_task(rest, name, shared_phases)
            }
            // A one-process run's own files, beside the tasks of a split run.
            _ => false,
        }
    }

    /// Under `tasks/staged-of-WORLD/`: markers for all, edges for the
    /// clustering, decisions for their task.
    fn wants_global(&self, rest: &[&str]) -> bool {
        let name = rest.last().copied().unwrap_or_default();
        let stage = rest.first().copied().unwrap_or_default();
        if name.ends_with(".edges") {
            return matches!(self, Role::Cluster { stage: s, .. } if path_component(s) == stage);
        }
        if let Some(rank) = name.strip_prefix("decisions-").and_then(|n| n.strip_suffix(".jsonl")) {
            return matches!(self, Role::Task(shard) if format!("{:05}", shard.rank) == rank);
        }
        true
    }

    /// Under another task's directory (`rest`, after `tasks/RANK-of-WORLD/`).
    fn wants_of_other_task(&self, rest: &[&str], name: &str, shared_phases: &[usize]) -> bool {
        let phase = match rest {
            ["chunks", _] => Some(0),
            [dir, "chunks", _] => dir.strip_prefix("phase-").and_then(|k| k.parse::<usize>().ok()),
            _ => None,
        };
        if let Some(phase) = phase {
            let kept = name.ends_with(".kept.jsonl");
            return match self {
                Role::Merge { .. } => true,
                Role::Job { .. } => kept,
                Role::Task(_) => kept && shared_phases.contains(&phase),
                _ => false,
            };
        }
        if let ["staged", stage, file] = rest {
            if *file == "done" {
                return true;
            }
            if *file == "ids.jsonl" {
                return matches!(self, Role::Cluster { stage: s, .. } if path_component(s) == *stage);
            }
            if let Some(band) = file.strip_prefix("band-").and_then(|f| f.strip_suffix(".keys")) {
                return matches!(self, Role::Band { stage: s, band: b, .. }
                    if path_component(s) == *stage && format!("{b:03}") == band);
            }
            return false;
        }
        // Manifests, `out/stats.json`, `out/done`, the owner file.
        true
    }
}

/// Brings down from the work directory's object storage what `role` reads
/// (nothing to do when the work directory is local).
pub fn pull(pipeline: &Pipeline, role: &Role) -> Result<(), RunError> {
    let Some(mirror) = &pipeline.work_store else { return Ok(()) };
    let shared_phases: Vec<usize> = crate::pipeline::engine::staged::task_phases(pipeline, true)
        .iter()
        .enumerate()
        .filter(|(_, phase)| phase.barrier(pipeline).is_some())
        .map(|(k, _)| k)
        .collect();
    mirror
        .pull(&|rel| role.wants(rel, &shared_phases))
        .map_err(|message| WorkDirError::Store { path: mirror.prefix().to_string().into(), message })?;
    Ok(())
}

/// Deletes from the work directory's object storage what a one-process run
/// started over removes ([`crate::pipeline::workdir::cleared_on_fresh`]),
/// without bringing it down first (nothing to do when it is local).
pub fn start_over(pipeline: &Pipeline) -> Result<(), RunError> {
    let Some(mirror) = &pipeline.work_store else { return Ok(()) };
    // Never another pipeline's work directory: claimed (its owner file
    // checked, as the run will) before anything is deleted.
    drop(crate::pipeline::workdir::WorkDir::claim(&pipeline.work_dir, &pipeline.owner())?);
    mirror
        .remove_top_level(&crate::pipeline::workdir::cleared_on_fresh)
        .map_err(|message| WorkDirError::Store { path: mirror.prefix().to_string().into(), message })?;
    Ok(())
}

/// Puts what changed in the work directory's scratch copy (a process's last
/// step; nothing to do when the work directory is local).
pub fn flush(pipeline: &Pipeline) -> Result<(), RunError> {
    pipeline.work_store.as_deref().map_or(Ok(()), flush_store)
}

/// Puts what changed in the scratch copy `store` keeps.
pub fn flush_store(store: &crate::objects::mirror::Attached) -> Result<(), RunError> {
    store.flush().map_err(|message| WorkDirError::Store { path: store.prefix().to_string().into(), message })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: [&str; 8] = [
        "tasks/input-counts.json",
        "tasks/00001-of-00002/manifest.json",
        "tasks/00001-of-00002/phase-1/manifest.json",
        "tasks/00001-of-00002/out/done",
        "tasks/00001-of-00002/staged/near/done",
        "tasks/staged-of-00002/near/band-003.done",
        "tasks/staged-of-00002/near/cluster/done",
        "tasks/staged-of-00002/quality/job.done",
    ];

    #[test]
    fn every_role_reads_the_small_files_of_its_split_and_no_other() {
        let roles = [
            Role::Task(Shard { rank: 0, world: 2 }),
            Role::Band { world: 2, stage: "near".into(), band: 3 },
            Role::Cluster { world: 2, stage: "near".into() },
            Role::Job { world: 2 },
            Role::Merge { world: 2 },
            Role::Launcher { world: 2 },
        ];
        for role in &roles {
            for rel in SMALL {
                assert!(role.wants(rel, &[]), "{role:?} {rel}");
            }
            assert!(!role.wants("tasks/00001-of-00004/manifest.json", &[0]), "{role:?}: another split");
            assert!(!role.wants("tasks/staged-of-00004/near/cluster/done", &[0]), "{role:?}: another split");
            let launcher = matches!(role, Role::Launcher { .. });
            assert_eq!(role.wants("tasks/00001-of-00002.log", &[0]), launcher, "{role:?}: logs");
            assert!(!role.wants("chunks/00000000.kept.jsonl", &[0]), "{role:?}: a one-process run's chunks");
        }
        assert!(Role::Whole.wants("chunks/00000000.kept.jsonl", &[]));
        assert!(!Role::Fresh.wants("chunks/00000000.kept.jsonl", &[]), "started over: not brought down");
        assert!(Role::Fresh.wants("kiln-workdir.json", &[]));
        assert!(!Role::Whole.wants("tasks/00000-of-00002/manifest.json", &[]), "a split run beside it");
    }

    #[test]
    fn the_bulk_goes_only_to_the_roles_that_read_it() {
        let task0 = Role::Task(Shard { rank: 0, world: 2 });
        let task1 = Role::Task(Shard { rank: 1, world: 2 });
        let band3 = Role::Band { world: 2, stage: "near".into(), band: 3 };
        let cluster = Role::Cluster { world: 2, stage: "near".into() };
        let merge = Role::Merge { world: 2 };
        let job = Role::Job { world: 2 };
        let launcher = Role::Launcher { world: 2 };
        let own = "tasks/00000-of-00002/phase-1/chunks/00000003.rejected.jsonl";
        assert!(task0.wants(own, &[]));
        assert!(!task1.wants(own, &[0]));
        assert!(merge.wants(own, &[]));
        assert!(!launcher.wants(own, &[]));
        let kept = "tasks/00001-of-00002/chunks/00000003.kept.jsonl";
        assert!(!task0.wants(kept, &[]));
        assert!(task0.wants(kept, &[0]), "after a barrier a task reads every task's records");
        let later = "tasks/00001-of-00002/phase-2/chunks/00000003.kept.jsonl";
        assert!(!task0.wants(later, &[0]), "of the phase the barrier ended only");
        assert!(task0.wants(later, &[0, 2]) && job.wants(later, &[0]));
        assert!(job.wants(kept, &[]));
        assert!(!band3.wants(kept, &[0]));
        let keys = "tasks/00001-of-00002/staged/near/band-003.keys";
        assert!(band3.wants(keys, &[]));
        assert!(!Role::Band { world: 2, stage: "near".into(), band: 4 }.wants(keys, &[]));
        assert!(!Role::Band { world: 2, stage: "exact".into(), band: 3 }.wants(keys, &[]));
        assert!(!cluster.wants(keys, &[]));
        assert!(cluster.wants("tasks/00001-of-00002/staged/near/ids.jsonl", &[]));
        assert!(cluster.wants("tasks/staged-of-00002/near/band-003.edges", &[]));
        assert!(!merge.wants("tasks/staged-of-00002/near/band-003.edges", &[]));
        let decisions = "tasks/staged-of-00002/near/cluster/decisions-00001.jsonl";
        assert!(task1.wants(decisions, &[]));
        assert!(!task0.wants(decisions, &[]));
        assert!(task0.wants("models/quality/classifier.safetensors", &[]));
        assert!(!launcher.wants("models/quality/classifier.safetensors", &[]));
    }
}
