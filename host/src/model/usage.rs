//! Token accounting and the token budget of a model.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::ModelError;

/// Tokens of one or more requests, as the server reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
}

impl Usage {
    /// Prompt plus completion tokens.
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// Adds `other`.
    pub fn add(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// Tokens spent by one model during a run, checked against its budget.
///
/// The budget is checked before each request is sent, so a run overshoots it
/// by at most the requests already in flight (`concurrency` of them).
#[derive(Debug)]
pub struct Meter {
    budget: Option<u64>,
    prompt: AtomicU64,
    completion: AtomicU64,
}

impl Meter {
    /// A meter that starts at `prior` (what committed work already spent).
    pub fn new(budget: Option<u64>, prior: Usage) -> Meter {
        Meter {
            budget,
            prompt: AtomicU64::new(prior.prompt_tokens),
            completion: AtomicU64::new(prior.completion_tokens),
        }
    }

    /// Tokens spent so far.
    pub fn spent(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt.load(Ordering::Relaxed),
            completion_tokens: self.completion.load(Ordering::Relaxed),
        }
    }

    /// Fails once the budget is spent.
    pub fn check(&self, model: &str) -> Result<(), ModelError> {
        match self.budget {
            Some(budget) if self.spent().total() >= budget => {
                Err(ModelError::BudgetSpent { model: model.to_string(), spent: self.spent().total(), budget })
            }
            _ => Ok(()),
        }
    }

    /// Adds the tokens of a request.
    pub fn charge(&self, usage: Usage) {
        self.prompt.fetch_add(usage.prompt_tokens, Ordering::Relaxed);
        self.completion.fetch_add(usage.completion_tokens, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_counts_prior_work_and_stops_once_spent() {
        let meter = Meter::new(Some(100), Usage { prompt_tokens: 40, completion_tokens: 20 });
        assert!(meter.check("m").is_ok());
        meter.charge(Usage { prompt_tokens: 30, completion_tokens: 10 });
        let e = meter.check("m").expect_err("spent");
        assert!(e.is_fatal());
        assert!(e.to_string().contains("100 of 100 tokens"), "{e}");
        assert!(Meter::new(None, Usage::default()).check("m").is_ok());
    }
}
