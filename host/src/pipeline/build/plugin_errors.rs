//! A plugin that did not load, as diagnostics of the pipeline file.
//!
//! Most load errors are one message at the plugin reference. A config that
//! breaks the plugin's published schema is one diagnostic per problem, each
//! at the key or value it names in the stage's (or model's) `config`, so
//! that `kiln validate` lists every wrong key at once, with its line.

use std::ops::Range;

use crate::pipeline::config::config_location::config_value_span;
use crate::pipeline::config::diagnostic::{Diagnostic, SourceMap, did_you_mean};
use crate::plugin::PluginError;
use kiln_sandbox::config_schema::display_path;

/// What a plugin was loaded for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Owner<'a> {
    /// A stage, by name.
    Stage(&'a str),
    /// A model (`[models.NAME]`), by name.
    Model(&'a str),
}

/// The diagnostics of `error`, which loading the plugin referenced at
/// `reference` (the span of its `plugin` value) for `owner` gave.
pub(super) fn load_error_diagnostics(
    map: &SourceMap<'_>,
    reference: Range<usize>,
    owner: Owner<'_>,
    error: PluginError,
) -> Vec<Diagnostic> {
    let (stage, prefix) = match owner {
        Owner::Stage(name) => (Some(name), String::new()),
        Owner::Model(name) => (None, format!("model `{name}`: ")),
    };
    match error {
        PluginError::ConfigInvalid { plugin, problems, .. } => problems
            .into_iter()
            .map(|problem| {
                let span = config_value_span(map.text(), &reference, &problem.pointer).unwrap_or(reference.clone());
                let path = display_path(&problem.pointer);
                let message = match (&path, problem.allowed_keys.is_empty()) {
                    (Some(_), false) => format!("config: {} (plugin {plugin} does not take it)", problem.message),
                    (Some(path), true) => format!("config `{path}`: {} (plugin {plugin}'s schema)", problem.message),
                    (None, _) => format!("config: {} (plugin {plugin}'s schema)", problem.message),
                };
                let mut d = map.at(Some(span), stage, format!("{prefix}{message}"));
                if !problem.allowed_keys.is_empty() {
                    let key = kiln_sandbox::config_schema::pointer_segments(&problem.pointer).pop().unwrap_or_default();
                    d.hint = did_you_mean(&key, problem.allowed_keys.iter().map(String::as_str))
                        .or_else(|| Some(format!("its keys: {}", problem.allowed_keys.join(", "))));
                }
                d
            })
            .collect(),
        PluginError::Read { .. } => {
            let mut d = map.at(Some(reference), stage, format!("{prefix}{error}"));
            d.hint = Some(
                "plugin paths are relative to the pipeline file; build first-party plugins with `cargo xtask plugins`"
                    .into(),
            );
            vec![d]
        }
        other => vec![map.at(Some(reference), stage, format!("{prefix}{other}"))],
    }
}
