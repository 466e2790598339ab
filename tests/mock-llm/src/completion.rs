//! Building a successful answer: calling the responder for each of the `n`
//! choices, cutting each at its first stop string and at `max_tokens` words,
//! counting tokens (whitespace-separated words, at least 1) and shaping the
//! OpenAI response of either endpoint.

use serde_json::{Value, json};

use crate::request::ChatRequest;
use crate::responder::Responder;

/// Which endpoint is answered; it decides the response's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/v1/chat/completions`: `choices[].message`.
    Chat,
    /// `/v1/completions`: `choices[].text`.
    Completion,
}

/// An answer ready to send, with its token counts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Completion {
    /// The response JSON.
    pub body: Value,
    /// Tokens of the prompt (all messages' words, at least 1).
    pub prompt_tokens: u64,
    /// Tokens of all choices together (words, at least 1).
    pub completion_tokens: u64,
}

/// The approximate token count of `text`: its whitespace-separated words.
pub(crate) fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// One choice after the stop strings and the token limit are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Choice {
    pub text: String,
    pub finish_reason: &'static str,
}

/// Cuts `text` before the earliest occurrence of any stop string (reason
/// `stop`), then to at most `max_tokens` words (reason `length`).
pub(crate) fn finish_choice(mut text: String, stop: &[String], max_tokens: Option<u32>) -> Choice {
    if let Some(cut) = stop.iter().filter_map(|stop| text.find(stop.as_str())).min() {
        text.truncate(cut);
    }
    let mut finish_reason = "stop";
    if let Some(limit) = max_tokens
        && let Some(cut) = end_of_word(&text, limit as usize)
    {
        text.truncate(cut);
        finish_reason = "length";
    }
    Choice { text, finish_reason }
}

/// The byte offset just after the `words`-th word of `text`, when `text` has
/// more than `words` words (otherwise nothing needs cutting).
fn end_of_word(text: &str, words: usize) -> Option<usize> {
    let mut seen = 0;
    let mut in_word = false;
    for (offset, ch) in text.char_indices() {
        if ch.is_whitespace() {
            if in_word && seen == words {
                // Only cut if another word follows.
                return text[offset..].split_whitespace().next().map(|_| offset);
            }
            in_word = false;
        } else if !in_word {
            in_word = true;
            seen += 1;
            if seen > words {
                return Some(offset);
            }
        }
    }
    None
}

/// Answers `request` with `responder`: `id` and `created` (Unix seconds) go in the response.
pub(crate) fn complete(
    endpoint: Endpoint,
    request: &ChatRequest,
    responder: &Responder,
    id: u64,
    created: u64,
) -> Completion {
    let choices: Vec<Choice> = (0..request.n as usize)
        .map(|index| finish_choice(responder(request, index), &request.stop, request.max_tokens))
        .collect();
    let prompt_tokens = request.messages.iter().map(|message| count_words(&message.content)).sum::<u64>().max(1);
    let completion_tokens = choices.iter().map(|choice| count_words(&choice.text)).sum::<u64>().max(1);
    let choices: Vec<Value> = choices
        .into_iter()
        .enumerate()
        .map(|(index, choice)| match endpoint {
            Endpoint::Chat => json!({
                "index": index,
                "message": {"role": "assistant", "content": choice.text},
                "logprobs": null,
                "finish_reason": choice.finish_reason,
            }),
            Endpoint::Completion => json!({
                "index": index,
                "text": choice.text,
                "logprobs": null,
                "finish_reason": choice.finish_reason,
            }),
        })
        .collect();
    let (id, object) = match endpoint {
        Endpoint::Chat => (format!("chatcmpl-mock-{id}"), "chat.completion"),
        Endpoint::Completion => (format!("cmpl-mock-{id}"), "text_completion"),
    };
    let body = json!({
        "id": id,
        "object": object,
        "created": created,
        "model": request.model,
        "system_fingerprint": "kiln-mock-llm",
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    });
    Completion { body, prompt_tokens, completion_tokens }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Message;
    use crate::responder::responder;

    fn stops(list: &[&str]) -> Vec<String> {
        list.iter().map(|stop| stop.to_string()).collect()
    }

    #[test]
    fn stop_cuts_at_the_earliest_stop_string() {
        let choice = finish_choice("one two END three ### four".into(), &stops(&["###", "END"]), None);
        assert_eq!(choice, Choice { text: "one two ".into(), finish_reason: "stop" });
        let untouched = finish_choice("no stops here".into(), &stops(&["###"]), None);
        assert_eq!(untouched, Choice { text: "no stops here".into(), finish_reason: "stop" });
    }

    #[test]
    fn max_tokens_cuts_to_words() {
        let choice = finish_choice("  one two\nthree four".into(), &[], Some(3));
        assert_eq!(choice, Choice { text: "  one two\nthree".into(), finish_reason: "length" });
        // Exactly the limit, trailing space included: nothing to cut.
        let exact = finish_choice("one two three ".into(), &[], Some(3));
        assert_eq!(exact, Choice { text: "one two three ".into(), finish_reason: "stop" });
        let under = finish_choice("one".into(), &[], Some(3));
        assert_eq!(under.finish_reason, "stop");
    }

    #[test]
    fn stop_before_the_limit_wins() {
        let choice = finish_choice("a b. c d e f".into(), &stops(&["."]), Some(4));
        assert_eq!(choice, Choice { text: "a b".into(), finish_reason: "stop" });
        let choice = finish_choice("a b c d e. f".into(), &stops(&["."]), Some(2));
        assert_eq!(choice, Choice { text: "a b".into(), finish_reason: "length" });
    }

    #[test]
    fn n_choices_and_usage() {
        let request = ChatRequest {
            model: "teacher".into(),
            messages: vec![
                Message { role: "system".into(), content: "be brief".into() },
                Message { role: "user".into(), content: "what is 1 + 1".into() },
            ],
            temperature: None,
            top_p: None,
            max_tokens: Some(2),
            seed: None,
            n: 3,
            stop: vec![],
        };
        let answer = responder(|_, index| format!("answer number {index}"));
        let done = complete(Endpoint::Chat, &request, &answer, 7, 1_700_000_000);
        assert_eq!((done.prompt_tokens, done.completion_tokens), (7, 6));
        let body = &done.body;
        assert_eq!(body["id"], "chatcmpl-mock-7");
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["model"], "teacher");
        assert_eq!(body["choices"][2]["index"], 2);
        assert_eq!(body["choices"][2]["message"]["content"], "answer number");
        assert_eq!(body["choices"][2]["finish_reason"], "length");
        assert_eq!(body["usage"]["total_tokens"], 13);

        let text = complete(Endpoint::Completion, &request, &answer, 8, 0);
        assert_eq!(text.body["object"], "text_completion");
        assert_eq!(text.body["choices"][0]["text"], "answer number");
    }

    #[test]
    fn token_counts_are_at_least_one() {
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![Message { role: "user".into(), content: "   ".into() }],
            temperature: None,
            top_p: None,
            max_tokens: None,
            seed: None,
            n: 1,
            stop: vec![],
        };
        let done = complete(Endpoint::Chat, &request, &responder(|_, _| String::new()), 1, 0);
        assert_eq!((done.prompt_tokens, done.completion_tokens), (1, 1));
    }
}
