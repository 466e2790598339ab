//! What each sandboxed instance's store holds: a WASI context that grants
//! nothing, a memory limiter, and the capture of the guest's output.
//!
//! Deny-by-default, written down: no filesystem (no preopens), no network
//! (sockets and name lookup off), no environment variables, no arguments, an
//! empty stdin; stdout and stderr are captured line by line and logged through
//! `tracing` (at debug level) under the plugin's name, at most
//! [`MAX_LINES_PER_CALL`] lines and [`MAX_BYTES_PER_CALL`] bytes a call (the
//! rest is counted and dropped). Randomness is a fixed deterministic stream and
//! the clocks are frozen, so a plugin's output depends only on its inputs.
//!
//! A frozen clock also means that sleeping takes no time: the clock's
//! `subscribe-duration` and `subscribe-instant` hand back a pollable that is
//! ready at once (see [`add_instant_sleep`]), so no guest can block in a host
//! call. The call's deadline, which fires only while guest code runs, then
//! bounds the wall-clock time of every call: a plugin that sleeps in a loop
//! spins, and hits it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamError};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::{wit, wit_log};

/// Lines of guest stderr kept to explain a trap.
const TAIL_LINES: usize = 12;
/// Longest guest output line kept; longer ones are cut.
const MAX_LINE: usize = 2048;
/// Guest output lines logged per call; later ones are counted, not logged.
pub const MAX_LINES_PER_CALL: usize = 200;
/// Guest output bytes logged per call; later ones are counted, not logged.
pub const MAX_BYTES_PER_CALL: usize = 64 << 10;
/// The interface whose sleeps are made instant; the version wasmtime-wasi
/// defines, which also serves components built against earlier 0.2 releases.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Replaces the monotonic clock's `subscribe-duration` and
/// `subscribe-instant` in `linker` (which must allow shadowing) by ones whose
/// pollable is ready at once: under a frozen clock a sleep ends immediately,
/// so a guest cannot hold a thread in a host call past its deadline.
pub(crate) fn add_instant_sleep(linker: &mut wasmtime::component::Linker<GuestState>) -> wasmtime::Result<()> {
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", |mut store: wasmtime::StoreContextMut<'_, GuestState>, (_,): (u64,)| {
        ready_now(store.data_mut()).map(|p| (p,))
    })?;
    clock.func_wrap("subscribe-instant", |mut store: wasmtime::StoreContextMut<'_, GuestState>, (_,): (u64,)| {
        ready_now(store.data_mut()).map(|p| (p,))
    })?;
    Ok(())
}

/// A pollable that is already ready.
fn ready_now(state: &mut GuestState) -> wasmtime::Result<wasmtime::component::Resource<DynPollable>> {
    let resource = state.table.push(ReadyNow)?;
    wasmtime_wasi::p2::subscribe(&mut state.table, resource)
}

/// The deadline of a sleep under a frozen clock: always passed.
struct ReadyNow;

#[wasmtime_wasi::async_trait]
impl Pollable for ReadyNow {
    async fn ready(&mut self) {}
}

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
    /// Lines and bytes written in the current call.
    call_lines: usize,
    call_bytes: usize,
    /// Lines and bytes of the current call that were not logged.
    dropped_lines: usize,
    dropped_bytes: usize,
}

/// What a call's output cap held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Dropped {
    /// Lines not logged.
    pub(crate) lines: usize,
    /// Bytes not logged.
    pub(crate) bytes: usize,
}

impl GuestOutput {
    fn new(plugin: &str) -> Self {
        GuestOutput { plugin: plugin.into(), inner: Arc::default() }
    }

    fn stream(&self, name: &'static str) -> GuestStream {
        GuestStream { output: self.clone(), is_stderr: name == "stderr" }
    }

    /// Starts a call: forgets the stderr tail and the call's output counts.
    pub(crate) fn start_call(&self) {
        let mut buffers = self.lock();
        buffers.stderr_tail.clear();
        (buffers.call_lines, buffers.call_bytes, buffers.dropped_lines, buffers.dropped_bytes) = (0, 0, 0, 0);
    }

    /// Ends a call: what its output cap held back (also logged, once).
    pub(crate) fn end_call(&self) -> Dropped {
        let buffers = self.lock();
        let dropped = Dropped { lines: buffers.dropped_lines, bytes: buffers.dropped_bytes };
        if dropped.bytes > 0 {
            tracing::warn!(
                target: "kiln::plugin",
                plugin = self.plugin.as_ref(),
                "the plugin wrote {} more line(s) ({} bytes) to stdout/stderr in one call than are logged ({} lines, {} KiB a call); they were dropped",
                dropped.lines,
                dropped.bytes,
                MAX_LINES_PER_CALL,
                MAX_BYTES_PER_CALL >> 10
            );
        }
        dropped
    }

    /// The last stderr lines written since [`start_call`](Self::start_call),
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
        let mut pending = std::mem::take(partial);
        pending.extend_from_slice(bytes);
        // Lines are cut in place and the consumed bytes removed once, so a
        // flood of short lines costs linear time.
        let mut start = 0;
        while let Some(len) = line_len(&pending[start..]) {
            buffers.line(&self.plugin, is_stderr, &pending[start..start + len]);
            start += len;
        }
        pending.drain(..start);
        let partial = if is_stderr { &mut buffers.partial_stderr } else { &mut buffers.partial_stdout };
        *partial = pending;
    }
}

impl OutputBuffers {
    /// One complete line of guest output: logged while the call is under its
    /// cap, counted past it; stderr lines also join the tail.
    fn line(&mut self, plugin: &str, is_stderr: bool, raw: &[u8]) {
        self.call_lines += 1;
        self.call_bytes += raw.len();
        let logged = self.call_lines <= MAX_LINES_PER_CALL && self.call_bytes <= MAX_BYTES_PER_CALL;
        if !logged {
            self.dropped_lines += 1;
            self.dropped_bytes += raw.len();
            if !is_stderr {
                return;
            }
        }
        let text = String::from_utf8_lossy(raw);
        let text = truncate(text.trim_end(), MAX_LINE);
        if logged {
            let stream = if is_stderr { "stderr" } else { "stdout" };
            tracing::debug!(target: "kiln::plugin", plugin, stream, "{text}");
        }
        if is_stderr {
            if self.stderr_tail.len() == TAIL_LINES {
                self.stderr_tail.pop_front();
            }
            self.stderr_tail.push_back(text.to_string());
        }
    }
}

/// The length of the first complete line of `pending` with its newline (or
/// its first `MAX_LINE` bytes when no newline comes that soon).
fn line_len(pending: &[u8]) -> Option<usize> {
    match memchr::memchr(b'\n', pending) {
        Some(newline) => Some(newline + 1),
        None if pending.len() > MAX_LINE => Some(MAX_LINE),
        None => None,
    }
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
        out.start_call();
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
    fn output_past_the_cap_of_a_call_is_counted_not_logged() {
        let out = GuestOutput::new("p");
        out.start_call();
        let spam = "spam line\n".repeat(100_000);
        out.write(false, spam.as_bytes());
        out.write(true, b"Traceback (most recent call last):\nValueError: bad record\n");
        let dropped = out.end_call();
        assert_eq!(dropped.lines, 100_000 + 2 - MAX_LINES_PER_CALL);
        assert!(dropped.bytes > 900_000, "{dropped:?}");
        assert!(out.stderr_tail().ends_with("ValueError: bad record"), "the tail still explains a trap");
        out.start_call();
        assert_eq!(out.end_call(), Dropped::default(), "counts start over each call");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("ääää", 3), "ä");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
