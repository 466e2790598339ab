//! The `[[input]]` tables: globs expanded (capped), formats told from
//! extensions, Parquet footers and schemas read so that a corrupt file fails
//! validation rather than the run.

use std::path::Path;

use crate::objects::{ObjectPattern, ObjectUrl};
use crate::pipeline::config::diagnostic::{Diagnostic, SourceMap};
use crate::pipeline::config::{InputConfig, InputFormat};
use crate::pipeline::input::Input;

/// Names that JSONL inputs end with.
const JSONL_EXTENSIONS: [&str; 5] = [".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".ndjson"];

/// Checks one `[[input]]`: the files it matches, and their format.
pub(super) fn check_input(map: &SourceMap<'_>, base: &Path, input: &InputConfig) -> Result<Input, Diagnostic> {
    if ObjectUrl::is_object(input.path.get_ref()) {
        return check_object(map, input);
    }
    let pattern = base.join(input.path.get_ref());
    let pattern_text = pattern.to_string_lossy().into_owned();
    let at = |message: String, hint: &str| {
        let mut d = map.at(Some(input.path.span()), None, message);
        d.hint = Some(hint.to_string());
        d
    };
    let files = crate::files::expand_glob(&pattern).map_err(|e| match e {
        crate::files::GlobError::Pattern { message, .. } => at(
            format!("`{}` is not a valid path or glob: {message}", input.path.get_ref()),
            "use `*` and `**` as in `data/**/*.jsonl`",
        ),
        e @ crate::files::GlobError::TooBroad { .. } => at(e.to_string(), "paths are relative to the pipeline file"),
    })?;
    if files.is_empty() && !pattern.is_file() && pattern.exists() {
        return Err(at(
            crate::files::check_regular(&pattern).err().map_or_else(String::new, |e| format!("input {e}")),
            "an input is a JSONL or Parquet file (or a glob of them)",
        ));
    }
    if files.is_empty() {
        return Err(at(
            format!("input `{}` matches no file (looked for {pattern_text})", input.path.get_ref()),
            "paths are relative to the pipeline file",
        ));
    }
    let format = match input.format {
        Some(f) => f,
        None => {
            let name = input.path.get_ref().to_ascii_lowercase();
            if name.ends_with(".parquet") {
                InputFormat::Parquet
            } else if JSONL_EXTENSIONS.iter().any(|ext| name.ends_with(ext)) {
                InputFormat::Jsonl
            } else {
                return Err(at(
                    format!("cannot tell the format of `{}` from its extension", input.path.get_ref()),
                    "set `format = \"jsonl\"` or `format = \"parquet\"`",
                ));
            }
        }
    };
    if format == InputFormat::Parquet {
        // The footer and schema are read here, so that a corrupt file fails
        // validation rather than the run.
        for file in &files {
            crate::pipeline::input::parquet::ParquetRows::open(file, &input.text_field, &input.id_field).map_err(
                |e| {
                    at(
                        e.to_string(),
                        "check the file (a truncated copy?) and its columns; `text_field` names the text column",
                    )
                },
            )?;
        }
    }
    Ok(Input {
        files,
        objects: Vec::new(),
        format,
        text_field: input.text_field.clone(),
        id_field: input.id_field.clone(),
    })
}

/// Checks an `[[input]]` naming objects: one (`s3://bucket/key`), every
/// object under a prefix (`s3://bucket/web/`) or a glob of keys
/// (`s3://bucket/web/**/*.jsonl.gz`), which must exist, be JSONL (told from
/// each key, or `format`) and be readable with the credentials the environment gives.
fn check_object(map: &SourceMap<'_>, input: &InputConfig) -> Result<Input, Diagnostic> {
    let text = input.path.get_ref();
    let at = |message: String, hint: &str| {
        let mut d = map.at(Some(input.path.span()), None, message);
        d.hint = Some(hint.to_string());
        d
    };
    let credentials = crate::objects::Scheme::split(text).map_or("", |(scheme, _)| scheme.credentials_hint());
    let objects = if ObjectPattern::names_many(text) {
        let pattern = ObjectPattern::parse(text).map_err(|e| at(e, "e.g. path = \"s3://corpus/web/**/*.jsonl.gz\""))?;
        let objects = pattern.expand().map_err(|e| at(format!("cannot list `{text}`: {e}"), credentials))?;
        if objects.is_empty() {
            return Err(at(format!("input `{text}` matches no object"), "check the bucket, the prefix and the glob"));
        }
        objects
    } else {
        let mut url =
            ObjectUrl::parse(text).map_err(|e| at(e, "e.g. path = \"s3://corpus/web/part-0001.jsonl.gz\""))?;
        url.head().map_err(|e| at(format!("cannot read `{text}`: {e}"), credentials))?;
        vec![url]
    };
    // One format for the input: given, or told from every object's key.
    let told = |url: &ObjectUrl| {
        let name = url.key.to_ascii_lowercase();
        if name.ends_with(".parquet") {
            Some(InputFormat::Parquet)
        } else {
            JSONL_EXTENSIONS.iter().any(|ext| name.ends_with(ext)).then_some(InputFormat::Jsonl)
        }
    };
    let mut format = input.format;
    for url in &objects {
        match (format, told(url)) {
            (None, Some(f)) => format = Some(f),
            (Some(_), _) if input.format.is_some() => {}
            (Some(f), Some(g)) if f == g => {}
            (_, None) => {
                return Err(at(
                    format!("cannot tell the format of `{url}` from its extension"),
                    "set `format = \"jsonl\"` or `\"parquet\"`, or narrow the input with a glob (e.g. `*.jsonl.gz`)",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(at(
                    format!("`{text}` names JSONL and Parquet objects (`{url}`)"),
                    "one input has one format: give each format an [[input]] of its own",
                ));
            }
        }
    }
    let format = format.unwrap_or(InputFormat::Jsonl);
    if format == InputFormat::Parquet {
        // From the footer alone, so that a corrupt object fails validation rather than the run.
        for url in &objects {
            crate::pipeline::input::parquet::ParquetRows::check_object(url, &input.text_field).map_err(|e| {
                at(format!("`{url}` {e}"), "check the object and its columns; `text_field` names the text column")
            })?;
        }
    }
    Ok(Input {
        files: Vec::new(),
        objects,
        format,
        text_field: input.text_field.clone(),
        id_field: input.id_field.clone(),
    })
}
