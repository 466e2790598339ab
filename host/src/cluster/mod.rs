//! Running a split run on the cluster engines its users already have.
//!
//! Kiln does not schedule machines itself: a run is split into tasks
//! (`pipeline::engine::shard`) and a launcher hands them to an engine — Slurm
//! job arrays ([`slurm`]), Kubernetes Indexed Jobs ([`k8s`]); `kiln launch
//! local` starts them as processes.

pub mod k8s;
pub mod slurm;

/// `word` quoted for a POSIX shell when it needs to be.
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./-=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
