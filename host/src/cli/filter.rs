//! `kiln filter`: the smallest useful run — one filter or mapper plugin over
//! JSONL, streaming, with every record accounted for.
//!
//! Kept records go to stdout (or `--output`), rejected records with their reason
//! to `--rejected`, and quarantined records and unreadable lines with their
//! error to `--quarantine`. A summary goes to stderr.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use kiln::Record;
use kiln::jsonl::{BadLine, JsonlLines};
use kiln::outcome::{Outcome, Quarantined, Tally, apply};
use kiln::plugin::{LoadOptions, PluginKind, PluginLimits, Sandbox};
use kiln::record::JSONL_BUFFER_BYTES;

/// Arguments of `kiln filter`.
#[derive(Debug, clap::Args)]
pub struct FilterArgs {
    /// The filter or mapper plugin (.wasm).
    #[arg(long)]
    plugin: PathBuf,
    /// The plugin's config as JSON.
    #[arg(long, default_value = "{}")]
    config: String,
    /// Refuse to load the plugin unless its sha256 is this.
    #[arg(long)]
    sha256: Option<String>,
    /// Input JSONL (default: stdin).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Where kept records go (default: stdout).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Where rejected records go, each with its stage, plugin and reason.
    #[arg(long, default_value = "kiln-rejected.jsonl")]
    rejected: PathBuf,
    /// Where quarantined records go, each with its error.
    #[arg(long, default_value = "kiln-quarantine.jsonl")]
    quarantine: PathBuf,
    /// Records per plugin call.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Memory cap of the plugin, MiB.
    #[arg(long, default_value_t = PluginLimits::default().memory_mib)]
    memory_mib: u64,
    /// CPU deadline per plugin call, milliseconds.
    #[arg(long, default_value_t = PluginLimits::default().time_per_call_ms)]
    time_per_call_ms: u64,
    /// Stage name used in rejections, quarantine entries and lineage.
    #[arg(long, default_value = "filter")]
    stage: String,
}

