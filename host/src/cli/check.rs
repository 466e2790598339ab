//! `kiln plugin check`: what a plugin author runs before publishing.
//!
//! Three checks, cheapest first, each aimed at a trap authors of plugins in
//! other languages fell into:
//! 1. imports, read from the bytes before compiling: a componentize-js
//!    component imports `wasi:http` unless told not to, and learning that
//!    after a long compile, one import at a time, wastes an afternoon;
//! 2. that it compiles, starts and takes its config;
//! 3. that it answers a batch of non-ASCII records the same whole as one
//!    record per call. The `*-ends` columns are UTF-8 byte offsets, and a
//!    plugin that slices its language's strings with them (Python code
//!    points, JavaScript UTF-16 units) gets every record after the first
//!    non-ASCII one wrong, yet passes any test of one record at a time.

use std::fmt::Debug;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use kiln::Record;
use kiln::human::printable;
use kiln::jsonl::JsonlLines;
use kiln::plugin::{Answers, LoadOptions, Plugin, PluginKind, Sandbox, declared_imports, import_allowed};

/// Arguments of `kiln plugin check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The plugin component (.wasm).
    file: PathBuf,
    /// The plugin's config as JSON.
    #[arg(long, default_value = "{}")]
    config: String,
    /// JSONL records to check with (default: a built-in batch of non-ASCII
    /// texts, ids and metadata).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
}

/// Texts in many scripts, with multi-byte characters before ASCII ones, so
/// that byte and code-point offsets part early in the batch.
const SAMPLE_TEXTS: [&str; 12] = [
    "Crème brûlée is a dessert of rich custard topped with caramelised sugar.",
    "日本語のテキストは一文字が三バイトです。",
    "plain ASCII text that follows multi-byte records in the batch",
    "Ελληνικά: ένα κείμενο με τόνους και διαλυτικά.",
    "emoji 🎉 and a family 👩‍👩‍👧 take four bytes per code point",
    "",
    "e\u{301} combining accents: cafe\u{301}, nai\u{308}ve",
    "שלום עולם — right-to-left text with an em dash",
    "zero\u{200b}width\u{200b}spaces and\u{a0}no-break spaces",
    "a",
    "Русский текст: съешь же ещё этих мягких французских булок.",
    "the last record, ASCII again, where a wrong offset lands furthest off",
];

fn sample_records() -> Vec<Record> {
    SAMPLE_TEXTS
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let mut record = Record::new(format!("échantillon-{i}-✓"), *text);
            record.metadata.insert("langue".into(), serde_json::Value::String(format!("exemple №{i}")));
            record
        })
        .collect()
}

fn read_records(path: &PathBuf) -> anyhow::Result<Vec<Record>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let name = path.display().to_string();
    let mut records = Vec::new();
    for line in JsonlLines::new(BufReader::new(file), name.clone()) {
        let text = line.map_err(|bad| anyhow::anyhow!("{}", bad.error))?;
        let number = records.len() + 1;
        records.push(Record::from_json_line(&text, &name, number).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    if records.is_empty() {
        bail!("{} holds no records", path.display());
    }
    Ok(records)
}

pub fn run(sandbox: &Sandbox, args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let bytes = kiln::files::read_capped(&args.file, kiln::files::MAX_PLUGIN_BYTES, "a plugin")?;
    let imports = declared_imports(&bytes)
        .map_err(|e| anyhow::anyhow!("{} is not a WebAssembly component: {e}", args.file.display()))?;
    let refused: Vec<&String> = imports.iter().filter(|i| !import_allowed(i)).collect();
    println!("imports ({}, read before compiling):", imports.len());
    for import in &imports {
        println!("  {}  {}", if import_allowed(import) { "ok     " } else { "REFUSED" }, printable(import));
    }
    if !refused.is_empty() {
        println!("{} import(s) refused: the plugin cannot load; nothing else was checked", refused.len());
        if refused.iter().any(|i| i.starts_with("wasi:http/")) {
            println!("  hint: componentize-js imports wasi:http unless built with `-d http fetch-event`");
        }
        return Ok(ExitCode::FAILURE);
    }
    let started = std::time::Instant::now();
    let mut options = LoadOptions::new("check", None);
    options.config = args.config.clone();
    let plugin = sandbox.load(&args.file, options).with_context(|| format!("loading {}", args.file.display()))?;
    let info = plugin.info();
    println!(
        "loaded in {:.1}s: {} plugin `{}` {} (configured with {})",
        started.elapsed().as_secs_f64(),
        info.kind,
        printable(&info.name),
        printable(&info.version),
        printable(&args.config)
    );
    let records = match &args.input {
        Some(path) => read_records(path)?,
        None => sample_records(),
    };
    let disagreements = match info.kind {
        PluginKind::Filter => compare(&records, |r| plugin.filter(r))?,
        PluginKind::Mapper => compare(&records, |r| plugin.transform(r))?,
        PluginKind::Critic => compare(&records, |r| plugin.critic_prompts(r))?,
        PluginKind::Refiner => compare(&records, |r| plugin.refiner_prompts(r))?,
        PluginKind::Generator | PluginKind::Model => {
            println!("a {} plugin takes no record batch: the batch check does not apply", info.kind);
            return Ok(ExitCode::SUCCESS);
        }
    };
    report(&plugin, &records, &disagreements)
}

/// One record on which the whole batch and a call of its own disagree.
struct Disagreement {
    index: usize,
    whole: String,
    alone: String,
}

/// Runs `call` on the whole batch and on each record alone.
fn compare<T: Debug>(
    records: &[Record],
    call: impl Fn(&[Record]) -> Result<Answers<T>, kiln::plugin::PluginError>,
) -> anyhow::Result<Vec<Disagreement>> {
    let whole = call(records)?;
    let mut found = Vec::new();
    for (index, (record, together)) in records.iter().zip(&whole).enumerate() {
        let alone = call(std::slice::from_ref(record))?;
        let (together, alone) = (format!("{together:?}"), format!("{:?}", alone.first()));
        if format!("Some({together})") != alone {
            found.push(Disagreement { index, whole: together, alone });
        }
    }
    Ok(found)
}

fn report(plugin: &Plugin, records: &[Record], disagreements: &[Disagreement]) -> anyhow::Result<ExitCode> {
    let label = printable(&plugin.label());
    if disagreements.is_empty() {
        println!("{label}: {} records, whole batch and one per call agree", records.len());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{label}: {} of {} records answered differently in a batch than alone:",
        disagreements.len(),
        records.len()
    );
    for d in disagreements {
        let cut = |s: &str| printable(&s.chars().take(160).collect::<String>());
        println!("  record {} (`{}`)", d.index + 1, printable(&records[d.index].id));
        println!("    in the batch: {}", cut(&d.whole));
        println!("    alone:        {}", cut(&d.alone));
    }
    println!(
        "hint: the `*-ends` of a record-batch are UTF-8 byte offsets; slice the column's bytes, not the string \
         of a language that counts code points or UTF-16 units (see wit/README.md, \"Offsets are bytes\")"
    );
    Ok(ExitCode::FAILURE)
}
