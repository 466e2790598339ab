//! Errors of the plugin host.
//!
//! Two families: [`PluginError`] is about a plugin as a whole (it cannot be
//! read, compiled, linked or configured) and stops the stage before any work;
//! [`CallError`] is about one call on a batch of records (a trap, a limit, a
//! broken answer), and ends with the offending records in quarantine.

use std::path::PathBuf;
use std::time::Duration;

use super::kind::PluginKind;

/// A plugin cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file could not be read.
    #[error("cannot read plugin {path}: {error}")]
    Read {
        /// The plugin file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },

    /// Not WebAssembly at all.
    #[error(
        "{path} is not a WebAssembly component (it does not start with the wasm magic bytes): pass the .wasm file that `cargo build --release --target wasm32-wasip2` writes under target/wasm32-wasip2/release/"
    )]
    NotWasm {
        /// The plugin file.
        path: PathBuf,
    },

    /// A core module rather than a component.
    #[error(
        "{path} is a core WebAssembly module, not a component: Kiln plugins are components; build with `cargo build --release --target wasm32-wasip2` (not wasm32-unknown-unknown or wasm32-wasip1)"
    )]
    CoreModule {
        /// The plugin file.
        path: PathBuf,
    },

    /// The pinned digest does not match the file.
    #[error(
        "refusing to load {path}: its sha256 is {actual} but the pipeline pins {expected}; if the new file is trusted, update the pin"
    )]
    DigestMismatch {
        /// The plugin file.
        path: PathBuf,
        /// The pinned digest.
        expected: String,
        /// The file's digest.
        actual: String,
    },

    /// Compilation failed.
    #[error("cannot compile {path}: {message}")]
    Compile {
        /// The plugin file.
        path: PathBuf,
        /// Wasmtime's explanation.
        message: String,
    },

    /// The component exports no Kiln world.
    #[error(
        "{path} is a component but not a Kiln plugin: it exports none of the kiln:plugin@{contract} interfaces (it exports: {exports}); build it with kiln-pdk"
    )]
    NotAPlugin {
        /// The plugin file.
        path: PathBuf,
        /// The contract version this host speaks.
        contract: &'static str,
        /// What it does export.
        exports: String,
    },

    /// Built against another version of the contract.
    #[error(
        "{path} was built against kiln:plugin@{found}, but this host speaks kiln:plugin@{expected}: rebuild the plugin with kiln-pdk {expected}"
    )]
    IncompatibleContract {
        /// The plugin file.
        path: PathBuf,
        /// The version the plugin was built against.
        found: String,
        /// The version this host speaks.
        expected: &'static str,
    },

    /// Its exports have the contract's names and version but other types:
    /// it was built against an earlier, unreleased build of the contract.
    #[error(
        "{path} exports kiln:plugin@{contract} with types this host does not expect ({message}): it was built against another build of the contract; rebuild the plugin with this version of kiln-pdk"
    )]
    ContractTypes {
        /// The plugin file.
        path: PathBuf,
        /// The contract version this host speaks.
        contract: &'static str,
        /// Wasmtime's explanation.
        message: String,
    },

    /// It imports something the sandbox does not provide.
    #[error(
        "{path} imports {}, which Kiln does not provide: plugins may import only kiln:plugin/log and the WASI 0.2 interfaces a wasm32-wasip2 std links (cli, io, clocks, random, filesystem, sockets), which the sandbox denies{}",
        .imports.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", "),
        if .imports.iter().any(|i| i.starts_with("wasi:http/")) { "; a componentize-js component imports wasi:http unless built with `-d http fetch-event` (jco componentize --disable)" } else { "" }
    )]
    ForbiddenImport {
        /// The plugin file.
        path: PathBuf,
        /// Every import the sandbox refuses.
        imports: Vec<String>,
    },

    /// The component is of another kind than the stage needs.
    #[error("plugin {plugin} ({path}) is a {actual} plugin, but {needed_by} needs a {expected} plugin")]
    WrongKind {
        /// Plugin name.
        plugin: String,
        /// The plugin file.
        path: PathBuf,
        /// What it is.
        actual: PluginKind,
        /// What is needed.
        expected: PluginKind,
        /// Who needs it (stage or command).
        needed_by: String,
    },

    /// The plugin says it is of another kind than the world it exports.
    #[error("plugin {plugin} ({path}) exports the {world} world but says it is a {said} plugin")]
    InconsistentKind {
        /// Plugin name.
        plugin: String,
        /// The plugin file.
        path: PathBuf,
        /// Exported world.
        world: PluginKind,
        /// What `info` says.
        said: PluginKind,
    },

    /// The plugin rejected its configuration.
    #[error("plugin {plugin} in stage `{stage}` rejected its config: {message}")]
    ConfigRejected {
        /// Plugin name.
        plugin: String,
        /// Stage.
        stage: String,
        /// The plugin's message.
        message: String,
    },

    /// The stage's config breaks the JSON Schema the plugin publishes for it
    /// (checked before `configure`).
    #[error("plugin {plugin} in stage `{stage}`: the config does not match the plugin's schema: {}", join_problems(.problems))]
    ConfigInvalid {
        /// Plugin name.
        plugin: String,
        /// Stage.
        stage: String,
        /// Every problem, each with the JSON pointer of its value.
        problems: Vec<crate::config_schema::ConfigProblem>,
    },

    /// The plugin publishes a config schema that is not a JSON Schema.
    #[error(
        "plugin {plugin} ({path}) publishes a config schema that is unusable: {message} (a bug in the plugin: rebuild it with a current kiln-pdk, or tell its author)"
    )]
    BadConfigSchema {
        /// Plugin name.
        plugin: String,
        /// The plugin file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// Instantiation or a start-up call failed (trap in `info` or `configure`).
    #[error("plugin {plugin} in stage `{stage}` failed to start: {message}")]
    Start {
        /// Plugin name (or file).
        plugin: String,
        /// Stage.
        stage: String,
        /// What went wrong.
        message: String,
    },

    /// The sandbox engine could not be created.
    #[error("cannot create the WebAssembly engine: {0}")]
    Engine(String),
}

