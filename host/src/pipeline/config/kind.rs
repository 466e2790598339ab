//! The stage kinds a pipeline file may name, and the plugin kind each runs.

use crate::plugin::PluginKind;

/// A stage kind, as a pipeline file names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    /// Keep or drop records with a filter plugin.
    Filter,
    /// Rewrite records with a mapper plugin.
    Map,
    /// Built-in: drop records whose normalised text an earlier record had.
    Dedup,
    /// Built-in: keep records whose score lies within bounds.
    Threshold,
    /// Built-in: keep a seeded, deterministic fraction of records.
    Sample,
    /// Built-in: flag records sharing n-grams with benchmark texts.
    Decontaminate,
    /// Generate records: generator plugin → prompts → model → parsed records.
    Generate,
    /// Judge records: critic plugin → judge prompts → model → scores.
    Critique,
    /// Rewrite real records: refiner plugin → prompt → model → verified rewrite.
    Refine,
    /// Barrier: train a hashed n-gram classifier on labels a judge set.
    TrainClassifier,
    /// Built-in: score records with a trained classifier and filter by threshold.
    Classify,
    /// Barrier: train character-level students on the records.
    TrainStudent,
    /// Barrier: evaluate trained students on held-out items.
    Eval,
    /// Built-in: pass what reviewers accepted, reject what they rejected,
    /// stop the run at records nobody has labelled.
    Review,
}

impl StageKind {
    /// Every stage kind: its name in a pipeline file, and the plugin kind it
    /// runs (`None`: built in).
    pub const KINDS: [(&'static str, StageKind, Option<PluginKind>); 14] = [
        ("filter", StageKind::Filter, Some(PluginKind::Filter)),
        ("map", StageKind::Map, Some(PluginKind::Mapper)),
        ("dedup", StageKind::Dedup, None),
        ("threshold", StageKind::Threshold, None),
        ("sample", StageKind::Sample, None),
        ("decontaminate", StageKind::Decontaminate, None),
        ("generate", StageKind::Generate, Some(PluginKind::Generator)),
        ("critique", StageKind::Critique, Some(PluginKind::Critic)),
        ("refine", StageKind::Refine, Some(PluginKind::Refiner)),
        ("train-classifier", StageKind::TrainClassifier, None),
        ("classify", StageKind::Classify, None),
        ("train-student", StageKind::TrainStudent, None),
        ("eval", StageKind::Eval, None),
        ("review", StageKind::Review, None),
    ];

    /// The kind named `name` in a pipeline file.
    pub fn from_name(name: &str) -> Option<StageKind> {
        StageKind::KINDS.iter().find(|(n, _, _)| *n == name).map(|(_, k, _)| *k)
    }

    /// The kind as written in a pipeline file.
    pub fn name(self) -> &'static str {
        StageKind::KINDS.iter().find(|(_, k, _)| *k == self).map_or("?", |(n, _, _)| n)
    }

    /// Whether a stage of this kind asks a model.
    pub fn uses_model(self) -> bool {
        matches!(self, StageKind::Generate | StageKind::Critique | StageKind::Refine)
    }

    /// The plugin kind the stage needs.
    pub fn plugin_kind(self) -> Option<PluginKind> {
        StageKind::KINDS.iter().find(|(_, k, _)| *k == self).and_then(|(_, _, p)| *p)
    }
}
