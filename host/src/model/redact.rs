//! Keeping secrets out of everything Kiln shows or writes.
//!
//! A server's error body can echo what it was sent (`Incorrect API key
//! provided: Bearer sk-…`), and a `base_url` can carry a password
//! (`https://user:pw@host/v1`). Every message built from a server's reply or
//! a transport error passes through [`Redactor::scrub`] before it reaches an
//! error, a log line, `quarantine.jsonl` or the report, and every URL shown
//! passes through [`display_url`]. The scrubbing removes the key's value
//! wherever it appears, any `Bearer` token, and the credentials of any URL.

use std::sync::LazyLock;

use regex::Regex;

/// What a secret is replaced by.
pub const REDACTED: &str = "[REDACTED]";

/// `scheme://credentials@` in any URL.
static URL_CREDENTIALS: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@").ok());
/// An `Authorization` value: `Bearer <token>` or `Basic <token>`.
static AUTH_TOKEN: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=:-]+").ok());

/// Scrubs the secrets of one model's client from text.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secret(s))", self.secrets.len())
    }
}

impl Redactor {
    /// A redactor for the API key `key` and the credentials in `base_url`.
    pub fn new(key: Option<&str>, base_url: &str) -> Self {
        let mut secrets: Vec<String> = key.map(str::to_string).into_iter().collect();
        if let Some(userinfo) = url_userinfo(base_url) {
            secrets.push(userinfo.to_string());
            secrets.extend(userinfo.split_once(':').map(|(_, password)| password.to_string()));
        }
        // Values this short would blank out ordinary words; the patterns
        // still catch them in headers and URLs.
        secrets.retain(|s| s.len() >= 4);
        // Longest first, so that a secret containing another goes whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    /// `text` without the secrets, tokens and URL credentials in it.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        scrub_patterns(&out)
    }
}

/// `text` with `Bearer`/`Basic` tokens and URL credentials replaced.
pub fn scrub_patterns(text: &str) -> String {
    let mut out = text.to_string();
    if let Some(re) = URL_CREDENTIALS.as_ref() {
        out = re.replace_all(&out, format!("${{1}}{REDACTED}@")).into_owned();
    }
    if let Some(re) = AUTH_TOKEN.as_ref() {
        out = re.replace_all(&out, format!("${{1}} {REDACTED}")).into_owned();
    }
    out
}

/// `url` as it may be shown: without its credentials.
pub fn display_url(url: &str) -> String {
    match url_userinfo(url) {
        Some(userinfo) => url.replacen(&format!("{userinfo}@"), "", 1),
        None => url.to_string(),
    }
}

/// The `user:password` part of `url`, if it has one.
fn url_userinfo(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    (!userinfo.is_empty()).then_some(userinfo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_and_url_credentials_never_survive() {
        let r = Redactor::new(Some("sk-live-0123456789"), "https://alice:s3cret-pw@api.example.com/v1");
        let echoed = "Incorrect API key provided: Bearer sk-live-0123456789 (key sk-live-0123456789) \
                      for https://alice:s3cret-pw@api.example.com/v1/chat/completions; password s3cret-pw";
        let clean = r.scrub(echoed);
        for secret in ["sk-live-0123456789", "s3cret-pw", "alice:"] {
            assert!(!clean.contains(secret), "{secret} in {clean}");
        }
        assert!(clean.contains("https://[REDACTED]@api.example.com/v1"), "{clean}");
    }

    #[test]
    fn tokens_of_other_keys_are_scrubbed_too() {
        let clean = Redactor::default().scrub("{\"authorization\": \"Bearer abc.def-ghi\"} basic dXNlcjpwdw==");
        assert!(!clean.contains("abc.def-ghi") && !clean.contains("dXNlcjpwdw"), "{clean}");
    }

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(display_url("https://u:p@host:8000/v1"), "https://host:8000/v1");
        assert_eq!(display_url("http://127.0.0.1:8000/v1"), "http://127.0.0.1:8000/v1");
        assert_eq!(display_url("http://host/v1?next=a@b"), "http://host/v1?next=a@b");
    }
}
