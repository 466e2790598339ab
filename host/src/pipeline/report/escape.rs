//! What both HTML report modules ([`html`](super::html), [`training`](super::training)) need to write
//! markup and to turn plotters' errors into text.

/// `s` safe inside HTML text and attribute values.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A drawing error as text (plotters' errors are not `Display`).
pub fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}