/// A JSONL sink created on first write, so that an empty one leaves no file.
struct LazySink {
    path: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl LazySink {
    fn new(path: &Path) -> Self {
        LazySink { path: path.to_path_buf(), writer: None }
    }

    fn write(&mut self, value: &impl serde::Serialize) -> anyhow::Result<()> {
        if self.writer.is_none() {
            let file = File::create(&self.path).with_context(|| format!("cannot create {}", self.path.display()))?;
            self.writer = Some(BufWriter::with_capacity(JSONL_BUFFER_BYTES, file));
        }
        if let Some(w) = self.writer.as_mut() {
            serde_json::to_writer(&mut *w, value)?;
            w.write_all(b"\n").with_context(|| format!("writing {}", self.path.display()))?;
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        if let Some(mut w) = self.writer {
            w.flush().with_context(|| format!("writing {}", self.path.display()))?;
        }
        Ok(())
    }
}

struct Sinks {
    kept: Box<dyn Write>,
    kept_name: String,
    rejected: LazySink,
    quarantine: LazySink,
    tally: Tally,
}

impl Sinks {
    fn emit(&mut self, outcome: Outcome) -> anyhow::Result<()> {
        self.tally.add(&outcome);
        match outcome {
            Outcome::Kept(record) => {
                serde_json::to_writer(&mut self.kept, &record)?;
                self.kept.write_all(b"\n").with_context(|| format!("writing {}", self.kept_name))?;
            }
            Outcome::Rejected(r) => self.rejected.write(&r)?,
            Outcome::Quarantined(q) => {
                tracing::warn!("quarantined: {}", q.describe());
                self.quarantine.write(&q)?;
            }
        }
        Ok(())
    }
}

pub fn run(sandbox: &Sandbox, args: &FilterArgs) -> anyhow::Result<ExitCode> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    serde_json::from_str::<serde_json::Value>(&args.config)
        .with_context(|| format!("--config is not valid JSON: {}", args.config))?;
    let options = LoadOptions {
        stage: args.stage.clone(),
        expect_kind: None,
        sha256: args.sha256.clone(),
        config: args.config.clone(),
        limits: PluginLimits {
            memory_mib: args.memory_mib,
            time_per_call_ms: args.time_per_call_ms,
            ..PluginLimits::default()
        },
    };
    let plugin = sandbox.load(&args.plugin, options)?;
    let kind = plugin.info().kind;
    if !matches!(kind, PluginKind::Filter | PluginKind::Mapper) {
        bail!(
            "{} is a {kind} plugin; `kiln filter` runs filter and mapper plugins (run {kind} plugins in a pipeline stage)",
            args.plugin.display()
        );
    }
    tracing::info!(plugin = %plugin.label(), kind = %kind, "plugin ready");

    let (reader, source): (Box<dyn BufRead>, String) = match &args.input {
        Some(path) => {
            let file = File::open(path).with_context(|| format!("cannot open input {}", path.display()))?;
            (Box::new(BufReader::with_capacity(JSONL_BUFFER_BYTES, file)), path.display().to_string())
        }
        None => (Box::new(BufReader::with_capacity(JSONL_BUFFER_BYTES, std::io::stdin().lock())), "stdin".to_string()),
    };
    let (kept, kept_name): (Box<dyn Write>, String) = match &args.output {
        Some(path) => {
            let file = File::create(path).with_context(|| format!("cannot create output {}", path.display()))?;
            (Box::new(BufWriter::with_capacity(JSONL_BUFFER_BYTES, file)), path.display().to_string())
        }
        None => {
            (Box::new(BufWriter::with_capacity(JSONL_BUFFER_BYTES, std::io::stdout().lock())), "stdout".to_string())
        }
    };
    let mut sinks = Sinks {
        kept,
        kept_name,
        rejected: LazySink::new(&args.rejected),
        quarantine: LazySink::new(&args.quarantine),
        tally: Tally::default(),
    };

    // Unreadable lines are quarantined in input order between the batches.
    let mut batch: Vec<Record> = Vec::with_capacity(args.batch_size);
    let mut pending: Vec<(usize, Outcome)> = Vec::new();
    let flush =
        |batch: &mut Vec<Record>, pending: &mut Vec<(usize, Outcome)>, sinks: &mut Sinks| -> anyhow::Result<()> {
            let outcomes = apply(&plugin, std::mem::take(batch))?;
            let mut unreadable = std::mem::take(pending).into_iter().peekable();
            for (i, outcome) in outcomes.into_iter().enumerate() {
                while let Some((_, q)) = unreadable.next_if(|(before, _)| *before <= i) {
                    sinks.emit(q)?;
                }
                sinks.emit(outcome)?;
            }
            for (_, q) in unreadable {
                sinks.emit(q)?;
            }
            Ok(())
        };
    let mut lines = JsonlLines::new(reader, source);
    while let Some(line) = lines.next() {
        let parsed = line.and_then(|line| {
            Record::from_json_line(&line, lines.source(), lines.line()).map_err(|error| BadLine { error, lossy: line })
        });
        match parsed {
            Ok(record) => batch.push(record),
            Err(bad) => {
                pending.push((batch.len(), Outcome::Quarantined(Quarantined::unreadable(&bad.error, &bad.lossy))))
            }
        }
        if batch.len() == args.batch_size {
            flush(&mut batch, &mut pending, &mut sinks)?;
        }
    }
    flush(&mut batch, &mut pending, &mut sinks)?;

    let Sinks { mut kept, kept_name, rejected, quarantine, tally } = sinks;
    kept.flush().with_context(|| format!("writing {kept_name}"))?;
    rejected.finish()?;
    quarantine.finish()?;
    eprintln!(
        "kiln filter: {} in, {} kept, {} rejected{}, {} quarantined{}",
        tally.input,
        tally.kept,
        tally.rejected_total(),
        if tally.rejected_total() > 0 { format!(" (-> {})", args.rejected.display()) } else { String::new() },
        tally.quarantined,
        if tally.quarantined > 0 { format!(" (-> {})", args.quarantine.display()) } else { String::new() },
    );
    for (reason, n) in &tally.rejected {
        eprintln!("  rejected {n:>8}  {reason}");
    }
    Ok(ExitCode::SUCCESS)
}
