//! Built-in stateless stages that need no plugin: `threshold` (keep records
//! whose score lies within bounds), `sample` (keep a seeded, deterministic
//! fraction of records) and `decontaminate` ([`super::decontaminate`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use sha2::{Digest, Sha256};

use super::keep_if::{Decision, KeepIf};
use super::{PhaseCx, PreparedStage, StageError, StageOp, StageOutput};
use crate::outcome::{Outcome, Rejected, Rejection};
use crate::record::Record;

/// What a threshold stage does with a record that lacks the score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// Reject it with reason `threshold:<score>:missing` (default).
    #[default]
    Reject,
    /// Keep it.
    Keep,
}

/// `config` of a `threshold` stage: `score` within `[min, max]`, or a
/// `keep_if` expression ([`KeepIf`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdConfig {
    /// The score to test, e.g. `quality`.
    #[serde(default)]
    pub score: Option<String>,
    /// An expression over `scores.*` and `metadata.*`; records for which it is true are kept.
    #[serde(default, deserialize_with = "keep_if")]
    pub keep_if: Option<KeepIf>,
    /// Lowest value kept (inclusive).
    #[serde(default)]
    pub min: Option<f64>,
    /// Highest value kept (inclusive).
    #[serde(default)]
    pub max: Option<f64>,
    /// Records without the score.
    #[serde(default)]
    pub missing: Missing,
}

impl ThresholdConfig {
    /// Checks that the bounds make sense.
    pub fn check(&self) -> Result<(), String> {
        match (&self.score, &self.keep_if) {
            (Some(_), Some(_)) => return Err("give either `score` (with `min`/`max`) or `keep_if`, not both".into()),
            (None, None) => return Err("give `score` with `min`/`max`, or `keep_if = \"scores.x >= 1\"`".into()),
            (None, Some(_)) if self.min.is_some() || self.max.is_some() => {
                return Err("`min` and `max` go with `score`; write the bounds into `keep_if`".into());
            }
            (None, Some(_)) => return Ok(()),
            (Some(_), None) => {}
        }
        match (self.min, self.max) {
            (None, None) => Err("give `min`, `max` or both".into()),
            (Some(lo), Some(hi)) if lo > hi => Err(format!("min ({lo}) is greater than max ({hi})")),
            _ => Ok(()),
        }
    }

    /// Why `record` is rejected, if it is: `(class, reason)`.
    fn reject(&self, record: &Record) -> Option<(String, String)> {
        let same = |class: String| Some((class.clone(), class));
        if let Some(expr) = &self.keep_if {
            return match expr.decide(record) {
                Decision::Keep => None,
                Decision::Drop => Some(("threshold:keep_if".into(), format!("threshold:keep_if ({})", expr.source()))),
                Decision::Missing(var) if self.missing == Missing::Reject => same(format!("threshold:{var}:missing")),
                Decision::Missing(_) => None,
                Decision::Error(e) => {
                    Some(("threshold:keep_if-error".into(), format!("threshold:keep_if-error ({e})")))
                }
            };
        }
        let name = self.score.as_deref().unwrap_or_default();
        match record.scores.get(name) {
            None if self.missing == Missing::Reject => same(format!("threshold:{name}:missing")),
            None => None,
            Some(v) if self.min.is_some_and(|m| *v < m) => same(format!("threshold:{name}:below-min")),
            Some(v) if self.max.is_some_and(|m| *v > m) => same(format!("threshold:{name}:above-max")),
            Some(v) if v.is_nan() => same(format!("threshold:{name}:nan")),
            Some(_) => None,
        }
    }
}

fn keep_if<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<KeepIf>, D::Error> {
    let source = String::deserialize(d)?;
    KeepIf::parse(&source).map(Some).map_err(serde::de::Error::custom)
}

/// `config` of a `sample` stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    /// Share of records kept, in `[0, 1]`.
    pub fraction: f64,
}

impl SampleConfig {
    /// Checks the fraction.
    pub fn check(&self) -> Result<(), String> {
        if (0.0..=1.0).contains(&self.fraction) {
            Ok(())
        } else {
            Err(format!("fraction must be between 0 and 1, not {}", self.fraction))
        }
    }
}

/// The stateless built-ins as stages: each chunk decided on a blocking thread.
impl StageOp for Builtin {
    fn fingerprint(&self, hash: &mut Sha256) {
        if let Builtin::Decontaminate(d) = self {
            hash.update(d.digest().to_le_bytes());
        }
    }

    fn lineage_step(&self, stage: &str) -> Option<String> {
        Some(format!("{stage}=builtin:{}", self.name()))
    }

    fn prepare(&self, cx: &PhaseCx<'_>) -> Result<Arc<dyn PreparedStage>, StageError> {
        Ok(Arc::new(PreparedBuiltin { name: cx.stage.name.clone(), builtin: self.clone() }))
    }
}

struct PreparedBuiltin {
    name: String,
    builtin: Builtin,
}

#[async_trait::async_trait]
impl PreparedStage for PreparedBuiltin {
    async fn apply(&self, records: Vec<Record>) -> Result<StageOutput, StageError> {
        let (builtin, name) = (self.builtin.clone(), self.name.clone());
        let (outcomes, details) = tokio::task::spawn_blocking(move || builtin.apply(&name, records)).await?;
        Ok(StageOutput { outcomes, details, state: None, ..Default::default() })
    }
}

