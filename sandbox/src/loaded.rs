//! A loaded, configured plugin and its instances.
//!
//! [`Plugin`] is cheap to clone and safe to share between threads: each call
//! checks an instance out of an idle pool (starting one from the
//! pre-instantiated component when the pool is empty), runs the batch under the
//! call's deadline, and checks the instance back in — unless it trapped (a
//! trapped instance is poisoned and discarded) or its memory grew large (linear
//! memory never shrinks, so such instances are recycled). Failed batches are
//! bisected (see [`isolate`](super::isolate)) so that only the offending records
//! fail.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use wasmtime::component::InstancePre;
use wasmtime::{Store, Trap};

use super::batch::{self, BatchRecord};
use super::bindings::{critic, filter, generator, mapper, model, refiner, wit};
use super::config_schema::ConfigSchema;
use super::error::{CallError, PluginError};
use super::isolate::{Answers, run_isolated};
use super::kind::PluginKind;
use super::parts::RecordParts;
use super::sandbox::{Compiled, EPOCH_TICK, LoadOptions, Sandbox};
use super::state::GuestState;
use super::verdict::{self, Verdict};

/// Instances whose linear memory grew past this are not reused.
const RECYCLE_ABOVE_BYTES: usize = 64 << 20;

/// What a plugin says about itself, plus what the host measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PluginInfo {
    /// Plugin name (its crate name for kiln-pdk plugins).
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// Its kind (world).
    pub kind: PluginKind,
    /// One line about what it does.
    pub description: String,
    /// Its licence (SPDX), empty when it declares none.
    pub license: String,
    /// The JSON Schema of its config, when it publishes one.
    pub config_schema: Option<ConfigSchema>,
    /// The parts of each record, besides its text, that it is sent: those it
    /// declared, every part for a mapper (it returns whole records).
    pub reads: RecordParts,
    /// sha256 of the component file, hex.
    pub sha256: String,
    /// Size of the component file in bytes.
    pub size: usize,
    /// The world, e.g. `kiln:plugin/filter-plugin@0.1.0`.
    pub world: String,
    /// Everything the component imports.
    pub imports: Vec<String>,
}

/// A loaded plugin bound to one stage's configuration and limits.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("info", &self.inner.info)
            .field("path", &self.inner.path)
            .field("stage", &self.inner.options.stage)
            .finish_non_exhaustive()
    }
}

struct PluginInner {
    sandbox: Sandbox,
    path: PathBuf,
    info: PluginInfo,
    options: LoadOptions,
    pre: WorldPre,
    idle: Mutex<Vec<Instance>>,
}

/// The pre-instantiated component, typed by world.
enum WorldPre {
    Filter(filter::FilterPluginPre<GuestState>),
    Mapper(mapper::MapperPluginPre<GuestState>),
    Generator(generator::GeneratorPluginPre<GuestState>),
    Critic(critic::CriticPluginPre<GuestState>),
    Refiner(refiner::RefinerPluginPre<GuestState>),
    Model(model::ModelPluginPre<GuestState>),
}

/// A live instance's typed exports.
enum World {
    Filter(filter::FilterPlugin),
    Mapper(mapper::MapperPlugin),
    Generator(generator::GeneratorPlugin),
    Critic(critic::CriticPlugin),
    Refiner(refiner::RefinerPlugin),
    Model(model::ModelPlugin),
}

/// Calls a function of the `plugin` interface, which every world exports.
macro_rules! plugin_interface {
    ($world:expr, |$iface:ident| $body:expr) => {
        match $world {
            World::Filter(w) => {
                let $iface = w.kiln_plugin_plugin();
                $body
            }
            World::Mapper(w) => {
                let $iface = w.kiln_plugin_plugin();
                $body
            }
            World::Generator(w) => {
                let $iface = w.kiln_plugin_plugin();
                $body
            }
            World::Critic(w) => {
                let $iface = w.kiln_plugin_plugin();
                $body
            }
            World::Refiner(w) => {
                let $iface = w.kiln_plugin_plugin();
                $body
            }
            World::Model(w) => {
                let $iface = w.kiln_plugin_plugin();
                $body
            }
        }
    };
}

