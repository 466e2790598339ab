//! Responders: the functions that write the assistant's text for a request,
//! and the two stock ones (a fixed-length lorem for benchmarks, an echo).

use std::sync::Arc;

use crate::request::ChatRequest;

/// Produces the assistant text of choice `index` (0-based, below `request.n`)
/// of a request. It runs on the server's runtime threads, so it should be quick.
pub type Responder = Arc<dyn Fn(&ChatRequest, usize) -> String + Send + Sync>;

/// Wraps a closure as a [`Responder`].
pub fn responder<F>(f: F) -> Responder
where
    F: Fn(&ChatRequest, usize) -> String + Send + Sync + 'static,
{
    Arc::new(f)
}

const LOREM: [&str; 16] = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
];

/// Answers every request with `words` lorem-ipsum words (choice `i` starts
/// `i` words further into the list, so choices differ). For benchmarks.
pub fn lorem_responder(words: usize) -> Responder {
    responder(move |_, index| (0..words).map(|word| LOREM[(word + index) % LOREM.len()]).collect::<Vec<_>>().join(" "))
}

/// Answers with the last user message, unchanged (empty when there is none).
pub fn echo_responder() -> Responder {
    responder(|request, _| request.last_user_message().unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Message;

    fn request(content: &str) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![Message { role: "user".into(), content: content.into() }],
            temperature: None,
            top_p: None,
            max_tokens: None,
            seed: None,
            n: 1,
            stop: vec![],
        }
    }

    #[test]
    fn lorem_has_the_asked_length_and_differs_per_choice() {
        let lorem = lorem_responder(20);
        let first = lorem(&request("x"), 0);
        assert_eq!(first.split_whitespace().count(), 20);
        assert!(first.starts_with("lorem ipsum"));
        assert_ne!(first, lorem(&request("x"), 1));
        assert_eq!(lorem_responder(0)(&request("x"), 0), "");
    }

    #[test]
    fn echo_repeats_the_last_user_message() {
        assert_eq!(echo_responder()(&request("what is 2 + 2?"), 0), "what is 2 + 2?");
    }
}
