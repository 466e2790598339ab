//! Records: the unit of data, as read from and written to JSONL.
//!
//! A JSONL line is a JSON object with a string `text`. `id` (string or
//! number) is kept when present and derived from the source and line
//! (`input.jsonl:12`) when not; `metadata` (an object) and `scores` (an object
//! of numbers) are kept; any other top-level field moves into `metadata`, so
//! nothing the user wrote is lost.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::plugin::{BatchRecord, LineageRef, wit};

/// The buffer size for reading and writing JSONL files: large enough that a
/// run makes a few hundred system calls per 10 MB rather than thousands.
pub const JSONL_BUFFER_BYTES: usize = 1 << 16;

/// One unit of data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Stable identifier.
    pub id: String,
    /// The text stages work on.
    pub text: String,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// Named scores from earlier stages.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scores: BTreeMap<String, f64>,
    /// Provenance.
    #[serde(default)]
    pub lineage: Lineage,
}

/// Where a record came from and what touched it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Lineage {
    /// `file:line`, or `stage:<name>` for generated records.
    pub source: String,
    /// The record this one derives from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Generation round; 0 for real data.
    #[serde(default)]
    pub round: u32,
    /// `stage=plugin@version` for every stage that touched the record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
}

/// Plugins read records in place: packing one into a batch copies only the
/// parts the plugin reads.
impl BatchRecord for Record {
    fn id(&self) -> &str {
        &self.id
    }
    fn text(&self) -> &str {
        &self.text
    }
    fn write_metadata(&self, out: &mut String) {
        out.push_str(&self.metadata_json());
    }
    fn scores(&self) -> impl Iterator<Item = (&str, f64)> {
        self.scores.iter().map(|(name, value)| (name.as_str(), *value))
    }
    fn lineage(&self) -> LineageRef<'_> {
        let l = &self.lineage;
        LineageRef { source: &l.source, parent: l.parent.as_deref(), round: l.round, steps: &l.steps }
    }
}

/// A JSONL line that is not a record.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{source_name}:{line}: {message}")]
pub struct LineError {
    /// File name (or `stdin`).
    pub source_name: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong and what to do.
    pub message: String,
}

/// A plugin returned a record the host cannot accept.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("record `{id}` has metadata that is not a JSON object: {message}")]
pub struct MetadataError {
    /// The record.
    pub id: String,
    /// Why.
    pub message: String,
}

impl Record {
    /// A record with `id` and `text` and nothing else.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Record {
            id: id.into(),
            text: text.into(),
            metadata: Map::new(),
            scores: BTreeMap::new(),
            lineage: Lineage::default(),
        }
    }

    /// Parses line `line` (1-based) of `source_name`.
    pub fn from_json_line(text: &str, source_name: &str, line: usize) -> Result<Record, LineError> {
        let object =
            json_object(text).map_err(|message| LineError { source_name: source_name.to_string(), line, message })?;
        Record::from_json_object(object, source_name, line)
    }

    /// The record in a parsed JSONL line (line `line` of `source_name`).
    pub fn from_json_object(
        mut object: Map<String, Value>,
        source_name: &str,
        line: usize,
    ) -> Result<Record, LineError> {
        let fail = |message: String| LineError { source_name: source_name.to_string(), line, message };
        let text = match object.remove("text") {
            Some(Value::String(s)) => s,
            Some(other) => return Err(fail(format!("\"text\" must be a string, found {}", type_name(&other)))),
            None => {
                let fix =
                    "name the field that holds the text \"text\", or, in a pipeline, set the input's `text_field`";
                return Err(fail(missing_field("text", &object, fix)));
            }
        };
        let origin = format!("{source_name}:{line}");
        let id = match object.remove("id") {
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(Value::Number(n)) => n.to_string(),
            None | Some(Value::Null) | Some(Value::String(_)) => origin.clone(),
            Some(other) => {
                return Err(fail(format!("\"id\" must be a string or a number, found {}", type_name(&other))));
            }
        };
        let mut metadata = match object.remove("metadata") {
            Some(Value::Object(m)) => m,
            None | Some(Value::Null) => Map::new(),
            Some(other) => return Err(fail(format!("\"metadata\" must be an object, found {}", type_name(&other)))),
        };
        let scores = match object.remove("scores") {
            Some(v @ Value::Object(_)) => {
                serde_json::from_value(v).map_err(|e| fail(format!("\"scores\" must map names to numbers ({e})")))?
            }
            None | Some(Value::Null) => BTreeMap::new(),
            Some(other) => return Err(fail(format!("\"scores\" must be an object, found {}", type_name(&other)))),
        };
        let lineage = match object.remove("lineage") {
            Some(v @ Value::Object(_)) => {
                serde_json::from_value(v).map_err(|e| fail(format!("\"lineage\" is malformed ({e})")))?
            }
            _ => Lineage { source: origin, ..Lineage::default() },
        };
        metadata.extend(object);
        Ok(Record { id, text, metadata, scores, lineage })
    }

    /// The record as the WIT type that crosses into plugins.
    pub fn to_wit(&self) -> wit::DataRecord {
        wit::DataRecord {
            id: self.id.clone(),
            text: self.text.clone(),
            metadata: self.metadata_json().into_owned(),
            scores: self.scores.iter().map(|(name, value)| wit::Score { name: name.clone(), value: *value }).collect(),
            lineage: wit::Lineage {
                source: self.lineage.source.clone(),
                parent: self.lineage.parent.clone(),
                round: self.lineage.round,
                steps: self.lineage.steps.clone(),
            },
        }
    }

    /// The record's metadata as a JSON object (`{}` when it has none).
    /// Borrowed when empty, so that packing a record without metadata
    /// allocates nothing; serialized once otherwise, not copied again.
    fn metadata_json(&self) -> Cow<'static, str> {
        if self.metadata.is_empty() {
            return Cow::Borrowed("{}");
        }
        // A map with string keys and JSON values always serializes.
        Cow::Owned(serde_json::to_string(&self.metadata).unwrap_or_else(|_| "{}".into()))
    }

    /// A record from the WIT type a plugin returned.
    pub fn from_wit(r: wit::DataRecord) -> Result<Record, MetadataError> {
        let metadata = match serde_json::from_str::<Value>(&r.metadata) {
            Ok(Value::Object(m)) => m,
            Ok(_) if r.metadata.trim().is_empty() => Map::new(),
            Ok(other) => return Err(MetadataError { id: r.id, message: format!("found {}", type_name(&other)) }),
            Err(e) => return Err(MetadataError { id: r.id, message: e.to_string() }),
        };
        Ok(Record {
            id: r.id,
            text: r.text,
            metadata,
            scores: r.scores.into_iter().map(|s| (s.name, s.value)).collect(),
            lineage: Lineage {
                source: r.lineage.source,
                parent: r.lineage.parent,
                round: r.lineage.round,
                steps: r.lineage.steps,
            },
        })
    }
}

