//! What can go wrong when asking a model for a completion.

use std::time::Duration;

/// A model request that failed, in terms a user can act on. Each names the
/// model; the API key never appears in one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// The server answered with an error status that retrying cannot fix, or
    /// kept failing until the retries ran out.
    #[error("model `{model}`: HTTP {status} from {url} after {attempts} attempt(s): {message}")]
    Http {
        /// Model name.
        model: String,
        /// Endpoint URL.
        url: String,
        /// Last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The server's error message, shortened.
        message: String,
    },
    /// The server refused the API key (401/403): every request would fail.
    #[error(
        "model `{model}`: {url} rejected the credentials (HTTP {status}): {message}; check the key in ${key_env} (the key itself is never shown)"
    )]
    Auth {
        /// Model name.
        model: String,
        /// Endpoint URL.
        url: String,
        /// 401 or 403.
        status: u16,
        /// The server's message.
        message: String,
        /// Name of the variable holding the key (or `(none)`).
        key_env: String,
    },
    /// No answer in time, or no connection, on every attempt.
    #[error("model `{model}`: {what} {url} after {attempts} attempt(s) (timeout {timeout:?} each): {message}")]
    Unreachable {
        /// Model name.
        model: String,
        /// Endpoint URL.
        url: String,
        /// `timed out waiting for` or `cannot connect to`.
        what: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The per-request timeout.
        timeout: Duration,
        /// The transport error.
        message: String,
    },
    /// The server's body was not a completion (malformed or truncated JSON,
    /// missing choices) on every attempt.
    #[error("model `{model}`: {url} sent an answer that is not a completion after {attempts} attempt(s): {message}")]
    Malformed {
        /// Model name.
        model: String,
        /// Endpoint URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// What was wrong, with a snippet of the body.
        message: String,
    },
    /// The server answered, but with nothing usable (no choices, a choice
    /// its content filter stopped, a choice without text): not retried, as
    /// asking again gets the same; the tokens it billed are counted.
    #[error("model `{model}`: {url} answered, but {message} (not retried: asking again would get the same)")]
    Unusable {
        /// Model name.
        model: String,
        /// Endpoint URL.
        url: String,
        /// What is wrong with the answer.
        message: String,
    },
    /// The model was asked to answer in the JSON Schema its plugin declared
    /// and did not (a server that ignores the request, or an answer cut at
    /// `max_tokens`).
    #[error("model `{model}`: {message}")]
    SchemaMismatch {
        /// Model name.
        model: String,
        /// What does not match, and where.
        message: String,
        /// The answer (at most [`KEPT_ANSWER_BYTES`]), for the quarantine file.
        answer: String,
    },
    /// The model's token budget is spent: the run stops cleanly.
    #[error(
        "model `{model}`: token budget spent ({spent} of {budget} tokens); committed work is kept — raise `token_budget` and run again to resume"
    )]
    BudgetSpent {
        /// Model name.
        model: String,
        /// Tokens spent.
        spent: u64,
        /// The budget.
        budget: u64,
    },
    /// The embedded model plugin failed on this prompt.
    #[error("model `{model}` (plugin {plugin}): {message}")]
    Plugin {
        /// Model name.
        model: String,
        /// `name@version`.
        plugin: String,
        /// The plugin's error.
        message: String,
    },
    /// The `student` model failed to decode this prompt.
    #[error("model `{model}` (student {checkpoint}): {message}")]
    Student {
        /// Model name.
        model: String,
        /// The checkpoint file.
        checkpoint: String,
        /// What failed.
        message: String,
    },
    /// The model's configuration cannot work (e.g. its key variable is unset).
    #[error("model `{model}`: {message}")]
    Config {
        /// Model name.
        model: String,
        /// What to fix.
        message: String,
    },
    /// The plugin built a prompt with no text in it; nothing was sent.
    #[error("model `{model}`: plugin {plugin} built an empty prompt (no message has any text); nothing was sent")]
    EmptyPrompt {
        /// Model name.
        model: String,
        /// The plugin, `name@version`.
        plugin: String,
    },
    /// The plugin declared an answer schema that is not a JSON Schema.
    #[error(
        "model `{model}`: plugin {plugin} declared an answer schema that cannot be used ({message}); nothing was sent"
    )]
    BadAnswerSchema {
        /// Model name.
        model: String,
        /// The plugin, `name@version`.
        plugin: String,
        /// What is wrong with it.
        message: String,
    },
    /// A bug or a runtime failure in Kiln itself.
    #[error("internal error while asking a model: {0}")]
    Internal(String),
}

/// The most of a model's answer kept with an error on a record (4 KiB).
pub const KEPT_ANSWER_BYTES: usize = 4096;

/// `answer` cut to at most [`KEPT_ANSWER_BYTES`] at a character boundary,
/// with `…` when cut.
pub fn kept_answer(answer: &str) -> String {
    if answer.len() <= KEPT_ANSWER_BYTES {
        return answer.to_string();
    }
    let mut end = KEPT_ANSWER_BYTES - '…'.len_utf8();
    while !answer.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &answer[..end])
}

impl ModelError {
    /// The model's answer the error is about, when there is one to keep.
    pub fn answer(&self) -> Option<&str> {
        match self {
            ModelError::SchemaMismatch { answer, .. } => Some(answer),
            _ => None,
        }
    }

    /// Whether the whole run must stop (every further request would fail the
    /// same way) rather than quarantine one record.
    pub fn is_fatal(&self) -> bool {
        matches!(self, ModelError::Auth { .. } | ModelError::BudgetSpent { .. } | ModelError::Config { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_answers_are_capped_at_a_character_boundary() {
        assert_eq!(kept_answer("short"), "short");
        let long = "é".repeat(3000);
        let kept = kept_answer(&long);
        assert!(kept.len() <= KEPT_ANSWER_BYTES && kept.ends_with('…'), "{}", kept.len());
    }
}
