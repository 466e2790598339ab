//! Packing records into a `record-batch`: the columnar form in which records
//! cross into plugins (see `wit/kiln.wit`).
//!
//! Every string or list lowered into a component costs a call of the guest's
//! allocator from the host; packed in columns, a batch costs a fixed dozen
//! such calls instead of six per record.

use super::bindings::wit;
use super::parts::RecordParts;

/// A record as the packer reads it: what crosses into a plugin, read in place
/// from whichever type holds it. The host's own records (`kiln::Record`)
/// are packed without first being copied into the contract's type
/// ([`wit::DataRecord`]), and only the parts the plugin reads are touched.
pub trait BatchRecord {
    /// The record's id.
    fn id(&self) -> &str;
    /// The record's text.
    fn text(&self) -> &str;
    /// Appends the record's metadata to `out`, as a JSON object.
    fn write_metadata(&self, out: &mut String);
    /// The record's named scores, in order.
    fn scores(&self) -> impl Iterator<Item = (&str, f64)>;
    /// The record's provenance.
    fn lineage(&self) -> LineageRef<'_>;
}

/// A record's provenance, borrowed from the record.
#[derive(Debug, Clone, Copy)]
pub struct LineageRef<'a> {
    /// Where the record came from (`file:line`, or `stage:<name>`).
    pub source: &'a str,
    /// The record it derives from, if any.
    pub parent: Option<&'a str>,
    /// Its generation round.
    pub round: u32,
    /// The stages that touched it.
    pub steps: &'a [String],
}

impl BatchRecord for wit::DataRecord {
    fn id(&self) -> &str {
        &self.id
    }
    fn text(&self) -> &str {
        &self.text
    }
    fn write_metadata(&self, out: &mut String) {
        out.push_str(&self.metadata);
    }
    fn scores(&self) -> impl Iterator<Item = (&str, f64)> {
        self.scores.iter().map(|s| (s.name.as_str(), s.value))
    }
    fn lineage(&self) -> LineageRef<'_> {
        let l = &self.lineage;
        LineageRef { source: &l.source, parent: l.parent.as_deref(), round: l.round, steps: &l.steps }
    }
}

/// Appends `part` to `column` and records its end; fails past 4 GiB.
fn push(column: &mut String, ends: &mut Vec<u32>, part: &str) -> wasmtime::Result<()> {
    column.push_str(part);
    end_part(column, ends)
}

/// Records the end of the part just appended to `column`; fails past 4 GiB.
fn end_part(column: &str, ends: &mut Vec<u32>) -> wasmtime::Result<()> {
    let end = u32::try_from(column.len())
        .map_err(|_| wasmtime::format_err!("a batch column exceeds 4 GiB; use a smaller batch_size"))?;
    ends.push(end);
    Ok(())
}

/// Packs the texts of `records`, and the `parts` of them a plugin reads, into
/// columns. The columns of the other parts stay empty.
pub fn pack(records: &[impl BatchRecord], parts: RecordParts) -> wasmtime::Result<wit::RecordBatch> {
    pack_into(None, records, parts)
}

/// [`pack`], in the buffers of `reuse` when given (its contents are cleared):
/// a batch of the usual size then allocates nothing.
pub fn pack_into(
    reuse: Option<wit::RecordBatch>,
    records: &[impl BatchRecord],
    parts: RecordParts,
) -> wasmtime::Result<wit::RecordBatch> {
    let n = records.len();
    let mut b = reuse.map(clear).unwrap_or_else(empty_batch);
    b.texts.reserve(records.iter().map(|r| r.text().len()).sum());
    b.text_ends.reserve(n);
    if parts.id {
        b.ids.reserve(records.iter().map(|r| r.id().len()).sum());
        b.id_ends.reserve(n);
    }
    if parts.metadata {
        b.metadata_ends.reserve(n);
    }
    if parts.scores {
        b.score_ends.reserve(n);
    }
    if parts.lineage {
        for ends in [&mut b.source_ends, &mut b.parent_ends, &mut b.rounds, &mut b.step_ends] {
            ends.reserve(n);
        }
    }
    // One pass over the records, all columns at once: a pass per column would
    // read each record's fields from memory again (measured slower).
    for r in records {
        push(&mut b.texts, &mut b.text_ends, r.text())?;
        if parts.id {
            push(&mut b.ids, &mut b.id_ends, r.id())?;
        }
        if parts.metadata {
            r.write_metadata(&mut b.metadata);
            end_part(&b.metadata, &mut b.metadata_ends)?;
        }
        if parts.scores {
            for (name, value) in r.scores() {
                push(&mut b.score_names, &mut b.score_name_ends, name)?;
                b.score_values.push(value);
            }
            b.score_ends.push(u32::try_from(b.score_values.len()).unwrap_or(u32::MAX));
        }
        if parts.lineage {
            let lineage = r.lineage();
            push(&mut b.sources, &mut b.source_ends, lineage.source)?;
            push(&mut b.parents, &mut b.parent_ends, lineage.parent.unwrap_or(""))?;
            b.rounds.push(lineage.round);
            for step in lineage.steps {
                b.steps.push_str(step);
                b.steps.push('\n');
            }
            end_part(&b.steps, &mut b.step_ends)?;
        }
    }
    Ok(b)
}

/// Bytes a batch's buffers may keep between calls; a bigger one is dropped
/// rather than held for the life of the instance.
pub const KEEP_BYTES: usize = 16 << 20;

/// The bytes a batch's buffers hold.
pub fn capacity(b: &wit::RecordBatch) -> usize {
    let strings = [&b.ids, &b.texts, &b.metadata, &b.score_names, &b.sources, &b.parents, &b.steps];
    let ends = [&b.id_ends, &b.text_ends, &b.metadata_ends, &b.score_name_ends, &b.score_ends];
    let more_ends = [&b.source_ends, &b.parent_ends, &b.rounds, &b.step_ends];
    strings.iter().map(|s| s.capacity()).sum::<usize>()
        + ends.iter().chain(&more_ends).map(|e| 4 * e.capacity()).sum::<usize>()
        + 8 * b.score_values.capacity()
}

/// A batch with no records and no buffers.
pub fn empty_batch() -> wit::RecordBatch {
    wit::RecordBatch {
        ids: String::new(),
        id_ends: Vec::new(),
        texts: String::new(),
        text_ends: Vec::new(),
        metadata: String::new(),
        metadata_ends: Vec::new(),
        score_names: String::new(),
        score_name_ends: Vec::new(),
        score_values: Vec::new(),
        score_ends: Vec::new(),
        sources: String::new(),
        source_ends: Vec::new(),
        parents: String::new(),
        parent_ends: Vec::new(),
        rounds: Vec::new(),
        steps: String::new(),
        step_ends: Vec::new(),
    }
}

/// `b` with every column emptied and its buffers kept.
fn clear(mut b: wit::RecordBatch) -> wit::RecordBatch {
    for s in
        [&mut b.ids, &mut b.texts, &mut b.metadata, &mut b.score_names, &mut b.sources, &mut b.parents, &mut b.steps]
    {
        s.clear();
    }
    for e in [&mut b.id_ends, &mut b.text_ends, &mut b.metadata_ends, &mut b.score_name_ends, &mut b.score_ends] {
        e.clear();
    }
    for e in [&mut b.source_ends, &mut b.parent_ends, &mut b.rounds, &mut b.step_ends] {
        e.clear();
    }
    b.score_values.clear();
    b
}
