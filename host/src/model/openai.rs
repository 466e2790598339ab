//! The `openai` backend: a client for OpenAI-compatible servers (vLLM,
//! llama.cpp's server, Ollama, TGI, hosted APIs).
//!
//! One [`Client::complete`] call is one logical request: it is retried on 429
//! (waiting as long as `Retry-After` says), 408, 5xx, timeouts, lost
//! connections and bodies that are not a completion, with exponential backoff
//! and jitter (module `retry`), up to the model's `max_retries`. A 401 or 403
//! fails at once and stops the run: every request would fail the same way.
//! Other 4xx answers fail the one request, and so does a 5xx whose message
//! says the server's chat template failed (every retry would fail alike).
//! An answer that parses but cannot be used — no choices, a choice stopped by
//! the server's content filter, a choice without text — fails the request at
//! once too ([`ModelError::Unusable`]); its tokens are counted. The API key is read from the
//! environment variable the pipeline names and never written anywhere: every
//! message made from a reply or a transport error is scrubbed of it (and of
//! the URL's credentials) by module `redact` before it goes anywhere.
//!
//! Quirks of real servers, each detected and said once in the log:
//! - a server that ignores `n` (llama.cpp's Python server answers one choice
//!   whatever `n` says): the missing samples are asked for one request each,
//!   each with its own seed, from then on for every prompt of the run
//!   (counted as `separate_samples` in `stats.json`);
//! - a choice cut at `max_tokens` (finish reason `length`) comes back flagged;
//! - `system_prompt = "merge"` folds system messages into the first user
//!   message, for chat templates that drop them (Gemma's);
//! - `structured_output` sends the plugin's answer schema as OpenAI's
//!   `response_format` `json_schema` (OpenAI, vLLM, llama.cpp's
//!   `llama-server`) or as `json_object` with a `schema` (llama-cpp-python).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::redact::{Redactor, display_url};
use super::retry::{Jitter, retry_after};
use super::spec::{Endpoint, OpenAiSettings, Sampling, StructuredOutput, SystemPrompt};
use super::{Failed, Message, ModelError, Reply, Sample, Usage};

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
    /// The server answered one choice when asked for several.
    ignores_n: AtomicBool,
}

/// What one job asks the server for.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// The prompt.
    pub messages: &'a [Message],
    /// Sampling parameters.
    pub sampling: &'a Sampling,
    /// Completions wanted.
    pub n: u32,
    /// The seed of the first.
    pub seed: Option<u64>,
    /// The answer schema to constrain decoding to, if any.
    pub schema: Option<&'a Value>,
}

/// Why one attempt failed.
#[derive(Debug)]
enum Failure {
    Status {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    Timeout(String),
    Connection(String),
    Malformed(String),
    /// A completion body that cannot be used; asking again gets the same.
    Unusable {
        message: String,
        usage: Usage,
    },
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
            reply @ (Failure::Status { .. } | Failure::Malformed(_) | Failure::Unusable { .. }) => reply,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            Failure::Status { status, message, .. } => {
                matches!(status, 408 | 409 | 429) || (*status >= 500 && !is_template_error(message))
            }
            Failure::Timeout(_) | Failure::Connection(_) | Failure::Malformed(_) => true,
            Failure::Unusable { .. } => false,
        }
    }

    /// Tokens the server billed for the attempt.
    fn usage(&self) -> Usage {
        match self {
            Failure::Unusable { usage, .. } => *usage,
            _ => Usage::default(),
        }
    }
}

