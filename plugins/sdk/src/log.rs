//! Logging from inside a plugin.
//!
//! A plugin's only import is the host's `log` function: lines appear in the
//! host's logs under the plugin's name. When the plugin logic runs natively (unit
//! tests, benchmarks) there is no host, and lines go to stderr.

use std::sync::OnceLock;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Very verbose.
    Trace,
    /// Diagnostic.
    Debug,
    /// Informational.
    Info,
    /// Something is off but work goes on.
    Warn,
    /// Something failed.
    Error,
}

static SINK: OnceLock<fn(Level, &str)> = OnceLock::new();

#[doc(hidden)]
pub fn __install(sink: fn(Level, &str)) {
    let _ = SINK.set(sink);
}

/// Logs `message` at `level`.
pub fn log(level: Level, message: &str) {
    match SINK.get() {
        Some(sink) => sink(level, message),
        None => eprintln!("[{level:?}] {message}"),
    }
}

/// Logs at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message)
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message)
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message)
}
