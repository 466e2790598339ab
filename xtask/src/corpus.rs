//! Extracts real prose from the Rust documentation shipped with the toolchain
//! (`$(rustc --print sysroot)/share/doc/rust/html`) into JSONL records.
//!
//! Each HTML page (source-code views excepted) is parsed with `scraper`; the
//! headings, paragraphs and code blocks of its `<main>` are grouped into one
//! record per section (a new section starts at every `h1`–`h3`). Pages are
//! visited in sorted order, so the corpus is the same on every machine with the
//! same toolchain. The documentation repeats itself (e.g. `core` and `std`
//! re-export the same items), which makes it a fair test of deduplication too.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use scraper::{ElementRef, Html, Selector};

/// Arguments of `cargo xtask corpus`.
#[derive(clap::Args)]
pub struct CorpusArgs {
    /// Output JSONL file.
    #[arg(long)]
    pub out: PathBuf,
    /// Stop after this many records.
    #[arg(long, default_value_t = 100_000)]
    pub limit: usize,
    /// Take every N-th page only (spreads a small sample over the whole documentation).
    #[arg(long, default_value_t = 1)]
    pub stride: usize,
    /// Take at most this many sections of one page (long API pages have hundreds).
    #[arg(long, default_value_t = usize::MAX)]
    pub max_per_page: usize,
    /// Leave out sections shorter than this many characters.
    #[arg(long, default_value_t = 0)]
    pub min_chars: usize,
    /// Leave out every page of this JSONL corpus (its `metadata.page`), e.g.
    /// to write a held-out set disjoint from a training sample.
    #[arg(long)]
    pub exclude: Option<PathBuf>,
}

fn docs_root() -> anyhow::Result<PathBuf> {
    let out = Command::new("rustc").args(["--print", "sysroot"]).output().context("running rustc --print sysroot")?;
    let root = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("share/doc/rust/html");
    if !root.is_dir() {
        bail!("{} does not exist: install the rust-docs component (`rustup component add rust-docs`)", root.display());
    }
    Ok(root)
}

fn html_pages(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut pages = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "src") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "html") {
                pages.push(path);
            }
        }
    }
    pages.sort();
    Ok(pages)
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The sections of one page: each a list of blocks.
fn sections(html: &str, blocks: &Selector, main: &Selector) -> Vec<String> {
    let doc = Html::parse_document(html);
    let Some(root) = doc.select(main).next().or_else(|| Some(doc.root_element())) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for el in root.select(blocks) {
        let name = el.value().name();
        if matches!(name, "h1" | "h2" | "h3") && !current.is_empty() {
            out.push(current.join("\n\n"));
            current.clear();
        }
        let text = block_text(&el, name);
        if !text.is_empty() {
            current.push(text);
        }
    }
    if !current.is_empty() {
        out.push(current.join("\n\n"));
    }
    out
}

fn block_text(el: &ElementRef<'_>, name: &str) -> String {
    let raw: String = el.text().collect();
    if name == "pre" { raw.trim_end().to_string() } else { collapse_whitespace(&raw) }
}

/// The pages (`metadata.page`) of the corpus at `path`.
fn excluded_pages(path: &Path) -> anyhow::Result<std::collections::HashSet<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut pages = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
        if let Some(page) = value.pointer("/metadata/page").and_then(|p| p.as_str()) {
            pages.insert(page.to_string());
        }
    }
    Ok(pages)
}

/// Writes the corpus.
pub fn run(args: &CorpusArgs) -> anyhow::Result<()> {
    let root = docs_root()?;
    let pages = html_pages(&root)?;
    let blocks = Selector::parse("h1, h2, h3, h4, p, pre").map_err(|e| anyhow::anyhow!("selector: {e}"))?;
    let main = Selector::parse("main").map_err(|e| anyhow::anyhow!("selector: {e}"))?;
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out =
        BufWriter::new(std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?);
    let excluded = match &args.exclude {
        Some(path) => excluded_pages(path)?,
        None => std::collections::HashSet::new(),
    };
    let (mut records, mut bytes) = (0usize, 0usize);
    'pages: for page in pages.iter().step_by(args.stride.max(1)) {
        let rel = page.strip_prefix(&root).unwrap_or(page).display().to_string();
        if excluded.contains(&rel) {
            continue;
        }
        let Ok(html) = std::fs::read_to_string(page) else { continue };
        let long_enough = sections(&html, &blocks, &main).into_iter().filter(|t| t.chars().count() >= args.min_chars);
        for (i, text) in long_enough.take(args.max_per_page).enumerate() {
            let line = serde_json::json!({ "id": format!("{rel}#{i}"), "text": text, "metadata": { "source": "rust-docs", "page": rel } });
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
            records += 1;
            bytes += text.len();
            if records >= args.limit {
                break 'pages;
            }
        }
    }
    out.flush()?;
    eprintln!("xtask: wrote {records} records ({:.1} MB of text) to {}", bytes as f64 / 1e6, args.out.display());
    Ok(())
}