impl WorldPre {
    fn new(kind: PluginKind, pre: InstancePre<GuestState>) -> wasmtime::Result<WorldPre> {
        Ok(match kind {
            PluginKind::Filter => WorldPre::Filter(filter::FilterPluginPre::new(pre)?),
            PluginKind::Mapper => WorldPre::Mapper(mapper::MapperPluginPre::new(pre)?),
            PluginKind::Generator => WorldPre::Generator(generator::GeneratorPluginPre::new(pre)?),
            PluginKind::Critic => WorldPre::Critic(critic::CriticPluginPre::new(pre)?),
            PluginKind::Refiner => WorldPre::Refiner(refiner::RefinerPluginPre::new(pre)?),
            PluginKind::Model => WorldPre::Model(model::ModelPluginPre::new(pre)?),
        })
    }

    fn instantiate(&self, store: &mut Store<GuestState>) -> wasmtime::Result<World> {
        Ok(match self {
            WorldPre::Filter(p) => World::Filter(p.instantiate(store)?),
            WorldPre::Mapper(p) => World::Mapper(p.instantiate(store)?),
            WorldPre::Generator(p) => World::Generator(p.instantiate(store)?),
            WorldPre::Critic(p) => World::Critic(p.instantiate(store)?),
            WorldPre::Refiner(p) => World::Refiner(p.instantiate(store)?),
            WorldPre::Model(p) => World::Model(p.instantiate(store)?),
        })
    }
}

/// One sandboxed instance: a store and the typed exports living in it.
struct Instance {
    store: Store<GuestState>,
    world: World,
}

impl Instance {
    /// Starts a fresh instance; `label` names it in logs.
    fn start(sandbox: &Sandbox, pre: &WorldPre, label: &str, options: &LoadOptions) -> Result<Instance, CallError> {
        let mut store = Store::new(&sandbox.inner.engine, GuestState::new(label, options.limits.memory_bytes()));
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(deadline_ticks(options.limits.time_per_call()));
        let world = pre.instantiate(&mut store).map_err(|e| match export_type_mismatch(&e) {
            Some(message) => CallError::Contract(message),
            None => classify(e, &store, options),
        })?;
        Ok(Instance { store, world })
    }

