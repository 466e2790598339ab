//! What a person at a terminal sees and types (issue 20, items 14 and 15):
//! progress bars that other stderr output cannot tear, readable rates, names
//! with escape sequences printed as text, Ctrl-C that says how to resume, and
//! `--work-dir` / `--out` in place of the file's directories.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kiln_tests::{kiln_bin, one_stage_pipeline, target_dir, wasm, write_records};

fn kiln(args: &[&str], dir: &Path) -> Output {
    Command::new(kiln_bin())
        .args(args)
        .current_dir(dir)
        .env("KILN_CACHE_DIR", target_dir().join("kiln-test-cache"))
        .env("KILN_LOG", "warn")
        .output()
        .expect("kiln runs")
}

/// A pipeline whose hostile stage makes each chunk slow (a `LOOP` record
/// costs the call's deadline) and chatty on stderr (guest lines logged at
/// debug), so that bars are drawn while other output arrives.
fn slow_chatty_pipeline(dir: &Path, chunks: usize) -> std::path::PathBuf {
    let mut input = String::new();
    for chunk in 0..chunks {
        input += &format!("{{\"id\":\"loop{chunk}\",\"text\":\"LOOP\"}}\n{{\"id\":\"log{chunk}\",\"text\":\"LOG\"}}\n");
    }
    std::fs::write(dir.join("in.jsonl"), input).expect("input");
    let text = format!(
        r#"[pipeline]
name = "terminal"
work_dir = "work"
chunk_size = 2

[[input]]
path = "in.jsonl"

[[stage]]
name = "hostile"
kind = "filter"
plugin = "{hostile}"
limits = {{ time_per_call_ms = 150 }}

[output]
dir = "out"
"#,
        hostile = wasm("hostile-filter").display()
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).expect("pipeline");
    path
}

/// Columns of the pseudo-terminal the bars are drawn on.
const WIDTH: usize = 150;

/// The screen a terminal `WIDTH` columns wide would show after `bytes`: enough
/// of a VT100 to follow indicatif (carriage return, newline, automatic wrap at
/// the last column, cursor up and down, erase in line and display; colours
/// ignored).
fn screen(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut rows: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
            }
            '\u{1b}' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut params = String::new();
                let mut command = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() || c == '~' {
                        command = c;
                        break;
                    }
                    params.push(c);
                }
                let n = params.trim_start_matches('?').split(';').next().and_then(|p| p.parse().ok());
                match command {
                    'A' => row = row.saturating_sub(n.unwrap_or(1)),
                    'B' => row += n.unwrap_or(1),
                    'G' => col = n.unwrap_or(1).saturating_sub(1),
                    'K' => {
                        while rows.len() <= row {
                            rows.push(Vec::new());
                        }
                        match n.unwrap_or(0) {
                            0 => rows[row].truncate(col),
                            _ => rows[row].clear(),
                        }
                    }
                    'J' => {
                        while rows.len() <= row {
                            rows.push(Vec::new());
                        }
                        rows[row].truncate(col);
                        rows.truncate(row + 1);
                    }
                    _ => {}
                }
            }
            c if c.is_control() => {}
            c => {
                if col >= WIDTH {
                    row += 1;
                    col = 0;
                }
                while rows.len() <= row {
                    rows.push(Vec::new());
                }
                let line = &mut rows[row];
                while line.len() < col {
                    line.push(' ');
                }
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
            }
        }
    }
    rows.into_iter().map(|r| r.into_iter().collect::<String>().trim_end().to_string()).collect()
}

