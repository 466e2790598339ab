//! The parsed generation request ([`ChatRequest`]) that responders see, and
//! its parsing from the JSON bodies of `/v1/chat/completions` and
//! `/v1/completions` (a completion's `prompt` becomes one user message).

use serde::Deserialize;

/// The largest `n` accepted; more is a `400`.
pub const MAX_CHOICES: u32 = 128;

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `system`, `user`, `assistant`, ...: whatever the client sent.
    pub role: String,
    /// The text; content parts of type `text` are joined with newlines, others dropped.
    pub content: String,
}

/// A generation request, as a [`Responder`](crate::Responder) sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The model asked for (echoed back in the response).
    pub model: String,
    /// The conversation; for `/v1/completions`, one `user` message holding the prompt.
    pub messages: Vec<Message>,
    /// Sampling temperature, if sent.
    pub temperature: Option<f64>,
    /// Nucleus-sampling mass, if sent.
    pub top_p: Option<f64>,
    /// Most completion tokens (words here) per choice: `max_completion_tokens`
    /// if sent, else `max_tokens`. At least 1 when present.
    pub max_tokens: Option<u32>,
    /// Sampling seed, if sent.
    pub seed: Option<i64>,
    /// Number of choices, 1 to [`MAX_CHOICES`]; 1 when not sent.
    pub n: u32,
    /// Stop strings (a single string is a list of one; empty strings are dropped).
    pub stop: Vec<String>,
}

impl ChatRequest {
    /// The content of the last `user` message, if any.
    pub fn last_user_message(&self) -> Option<&str> {
        self.messages.iter().rev().find(|message| message.role == "user").map(|message| message.content.as_str())
    }

    /// Parses the body of a `POST /v1/chat/completions`.
    pub fn from_chat_body(body: &[u8]) -> Result<Self, BadRequest> {
        let wire: WireRequest = parse_json(body)?;
        let messages = wire.messages.clone().ok_or_else(|| BadRequest::new("missing field `messages`", "messages"))?;
        if messages.is_empty() {
            return Err(BadRequest::new("`messages` must hold at least one message", "messages"));
        }
        let messages = messages.into_iter().map(WireMessage::into_message).collect();
        wire.into_request(messages)
    }

    /// Parses the body of a `POST /v1/completions`; the prompt becomes one `user` message.
    pub fn from_completion_body(body: &[u8]) -> Result<Self, BadRequest> {
        let wire: WireRequest = parse_json(body)?;
        let prompt = match wire.prompt.clone() {
            None => return Err(BadRequest::new("missing field `prompt`", "prompt")),
            Some(Prompt::One(prompt)) => prompt,
            Some(Prompt::Many(mut prompts)) if prompts.len() == 1 => prompts.remove(0),
            Some(Prompt::Many(prompts)) => {
                return Err(BadRequest::new(
                    format!("batched prompts are not supported ({} sent); send one prompt per request", prompts.len()),
                    "prompt",
                ));
            }
        };
        wire.into_request(vec![Message { role: "user".into(), content: prompt }])
    }
}

/// Why a request body was refused (answered `400` with an OpenAI-style error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BadRequest {
    /// What is wrong, for the client.
    pub message: String,
    /// The request field at fault, when known.
    pub param: Option<&'static str>,
}

impl BadRequest {
    fn new(message: impl Into<String>, param: &'static str) -> Self {
        BadRequest { message: message.into(), param: Some(param) }
    }
}

fn parse_json(body: &[u8]) -> Result<WireRequest, BadRequest> {
    serde_json::from_slice(body)
        .map_err(|err| BadRequest { message: format!("the request body is not a valid request: {err}"), param: None })
}

/// The fields of both endpoints' bodies that the mock reads; others are ignored.
#[derive(Debug, Clone, Deserialize)]
struct WireRequest {
    model: String,
    messages: Option<Vec<WireMessage>>,
    prompt: Option<Prompt>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    seed: Option<i64>,
    n: Option<u32>,
    stop: Option<Stop>,
    #[serde(default)]
    stream: bool,
}

