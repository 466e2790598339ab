//! Publishing a finished run's outputs to object storage: the last step of
//! `kiln run` and of the merge of a split run, when `[output] dir` (or
//! `--out`) is an `s3://` prefix. The outputs are assembled locally first, as
//! for every run, so that publishing is a copy that can always be done again.

use super::executor::RunSummary;
use super::run_error::RunError;

/// Publishes the outputs `summary` assembled to `prefix`, the pipeline's
/// [`output_prefix`](crate::pipeline::Pipeline::output_prefix), when it has one
/// ([`crate::objects::publish`]: `stats.json` last).
pub fn publish(prefix: Option<&crate::objects::ObjectUrl>, mut summary: RunSummary) -> Result<RunSummary, RunError> {
    if let Some(prefix) = prefix {
        let published = crate::objects::publish::publish(&summary.output_dir, prefix).map_err(|message| {
            RunError::Publish { prefix: prefix.to_string(), dir: summary.output_dir.clone(), message }
        })?;
        tracing::info!(objects = published.objects, bytes = published.bytes, "published the outputs to {prefix}");
        summary.published = Some(prefix.clone());
    }
    Ok(summary)
}
