//! `kiln::run`: the engine as a library call — what a service, a cluster
//! launcher or a test calls to run a pipeline file with its own options and
//! progress sink (the `kiln run` command goes through the same two steps,
//! [`Pipeline::load_with`] and [`run_rounds`] — the engine's run, then the
//! file's recursive rounds when it has any — so that it can print a file's
//! problems its own way before anything runs).

use std::path::Path;

use crate::pipeline::{BuildOptions, Diagnostics, Pipeline, RunError, RunOptions, RunSummary, run_rounds};
use crate::plugin::Sandbox;

/// Why [`run`] did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunFailure {
    /// The pipeline file has problems (every one of them); nothing ran.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// The run stopped; every chunk it committed is kept, and running again resumes.
    #[error(transparent)]
    Stopped(#[from] RunError),
}

/// Checks the pipeline file at `file` (its directories replaced by
/// `overrides`), loading its plugins into `sandbox`, then runs it with
/// `options` (fresh or resuming, progress to `options.progress`).
pub fn run(
    file: &Path,
    sandbox: &Sandbox,
    overrides: &BuildOptions,
    options: &RunOptions,
) -> Result<RunSummary, RunFailure> {
    let pipeline = Pipeline::load_with(file, sandbox, overrides).map_err(RunFailure::Invalid)?;
    Ok(run_rounds(pipeline, options)?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::pipeline::report::progress::{PhaseProgress, ProgressSink};
    use crate::pipeline::workdir::ChunkEntry;
    use crate::plugin::SandboxConfig;

    /// Counts the lines of committed chunks, as a service's event stream would.
    #[derive(Default)]
    struct Lines(Arc<AtomicU64>);

    impl ProgressSink for Lines {
        fn phase(&self, _: &[String], _: Option<u64>, _: u64) -> Box<dyn PhaseProgress> {
            Box::new(Lines(self.0.clone()))
        }
    }

    impl PhaseProgress for Lines {
        fn chunk_committed(&mut self, chunk: &ChunkEntry) {
            self.0.fetch_add(chunk.lines, Ordering::Relaxed);
        }
        fn finish(&mut self) {}
    }

    #[test]
    fn a_library_caller_runs_a_pipeline_with_its_own_progress_sink() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lines: String = ["a", "b", "a", "c"]
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{{\"id\":\"{i}\",\"text\":\"{t}\"}}\n"))
            .collect();
        std::fs::write(dir.path().join("in.jsonl"), lines).expect("write");
        let file = dir.path().join("p.toml");
        std::fs::write(
            &file,
            "[pipeline]\nname = \"lib\"\nchunk_size = 2\n[[input]]\npath = \"in.jsonl\"\n[[stage]]\nname = \"d\"\nkind = \"dedup\"\n[output]\ndir = \"out\"\n",
        )
        .expect("write");
        let sandbox = Sandbox::new(SandboxConfig { cache_dir: None, ..SandboxConfig::default() }).expect("sandbox");
        let seen = Arc::new(AtomicU64::new(0));
        let options = RunOptions { progress: Arc::new(Lines(seen.clone())), ..RunOptions::default() };
        let summary = run(&file, &sandbox, &BuildOptions::default(), &options).expect("runs");
        assert_eq!((summary.stats.kept, summary.stats.rejected), (3, 1));
        assert_eq!(seen.load(Ordering::Relaxed), 4, "the sink saw every committed line");

        std::fs::write(
            &file,
            "[pipeline]\nname = \"lib\"\n[[stage]]\nname = \"d\"\nkind = \"nope\"\n[output]\ndir = \"out\"\n",
        )
        .expect("write");
        match run(&file, &sandbox, &BuildOptions::default(), &options) {
            Err(RunFailure::Invalid(d)) => assert!(d.to_string().contains("unknown stage kind `nope`"), "{d}"),
            other => panic!("expected the file's problems, got {other:?}"),
        }
    }
}
