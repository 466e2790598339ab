//! The server handle ([`MockServer`]): binds a loopback port, serves on its
//! own tokio runtime in a background thread (so synchronous and async tests
//! can both use it) and stops when dropped.
//!
//! Connections are served by hand (hyper's HTTP/1 connection driver under an
//! accept loop) rather than with `axum::serve`, so that a handler can drop its
//! own connection without answering: that is the [`Fault::Disconnect`](crate::Fault::Disconnect) fault.

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;
use tower_service::Service;

use crate::config::MockConfig;
use crate::error::MockError;
use crate::responder::Responder;
use crate::routes::{AppState, router};
use crate::stats::MockStats;

/// Lets a handler close the connection its request came on, with no response.
/// Inserted as a request extension by the accept loop.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionKill(Arc<Notify>);

impl ConnectionKill {
    /// Drops the connection (and every request on it) at once.
    pub(crate) fn kill(&self) {
        self.0.notify_one();
    }
}

/// A running mock server; it stops when dropped.
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Starts a server on `127.0.0.1`, on a port the system picks.
    pub fn start(config: MockConfig, responder: Responder) -> Result<MockServer, MockError> {
        MockServer::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config, responder)
    }

    /// Starts a server on `addr` (port 0: the system picks one).
    pub fn start_on(addr: SocketAddr, config: MockConfig, responder: Responder) -> Result<MockServer, MockError> {
        config.validate()?;
        let listener = StdListener::bind(addr).map_err(|source| MockError::Bind { addr, source })?;
        let local = listener.local_addr().map_err(|source| MockError::Bind { addr, source })?;
        listener.set_nonblocking(true).map_err(MockError::Runtime)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("mock-llm")
            .enable_io()
            .enable_time()
            .build()
            .map_err(MockError::Runtime)?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener).map_err(MockError::Runtime)?
        };
        let state = Arc::new(AppState::new(config, responder));
        let app = router(Arc::clone(&state));
        let (shutdown, stop) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("mock-llm-server".into())
            .spawn(move || {
                runtime.block_on(serve(listener, app, stop));
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(MockError::Runtime)?;
        Ok(MockServer { addr: local, state, shutdown: Some(shutdown), thread: Some(thread) })
    }

    /// The address served (`127.0.0.1:PORT` for [`MockServer::start`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OpenAI base URL: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The configuration served.
    pub fn config(&self) -> &MockConfig {
        &self.state.config
    }

    /// What the server has seen since it started or was last reset.
    pub fn stats(&self) -> MockStats {
        self.state.stats.snapshot()
    }

    /// Starts counting afresh (the fault draw goes on where it was); returns
    /// the stats as they were just before.
    pub fn reset_stats(&self) -> MockStats {
        self.state.stats.reset()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The receiver is gone only if the server loop already ended.
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic of the server thread has already been reported on stderr.
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer").field("addr", &self.addr).field("config", &self.state.config).finish()
    }
}

/// Accepts connections until `stop` fires (or its sender is dropped), then
/// drops every open connection.
async fn serve(listener: TcpListener, app: Router, mut stop: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                // Without this, Nagle's algorithm and delayed ACKs add ~40 ms to small responses.
                let _ = stream.set_nodelay(true);
                connections.spawn(serve_connection(TokioIo::new(stream), app.clone()));
            }
            Err(err) => {
                // Typically out of file descriptors: back off instead of spinning.
                eprintln!("mock-llm: accepting a connection failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        while connections.try_join_next().is_some() {}
    }
}

/// Serves one HTTP/1.1 connection (keep-alive included) until the client
/// closes it or a handler kills it.
async fn serve_connection(io: TokioIo<tokio::net::TcpStream>, app: Router) {
    let kill = ConnectionKill(Arc::new(Notify::new()));
    let handle = kill.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(handle.clone());
        app.clone().call(request)
    });
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    tokio::select! {
        // Errors here are clients going away mid-request: nothing to do.
        _ = connection => {}
        _ = kill.0.notified() => {}
    }
}
