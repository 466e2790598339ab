//! The `openai` backend: a client for OpenAI-compatible servers (vLLM,
//! llama.cpp's server, Ollama, TGI, hosted APIs).
//!
//! One [`Client::complete`] call is one logical request: it is retried on 429
//! (waiting as long as `Retry-After` says), 408, 5xx, timeouts, lost
//! connections and bodies that are not a completion, with exponential backoff
//! and jitter (module `retry`), up to the model's `max_retries`. A 401 or 403
//! fails at once and stops the run: every request would fail the same way.
//! Other 4xx answers fail the one request. The API key is read from the
//! environment variable the pipeline names and never written anywhere: every
//! message made from a reply or a transport error is scrubbed of it (and of
//! the URL's credentials) by module `redact` before it goes anywhere.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::redact::{Redactor, display_url};
use super::retry::{Jitter, retry_after};
use super::spec::{Endpoint, OpenAiSettings, Sampling};
use super::{Message, ModelError, Usage};

/// A client bound to one `[models.<name>]` of backend `openai`.
#[derive(Debug)]
pub struct Client {
    model: String,
    url: String,
    /// `url` without credentials, for messages.
    shown_url: String,
    redactor: Redactor,
    settings: OpenAiSettings,
    key: Option<String>,
    http: reqwest::Client,
    jitter: Jitter,
}

/// The completions of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// One text per choice, in choice order.
    pub texts: Vec<String>,
    /// Tokens, as reported (or estimated when the server reports none).
    pub usage: Usage,
    /// Attempts it took.
    pub attempts: u32,
}

/// Why one attempt failed.
#[derive(Debug)]
enum Failure {
    Status { status: u16, message: String, retry_after: Option<Duration> },
    Timeout(String),
    Connection(String),
    Malformed(String),
}

impl Failure {
    /// The failure with the client's secrets scrubbed from its message. The
    /// messages of `Status` and `Malformed` come from a reply body, which
    /// [`Client::attempt`] scrubs whole before cutting it; transport
    /// errors (which can quote the URL, credentials included) are scrubbed here.
    fn scrubbed(self, redactor: &Redactor) -> Failure {
        match self {
            Failure::Timeout(m) => Failure::Timeout(redactor.scrub(&m)),
            Failure::Connection(m) => Failure::Connection(redactor.scrub(&m)),
            reply @ (Failure::Status { .. } | Failure::Malformed(_)) => reply,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            Failure::Status { status, .. } => matches!(status, 408 | 409 | 429) || *status >= 500,
            Failure::Timeout(_) | Failure::Connection(_) | Failure::Malformed(_) => true,
        }
    }
}

impl Client {
    /// A client for `settings` (the API key, if any, is in them).
    pub fn new(model: &str, settings: &OpenAiSettings) -> Result<Client, ModelError> {
        let key = settings.api_key.as_ref().map(|k| k.expose().to_string());
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ModelError::Internal(format!("cannot build an HTTP client: {e}")))?;
        let path = match settings.endpoint {
            Endpoint::Chat => "chat/completions",
            Endpoint::Completions => "completions",
        };
        let url = format!("{}/{path}", settings.base_url.trim_end_matches('/'));
        let redactor = Redactor::new(key.as_deref(), &settings.base_url);
        Ok(Client {
            model: model.to_string(),
            shown_url: display_url(&url),
            url,
            redactor,
            settings: settings.clone(),
            key,
            http,
            jitter: Jitter::new(),
        })
    }

    /// Asks for `n` completions of `messages`, retrying as the policy allows.
    pub async fn complete(
        &self,
        messages: &[Message],
        sampling: &Sampling,
        n: u32,
        seed: Option<u64>,
    ) -> Result<Answer, ModelError> {
        let body = self.body(messages, sampling, n, seed);
        let policy = &self.settings.retry;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let failure = match self.attempt(&body, n).await {
                Ok((texts, usage)) => return Ok(Answer { texts, usage, attempts }),
                Err(failure) => failure.scrubbed(&self.redactor),
            };
            if !failure.retryable() || attempts > policy.max_retries {
                return Err(self.error(failure, attempts));
            }
            let wait = policy.delay(
                attempts - 1,
                match &failure {
                    Failure::Status { retry_after, .. } => *retry_after,
                    _ => None,
                },
                self.jitter.next(),
            );
            tracing::debug!(model = %self.model, attempt = attempts, ?wait, "retrying: {failure:?}");
            tokio::time::sleep(wait).await;
        }
    }

    fn body(&self, messages: &[Message], sampling: &Sampling, n: u32, seed: Option<u64>) -> Value {
        let mut body = match self.settings.endpoint {
            Endpoint::Chat => json!({ "model": self.settings.model, "messages": messages }),
            Endpoint::Completions => {
                let prompt: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
                json!({ "model": self.settings.model, "prompt": prompt.join("\n\n") })
            }
        };
        let fields = [
            ("temperature", sampling.temperature.map(Value::from)),
            ("top_p", sampling.top_p.map(Value::from)),
            ("max_tokens", sampling.max_tokens.map(Value::from)),
            ("seed", seed.map(Value::from)),
            ("n", (n != 1).then(|| Value::from(n))),
            ("stop", (!sampling.stop.is_empty()).then(|| Value::from(sampling.stop.clone()))),
        ];
        if let Value::Object(map) = &mut body {
            for (name, value) in fields {
                if let Some(value) = value {
                    map.insert(name.to_string(), value);
                }
            }
        }
        body
    }

    async fn attempt(&self, body: &Value, n: u32) -> Result<(Vec<String>, Usage), Failure> {
        let mut request = self.http.post(&self.url).json(body);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let bytes = response.bytes().await.map_err(transport)?;
        // An error body is scrubbed whole before it is cut to a snippet, so
        // no part of a secret survives at the cut.
        let scrubbed = || self.redactor.scrub(&String::from_utf8_lossy(&bytes));
        if !status.is_success() {
            let message = error_message(scrubbed().as_bytes());
            return Err(Failure::Status { status: status.as_u16(), message, retry_after: wait });
        }
        parse_completion(&bytes, self.settings.endpoint, n).map_err(|_| {
            let message = parse_completion(scrubbed().as_bytes(), self.settings.endpoint, n).err();
            Failure::Malformed(message.unwrap_or_else(|| "the answer is not a completion".into()))
        })
    }

    fn error(&self, failure: Failure, attempts: u32) -> ModelError {
        let (model, url) = (self.model.clone(), self.shown_url.clone());
        match failure {
            Failure::Status { status: status @ (401 | 403), message, .. } => ModelError::Auth {
                model,
                url,
                status,
                message,
                key_env: self
                    .settings
                    .api_key
                    .as_ref()
                    .map_or_else(|| "(none: set api_key_env)".into(), |k| k.name.clone()),
            },
            Failure::Status { status, message, .. } => ModelError::Http { model, url, status, attempts, message },
            Failure::Timeout(message) => ModelError::Unreachable {
                model,
                url,
                what: "timed out waiting for",
                attempts,
                timeout: self.settings.timeout,
                message,
            },
            Failure::Connection(message) => ModelError::Unreachable {
                model,
                url,
                what: "lost or could not open the connection to",
                attempts,
                timeout: self.settings.timeout,
                message,
            },
            Failure::Malformed(message) => ModelError::Malformed { model, url, attempts, message },
        }
    }
}

