//! Parquet inputs and outputs.
//!
//! Input: rows are read row group by row group (one Arrow batch at a time, so
//! memory stays bounded). The text column becomes the record's text, the id
//! column its id (`file:row` when absent or null), and every other column its
//! metadata: strings, numbers and booleans as JSON values, other types in
//! Arrow's debug rendering. A row group that cannot be decoded is not skipped:
//! each of its rows is quarantined with the file, row and error.
//!
//! A Parquet *object* (`s3://…/part.parquet`) is checked from its footer
//! alone (two ranged GETs at the end of the object) when the pipeline is
//! checked, and read by downloading it whole with one streamed GET into a
//! temporary file (under `$TMPDIR`, removed once read): Parquet needs random
//! access, and many small range reads of pages are what the anchors' users
//! lost an hour to.
//!
//! Output: the assembled JSONL outputs are converted to Parquet, one string
//! column per top-level field (objects and arrays as JSON text).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::{ArrowWriter, parquet_to_arrow_schema};
use parquet::file::FOOTER_SIZE;
use parquet::file::metadata::{FooterTail, ParquetMetaData, ParquetMetaDataReader};
use serde_json::{Map, Value};

use crate::objects::ObjectUrl;
use crate::outcome::Quarantined;
use crate::pipeline::input::item::{InputError, InputItem};
use crate::record::{LineError, Record};

/// Rows of one Parquet file, in order.
pub struct ParquetRows {
    path: PathBuf,
    /// The downloaded copy of an object, removed when dropped.
    _spool: Option<tempfile::NamedTempFile>,
    name: String,
    text_field: String,
    id_field: String,
    groups: Vec<(usize, i64)>,
    next_group: usize,
    reader: Option<ParquetRecordBatchReader>,
    batch: Option<RecordBatch>,
    row_in_batch: usize,
    /// Rows of a group that failed to decode, still to be quarantined, with the error.
    failed: Option<(i64, String)>,
    /// Rows produced so far (1-based row number of the last).
    row: u64,
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> InputError {
    InputError { path: path.to_path_buf(), error: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()) }
}

/// The metadata of the Parquet object `url`, read from its end: a ranged
/// GET of its last 64 KiB, and a second one when the metadata is longer.
fn object_metadata(url: &ObjectUrl) -> Result<ParquetMetaData, String> {
    const TAIL: u64 = 64 << 10;
    let footer_size = FOOTER_SIZE as u64;
    // Known from the listing or HEAD that found the object: no request more.
    let size = url.current_version()?.size;
    // The magic `PAR1` at the start, the footer at the end.
    if size < 4 + footer_size {
        return Err(format!("is {size} bytes: too small to be a Parquet file"));
    }
    let tail = url.read_range(size.saturating_sub(TAIL)..size)?;
    let short = || format!("was cut short while it was read ({} bytes, where its size said {size})", tail.len());
    let end_at = tail.len().checked_sub(FOOTER_SIZE).ok_or_else(short)?;
    let end: &[u8; FOOTER_SIZE] = tail[end_at..].try_into().map_err(|_| short())?;
    let footer = FooterTail::try_new(end).map_err(|e| e.to_string())?;
    let length = footer.metadata_length() as u64;
    if length + footer_size + 4 > size {
        return Err(format!("its footer names {length} bytes of metadata in a {size}-byte object"));
    }
    let metadata = match end_at.checked_sub(length as usize) {
        Some(start) => tail.slice(start..end_at),
        None => url.read_range(size - footer_size - length..size - footer_size)?,
    };
    ParquetMetaDataReader::decode_metadata(&metadata).map_err(|e| e.to_string())
}

/// Whether `schema` has the text column, or what to say.
fn has_text_column(schema: &Schema, text_field: &str) -> Result<(), String> {
    if schema.field_with_name(text_field).is_ok() {
        return Ok(());
    }
    let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    Err(format!("has no column `{text_field}` (the input's `text_field`); its columns: {}", columns.join(", ")))
}

