//! Why a mock server could not start.

use std::io;
use std::net::SocketAddr;

/// An error starting a [`MockServer`](crate::MockServer) or parsing its configuration.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// The configuration is unusable; the message says which value and why.
    #[error("invalid mock-llm configuration: {0}")]
    InvalidConfig(String),
    /// The listening socket could not be opened.
    #[error("mock-llm could not listen on {addr}: {source} (is the port already in use?)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// The server's runtime or thread could not be set up.
    #[error("mock-llm could not start its runtime: {0}")]
    Runtime(#[source] io::Error),
}
