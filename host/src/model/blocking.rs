//! How the in-process backends (a `model` plugin, a student) run: each batch
//! of prompts is one blocking call on a worker thread, at most `concurrency`
//! at once, and no batch starts once the model's token budget is spent.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::{Meter, ModelError};

/// Runs every batch's `work` (on a blocking thread, holding a permit of
/// `limit`) and returns each batch's members with its result, in no
/// particular order. A batch met by a spent budget fails with that error; a
/// worker that panics fails its batch with an internal error.
pub async fn run_batches<M, A, F>(
    model: &str,
    meter: &Meter,
    limit: &Arc<Semaphore>,
    batches: impl IntoIterator<Item = (Vec<M>, F)>,
) -> Vec<(Vec<M>, Result<A, ModelError>)>
where
    M: Send + 'static,
    A: Send + 'static,
    F: FnOnce() -> Result<A, ModelError> + Send + 'static,
{
    let mut out = Vec::new();
    let mut calls = Vec::new();
    for (members, work) in batches {
        if let Err(e) = meter.check(model) {
            out.push((members, Err(e)));
            continue;
        }
        let limit = limit.clone();
        calls.push(async move {
            let permit = limit.acquire_owned().await;
            let result = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                work()
            })
            .await
            .unwrap_or_else(|e| Err(ModelError::Internal(e.to_string())));
            (members, result)
        });
    }
    out.extend(futures::future::join_all(calls).await);
    out
}