/// One call on a batch failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum CallError {
    /// The call ran past its deadline (wall-clock time, checked while guest
    /// code runs; the guest cannot block in a host call, sleeps return at once).
    #[error("exceeded its time limit of {} ms per call (`limits.time_per_call_ms`, wall-clock; raise it if the plugin is legitimately slow)", .0.as_millis())]
    Deadline(Duration),

    /// The guest tried to grow its memory past the cap.
    #[error(
        "exceeded its memory limit of {limit_mib} MiB (it asked for {requested_mib} MiB; raise `limits.memory_mib` if legitimate)"
    )]
    MemoryLimit {
        /// The cap.
        limit_mib: u64,
        /// What it asked for.
        requested_mib: u64,
    },

    /// The guest overflowed its wasm stack.
    #[error("overflowed its stack (deep or unbounded recursion)")]
    StackOverflow,

    /// The guest panicked or aborted (the message says which, with the panic text).
    #[error("{0}")]
    Panic(String),

    /// Any other trap.
    #[error("trapped: {0}")]
    Trap(String),

    /// The guest returned a number of results other than one per input.
    #[error("returned {got} results for {expected} inputs (the contract is exactly one result per input)")]
    WrongCount {
        /// Inputs given.
        expected: usize,
        /// Results returned.
        got: usize,
    },

    /// One result is larger than the host accepts.
    #[error("returned a result of {bytes} bytes, over the limit of {limit} bytes (`limits.max_output_bytes`)")]
    OutputTooLarge {
        /// Size of the result.
        bytes: usize,
        /// Limit.
        limit: usize,
    },

    /// A result breaks the contract (e.g. a mapper changed a record's id).
    #[error("broke the contract: {0}")]
    Contract(String),

    /// The instance could not be (re)started; not the record's fault.
    #[error("could not be restarted: {0}")]
    Restart(String),
}

impl CallError {
    /// Whether the error is about the plugin as a whole rather than the records
    /// in the call: bisecting the batch cannot isolate it.
    pub fn is_fatal(&self) -> bool {
        matches!(self, CallError::Restart(_))
    }
}

/// Problems on one line, `; ` between them.
fn join_problems(problems: &[crate::config_schema::ConfigProblem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}