/// A built-in stateless stage, configured.
#[derive(Debug, Clone)]
pub enum Builtin {
    /// Keep records whose score lies within bounds.
    Threshold(ThresholdConfig),
    /// Keep a deterministic fraction of records: those whose id hashes (with
    /// the pipeline's seed and the stage's name) below `fraction`.
    Sample {
        /// The configuration.
        config: SampleConfig,
        /// The pipeline's seed.
        seed: u64,
    },
    /// Flag records sharing n-grams with benchmarks.
    Decontaminate(Arc<super::decontaminate::Decontaminator>),
}

impl Builtin {
    /// Runs the stage over records: one outcome per record, and details for
    /// the stage's statistics.
    pub fn apply(&self, stage: &str, records: Vec<Record>) -> (Vec<Outcome>, BTreeMap<String, i64>) {
        if let Builtin::Decontaminate(d) = self {
            return d.apply(stage, records);
        }
        let outcomes = records
            .into_iter()
            .map(|record| {
                let reason = match self {
                    Builtin::Threshold(t) => t.reject(&record),
                    Builtin::Sample { config, seed } => {
                        let key = format!("{seed}\0{stage}\0{}", record.id);
                        let h = xxhash_rust::xxh3::xxh3_64(key.as_bytes());
                        let u = (h >> 11) as f64 / (1u64 << 53) as f64;
                        (u >= config.fraction)
                            .then(|| ("sample:not-selected".to_string(), "sample:not-selected".to_string()))
                    }
                    Builtin::Decontaminate(_) => None,
                };
                match reason {
                    None => Outcome::Kept(record),
                    Some((class, reason)) => Outcome::Rejected(Rejected {
                        record,
                        rejected: Rejection::new(stage, format!("builtin:{}", self.name()), class, reason),
                    }),
                }
            })
            .collect();
        (outcomes, BTreeMap::new())
    }

    fn name(&self) -> &'static str {
        match self {
            Builtin::Threshold(_) => "threshold",
            Builtin::Sample { .. } => "sample",
            Builtin::Decontaminate(_) => "decontaminate",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Builtin {
        fn apply_outcomes(&self, stage: &str, records: Vec<Record>) -> Vec<Outcome> {
            self.apply(stage, records).0
        }
    }

    fn with_score(id: &str, v: Option<f64>) -> Record {
        let mut r = Record::new(id, "t");
        if let Some(v) = v {
            r.scores.insert("q".into(), v);
        }
        r
    }

    fn reasons(outcomes: &[Outcome]) -> Vec<Option<String>> {
        outcomes
            .iter()
            .map(|o| match o {
                Outcome::Rejected(r) => Some(r.rejected.reason.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn thresholds_are_inclusive_and_name_the_failure() {
        let t = ThresholdConfig {
            score: Some("q".into()),
            keep_if: None,
            min: Some(0.5),
            max: Some(1.0),
            missing: Missing::Reject,
        };
        t.check().expect("valid");
        let out = Builtin::Threshold(t).apply_outcomes(
            "th",
            vec![
                with_score("a", Some(0.5)),
                with_score("b", Some(0.4)),
                with_score("c", Some(1.5)),
                with_score("d", None),
            ],
        );
        assert_eq!(
            reasons(&out),
            vec![
                None,
                Some("threshold:q:below-min".into()),
                Some("threshold:q:above-max".into()),
                Some("threshold:q:missing".into())
            ]
        );
        let bad =
            ThresholdConfig { score: Some("q".into()), keep_if: None, min: None, max: None, missing: Missing::Keep };
        assert!(bad.check().is_err());
        let both = ThresholdConfig {
            score: Some("q".into()),
            keep_if: KeepIf::parse("scores.q > 1").ok(),
            min: None,
            max: None,
            missing: Missing::Keep,
        };
        assert!(both.check().is_err());
    }

    #[test]
    fn keep_if_expressions_filter() {
        let t = ThresholdConfig {
            score: None,
            keep_if: KeepIf::parse("scores.q >= 0.5").ok(),
            min: None,
            max: None,
            missing: Missing::Reject,
        };
        t.check().expect("valid");
        let out = Builtin::Threshold(t)
            .apply_outcomes("th", vec![with_score("a", Some(0.7)), with_score("b", Some(0.1)), with_score("c", None)]);
        assert_eq!(
            reasons(&out),
            vec![None, Some("threshold:keep_if (scores.q >= 0.5)".into()), Some("threshold:scores.q:missing".into())]
        );
    }

    #[test]
    fn sampling_is_deterministic_and_close_to_the_fraction() {
        let records = || (0..10_000).map(|i| Record::new(format!("r{i}"), "t")).collect::<Vec<_>>();
        let sample = Builtin::Sample { config: SampleConfig { fraction: 0.1 }, seed: 7 };
        let kept = |out: &[Outcome]| out.iter().filter(|o| matches!(o, Outcome::Kept(_))).count();
        let first = sample.apply_outcomes("s", records());
        let n = kept(&first);
        assert!((900..1100).contains(&n), "kept {n} of 10000");
        assert_eq!(reasons(&sample.apply_outcomes("s", records())), reasons(&first), "same seed, same sample");
        let other = Builtin::Sample { config: SampleConfig { fraction: 0.1 }, seed: 8 };
        assert_ne!(reasons(&other.apply_outcomes("s", records())), reasons(&first), "another seed, another sample");
        assert!(SampleConfig { fraction: 1.5 }.check().is_err());
    }
}