impl WireRequest {
    fn into_request(self, messages: Vec<Message>) -> Result<ChatRequest, BadRequest> {
        if self.stream {
            return Err(BadRequest::new("streaming is not supported by mock-llm; send `stream: false`", "stream"));
        }
        let n = self.n.unwrap_or(1);
        if !(1..=MAX_CHOICES).contains(&n) {
            return Err(BadRequest::new(format!("`n` must be between 1 and {MAX_CHOICES}, got {n}"), "n"));
        }
        let max_tokens = self.max_completion_tokens.or(self.max_tokens);
        if max_tokens == Some(0) {
            return Err(BadRequest::new("`max_tokens` must be at least 1", "max_tokens"));
        }
        let stop = match self.stop {
            None => Vec::new(),
            Some(Stop::One(stop)) => vec![stop],
            Some(Stop::Many(stops)) => stops,
        };
        Ok(ChatRequest {
            model: self.model,
            messages,
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens,
            seed: self.seed,
            n,
            stop: stop.into_iter().filter(|stop| !stop.is_empty()).collect(),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Prompt {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
struct WireMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

impl WireMessage {
    fn into_message(self) -> Message {
        let content = match self.content {
            None => String::new(),
            Some(Content::Text(text)) => text,
            Some(Content::Parts(parts)) => parts
                .into_iter()
                .filter(|part| part.kind == "text")
                .filter_map(|part| part.text)
                .collect::<Vec<_>>()
                .join("\n"),
        };
        Message { role: self.role, content }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, Deserialize)]
struct ContentPart {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_body_with_every_field() {
        let body = br#"{"model":"m","messages":[{"role":"system","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{}},{"type":"text","text":"b"}]}],
            "temperature":0.5,"top_p":0.9,"max_tokens":7,"seed":-3,"n":2,"stop":["x",""],"frequency_penalty":0}"#;
        let request = ChatRequest::from_chat_body(body).expect("valid");
        assert_eq!(request.model, "m");
        assert_eq!(request.messages.len(), 2);
        assert_eq!(request.last_user_message(), Some("a\nb"));
        assert_eq!((request.temperature, request.top_p), (Some(0.5), Some(0.9)));
        assert_eq!((request.max_tokens, request.seed, request.n), (Some(7), Some(-3), 2));
        assert_eq!(request.stop, vec!["x".to_string()]);
    }

    #[test]
    fn defaults_and_max_completion_tokens() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":9,"max_completion_tokens":3,"stop":"END"}"#;
        let request = ChatRequest::from_chat_body(body).expect("valid");
        assert_eq!((request.n, request.max_tokens), (1, Some(3)));
        assert_eq!(request.stop, vec!["END".to_string()]);
        assert_eq!(request.temperature, None);
    }

    #[test]
    fn completion_prompt_becomes_a_user_message() {
        let request = ChatRequest::from_completion_body(br#"{"model":"m","prompt":["2 + 2 ="]}"#).expect("valid");
        assert_eq!(request.messages, vec![Message { role: "user".into(), content: "2 + 2 =".into() }]);
        let err = ChatRequest::from_completion_body(br#"{"model":"m","prompt":["a","b"]}"#).expect_err("batched");
        assert!(err.message.contains("one prompt per request"), "{err}");
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        let cases: [(&[u8], &str); 8] = [
            (b"not json", "not a valid request"),
            (br#"{"messages":[]}"#, "missing field `model`"),
            (br#"{"model":"m"}"#, "missing field `messages`"),
            (br#"{"model":"m","messages":[]}"#, "at least one message"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":0}"#, "`n` must be between"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}"#, "at least 1"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}"#, "streaming"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#, "not a valid request"),
        ];
        for (body, expected) in cases {
            let err = ChatRequest::from_chat_body(body).expect_err("refused");
            assert!(err.message.contains(expected), "{} -> {err}", String::from_utf8_lossy(body));
        }
        assert!(ChatRequest::from_completion_body(br#"{"model":"m"}"#).is_err());
    }
}