/// Whether a server's error message says its chat template failed (a
/// message the template cannot render): a property of the prompt, not a
/// passing fault.
fn is_template_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("template") && !m.contains("temporar")
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
            ignores_n: AtomicBool::new(false),
        })
    }

    /// Asks for `ask.n` completions of `ask.messages` (constrained to
    /// `ask.schema` when given), retrying each request as the policy allows.
    /// A server that answers fewer choices than asked is asked for the rest
    /// one request at a time. What failed requests billed is in the [`Failed`].
    pub async fn complete(&self, ask: Ask<'_>) -> Result<Reply, Failed> {
        let merged;
        let ask = match self.settings.system_prompt {
            SystemPrompt::Keep => ask,
            SystemPrompt::Merge => {
                merged = merge_system(ask.messages);
                Ask { messages: &merged[..], ..ask }
            }
        };
        let n = ask.n;
        // What the requests cost is counted as they go, failed ones included.
        let mut answer = Reply::default();
        if n > 1 && self.ignores_n.load(Ordering::Relaxed) {
            self.one_by_one(ask, &mut answer).await?;
            return Ok(answer);
        }
        let body = self.body(ask);
        let samples = self.request(&body, n, &mut answer).await?;
        answer.samples = samples;
        if (answer.samples.len() as u32) < n {
            if !self.ignores_n.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    model = %self.model,
                    "{} answered {} choice(s) when asked for n = {n}: it ignores `n`, so each further sample is \
                     asked for in a request of its own, with its own seed (counted as separate_samples)",
                    self.shown_url,
                    answer.samples.len()
                );
            }
            self.one_by_one(ask, &mut answer).await?;
        }
        Ok(answer)
    }

    /// Asks for the samples `answer` lacks up to `ask.n`, one request each;
    /// sample `i` is drawn with a seed of its own.
    async fn one_by_one(&self, ask: Ask<'_>, answer: &mut Reply) -> Result<(), Failed> {
        while (answer.samples.len() as u32) < ask.n {
            let i = answer.samples.len() as u32;
            let seed = ask.seed.map(|s| if i == 0 { s } else { super::slot_seed(s, Some(u64::from(i))) });
            let body = self.body(Ask { n: 1, seed, ..ask });
            let mut samples = self.request(&body, 1, answer).await?;
            if i > 0 {
                answer.separate_samples += 1;
            }
            answer.samples.append(&mut samples);
        }
        Ok(())
    }

    /// One request with its retries; adds what it cost to `answer`. Up to
    /// `n` choices come back (fewer from a server that ignores `n`).
    async fn request(&self, body: &Value, n: u32, answer: &mut Reply) -> Result<Vec<Sample>, Failed> {
        let policy = &self.settings.retry;
        let mut attempts = 0;
        loop {
            attempts += 1;
            answer.requests += 1;
            if attempts > 1 {
                answer.retries += 1;
            }
            let failure = match self.attempt(body, n).await {
                Ok((samples, usage)) => {
                    answer.usage.add(usage);
                    return Ok(samples);
                }
                Err(failure) => failure.scrubbed(&self.redactor),
            };
            answer.usage.add(failure.usage());
            if !failure.retryable() || attempts > policy.max_retries {
                let spent = Reply { samples: Vec::new(), ..std::mem::take(answer) };
                return Err(Failed { error: Box::new(self.error(failure, attempts)), spent });
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

    fn body(&self, Ask { messages, sampling, n, seed, schema }: Ask<'_>) -> Value {
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
            ("response_format", schema.and_then(|schema| self.response_format(schema))),
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

    /// The `response_format` asking for answers in `schema`, in the form the
    /// model declares.
    fn response_format(&self, schema: &Value) -> Option<Value> {
        Some(match self.settings.structured_output? {
            StructuredOutput::JsonSchema => {
                json!({ "type": "json_schema", "json_schema": { "name": "answer", "schema": schema, "strict": true } })
            }
            StructuredOutput::JsonObject => json!({ "type": "json_object", "schema": schema }),
        })
    }

    async fn attempt(&self, body: &Value, n: u32) -> Result<(Vec<Sample>, Usage), Failure> {
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
        parse_completion(&bytes, self.settings.endpoint, n).map_err(|failure| match failure {
            // The message of an unusable answer is made from the body: scrub it.
            Failure::Unusable { message, usage } => Failure::Unusable { message: self.redactor.scrub(&message), usage },
            _ => match parse_completion(scrubbed().as_bytes(), self.settings.endpoint, n) {
                Err(Failure::Malformed(message)) => Failure::Malformed(message),
                _ => Failure::Malformed("the answer is not a completion".into()),
            },
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
            Failure::Unusable { message, .. } => ModelError::Unusable { model, url, message },
        }
    }
}

/// `messages` with every system message folded into the first user message
/// (system text first, a blank line apart); a prompt with no user message
/// gets one made of the system text.
fn merge_system(messages: &[Message]) -> Vec<Message> {
    let system: Vec<&str> = messages.iter().filter(|m| m.role == "system").map(|m| m.content.as_str()).collect();
    if system.is_empty() {
        return messages.to_vec();
    }
    let system = system.join("\n\n");
    let mut out: Vec<Message> = messages.iter().filter(|m| m.role != "system").cloned().collect();
    match out.iter_mut().find(|m| m.role == "user") {
        Some(user) => user.content = format!("{system}\n\n{}", user.content),
        None => out.insert(0, Message { role: "user".into(), content: system }),
    }
    out
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
    #[serde(default)]
    finish_reason: Option<String>,
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

/// The samples and usage in a successful body (up to `n` choices: a server
/// that ignores `n` sends one), or what is wrong with it: `Malformed` for a
/// body that is not a completion (worth asking again), `Unusable` for one
/// that is but cannot be used.
fn parse_completion(body: &[u8], endpoint: Endpoint, n: u32) -> Result<(Vec<Sample>, Usage), Failure> {
    let parsed: CompletionBody = serde_json::from_slice(body)
        .map_err(|e| Failure::Malformed(format!("{e} in {:?}", snippet(&String::from_utf8_lossy(body)))))?;
    let mut choices = parsed.choices;
    let reported =
        parsed.usage.map(|u| Usage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens });
    let unusable = |message: String, texts: &[String]| Failure::Unusable {
        message,
        usage: reported.unwrap_or_else(|| estimate(texts)),
    };
    if choices.is_empty() {
        return Err(unusable("the answer has no choices (an empty `choices` list)".into(), &[]));
    }
    if choices.len() > n as usize {
        return Err(unusable(format!("asked for {n} choice(s), got {}", choices.len()), &[]));
    }
    choices.sort_by_key(|c| c.index.unwrap_or(0));
    let mut samples = Vec::with_capacity(choices.len());
    let mut texts = Vec::with_capacity(choices.len());
    let mut problem = None;
    for (i, c) in choices.into_iter().enumerate() {
        let text = match endpoint {
            Endpoint::Chat => c.message.and_then(|m| m.content),
            Endpoint::Completions => c.text,
        };
        let finish = c.finish_reason.as_deref().unwrap_or("stop");
        match (text, finish) {
            (_, "content_filter") => {
                problem.get_or_insert(format!(
                    "the server's content filter stopped choice {i} (finish reason `content_filter`)"
                ));
            }
            (None, _) => {
                problem.get_or_insert(format!("choice {i} has no text (finish reason `{finish}`)"));
            }
            (Some(text), _) => {
                texts.push(text.clone());
                samples.push(Sample { text, truncated: finish == "length" });
            }
        }
    }
    if let Some(message) = problem {
        return Err(unusable(message, &texts));
    }
    // No usage reported: estimate about four bytes per token, so budgets still bind.
    Ok((samples, reported.unwrap_or_else(|| estimate(&texts))))
}

/// About four bytes per token.
fn estimate(texts: &[String]) -> Usage {
    Usage { prompt_tokens: 0, completion_tokens: texts.iter().map(|t| (t.len() as u64).div_ceil(4)).sum() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(samples: &[Sample]) -> Vec<&str> {
        samples.iter().map(|s| s.text.as_str()).collect()
    }

    fn failure(body: &[u8], n: u32) -> Failure {
        match parse_completion(body, Endpoint::Chat, n) {
            Ok(_) => panic!("{} parsed", String::from_utf8_lossy(body)),
            Err(f) => f,
        }
    }

    #[test]
    fn chat_and_completion_bodies_are_parsed() {
        let chat = br#"{"choices":[{"index":1,"message":{"content":"b"}},{"index":0,"message":{"content":"a"}}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#;
        let (samples, usage) = parse_completion(chat, Endpoint::Chat, 2).expect("valid");
        assert_eq!(texts(&samples), ["a", "b"]);
        assert_eq!(usage.total(), 5);
        let text = br#"{"choices":[{"text":"hello there","finish_reason":"length"}]}"#;
        let (samples, usage) = parse_completion(text, Endpoint::Completions, 1).expect("valid");
        assert_eq!(samples, [Sample { text: "hello there".into(), truncated: true }]);
        assert_eq!(usage.completion_tokens, 3, "estimated");
        let one = br#"{"choices":[{"message":{"content":"a"},"finish_reason":"stop"}]}"#;
        let (samples, _) = parse_completion(one, Endpoint::Chat, 3).expect("a server that ignores n");
        assert_eq!(samples, [Sample::whole("a")]);
    }

    #[test]
    fn broken_bodies_say_what_is_wrong() {
        let Failure::Malformed(e) = failure(br#"{"choices":[{"message":{"con"#, 1) else { panic!("truncated") };
        assert!(e.contains("EOF"), "{e}");
        let Failure::Malformed(e) = failure(b"<html>oops</html>", 1) else { panic!("not json") };
        assert!(e.contains("<html>"), "{e}");
    }

    #[test]
    fn unusable_answers_are_not_retried_and_their_tokens_count() {
        let usage = r#""usage":{"prompt_tokens":30,"completion_tokens":0}"#;
        let empty = format!(r#"{{"choices":[],{usage}}}"#);
        let filtered =
            format!(r#"{{"choices":[{{"message":{{"content":""}},"finish_reason":"content_filter"}}],{usage}}}"#);
        let textless = r#"{"choices":[{"message":{"content":null},"finish_reason":"stop"}]}"#;
        for (body, says) in
            [(empty.as_str(), "no choices"), (filtered.as_str(), "content filter"), (textless, "has no text")]
        {
            let f = failure(body.as_bytes(), 1);
            assert!(!f.retryable(), "{body}");
            let Failure::Unusable { message, usage } = f else { panic!("{body}: not unusable") };
            assert!(message.contains(says), "{message}");
            if body.contains("usage") {
                assert_eq!(usage.prompt_tokens, 30);
            }
        }
        let two = br#"{"choices":[{"message":{"content":"a"}},{"message":{"content":"b"}}]}"#;
        assert!(matches!(failure(two, 1), Failure::Unusable { .. }), "more choices than asked");
    }

    #[test]
    fn system_messages_fold_into_the_first_user_message() {
        let m = |role: &str, content: &str| Message { role: role.into(), content: content.into() };
        let merged =
            merge_system(&[m("system", "Be brief."), m("user", "Hi"), m("assistant", "Hello"), m("user", "Bye")]);
        assert_eq!(merged, [m("user", "Be brief.\n\nHi"), m("assistant", "Hello"), m("user", "Bye")]);
        assert_eq!(merge_system(&[m("system", "Only")]), [m("user", "Only")]);
        assert_eq!(merge_system(&[m("user", "x")]), [m("user", "x")]);
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
        let template = Failure::Status {
            status: 500,
            message: "Jinja2 template error: System role not supported".into(),
            retry_after: None,
        };
        assert!(!template.retryable(), "a chat template that fails fails every time");
    }
}