/// The error for a line without the field `field`: names the fields it has,
/// since what is missing is usually there under another name (`content`,
/// `body`), and ends with `fix`.
pub fn missing_field(field: &str, object: &Map<String, Value>, fix: &str) -> String {
    const SHOWN: usize = 6;
    const LONGEST: usize = 40;
    let name = |k: &String| match k.char_indices().nth(LONGEST) {
        Some((cut, _)) => format!("\"{}…\"", &k[..cut]),
        None => format!("\"{k}\""),
    };
    let mut fields: Vec<String> = object.keys().take(SHOWN).map(name).collect();
    if object.len() > SHOWN {
        fields.push(format!("and {} more", object.len() - SHOWN));
    }
    let has = if fields.is_empty() { "no fields".to_string() } else { fields.join(", ") };
    format!("missing the \"{field}\" field (the line has {has}); {fix}")
}

/// A JSONL line parsed as a JSON object, or what is wrong with it.
pub fn json_object(line: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(line) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("expected a JSON object (one record per line)".into()),
        Err(e) => Err(format!("not valid JSON ({e}); each line must be one JSON object")),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_id_and_moves_extra_fields_into_metadata() {
        let r = Record::from_json_line(r#"{"text":"hi","url":"https://x","metadata":{"lang":"en"}}"#, "in.jsonl", 3)
            .expect("valid");
        assert_eq!(r.id, "in.jsonl:3");
        assert_eq!(r.lineage.source, "in.jsonl:3");
        assert_eq!(r.metadata["url"], "https://x");
        assert_eq!(r.metadata["lang"], "en");
    }

    #[test]
    fn numeric_ids_and_scores_are_kept() {
        let r = Record::from_json_line(r#"{"id":"","text":"t"}"#, "s", 4).expect("valid");
        assert_eq!(r.id, "s:4", "an empty id is derived like a missing one");
        let r = Record::from_json_line(r#"{"id":7,"text":"t","scores":{"q":0.5}}"#, "s", 1).expect("valid");
        assert_eq!(r.id, "7");
        assert_eq!(r.scores["q"], 0.5);
    }

    #[test]
    fn malformed_lines_name_file_line_and_fix() {
        let e = Record::from_json_line("{\"text\": ", "data.jsonl", 12).expect_err("invalid");
        assert!(e.to_string().starts_with("data.jsonl:12: not valid JSON"), "{e}");
        let e = Record::from_json_line("[1]", "d", 1).expect_err("invalid");
        assert!(e.message.contains("JSON object"));
        let e = Record::from_json_line(r#"{"body":"x"}"#, "d", 1).expect_err("invalid");
        assert!(e.message.contains("missing the \"text\" field (the line has \"body\")"), "{e}");
        let long = format!(r#"{{"{}":1,"a":1,"b":1,"c":1,"d":1,"e":1,"f":1}}"#, "0".repeat(500));
        let e = Record::from_json_line(&long, "d", 1).expect_err("invalid");
        assert!(e.message.contains("and 1 more") && e.message.contains("…") && e.message.len() < 300, "{e}");
        let e = Record::from_json_line(r#"{"text":3}"#, "d", 1).expect_err("invalid");
        assert!(e.message.contains("found a number"));
    }

    #[test]
    fn wit_round_trip_preserves_everything() {
        let mut r =
            Record::from_json_line(r#"{"id":"a","text":"t","metadata":{"k":[1,2]},"scores":{"s":1.5}}"#, "f", 1)
                .expect("valid");
        r.lineage.steps.push("len=length-filter@0.1.0".into());
        let back = Record::from_wit(r.to_wit()).expect("valid metadata");
        assert_eq!(back, r);
    }

    #[test]
    fn non_object_metadata_from_a_plugin_is_an_error() {
        let mut w = Record::new("a", "t").to_wit();
        w.metadata = "[1]".into();
        assert!(Record::from_wit(w).is_err());
    }
}

/// Packing the host's records into the contract's batches (the packer lives
/// in the sandbox; the record type and its `BatchRecord` impl live here).
#[cfg(test)]
mod packing_tests {
    use super::Record;
    use crate::plugin::{RecordParts, capacity, empty_batch, pack, pack_into, wit};

    #[test]
    fn packs_every_field_with_end_offsets() {
        let mut a = Record::new("a", "héllo");
        a.scores.insert("q".into(), 0.5);
        a.lineage.steps.push("s=p@1".into());
        let mut b = Record::new("bb", " world");
        b.lineage.parent = Some("a".into());
        b.lineage.round = 2;
        let packed = pack(&[a.to_wit(), b.to_wit()], RecordParts::ALL).expect("packs");
        assert_eq!(packed.ids, "abb");
        assert_eq!(packed.id_ends, vec![1, 3]);
        assert_eq!(packed.texts, "héllo world");
        assert_eq!(packed.text_ends, vec![6, 12]);
        assert_eq!(packed.metadata, "{}{}");
        assert_eq!(
            (packed.score_names.as_str(), packed.score_values.as_slice(), packed.score_ends.as_slice()),
            ("q", &[0.5][..], &[1, 1][..])
        );
        assert_eq!((packed.parents.as_str(), packed.parent_ends.as_slice()), ("a", &[0, 1][..]));
        assert_eq!(packed.rounds, vec![0, 2]);
        assert_eq!((packed.steps.as_str(), packed.step_ends.as_slice()), ("s=p@1\n", &[6, 6][..]));
    }

    /// A record with every part: a score, a parent and a step.
    fn full_record(id: &str, text: &str) -> Record {
        let mut r = Record::new(id, text);
        r.scores.insert("q".into(), 0.5);
        r.lineage.steps.push("s=p@1".into());
        r.lineage.parent = Some("p".into());
        r
    }

    #[test]
    fn host_records_pack_as_their_contract_form_does() {
        let mut a = full_record("a", "first \"quoted\" text");
        a.metadata.insert("lang".into(), serde_json::json!("en"));
        a.metadata.insert("tags".into(), serde_json::json!(["x", {"y": 1.5}]));
        let records = [a, Record::new("b", "second")];
        let as_wit: Vec<wit::DataRecord> = records.iter().map(Record::to_wit).collect();
        let packed = pack(&records, RecordParts::ALL).expect("packs");
        assert_eq!(packed, pack(&as_wit, RecordParts::ALL).expect("packs"));
        assert_eq!(packed.metadata, r#"{"lang":"en","tags":["x",{"y":1.5}]}{}"#);
    }

    #[test]
    fn a_reused_batch_holds_only_the_new_records() {
        let a = full_record("a", "first text");
        let first = pack(&[a.to_wit(), Record::new("b", "second").to_wit()], RecordParts::ALL).expect("packs");
        let held = capacity(&first);
        let c = Record::new("c", "third");
        let reused = pack_into(Some(first), &[c.to_wit()], RecordParts::ALL).expect("packs");
        assert_eq!(reused, pack(&[c.to_wit()], RecordParts::ALL).expect("packs"));
        assert!(capacity(&reused) >= held, "buffers are kept");
    }

    #[test]
    fn parts_not_read_stay_empty() {
        let records = [full_record("a", "first").to_wit(), Record::new("b", "second").to_wit()];
        let texts = pack(&records, RecordParts::TEXT).expect("packs");
        assert_eq!((texts.texts.as_str(), texts.text_ends.as_slice()), ("firstsecond", &[5, 11][..]));
        assert_eq!(texts, wit::RecordBatch { texts: "firstsecond".into(), text_ends: vec![5, 11], ..empty_batch() });
        let scores = pack(&records, RecordParts { scores: true, ..RecordParts::TEXT }).expect("packs");
        assert_eq!((scores.score_names.as_str(), scores.score_ends.as_slice()), ("q", &[1, 1][..]));
        assert!(scores.ids.is_empty() && scores.id_ends.is_empty() && scores.source_ends.is_empty());
        // A reused batch that held every part keeps none of it.
        let reused = pack_into(Some(pack(&records, RecordParts::ALL).expect("packs")), &records, RecordParts::TEXT);
        assert_eq!(reused.expect("packs"), texts);
    }
}
