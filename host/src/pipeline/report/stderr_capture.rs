//! Routes everything written to stderr through the progress display while its
//! bars are drawn.
//!
//! indicatif redraws its bars in place; a line written to the terminal behind
//! its back (a log line, or one that a C library such as Mesa prints straight
//! to file descriptor 2) tears the display and leaves a frozen copy of the
//! bars behind. So while bars are shown, fd 2 points at a pipe: a thread reads
//! it line by line and prints each line above the bars
//! ([`MultiProgress::println`]), which draw on a duplicate of the original
//! stderr. Dropping the capture flushes the pipe and puts fd 2 back.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread::JoinHandle;

use indicatif::{MultiProgress, ProgressDrawTarget};

/// The duplicate of the original stderr while a capture is live, else -1; read
/// by [`restore_now`], which may run in a signal-handling thread.
static ORIGINAL: AtomicI32 = AtomicI32::new(-1);

/// A live capture of fd 2; restores it when dropped.
pub struct StderrCapture {
    original: OwnedFd,
    reader: Option<JoinHandle<()>>,
}

impl StderrCapture {
    /// Starts drawing `multi` on the terminal that fd 2 is now, and captures fd 2.
    /// Returns `None`, leaving stderr as it is, where any step fails.
    pub fn start(multi: &MultiProgress, refresh_hz: u8) -> Option<StderrCapture> {
        let original = std::io::stderr().as_raw_fd();
        // SAFETY: dup of a descriptor this process owns; the result is checked.
        let saved = unsafe { libc::dup(original) };
        if saved < 0 {
            return None;
        }
        // SAFETY: `saved` is a fresh descriptor owned by nothing else.
        let saved: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(saved) };
        let (read_end, write_end) = std::io::pipe().ok()?;
        let terminal = File::from(saved.try_clone().ok()?);
        let terminal_in = File::from(saved.try_clone().ok()?);
        multi.set_draw_target(ProgressDrawTarget::term(
            console::Term::read_write_pair(terminal_in, terminal),
            refresh_hz,
        ));
        let _ = std::io::stderr().flush();
        // SAFETY: both descriptors are open; dup2 replaces fd 2 atomically.
        if unsafe { libc::dup2(write_end.as_raw_fd(), original) } < 0 {
            multi.set_draw_target(ProgressDrawTarget::stderr_with_hz(refresh_hz));
            return None;
        }
        drop(write_end);
        ORIGINAL.store(saved.as_raw_fd(), Ordering::SeqCst);
        let printer = multi.clone();
        let reader = std::thread::Builder::new()
            .name("kiln-stderr".into())
            .spawn(move || {
                let mut lines = BufReader::new(read_end);
                let mut line = Vec::new();
                while lines.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                    let text = String::from_utf8_lossy(&line);
                    let _ = printer.println(text.trim_end_matches(['\n', '\r']));
                    line.clear();
                }
            })
            .ok();
        Some(StderrCapture { original: saved, reader })
    }
}

/// Puts fd 2 back on the original stderr at once, from any thread: for a
/// process about to exit (Ctrl-C) that wants its last words seen.
pub fn restore_now() {
    let saved = ORIGINAL.swap(-1, Ordering::SeqCst);
    if saved >= 0 {
        // SAFETY: `saved` stays open until the capture is dropped, which
        // swaps ORIGINAL first; dup2 onto fd 2 is async-signal-safe.
        unsafe { libc::dup2(saved, std::io::stderr().as_raw_fd()) };
    }
}

impl Drop for StderrCapture {
    fn drop(&mut self) {
        let _ = std::io::stderr().flush();
        if ORIGINAL.swap(-1, Ordering::SeqCst) >= 0 {
            // SAFETY: restores fd 2 from the duplicate this capture owns. This
            // closes the pipe's last write end, so the reader sees its end.
            unsafe { libc::dup2(self.original.as_raw_fd(), std::io::stderr().as_raw_fd()) };
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}