    /// Runs `f` under the per-call deadline, classifying a failure.
    fn invoke<R>(
        &mut self,
        options: &LoadOptions,
        f: impl FnOnce(&World, &mut Store<GuestState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        self.store.data().output.start_call();
        self.store.set_epoch_deadline(deadline_ticks(options.limits.time_per_call()));
        let result = f(&self.world, &mut self.store).map_err(|e| classify(e, &self.store, options));
        self.store.data().output.end_call();
        result
    }

    /// Calls `configure` (the plugin's `info` was read once, when it was
    /// loaded: a plugin builds its config schema there, which is not free).
    fn configure(&mut self, options: &LoadOptions) -> Result<Result<(), String>, CallError> {
        self.invoke(options, |w, s| plugin_interface!(w, |p| p.call_configure(&mut *s, &options.config)))
    }

    fn reusable(&self) -> bool {
        self.store.data().limiter.current <= RECYCLE_ABOVE_BYTES
    }
}

/// Packs `records` (their texts, and the `parts` the plugin reads) into the
/// store's reusable record batch and calls `call` with it; the batch's buffers
/// are kept for the next call unless they grew past [`batch::KEEP_BYTES`].
fn with_packed<R>(
    store: &mut Store<GuestState>,
    records: &[impl BatchRecord],
    parts: RecordParts,
    call: impl FnOnce(&mut Store<GuestState>, &wit::RecordBatch) -> wasmtime::Result<R>,
) -> wasmtime::Result<R> {
    let packed = batch::pack_into(store.data_mut().packed.take(), records, parts)?;
    let result = call(store, &packed);
    if batch::capacity(&packed) <= batch::KEEP_BYTES {
        store.data_mut().packed = Some(packed);
    }
    result
}

/// Wasmtime's explanation when instantiating failed because an export's type
/// differs from what the bindings expect (a function of the contract whose
/// parameters or results changed between builds of the contract).
fn export_type_mismatch(error: &wasmtime::Error) -> Option<String> {
    let message = format!("{error:#}");
    message.contains("failed to convert function to given type").then_some(message)
}

fn deadline_ticks(deadline: Duration) -> u64 {
    // +1: the current tick may end at any moment.
    (deadline.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64 + 1
}

/// A batch's answer that breaks the contract, as the error of its call: the
/// batch is then bisected like one that trapped, down to the record at fault.
fn contract_error(message: String) -> wasmtime::Error {
    wasmtime::Error::new(CallError::Contract(message))
}

/// Turns a wasmtime error from a call into what went wrong, in user terms.
fn classify(error: wasmtime::Error, store: &Store<GuestState>, options: &LoadOptions) -> CallError {
    if let Some(answer_error) = error.downcast_ref::<CallError>() {
        return answer_error.clone();
    }
    let state = store.data();
    if let Some(requested) = state.limiter.refused {
        return CallError::MemoryLimit {
            limit_mib: (state.limiter.limit() >> 20) as u64,
            requested_mib: (requested as u64).div_ceil(1 << 20),
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallError::Deadline(options.limits.time_per_call()),
        Some(Trap::StackOverflow) => CallError::StackOverflow,
        Some(Trap::UnreachableCodeReached) => CallError::Panic(panic_message(&state.output.stderr_tail())),
        Some(trap) => CallError::Trap(with_output(trap.to_string(), &state.output.stderr_tail())),
        None => CallError::Trap(with_output(format!("{error:#}"), &state.output.stderr_tail())),
    }
}

/// Longest excerpt of a guest's stderr put into an error.
const MAX_STDERR_IN_ERROR: usize = 2000;

/// The panic message in a guest's stderr, on one line: a Rust panic's
/// message, or else the last lines the guest wrote (a Python or JavaScript
/// exception and its traceback).
fn panic_message(stderr: &str) -> String {
    let lines: Vec<&str> =
        stderr.lines().skip_while(|l| !l.contains("panicked")).filter(|l| !l.starts_with("note:")).collect();
    if !lines.is_empty() {
        return lines.join(" ").replace("thread '<unnamed>' ", "").replace("thread 'main' ", "");
    }
    match last_output(stderr) {
        Some(output) => format!("aborted (wasm `unreachable`); the plugin's last output: {output}"),
        None => "aborted (wasm `unreachable`), no panic message on stderr".into(),
    }
}

/// `message`, followed by the guest's last stderr lines when it wrote any.
fn with_output(message: String, stderr: &str) -> String {
    match last_output(stderr) {
        Some(output) => format!("{message}; the plugin's last output: {output}"),
        None => message,
    }
}

/// The guest's last stderr lines on one line (` | ` between lines), the end
/// kept when too long: the exception comes last in a traceback.
fn last_output(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return None;
    }
    let joined = lines.join(" | ");
    if joined.len() <= MAX_STDERR_IN_ERROR {
        return Some(joined);
    }
    let mut start = joined.len() - MAX_STDERR_IN_ERROR;
    while !joined.is_char_boundary(start) {
        start += 1;
    }
    Some(format!("…{}", &joined[start..]))
}

// Loading lives with the plugin it makes, so that the sandbox (engine,
// linker, compile cache) knows nothing of loaded plugins: `loaded` imports
// `sandbox`, never the other way round.
impl Sandbox {
    /// Reads, verifies, compiles (or fetches from the cache), checks against
    /// the contract and configures the plugin at `path`. A first instance is
    /// started, configured and kept, so that a bad config fails here.
    pub fn load(&self, path: &Path, options: LoadOptions) -> Result<Plugin, PluginError> {
        let compiled = self.compile(path, &options)?;
        Plugin::prepare(self.clone(), path, compiled, options)
    }

    /// What the plugin at `path` says about itself (name, version, kind,
    /// licence, config schema, …), without configuring it: for `kiln plugin
    /// inspect` and for checking configs against the schema. Only `info` is
    /// called, in a fresh instance that is then dropped.
    pub fn describe(&self, path: &Path, options: &LoadOptions) -> Result<PluginInfo, PluginError> {
        let compiled = self.compile(path, options)?;
        let (_, _, info) = Plugin::start_first(self, path, compiled, options)?;
        Ok(info)
    }
}

impl Plugin {
    /// Pre-instantiates a compiled component, starts a first instance and
    /// reads its `info`, checked against the exported world and the stage's
    /// needs (the instance is not configured yet).
    fn start_first(
        sandbox: &Sandbox,
        path: &Path,
        compiled: Compiled,
        options: &LoadOptions,
    ) -> Result<(WorldPre, Instance, PluginInfo), PluginError> {
        let Compiled { size, sha256, component, contract } = compiled;
        let label = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let start_error =
            |message: String| PluginError::Start { plugin: label.clone(), stage: options.stage.clone(), message };
        let pre = sandbox.inner.linker.instantiate_pre(&component).map_err(|e| start_error(format!("{e:#}")))?;
        let pre = WorldPre::new(contract.kind, pre).map_err(|e| start_error(format!("{e:#}")))?;
        let mut first = Instance::start(sandbox, &pre, &label, options).map_err(|e| match e {
            CallError::Contract(message) => PluginError::ContractTypes {
                path: path.to_path_buf(),
                contract: super::inspect::CONTRACT_VERSION,
                message,
            },
            e => start_error(e.to_string()),
        })?;
        let info = first
            .invoke(options, |w, s| plugin_interface!(w, |p| p.call_info(&mut *s)))
            .map_err(|e| start_error(format!("`info` {e}")))?;
        let said = PluginKind::from(info.kind);
        if said != contract.kind {
            return Err(PluginError::InconsistentKind {
                plugin: info.name,
                path: path.to_path_buf(),
                world: contract.kind,
                said,
            });
        }
        if let Some(expected) = options.expect_kind.filter(|k| *k != contract.kind) {
            return Err(PluginError::WrongKind {
                plugin: info.name,
                path: path.to_path_buf(),
                actual: contract.kind,
                expected,
                needed_by: options.stage.clone(),
            });
        }
        let config_schema = match &info.config_schema {
            Some(text) => Some(ConfigSchema::parse(text).map_err(|message| PluginError::BadConfigSchema {
                plugin: info.name.clone(),
                path: path.to_path_buf(),
                message,
            })?),
            None => None,
        };
        let info = PluginInfo {
            name: info.name,
            version: info.version,
            kind: contract.kind,
            description: info.description,
            license: info.license,
            config_schema,
            reads: match contract.kind {
                PluginKind::Mapper => RecordParts::ALL,
                _ => RecordParts::from_wit(info.reads),
            },
            sha256,
            size,
            world: format!("kiln:plugin/{}@{}", contract.kind.world(), super::inspect::CONTRACT_VERSION),
            imports: contract.imports,
        };
        Ok((pre, first, info))
    }

    /// Builds the plugin from a compiled component: starts a first instance
    /// (see [`Plugin::start_first`]), checks the stage's config against the
    /// plugin's schema, and configures it.
    fn prepare(sandbox: Sandbox, path: &Path, compiled: Compiled, options: LoadOptions) -> Result<Plugin, PluginError> {
        let (pre, mut first, info) = Plugin::start_first(&sandbox, path, compiled, &options)?;
        if let Some(schema) = &info.config_schema {
            let problems = schema.check(&config_value(&options.config));
            if !problems.is_empty() {
                return Err(PluginError::ConfigInvalid { plugin: info.name, stage: options.stage.clone(), problems });
            }
        }
        let configured = first
            .invoke(&options, |w, s| plugin_interface!(w, |p| p.call_configure(&mut *s, &options.config)))
            .map_err(|e| PluginError::Start {
                plugin: info.name.clone(),
                stage: options.stage.clone(),
                message: format!("`configure` {e}"),
            })?;
        if let Err(message) = configured {
            return Err(PluginError::ConfigRejected { plugin: info.name, stage: options.stage.clone(), message });
        }
        Ok(Plugin {
            inner: Arc::new(PluginInner {
                sandbox,
                path: path.to_path_buf(),
                info,
                options,
                pre,
                idle: Mutex::new(vec![first]),
            }),
        })
    }

    /// What the plugin is.
    pub fn info(&self) -> &PluginInfo {
        &self.inner.info
    }

    /// The component file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The stage it serves.
    pub fn stage(&self) -> &str {
        &self.inner.options.stage
    }

    /// Its lineage step: `stage=name@version#<first 12 hex digits of its sha256>`.
    pub fn step(&self) -> String {
        let sha = &self.inner.info.sha256;
        format!("{}={}#{}", self.stage(), self.label(), &sha[..12.min(sha.len())])
    }

    /// The configuration it was started with, as JSON.
    pub fn config(&self) -> &str {
        &self.inner.options.config
    }

    /// `name@version`, for lineage and messages.
    pub fn label(&self) -> String {
        format!("{}@{}", self.inner.info.name, self.inner.info.version)
    }

    /// Starts a fresh instance and drops it, without calling into it: what a
    /// run pays per instance before `info` and `configure` (the pooling
    /// allocator's part; `cargo xtask bench` measures it).
    pub fn check_instantiate(&self) -> Result<(), PluginError> {
        let inner = &*self.inner;
        Instance::start(&inner.sandbox, &inner.pre, &inner.info.name, &inner.options).map(drop).map_err(|e| {
            PluginError::Start {
                plugin: inner.info.name.clone(),
                stage: inner.options.stage.clone(),
                message: e.to_string(),
            }
        })
    }

    /// Starts and configures a fresh instance, then discards it: the cost every
    /// instance start pays (after a trap, say). For benchmarks and health checks.
    pub fn check_start(&self) -> Result<(), PluginError> {
        self.start().map(drop).map_err(|e| PluginError::Start {
            plugin: self.inner.info.name.clone(),
            stage: self.inner.options.stage.clone(),
            message: e.to_string(),
        })
    }

    fn start(&self) -> Result<Instance, CallError> {
        let inner = &*self.inner;
        let mut instance = Instance::start(&inner.sandbox, &inner.pre, &inner.info.name, &inner.options)
            .map_err(|e| CallError::Restart(e.to_string()))?;
        match instance.configure(&inner.options) {
            Ok(Ok(())) => Ok(instance),
            Ok(Err(message)) => Err(CallError::Restart(format!("configure failed: {message}"))),
            Err(e) => Err(CallError::Restart(format!("start-up call {e}"))),
        }
    }

    fn checkout(&self) -> Result<Instance, CallError> {
        let idle = self.inner.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match idle {
            Some(instance) => Ok(instance),
            None => self.start(),
        }
    }

    fn checkin(&self, instance: Instance) {
        self.inner.idle.lock().unwrap_or_else(PoisonError::into_inner).push(instance);
    }

    /// Runs `call` over `items` with isolation of failing records. A batch
    /// with an answer over the output size limit fails as a whole, like one
    /// that traps, so that bisection pins the error on that record alone and
    /// the answers that pass need no second look.
    fn run<I, O>(
        &self,
        items: &[I],
        call: impl Fn(&World, &mut Store<GuestState>, &[I]) -> Option<wasmtime::Result<Vec<O>>>,
        size: impl Fn(&O) -> usize,
    ) -> Result<Answers<O>, PluginError> {
        let options = &self.inner.options;
        let limit = options.limits.max_output_bytes;
        let mut slot: Option<Instance> = None;
        let mut batch_call = |batch: &[I]| -> Result<Vec<O>, CallError> {
            let mut instance = match slot.take() {
                Some(instance) => instance,
                None => self.checkout()?,
            };
            let result = instance.invoke(options, |w, s| match call(w, s, batch) {
                Some(r) => r,
                None => Err(wasmtime::format_err!("wrong world")),
            });
            // A trapped instance is poisoned; a bloated one is recycled.
            if result.is_ok() && instance.reusable() {
                slot = Some(instance);
            }
            let outputs = result?;
            match outputs.iter().map(&size).find(|&bytes| bytes > limit) {
                Some(bytes) => Err(CallError::OutputTooLarge { bytes, limit }),
                None => Ok(outputs),
            }
        };
        let results = run_isolated(items, &mut batch_call).map_err(|e| PluginError::Start {
            plugin: self.inner.info.name.clone(),
            stage: options.stage.clone(),
            message: e.to_string(),
        })?;
        if let Some(instance) = slot {
            self.checkin(instance);
        }
        Ok(results)
    }

    fn expect(&self, kind: PluginKind) -> Result<(), PluginError> {
        if self.inner.info.kind == kind {
            return Ok(());
        }
        Err(PluginError::WrongKind {
            plugin: self.inner.info.name.clone(),
            path: self.inner.path.clone(),
            actual: self.inner.info.kind,
            expected: kind,
            needed_by: self.inner.options.stage.clone(),
        })
    }

    /// Filters a batch: one verdict (or call error) per record.
    pub fn filter(&self, records: &[impl BatchRecord]) -> Result<Answers<Verdict>, PluginError> {
        self.expect(PluginKind::Filter)?;
        self.run(
            records,
            |w, s, batch| match w {
                World::Filter(f) => Some(
                    with_packed(s, batch, self.inner.info.reads, |s, b| f.kiln_plugin_filter().call_filter(s, b))
                        .and_then(|verdicts| verdict::decode(verdicts).map_err(contract_error)),
                ),
                _ => None,
            },
            Verdict::size,
        )
    }

    /// Maps a batch: one rewritten record, drop, or call error per record. A
    /// rewrite that changes the record's id breaks the contract.
    pub fn transform(&self, records: &[impl BatchRecord]) -> Result<Answers<wit::Mapped>, PluginError> {
        self.expect(PluginKind::Mapper)?;
        let results = self.run(
            records,
            |w, s, batch| match w {
                World::Mapper(m) => Some(with_packed(s, batch, self.inner.info.reads, |s, b| {
                    m.kiln_plugin_mapper().call_transform(s, b)
                })),
                _ => None,
            },
            |m| match m {
                wit::Mapped::Keep(r) => record_size(r),
                wit::Mapped::Drop(reason) => reason.len(),
            },
        )?;
        Ok(results
            .into_iter()
            .zip(records)
            .map(|(r, input)| match r {
                Ok(wit::Mapped::Keep(out)) if out.id != input.id() => Err(CallError::Contract(format!(
                    "mapper changed the record id from `{}` to `{}`",
                    input.id(),
                    out.id
                ))),
                other => other,
            })
            .collect())
    }

    /// A generator's prompts for one request (exactly `request.count` of them).
    pub fn generator_prompts(
        &self,
        request: &wit::GenerationRequest,
    ) -> Result<Result<Vec<wit::Prompt>, CallError>, PluginError> {
        self.expect(PluginKind::Generator)?;
        let mut results = self.run(
            std::slice::from_ref(request),
            |w, s, batch| match w {
                World::Generator(g) => {
                    Some(g.kiln_plugin_generator().call_prompts(&mut *s, &batch[0]).map(|p| vec![p]))
                }
                _ => None,
            },
            |prompts: &Vec<wit::Prompt>| prompts.iter().map(prompt_size).max().unwrap_or(0),
        )?;
        let result = results.pop().unwrap_or(Err(CallError::WrongCount { expected: 1, got: 0 }));
        Ok(result.and_then(|prompts| {
            if prompts.len() == request.count as usize {
                Ok(prompts)
            } else {
                Err(CallError::WrongCount { expected: request.count as usize, got: prompts.len() })
            }
        }))
    }

    /// A generator's parse of completions: the records in each, or why not.
    pub fn generator_parse(
        &self,
        completions: &[wit::Completion],
    ) -> Result<Answers<Result<Vec<wit::DataRecord>, String>>, PluginError> {
        self.expect(PluginKind::Generator)?;
        self.run(
            completions,
            |w, s, batch| match w {
                World::Generator(g) => Some(g.kiln_plugin_generator().call_parse(s, batch)),
                _ => None,
            },
            |r| match r {
                Ok(records) => records.iter().map(record_size).sum(),
                Err(e) => e.len(),
            },
        )
    }

    /// A critic's judge prompt per record.
    pub fn critic_prompts(&self, records: &[impl BatchRecord]) -> Result<Answers<wit::Prompt>, PluginError> {
        self.expect(PluginKind::Critic)?;
        self.run(
            records,
            |w, s, batch| match w {
                World::Critic(c) => {
                    Some(with_packed(s, batch, self.inner.info.reads, |s, b| c.kiln_plugin_critic().call_prompts(s, b)))
                }
                _ => None,
            },
            prompt_size,
        )
    }

    /// A critic's parse of judge completions.
    pub fn critic_parse(
        &self,
        completions: &[wit::Completion],
    ) -> Result<Answers<Result<wit::Critique, String>>, PluginError> {
        self.expect(PluginKind::Critic)?;
        self.run(
            completions,
            |w, s, batch| match w {
                World::Critic(c) => Some(c.kiln_plugin_critic().call_parse(s, batch)),
                _ => None,
            },
            |r| match r {
                Ok(c) => c.rationale.len() + c.scores.iter().map(|s| s.name.len() + 8).sum::<usize>(),
                Err(e) => e.len(),
            },
        )
    }

    /// A refiner's rewrite prompt per record.
    pub fn refiner_prompts(&self, records: &[impl BatchRecord]) -> Result<Answers<wit::Prompt>, PluginError> {
        self.expect(PluginKind::Refiner)?;
        self.run(
            records,
            |w, s, batch| match w {
                World::Refiner(r) => Some(with_packed(s, batch, self.inner.info.reads, |s, b| {
                    r.kiln_plugin_refiner().call_prompts(s, b)
                })),
                _ => None,
            },
            prompt_size,
        )
    }

    /// A refiner's check of each rewrite.
    pub fn refiner_verify(&self, rewrites: &[wit::Rewrite]) -> Result<Answers<wit::RewriteCheck>, PluginError> {
        self.expect(PluginKind::Refiner)?;
        self.run(
            rewrites,
            |w, s, batch| match w {
                World::Refiner(r) => Some(r.kiln_plugin_refiner().call_verify(s, batch)),
                _ => None,
            },
            |c| match c {
                wit::RewriteCheck::Accept => 0,
                wit::RewriteCheck::Reject(reason) => reason.len(),
            },
        )
    }

    /// An embedded model's completion per prompt.
    pub fn model_complete(&self, prompts: &[wit::Prompt], seed: u64) -> Result<Answers<wit::Completion>, PluginError> {
        self.expect(PluginKind::Model)?;
        self.run(
            prompts,
            |w, s, batch| match w {
                World::Model(m) => Some(m.kiln_plugin_model().call_complete(s, batch, seed)),
                _ => None,
            },
            |c| c.text.len() + c.tag.len(),
        )
    }
}

fn record_size(r: &wit::DataRecord) -> usize {
    r.id.len() + r.text.len() + r.metadata.len() + r.scores.iter().map(|s| s.name.len() + 8).sum::<usize>()
}

fn prompt_size(p: &wit::Prompt) -> usize {
    p.tag.len() + p.messages.iter().map(|m| m.role.len() + m.content.len()).sum::<usize>()
}

/// A stage's config JSON as a value (`{}` when empty; the host builds it from
/// TOML, so it parses; anything else is checked as a string and refused).
fn config_value(config: &str) -> serde_json::Value {
    if config.trim().is_empty() {
        return serde_json::Value::Object(Default::default());
    }
    serde_json::from_str(config).unwrap_or_else(|_| serde_json::Value::String(config.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_traceback_explains_an_abort() {
        let stderr = "Traceback (most recent call last):\n  File \"app.py\", line 9, in filter\nValueError: no text";
        let message = panic_message(stderr);
        assert!(message.contains("ValueError: no text"), "{message}");
        assert!(message.starts_with("aborted (wasm `unreachable`); the plugin's last output: Traceback"), "{message}");
        let long = format!("{}\nTypeError: last", "x".repeat(5000));
        let message = with_output("trapped".into(), &long);
        assert!(message.ends_with("TypeError: last") && message.len() < MAX_STDERR_IN_ERROR + 100, "{message}");
        assert_eq!(with_output("trapped".into(), "  \n"), "trapped");
    }

    #[test]
    fn panic_message_is_extracted_from_stderr() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:12:9:\nboom on record r7\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace";
        assert_eq!(panic_message(stderr), "panicked at src/lib.rs:12:9: boom on record r7");
        assert!(panic_message("").contains("no panic message"));
    }

    #[test]
    fn a_contract_error_keeps_its_kind_through_the_call() {
        let store = Store::new(&wasmtime::Engine::default(), GuestState::new("p", 1 << 20));
        let options = LoadOptions::new("stage", Some(PluginKind::Filter));
        let error = contract_error("verdict 2 names no drop reason".into());
        assert_eq!(classify(error, &store, &options), CallError::Contract("verdict 2 names no drop reason".into()));
        let other = classify(wasmtime::format_err!("something else"), &store, &options);
        assert!(matches!(other, CallError::Trap(_)), "{other:?}");
    }

    #[test]
    fn deadline_rounds_up_to_ticks() {
        assert_eq!(deadline_ticks(Duration::from_millis(0)), 2);
        assert_eq!(deadline_ticks(EPOCH_TICK * 10), 11);
    }
}
