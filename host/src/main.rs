//! The `kiln` command line: parses arguments and dispatches to [`cli`].

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // `kiln plugin inspect … | head` ends quietly, as other Unix tools do,
    // instead of panicking on the closed pipe (Rust ignores SIGPIPE).
    // SAFETY: restoring a signal's default disposition, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cli::init_logging();
    match cli::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
