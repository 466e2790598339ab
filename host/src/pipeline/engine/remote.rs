//! What each process of a run brings down from a work directory on object
//! storage ([`crate::objects::mirror`]): only what its role reads, so that a
//! task of a thousand does not download the other 999 tasks' chunks.
//!
//! Small files — manifests, markers, reports, the input counts, the owner
//! file — are always pulled: every role decides from them. The bulk is
//! pulled by role:
//!
//! | bulk                                   | pulled by                                     |
//! |----------------------------------------|-----------------------------------------------|
//! | a task's own directory                 | that task                                     |
//! | every task's kept chunks               | the jobs, the merge, tasks after a barrier    |
//! | every task's rejected/quarantine chunks| the merge                                     |
//! | band `B`'s keys of stage `S`           | band merge `B` of `S`                         |
//! | ids, edges of stage `S`                | the clustering of `S`                         |
//! | decisions for task `R`                 | task `R`                                      |
//! | `models/` (what jobs trained)          | tasks, jobs, the merge                        |
//!
//! A one-process run pulls everything; a launcher only the small files.

use crate::pipeline::build::Pipeline;
use crate::pipeline::engine::executor::RunError;
use crate::pipeline::engine::shard::Shard;
use crate::pipeline::workdir::{WorkDirError, path_component};

/// A process of a run, by what it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A one-process run (`kiln run`): everything.
    Whole,
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
            Role::Whole => None,
            Role::Task(shard) => Some(shard.world),
            Role::Band { world, .. }
            | Role::Cluster { world, .. }
            | Role::Job { world }
            | Role::Merge { world }
            | Role::Launcher { world } => Some(*world),
        }
    }

    /// Whether this role reads `rel`, a file's path relative to the work
    /// directory (`has_barrier`: whether tasks read every task's records
    /// after a barrier).
    pub fn wants(&self, rel: &str, has_barrier: bool) -> bool {
        let Some(world) = self.world() else { return true };
        let parts: Vec<&str> = rel.split('/').collect();
        let name = parts.last().copied().unwrap_or_default();
        match parts.as_slice() {
            ["models", ..] => matches!(self, Role::Task(_) | Role::Job { .. } | Role::Merge { .. }),
            ["tasks", file] => !file.ends_with(".log"),
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
                self.wants_of_other_task(rest, name, has_barrier)
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
    fn wants_of_other_task(&self, rest: &[&str], name: &str, has_barrier: bool) -> bool {
        let in_chunks = rest.len() >= 2 && rest[rest.len() - 2] == "chunks";
        if in_chunks {
            let kept = name.ends_with(".kept.jsonl");
            return match self {
                Role::Merge { .. } => true,
                Role::Job { .. } => kept,
                Role::Task(_) => kept && has_barrier,
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
    let has_barrier = pipeline.stages.iter().any(|s| s.is_barrier());
    mirror
        .pull(&|rel| role.wants(rel, has_barrier))
        .map_err(|message| WorkDirError::Store { path: pipeline.work_dir.clone(), message })?;
    Ok(())
}

/// Puts what changed in the work directory's scratch copy (a process's last
/// step; nothing to do when the work directory is local).
pub fn flush(pipeline: &Pipeline) -> Result<(), RunError> {
    if pipeline.work_store.is_none() {
        return Ok(());
    }
    crate::objects::mirror::flush(&pipeline.work_dir)
        .map_err(|message| WorkDirError::Store { path: pipeline.work_dir.clone(), message })?;
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
                assert!(role.wants(rel, false), "{role:?} {rel}");
            }
            assert!(!role.wants("tasks/00001-of-00004/manifest.json", true), "{role:?}: another split");
            assert!(!role.wants("tasks/staged-of-00004/near/cluster/done", true), "{role:?}: another split");
            assert!(!role.wants("tasks/00001-of-00002.log", true), "{role:?}: logs");
            assert!(!role.wants("chunks/00000000.kept.jsonl", true), "{role:?}: a one-process run's chunks");
        }
        assert!(Role::Whole.wants("chunks/00000000.kept.jsonl", false));
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
        assert!(task0.wants(own, false));
        assert!(!task1.wants(own, true));
        assert!(merge.wants(own, false));
        assert!(!launcher.wants(own, false));
        let kept = "tasks/00001-of-00002/chunks/00000003.kept.jsonl";
        assert!(!task0.wants(kept, false));
        assert!(task0.wants(kept, true), "after a barrier a task reads every task's records");
        assert!(job.wants(kept, false));
        assert!(!band3.wants(kept, true));
        let keys = "tasks/00001-of-00002/staged/near/band-003.keys";
        assert!(band3.wants(keys, false));
        assert!(!Role::Band { world: 2, stage: "near".into(), band: 4 }.wants(keys, false));
        assert!(!Role::Band { world: 2, stage: "exact".into(), band: 3 }.wants(keys, false));
        assert!(!cluster.wants(keys, false));
        assert!(cluster.wants("tasks/00001-of-00002/staged/near/ids.jsonl", false));
        assert!(cluster.wants("tasks/staged-of-00002/near/band-003.edges", false));
        assert!(!merge.wants("tasks/staged-of-00002/near/band-003.edges", false));
        let decisions = "tasks/staged-of-00002/near/cluster/decisions-00001.jsonl";
        assert!(task1.wants(decisions, false));
        assert!(!task0.wants(decisions, false));
        assert!(task0.wants("models/quality/classifier.safetensors", false));
        assert!(!launcher.wants("models/quality/classifier.safetensors", false));
    }
}