#[test]
fn stderr_written_while_bars_are_drawn_leaves_no_frozen_bars() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = slow_chatty_pipeline(dir.path(), 12);
    let typescript = dir.path().join("typescript");
    // `script` gives kiln a pseudo-terminal, so it draws bars as on a desk.
    let command = format!("stty cols {WIDTH} rows 50; {} run {}", kiln_bin().display(), file.display());
    let status = Command::new("script")
        .args(["-qefc", &command])
        .arg(&typescript)
        .current_dir(dir.path())
        .env("KILN_CACHE_DIR", target_dir().join("kiln-test-cache"))
        .env("KILN_LOG", "kiln=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("script (util-linux) runs");
    assert!(status.success(), "kiln run under a pty failed");
    let bytes = std::fs::read(&typescript).expect("typescript");
    let raw = String::from_utf8_lossy(&bytes);
    assert!(raw.contains("lines,"), "no progress bar was drawn at all: the test proves nothing\n{raw}");
    let shown = screen(&bytes);
    let summary = shown.iter().position(|l| l.contains("kiln run: `terminal` done")).expect("summary shown");
    let frozen: Vec<&String> = shown.iter().filter(|l| l.contains(" lines, ") || l.contains("% kept,")).collect();
    assert!(frozen.is_empty(), "bars left on the screen after the run:\n{}", shown.join("\n"));
    let guest_lines = shown[..summary].iter().filter(|l| l.contains("hostile stderr line")).count();
    assert!(guest_lines >= 12, "every guest line is shown above the bars, got {guest_lines}:\n{}", shown.join("\n"));
    let long_fraction = |w: &str| w.split_once('.').is_some_and(|(_, fraction)| fraction.len() > "4/s,".len());
    assert!(
        !raw.split(char::is_whitespace).any(|w| w.ends_with("/s,") && long_fraction(w)),
        "rates have at most one decimal:\n{raw}"
    );
}

#[test]
fn ctrl_c_says_how_to_resume_and_the_rerun_finishes() {
    let dir = tempfile::tempdir().expect("tempdir");
    slow_chatty_pipeline(dir.path(), 40);
    let child = Command::new(kiln_bin())
        .args(["run", "pipeline.toml", "--out", "elsewhere"])
        .current_dir(dir.path())
        .env("KILN_CACHE_DIR", target_dir().join("kiln-test-cache"))
        .env("KILN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kiln runs");
    // Interrupt once the run has committed its first chunk.
    let started = Instant::now();
    while !std::fs::read_to_string(dir.path().join("work/manifest.json")).is_ok_and(|m| m.contains("\"index\"")) {
        assert!(started.elapsed() < Duration::from_secs(60), "the run never committed a chunk");
        std::thread::sleep(Duration::from_millis(50));
    }
    let interrupted = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(interrupted.success());
    let out = child.wait_with_output().expect("kiln exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted. Every committed chunk is kept")
            && stderr.contains("kiln run pipeline.toml --out elsewhere"),
        "{stderr}"
    );
    let resumed = kiln(&["run", "pipeline.toml", "--out", "elsewhere"], dir.path());
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    assert!(stderr.contains("resumed from an earlier run") && stderr.contains("80 lines"), "{stderr}");
}

#[test]
fn work_dir_and_out_on_the_command_line_replace_the_files_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_records(&dir.path().join("in.jsonl"), 7);
    one_stage_pipeline(dir.path(), "in.jsonl", "work", "out", "length");
    let out = kiln(&["run", "pipeline.toml", "--work-dir", "w2", "--out", "o2"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("o2/kept.jsonl").is_file() && dir.path().join("w2/manifest.json").is_file());
    assert!(!dir.path().join("out").exists() && !dir.path().join("work").exists(), "the file's own dirs untouched");

    let refused = kiln(&["validate", "pipeline.toml", "--work-dir", "."], dir.path());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("--work-dir") && stderr.contains("holds the pipeline file"), "{stderr}");
}

#[test]
fn help_names_the_environment_and_the_plugin_kinds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = String::from_utf8_lossy(&kiln(&["run", "--help"], dir.path()).stdout).into_owned();
    assert!(run.contains("KILN_LOG") && run.contains("KILN_DEVICE") && run.contains("--work-dir"), "{run}");
    let new = String::from_utf8_lossy(&kiln(&["plugin", "new", "--help"], dir.path()).stdout).into_owned();
    for kind in ["filter", "mapper", "generator", "critic", "refiner", "model"] {
        assert!(new.contains(kind), "`plugin new --help` lists {kind}:\n{new}");
    }
}

#[test]
fn names_with_escape_sequences_print_as_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_records(&dir.path().join("in.jsonl"), 2);
    let file = one_stage_pipeline(dir.path(), "in.jsonl", "work", "out", "length");
    let text = std::fs::read_to_string(&file).expect("pipeline");
    std::fs::write(&file, text.replace("name = \"safety\"", "name = \"evil\\u001b[2J\"")).expect("rewrite");
    let out = kiln(&["run", "pipeline.toml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains('\u{1b}') && stderr.contains("evil\\u{1b}[2J"), "{stderr}");
}
