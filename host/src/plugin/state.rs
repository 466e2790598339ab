//! What each sandboxed instance's store holds: a WASI context that grants
//! nothing, a memory limiter, and the capture of the guest's output.
//!
//! Deny-by-default, written down: no filesystem (no preopens), no network
//! (sockets and name lookup off), no environment variables, no arguments, an
//! empty stdin; stdout and stderr are captured line by line and logged through
//! `tracing` under the plugin's name. Randomness is a fixed deterministic stream
//! and the clocks are frozen, so a plugin's output depends only on its inputs.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::{wit, wit_log};

/// Lines of guest stderr kept to explain a trap.
const TAIL_LINES: usize = 12;
/// Longest guest output line kept; longer ones are cut.
const MAX_LINE: usize = 2048;

/// The data of one instance's store.
pub(crate) struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) output: GuestOutput,
    /// The buffers of the last record batch sent in, reused for the next.
    pub(crate) packed: Option<wit::RecordBatch>,
}

impl GuestState {
    /// A fresh state for plugin `plugin` with a memory cap of `memory_limit` bytes.
    pub(crate) fn new(plugin: &str, memory_limit: usize) -> Self {
        let output = GuestOutput::new(plugin);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(output.stream("stdout"))
            .stderr(output.stream("stderr"))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .secure_random(wasmtime_wasi::Deterministic::new(vec![0x6b, 0x69, 0x6c, 0x6e]))
            .insecure_random(wasmtime_wasi::Deterministic::new(vec![0x4b, 0x49, 0x4c, 0x4e]))
            .insecure_random_seed(0)
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock);
        GuestState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_limit),
            output,
            packed: None,
        }
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl wit_log::Host for GuestState {
    fn log(&mut self, level: wit_log::Level, message: String) {
        let plugin = self.output.plugin.as_ref();
        let message = truncate(&message, MAX_LINE);
        match level {
            wit_log::Level::Trace => tracing::trace!(target: "kiln::plugin", plugin, "{message}"),
            wit_log::Level::Debug => tracing::debug!(target: "kiln::plugin", plugin, "{message}"),
            wit_log::Level::Info => tracing::info!(target: "kiln::plugin", plugin, "{message}"),
            wit_log::Level::Warn => tracing::warn!(target: "kiln::plugin", plugin, "{message}"),
            wit_log::Level::Error => tracing::error!(target: "kiln::plugin", plugin, "{message}"),
        }
    }
}

/// Caps linear memory and remembers how much the guest has and wanted.
pub(crate) struct MemoryLimiter {
    limit: usize,
    /// Bytes of linear memory currently committed by the guest.
    pub(crate) current: usize,
    /// Set when the guest asked for more than `limit`.
    pub(crate) refused: Option<usize>,
}

impl MemoryLimiter {
    fn new(limit: usize) -> Self {
        MemoryLimiter { limit, current: 0, refused: None }
    }

    /// The cap in bytes.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = Some(desired);
            return Err(wasmtime::format_err!(
                "memory limit exceeded: asked for {desired} bytes, limit {}",
                self.limit
            ));
        }
        self.current = self.current.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// Clocks that never move: time is not an input of a pure plugin.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The guest's stdout and stderr: each complete line goes to tracing, and the
/// last lines of stderr are kept to explain a trap (a Rust panic prints there).
#[derive(Clone)]
pub(crate) struct GuestOutput {
    plugin: Arc<str>,
    inner: Arc<Mutex<OutputBuffers>>,
}

#[derive(Default)]
struct OutputBuffers {
    partial_stdout: Vec<u8>,
    partial_stderr: Vec<u8>,
    stderr_tail: VecDeque<String>,
}

impl GuestOutput {
    fn new(plugin: &str) -> Self {
        GuestOutput { plugin: plugin.into(), inner: Arc::default() }
    }

    fn stream(&self, name: &'static str) -> GuestStream {
        GuestStream { output: self.clone(), is_stderr: name == "stderr" }
    }

    /// Forgets the stderr tail (called before each call).
    pub(crate) fn clear_tail(&self) {
        self.lock().stderr_tail.clear();
    }

    /// The last stderr lines written since [`clear_tail`](Self::clear_tail),
    /// including an unfinished line.
    pub(crate) fn stderr_tail(&self) -> String {
        let buffers = self.lock();
        let mut lines: Vec<String> = buffers.stderr_tail.iter().cloned().collect();
        if !buffers.partial_stderr.is_empty() {
            lines.push(String::from_utf8_lossy(&buffers.partial_stderr).into_owned());
        }
        lines.join("\n")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutputBuffers> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, is_stderr: bool, bytes: &[u8]) {
        let mut buffers = self.lock();
        let buffers = &mut *buffers;
        let partial = if is_stderr { &mut buffers.partial_stderr } else { &mut buffers.partial_stdout };
        partial.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(line) = take_line(partial) {
            lines.push(line);
        }
        let stream = if is_stderr { "stderr" } else { "stdout" };
        for line in lines {
            tracing::info!(target: "kiln::plugin", plugin = self.plugin.as_ref(), stream, "{line}");
            if is_stderr {
                if buffers.stderr_tail.len() == TAIL_LINES {
                    buffers.stderr_tail.pop_front();
                }
                buffers.stderr_tail.push_back(line);
            }
        }
    }
}

/// Removes the first complete line from `partial` (or its first `MAX_LINE`
/// bytes when no newline comes that soon).
fn take_line(partial: &mut Vec<u8>) -> Option<String> {
    let end = match partial.iter().position(|&b| b == b'\n') {
        Some(newline) => newline + 1,
        None if partial.len() > MAX_LINE => MAX_LINE,
        None => return None,
    };
    let raw: Vec<u8> = partial.drain(..end).collect();
    let line = String::from_utf8_lossy(&raw);
    Some(truncate(line.trim_end(), MAX_LINE).to_string())
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One of the guest's output streams.
#[derive(Clone)]
struct GuestStream {
    output: GuestOutput,
    is_stderr: bool,
}

impl IsTerminal for GuestStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestStream {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestStream {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.output.write(self.is_stderr, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for GuestStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.output.write(self.is_stderr, buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_lines_are_kept_as_a_tail() {
        let out = GuestOutput::new("p");
        out.write(true, b"thread 'main' panicked at src/lib.rs:3:5:\nboom\npartial");
        assert_eq!(out.stderr_tail(), "thread 'main' panicked at src/lib.rs:3:5:\nboom\npartial");
        out.clear_tail();
        assert_eq!(out.stderr_tail(), "partial");
    }

    #[test]
    fn long_lines_are_cut_and_tail_is_bounded() {
        let out = GuestOutput::new("p");
        out.write(true, &vec![b'x'; 3 * MAX_LINE]);
        for i in 0..(TAIL_LINES + 5) {
            out.write(true, format!("line {i}\n").as_bytes());
        }
        let tail = out.stderr_tail();
        assert!(tail.lines().count() <= TAIL_LINES);
        assert!(tail.ends_with(&format!("line {}", TAIL_LINES + 4)));
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("ääää", 3), "ä");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