fn transport(e: reqwest::Error) -> Failure {
    // The full chain says what happened (refused, reset, closed early...).
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    if e.is_timeout() { Failure::Timeout(message) } else { Failure::Connection(message) }
}

/// The `error.message` of an OpenAI-style error body, or a snippet of it.
fn error_message(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message").or_else(|| v.get("error")).or_else(|| v.get("message")).and_then(Value::as_str)
    });
    match message {
        Some(m) => snippet(m),
        None => snippet(&String::from_utf8_lossy(body)),
    }
}

fn snippet(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None if text.is_empty() => "(empty body)".into(),
        None => text.to_string(),
    }
}

#[derive(Deserialize)]
struct CompletionBody {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<UsageBody>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    message: Option<ChoiceMessage>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct UsageBody {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

/// The texts and usage in a successful body, or what is wrong with it.
fn parse_completion(body: &[u8], endpoint: Endpoint, n: u32) -> Result<(Vec<String>, Usage), String> {
    let parsed: CompletionBody =
        serde_json::from_slice(body).map_err(|e| format!("{e} in {:?}", snippet(&String::from_utf8_lossy(body))))?;
    let mut choices = parsed.choices;
    if choices.len() != n as usize {
        return Err(format!("asked for {n} choice(s), got {}", choices.len()));
    }
    choices.sort_by_key(|c| c.index.unwrap_or(0));
    let mut texts = Vec::with_capacity(choices.len());
    for (i, c) in choices.into_iter().enumerate() {
        let text = match endpoint {
            Endpoint::Chat => c.message.and_then(|m| m.content),
            Endpoint::Completions => c.text,
        };
        texts.push(text.ok_or_else(|| format!("choice {i} has no text"))?);
    }
    let usage = match parsed.usage {
        Some(u) => Usage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens },
        // No usage reported: estimate about four bytes per token, so budgets still bind.
        None => Usage { prompt_tokens: 0, completion_tokens: texts.iter().map(|t| (t.len() as u64).div_ceil(4)).sum() },
    };
    Ok((texts, usage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_and_completion_bodies_are_parsed() {
        let chat = br#"{"choices":[{"index":1,"message":{"content":"b"}},{"index":0,"message":{"content":"a"}}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#;
        let (texts, usage) = parse_completion(chat, Endpoint::Chat, 2).expect("valid");
        assert_eq!(texts, ["a", "b"]);
        assert_eq!(usage.total(), 5);
        let text = br#"{"choices":[{"text":"hello there"}]}"#;
        let (texts, usage) = parse_completion(text, Endpoint::Completions, 1).expect("valid");
        assert_eq!(texts, ["hello there"]);
        assert_eq!(usage.completion_tokens, 3, "estimated");
    }

    #[test]
    fn broken_bodies_say_what_is_wrong() {
        let e = parse_completion(br#"{"choices":[{"message":{"con"#, Endpoint::Chat, 1).expect_err("truncated");
        assert!(e.contains("EOF"), "{e}");
        let e = parse_completion(b"<html>oops</html>", Endpoint::Chat, 1).expect_err("not json");
        assert!(e.contains("<html>"), "{e}");
        let e = parse_completion(br#"{"choices":[]}"#, Endpoint::Chat, 1).expect_err("no choices");
        assert!(e.contains("got 0"), "{e}");
    }

    #[test]
    fn error_bodies_are_summarised() {
        assert_eq!(error_message(br#"{"error":{"message":"slow down","type":"rate_limit"}}"#), "slow down");
        assert_eq!(error_message(b""), "(empty body)");
        assert!(error_message(&[b'x'; 500]).ends_with('…'));
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let status = |status| Failure::Status { status, message: String::new(), retry_after: None };
        assert!(status(429).retryable());
        assert!(status(503).retryable());
        assert!(!status(400).retryable());
        assert!(!status(401).retryable());
        assert!(Failure::Malformed(String::new()).retryable());
    }
}