impl ParquetRows {
    /// Opens `path`; fails if it is not a readable Parquet file.
    pub fn open(path: &Path, text_field: &str, id_field: &str) -> Result<ParquetRows, InputError> {
        let file = File::open(path).map_err(|error| InputError { path: path.to_path_buf(), error })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| io_error(path, e))?;
        has_text_column(builder.schema(), text_field).map_err(|e| io_error(path, e))?;
        let groups = builder.metadata().row_groups().iter().enumerate().map(|(i, g)| (i, g.num_rows())).collect();
        Ok(ParquetRows {
            path: path.to_path_buf(),
            _spool: None,
            name: path.display().to_string(),
            text_field: text_field.to_string(),
            id_field: id_field.to_string(),
            groups,
            next_group: 0,
            reader: None,
            batch: None,
            row_in_batch: 0,
            failed: None,
            row: 0,
        })
    }

    /// Downloads the object `url` (one streamed GET) and opens it; errors
    /// and quarantined rows name the object.
    pub fn open_object(url: &ObjectUrl, text_field: &str, id_field: &str) -> Result<ParquetRows, InputError> {
        let name = url.to_string();
        let failed = |e: String| InputError::object(&name, e);
        let mut spool = tempfile::Builder::new()
            .prefix("kiln-object-")
            .suffix(".parquet")
            .tempfile()
            .map_err(|e| failed(format!("cannot create a temporary file to download it into: {e}")))?;
        let mut reader = url.open().map_err(&failed)?;
        std::io::copy(&mut reader, &mut spool).map_err(|e| failed(format!("cannot download it: {e}")))?;
        let mut rows = ParquetRows::open(spool.path(), text_field, id_field)
            .map_err(|e| InputError { path: PathBuf::from(&name), error: e.error })?;
        rows.name = name;
        rows._spool = Some(spool);
        Ok(rows)
    }

    /// Checks the object `url` from its footer alone: a Parquet file with a
    /// `text_field` column (what [`ParquetRows::open`] checks of a file).
    pub fn check_object(url: &ObjectUrl, text_field: &str) -> Result<(), String> {
        let metadata = object_metadata(url)?;
        let file = metadata.file_metadata();
        let schema =
            parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata()).map_err(|e| e.to_string())?;
        has_text_column(&schema, text_field)
    }

    /// The rows of the object `url`, from its footer alone (every row is an
    /// item, those of a row group that cannot be decoded included).
    pub fn object_rows(url: &ObjectUrl) -> Result<u64, String> {
        Ok(object_metadata(url)?.row_groups().iter().map(|g| g.num_rows().max(0) as u64).sum())
    }

    /// The rows of the file at `path`, from its footer alone.
    pub fn file_rows(path: &Path) -> Result<u64, InputError> {
        let file = File::open(path).map_err(|error| InputError { path: path.to_path_buf(), error })?;
        let metadata = ParquetMetaDataReader::new().parse_and_finish(&file).map_err(|e| io_error(path, e))?;
        Ok(metadata.row_groups().iter().map(|g| g.num_rows().max(0) as u64).sum())
    }

    fn open_group(&mut self, group: usize) -> Result<ParquetRecordBatchReader, String> {
        let file = File::open(&self.path).map_err(|e| e.to_string())?;
        ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_row_groups(vec![group]).with_batch_size(1024).build())
            .map_err(|e| e.to_string())
    }

    /// The next row as an input item, or `None` at the end of the file.
    pub fn next_item(&mut self) -> Option<InputItem> {
        loop {
            if let Some((left, error)) = self.failed.as_mut() {
                if *left > 0 {
                    *left -= 1;
                    self.row += 1;
                    let e =
                        LineError { source_name: self.name.clone(), line: self.row as usize, message: error.clone() };
                    return Some(InputItem::Unreadable(Quarantined::unreadable(&e, "")));
                }
                self.failed = None;
            }
            if let Some(batch) = &self.batch
                && self.row_in_batch < batch.num_rows()
            {
                let i = self.row_in_batch;
                self.row_in_batch += 1;
                self.row += 1;
                return Some(self.row_item(batch, i));
            }
            self.batch = None;
            if let Some(reader) = self.reader.as_mut() {
                match reader.next() {
                    Some(Ok(batch)) => {
                        self.batch = Some(batch);
                        self.row_in_batch = 0;
                        continue;
                    }
                    Some(Err(e)) => {
                        // The rest of this group cannot be read: quarantine its remaining rows.
                        let (_, rows) = self.groups[self.next_group - 1];
                        let done_in_group =
                            self.row as i64 - self.groups[..self.next_group - 1].iter().map(|g| g.1).sum::<i64>();
                        self.failed = Some((
                            (rows - done_in_group).max(0),
                            format!("row group {} cannot be decoded: {e}", self.next_group - 1),
                        ));
                        self.reader = None;
                        continue;
                    }
                    None => self.reader = None,
                }
            }
            let (group, rows) = *self.groups.get(self.next_group)?;
            self.next_group += 1;
            match self.open_group(group) {
                Ok(reader) => self.reader = Some(reader),
                Err(e) => self.failed = Some((rows, format!("row group {group} cannot be decoded: {e}"))),
            }
        }
    }

    fn row_item(&self, batch: &RecordBatch, i: usize) -> InputItem {
        let origin = format!("{}:{}", self.name, self.row);
        let fail = |message: String| {
            let e = LineError { source_name: self.name.clone(), line: self.row as usize, message };
            InputItem::Unreadable(Quarantined::unreadable(&e, ""))
        };
        let mut text = None;
        let mut id = None;
        let mut metadata = Map::new();
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let value = cell(column, i);
            if field.name() == &self.text_field {
                text = Some(value);
            } else if field.name() == &self.id_field {
                id = Some(value);
            } else {
                metadata.insert(field.name().clone(), value);
            }
        }
        let text = match text {
            Some(Value::String(s)) => s,
            Some(Value::Null) | None => return fail(format!("row has no `{}` (null)", self.text_field)),
            Some(other) => return fail(format!("column `{}` is not text (found {other})", self.text_field)),
        };
        let id = match id {
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(Value::Number(n)) => n.to_string(),
            _ => origin.clone(),
        };
        let mut record = Record::new(id, text);
        record.metadata = metadata;
        record.lineage.source = origin;
        InputItem::Record(record)
    }
}

/// One cell as a JSON value.
fn cell(column: &ArrayRef, i: usize) -> Value {
    if column.is_null(i) {
        return Value::Null;
    }
    macro_rules! number {
        ($t:ty) => {
            serde_json::json!(column.as_primitive::<$t>().value(i))
        };
    }
    match column.data_type() {
        DataType::Utf8 => Value::String(column.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Value::String(column.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Value::String(column.as_string_view().value(i).to_string()),
        DataType::Boolean => Value::Bool(column.as_boolean().value(i)),
        DataType::Int8 => number!(Int8Type),
        DataType::Int16 => number!(Int16Type),
        DataType::Int32 => number!(Int32Type),
        DataType::Int64 => number!(Int64Type),
        DataType::UInt8 => number!(UInt8Type),
        DataType::UInt16 => number!(UInt16Type),
        DataType::UInt32 => number!(UInt32Type),
        DataType::UInt64 => number!(UInt64Type),
        DataType::Float32 => number!(Float32Type),
        DataType::Float64 => number!(Float64Type),
        _ => Value::String(format!("{:?}", column.slice(i, 1))),
    }
}

/// Converts the JSONL file `jsonl` into the Parquet file `target`: one
/// nullable string column per top-level key of the first `sample` lines, in
/// first-seen order; non-string values as JSON text.
pub fn jsonl_to_parquet(jsonl: &Path, target: &Path) -> Result<u64, String> {
    let open = || {
        File::open(jsonl)
            .map(|f| BufReader::with_capacity(crate::record::JSONL_BUFFER_BYTES, f))
            .map_err(|e| format!("{}: {e}", jsonl.display()))
    };
    let mut keys: Vec<String> = Vec::new();
    for line in open()?.lines() {
        let line = line.map_err(|e| e.to_string())?;
        if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(&line) {
            for k in o.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    if keys.is_empty() {
        keys.push("id".into());
    }
    let schema = Arc::new(Schema::new(keys.iter().map(|k| Field::new(k, DataType::Utf8, true)).collect::<Vec<_>>()));
    let out = File::create(target).map_err(|e| format!("{}: {e}", target.display()))?;
    let mut writer = ArrowWriter::try_new(out, schema.clone(), None).map_err(|e| e.to_string())?;
    let mut rows = 0u64;
    let mut columns: Vec<Vec<Option<String>>> = vec![Vec::new(); keys.len()];
    let flush = |columns: &mut Vec<Vec<Option<String>>>, writer: &mut ArrowWriter<File>| -> Result<(), String> {
        if columns[0].is_empty() {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> =
            columns.iter_mut().map(|c| Arc::new(StringArray::from(std::mem::take(c))) as ArrayRef).collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())?;
        writer.write(&batch).map_err(|e| e.to_string())
    };
    for line in open()?.lines() {
        let line = line.map_err(|e| e.to_string())?;
        let object = match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(o)) => o,
            _ => continue,
        };
        for (k, column) in keys.iter().zip(columns.iter_mut()) {
            column.push(match object.get(k) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            });
        }
        rows += 1;
        if columns[0].len() == 65_536 {
            flush(&mut columns, &mut writer)?;
        }
    }
    flush(&mut columns, &mut writer)?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Int64Array;

    fn write_parquet(path: &Path, groups: &[(&[Option<&str>], &[i64])]) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("content", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]));
        let mut w = ArrowWriter::try_new(File::create(path).expect("create"), schema.clone(), None).expect("writer");
        for (texts, ns) in groups {
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(StringArray::from(texts.to_vec())), Arc::new(Int64Array::from(ns.to_vec()))],
            )
            .expect("batch");
            w.write(&batch).expect("write");
            w.flush().expect("row group");
        }
        w.close().expect("close");
    }

    #[test]
    fn rows_become_records_and_null_texts_are_quarantined() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.parquet");
        write_parquet(&path, &[(&[Some("one"), None], &[1, 2]), (&[Some("three")], &[3])]);
        let mut rows = ParquetRows::open(&path, "content", "id").expect("opens");
        let mut items = Vec::new();
        while let Some(item) = rows.next_item() {
            items.push(item);
        }
        assert_eq!(items.len(), 3);
        match &items[0] {
            InputItem::Record(r) => {
                assert_eq!(r.text, "one");
                assert!(r.id.ends_with("a.parquet:1"));
                assert_eq!(r.metadata["n"], 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&items[1], InputItem::Unreadable(q) if q.error.contains("null") && q.source.ends_with(":2")));
        assert!(matches!(&items[2], InputItem::Record(r) if r.text == "three"));
    }

    #[test]
    fn a_missing_text_column_is_refused_with_the_columns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.parquet");
        write_parquet(&path, &[(&[Some("x")], &[1])]);
        let err = ParquetRows::open(&path, "text", "id").err().expect("refused");
        assert!(err.to_string().contains("no column `text`") && err.to_string().contains("content, n"), "{err}");
    }

    #[test]
    fn jsonl_round_trips_through_parquet() {
        let dir = tempfile::tempdir().expect("tempdir");
        let jsonl = dir.path().join("kept.jsonl");
        std::fs::write(&jsonl, "{\"id\":\"a\",\"text\":\"x\",\"scores\":{\"q\":1}}\n{\"id\":\"b\",\"text\":\"y\"}\n")
            .expect("write");
        let target = dir.path().join("kept.parquet");
        assert_eq!(jsonl_to_parquet(&jsonl, &target).expect("converts"), 2);
        let mut rows = ParquetRows::open(&target, "text", "id").expect("opens");
        match rows.next_item() {
            Some(InputItem::Record(r)) => {
                assert_eq!((r.id.as_str(), r.text.as_str()), ("a", "x"));
                assert_eq!(r.metadata["scores"], "{\"q\":1}");
            }
            other => panic!("{other:?}"),
        }
    }
}
