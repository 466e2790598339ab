//! Reading a pipeline's inputs as one ordered stream of lines.
//!
//! The inputs' files are read in order (inputs as declared, files of a glob
//! sorted), line by line, decompressing `.gz` and `.zst` on the fly. Every line
//! gets a position in the whole stream: that position is what chunk boundaries
//! and the resume manifest are made of, so a resumed run sees exactly the lines
//! an uninterrupted run would.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::jsonl::JsonlLines;
use crate::outcome::Quarantined;
use crate::pipeline::config::InputFormat;
use crate::pipeline::input::parquet::ParquetRows;
use crate::record::{LineError, Record, json_object};

mod count;
pub mod item;
pub mod parquet;

pub use count::{COUNTING_THREADS, FileCount, MARK_EVERY, Mark};
pub use item::{InputError, InputItem};

/// One input: the files it matched, or the objects it names.
#[derive(Debug)]
pub struct Input {
    /// Files, sorted.
    pub files: Vec<PathBuf>,
    /// Objects on object storage (read after `files`; an input names one or the other).
    pub objects: Vec<crate::objects::ObjectUrl>,
    /// Their format.
    pub format: InputFormat,
    /// Field holding the text.
    pub text_field: String,
    /// Field holding the id.
    pub id_field: String,
}

/// The file being read: its name, its lines, and the last line number read.
struct OpenFile {
    lines: JsonlLines<Box<dyn BufRead + Send>>,
    text_field: String,
    id_field: String,
}

impl OpenFile {
    /// After a bad line: the error to stop with when it ended an object's
    /// download that broke off — the network, not the data, so the run stops
    /// (and resumes from its last committed chunk) rather than quarantine
    /// the rest of the object, and no count of it is kept.
    fn broke_off(&mut self) -> Option<InputError> {
        let error = self.lines.take_read_error().filter(crate::objects::read::is_transport_error)?;
        Some(InputError { path: PathBuf::from(self.lines.source()), error })
    }
}

/// The file being read, by format.
enum Current {
    Lines(OpenFile),
    Parquet(Box<ParquetRows>),
}

/// The items (lines or rows) of all inputs, in order.
pub struct InputStream<'a> {
    inputs: &'a [Input],
    input: usize,
    file: usize,
    current: Option<Current>,
    /// Items in each file (objects included), in stream order, when known:
    /// skipping then passes over whole files without opening them, and
    /// opens the first at the last mark before its item.
    counts: Option<Vec<FileCount>>,
    /// Files passed so far (the index into `counts` of the next to open).
    opened: usize,
}

impl<'a> InputStream<'a> {
    /// A stream over `inputs`.
    pub fn new(inputs: &'a [Input]) -> Self {
        InputStream { inputs, input: 0, file: 0, current: None, counts: None, opened: 0 }
    }

    /// A stream over `inputs` whose files hold `counts` items each
    /// ([`InputStream::count_per_file`]), in order.
    pub fn with_counts(inputs: &'a [Input], counts: Vec<FileCount>) -> Self {
        InputStream { counts: Some(counts), ..InputStream::new(inputs) }
    }

    /// Passes over the next item of the open file; false at its end (or
    /// when none is open). An object whose download broke off is an error:
    /// not the data's fault, and its count must not be kept.
    fn skip_in_current(&mut self) -> Result<bool, InputError> {
        match self.current.as_mut() {
            Some(Current::Lines(f)) => match f.lines.next() {
                Some(Err(_)) => f.broke_off().map_or(Ok(true), Err),
                other => Ok(other.is_some()),
            },
            Some(Current::Parquet(rows)) => Ok(rows.next_item().is_some()),
            None => Ok(false),
        }
    }

    /// Moves past the next file without opening it.
    fn advance_file(&mut self) {
        while let Some(input) = self.inputs.get(self.input) {
            if self.file < input.files.len() + input.objects.len() {
                self.file += 1;
                return;
            }
            self.input += 1;
            self.file = 0;
        }
    }

    /// Skips `n` items (already processed by an earlier run, or another
    /// task's), without parsing them; whole files without opening them when
    /// their counts are known.
    pub fn skip_lines(&mut self, mut n: u64) -> Result<(), InputError> {
        if self.current.is_none() {
            while let Some(count) =
                self.counts.as_ref().and_then(|c| c.get(self.opened)).map(|c| c.items).filter(|&c| c <= n && n > 0)
            {
                n -= count;
                self.opened += 1;
                self.advance_file();
            }
            // Into the next file: from the last mark at or before item `n`.
            let mark = self.counts.as_ref().and_then(|c| c.get(self.opened)).and_then(|c| c.mark_before(n));
            if let Some(mark) = mark
                && self.open_next_at(mark)?
            {
                n -= mark.item;
            }
        }
        for _ in 0..n {
            if !self.skip_item()? {
                break;
            }
        }
        Ok(())
    }

    /// Passes over the next item; false at the end.
    fn skip_item(&mut self) -> Result<bool, InputError> {
        loop {
            if self.skip_in_current()? {
                return Ok(true);
            }
            self.current = None;
            if !self.open_next()? {
                return Ok(false);
            }
        }
    }

    /// Opens the next file at `mark` when it is an uncompressed JSONL file
    /// (what marks are kept for); false, opening nothing, otherwise.
    fn open_next_at(&mut self, mark: Mark) -> Result<bool, InputError> {
        while self.inputs.get(self.input).is_some_and(|i| self.file >= i.files.len() + i.objects.len()) {
            self.input += 1;
            self.file = 0;
        }
        let Some(input) = self.inputs.get(self.input) else { return Ok(false) };
        let Some(path) = input.files.get(self.file) else { return Ok(false) };
        if input.format != InputFormat::Jsonl || !count::markable(&path.to_string_lossy()) {
            return Ok(false);
        }
        let fail = |error| InputError { path: path.to_path_buf(), error };
        let mut file = File::open(path).map_err(fail)?;
        file.seek(SeekFrom::Start(mark.byte)).map_err(fail)?;
        let line = usize::try_from(mark.item).map_err(|_| fail(std::io::Error::other("a mark past the end")))?;
        self.file += 1;
        self.opened += 1;
        self.current = Some(Current::Lines(OpenFile {
            lines: JsonlLines::after_line(
                decompressed(Box::new(file), &path.to_string_lossy()),
                display_name(path),
                line,
            ),
            text_field: input.text_field.clone(),
            id_field: input.id_field.clone(),
        }));
        Ok(true)
    }

    /// Opens the next file, or returns false at the end of the inputs.
    fn open_next(&mut self) -> Result<bool, InputError> {
        loop {
            let Some(input) = self.inputs.get(self.input) else { return Ok(false) };
            let Some(path) = input.files.get(self.file) else {
                if let Some(url) = input.objects.get(self.file - input.files.len()) {
                    self.file += 1;
                    self.opened += 1;
                    self.current = Some(match input.format {
                        InputFormat::Jsonl => {
                            let reader = url.open().map_err(|e| InputError::object(url, e))?;
                            Current::Lines(OpenFile {
                                lines: JsonlLines::new(decompressed(Box::new(reader), &url.key), url.to_string()),
                                text_field: input.text_field.clone(),
                                id_field: input.id_field.clone(),
                            })
                        }
                        InputFormat::Parquet => Current::Parquet(Box::new(ParquetRows::open_object(
                            url,
                            &input.text_field,
                            &input.id_field,
                        )?)),
                    });
                    return Ok(true);
                }
                self.input += 1;
                self.file = 0;
                continue;
            };
            self.file += 1;
            self.opened += 1;
            self.current = Some(match input.format {
                InputFormat::Jsonl => Current::Lines(OpenFile {
                    lines: JsonlLines::new(open(path)?, display_name(path)),
                    text_field: input.text_field.clone(),
                    id_field: input.id_field.clone(),
                }),
                InputFormat::Parquet => {
                    Current::Parquet(Box::new(ParquetRows::open(path, &input.text_field, &input.id_field)?))
                }
            });
            return Ok(true);
        }
    }

    /// The next item, or `None` at the end.
    pub fn next_item(&mut self) -> Result<Option<InputItem>, InputError> {
        loop {
            match self.current.as_mut() {
                Some(Current::Lines(f)) => match f.lines.next() {
                    Some(Ok(line)) => {
                        let (source, line_no) = (f.lines.source(), f.lines.line());
                        return Ok(Some(parse_line(&line, source, line_no, &f.text_field, &f.id_field)));
                    }
                    Some(Err(bad)) => {
                        if let Some(e) = f.broke_off() {
                            return Err(e);
                        }
                        return Ok(Some(InputItem::Unreadable(Quarantined::unreadable(&bad.error, &bad.lossy))));
                    }
                    None => self.current = None,
                },
                Some(Current::Parquet(rows)) => match rows.next_item() {
                    Some(item) => return Ok(Some(item)),
                    None => self.current = None,
                },
                None => {
                    if !self.open_next()? {
                        return Ok(None);
                    }
                }
            }
        }
    }
}

/// The number of lines in `inputs`, when every file is uncompressed (for the
/// progress bar's ETA); `None` otherwise.
pub fn count_lines(inputs: &[Input]) -> Option<u64> {
    let mut total = 0u64;
    if inputs.iter().any(|i| i.format == InputFormat::Parquet || !i.objects.is_empty()) {
        return None;
    }
    for path in inputs.iter().flat_map(|i| &i.files) {
        let name = path.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".gz") || name.ends_with(".zst") {
            return None;
        }
        let mut file = File::open(path).ok()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut last = b'\n';
        loop {
            let n = file.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            total += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
            last = buf[n - 1];
        }
        if last != b'\n' {
            total += 1;
        }
    }
    Some(total)
}

/// A short, stable name for a file in ids and messages: its path as given.
fn display_name(path: &Path) -> String {
    path.display().to_string()
}

fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, InputError> {
    let fail = |error| InputError { path: path.to_path_buf(), error };
    let file = File::open(path).map_err(fail)?;
    Ok(decompressed(Box::new(file), &path.to_string_lossy()))
}

/// `raw` decompressed as its name's extension says (`.gz`, `.zst`), buffered.
fn decompressed(raw: Box<dyn Read + Send>, name: &str) -> Box<dyn BufRead + Send> {
    let name = name.to_ascii_lowercase();
    let reader: Box<dyn Read + Send> = if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(raw)))
    } else if name.ends_with(".zst") {
        match ruzstd::decoding::StreamingDecoder::new(BufReader::new(raw)) {
            Ok(decoder) => Box::new(decoder),
            // A bad header is read as a stream that fails at once, so the
            // file is quarantined at line 1 and the run goes on.
            Err(e) => Box::new(FailingReader(Some(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not a zstd stream: {e}"),
            )))),
        }
    } else {
        raw
    };
    Box::new(BufReader::with_capacity(crate::record::JSONL_BUFFER_BYTES, reader))
}

/// A reader whose first read fails with its error (then ends).
struct FailingReader(Option<std::io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        match self.0.take() {
            Some(error) => Err(error),
            None => Ok(0),
        }
    }
}

/// Parses one line, renaming the configured text and id fields first.
fn parse_line(line: &str, source: &str, line_no: usize, text_field: &str, id_field: &str) -> InputItem {
    let fail = |message| LineError { source_name: source.to_string(), line: line_no, message };
    let parsed = json_object(line)
        .and_then(|object| {
            if text_field == "text" && id_field == "id" { Ok(object) } else { renamed(object, text_field, id_field) }
        })
        .map_err(fail)
        .and_then(|object| Record::from_json_object(object, source, line_no));
    match parsed {
        Ok(record) => InputItem::Record(record),
        Err(e) => InputItem::Unreadable(Quarantined::unreadable(&e, line)),
    }
}

/// The object with `text_field` renamed to `text` and `id_field` to `id`
/// (fields already named `text` or `id` are kept as `original_text`, `original_id`).
fn renamed(mut object: Map<String, Value>, text_field: &str, id_field: &str) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    match object.remove(text_field) {
        Some(text) => {
            out.insert("text".into(), text);
        }
        None => {
            return Err(crate::record::missing_field(text_field, &object, "check the input's `text_field`"));
        }
    }
    if let Some(id) = object.remove(id_field) {
        out.insert("id".into(), id);
    }
    for (k, v) in object {
        if k == "text" || k == "id" {
            out.entry(format!("original_{k}")).or_insert(v);
        } else {
            out.insert(k, v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;

    fn input(files: Vec<PathBuf>, text_field: &str) -> Input {
        Input {
            objects: Vec::new(),
            files,
            format: crate::pipeline::config::InputFormat::Jsonl,
            text_field: text_field.into(),
            id_field: "id".into(),
        }
    }

    fn collect(stream: &mut InputStream<'_>) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(item) = stream.next_item().expect("readable") {
            out.push(match item {
                InputItem::Record(r) => r.id,
                InputItem::Unreadable(q) => format!("bad {}", q.source),
            });
        }
        out
    }

    #[test]
    fn reads_plain_gzip_and_zstd_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = dir.path().join("a.jsonl");
        std::fs::write(&plain, "{\"id\":\"a1\",\"text\":\"x\"}\nnot json\n").expect("write");
        let gz = dir.path().join("b.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(File::create(&gz).expect("create"), flate2::Compression::fast());
        enc.write_all(b"{\"id\":\"b1\",\"text\":\"y\"}\n").expect("write");
        enc.finish().expect("finish");
        let zst = dir.path().join("c.jsonl.zst");
        let frame = ruzstd::encoding::compress_to_vec(
            &b"{\"id\":\"c1\",\"text\":\"z\"}\n"[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        std::fs::write(&zst, frame).expect("write");
        let inputs = vec![input(vec![plain.clone(), gz], "text"), input(vec![zst], "text")];
        let mut stream = InputStream::new(&inputs);
        let ids = collect(&mut stream);
        assert_eq!(ids[0], "a1");
        assert!(ids[1].starts_with("bad ") && ids[1].ends_with("a.jsonl:2"), "{ids:?}");
        assert_eq!(&ids[2..], ["b1", "c1"]);

        let mut resumed = InputStream::new(&inputs);
        resumed.skip_lines(2).expect("skip");
        assert_eq!(collect(&mut resumed), ["b1", "c1"]);
    }

    #[test]
    fn custom_text_fields_are_renamed_and_nothing_is_lost() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("a.jsonl");
        std::fs::write(&f, "{\"body\":\"hello\",\"text\":\"other\"}\n{\"title\":\"no body\"}\n").expect("write");
        let inputs = vec![input(vec![f], "body")];
        let mut stream = InputStream::new(&inputs);
        match stream.next_item().expect("ok") {
            Some(InputItem::Record(r)) => {
                assert_eq!(r.text, "hello");
                assert_eq!(r.metadata["original_text"], "other");
            }
            other => panic!("{other:?}"),
        }
        match stream.next_item().expect("ok") {
            Some(InputItem::Unreadable(q)) => assert!(q.error.contains("missing the \"body\" field"), "{}", q.error),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn counted_files_are_skipped_whole_to_the_same_item() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut files = Vec::new();
        for (k, lines) in [3, 0, 5, 2].iter().enumerate() {
            let path = dir.path().join(format!("part-{k}.jsonl"));
            let text: String = (0..*lines).map(|i| format!("{{\"id\":\"f{k}-{i}\",\"text\":\"t\"}}\n")).collect();
            std::fs::write(&path, text).expect("write");
            files.push(path);
        }
        let inputs = vec![input(files, "text")];
        let counts = InputStream::count_per_file(&inputs).expect("counts");
        assert_eq!(counts.iter().map(|c| c.items).collect::<Vec<_>>(), [3, 0, 5, 2]);
        let id = |stream: &mut InputStream<'_>| match stream.next_item().expect("item") {
            Some(InputItem::Record(r)) => Some(r.id),
            Some(other) => panic!("{other:?}"),
            None => None,
        };
        for skip in 0..=11 {
            let mut plain = InputStream::new(&inputs);
            let mut counted = InputStream::with_counts(&inputs, counts.clone());
            plain.skip_lines(skip).expect("skip");
            counted.skip_lines(skip).expect("skip");
            assert_eq!(id(&mut counted), id(&mut plain), "after skipping {skip}");
            assert_eq!(id(&mut counted), id(&mut plain), "and the item after");
        }
        let mut counted = InputStream::with_counts(&inputs, counts);
        counted.skip_lines(8).expect("skip");
        assert!(counted.opened == 3 && counted.current.is_none(), "the first three files were passed over, not opened");
    }

    #[test]
    fn a_counted_file_is_opened_at_the_mark_before_the_item_and_its_lines_keep_their_numbers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lines = 3 * MARK_EVERY + 100;
        let plain = dir.path().join("big.jsonl");
        // A byte-order mark, lines of several lengths, a bad line after the second mark.
        let mut text = String::from("\u{feff}");
        for i in 0..lines {
            if i == 2 * MARK_EVERY + 7 {
                text.push_str("{not json\n");
            } else {
                text.push_str(&format!("{{\"id\":\"r{i}\",\"text\":\"{}\"}}\n", "é".repeat((i % 7) as usize)));
            }
        }
        std::fs::write(&plain, &text).expect("write");
        let zipped = dir.path().join("big.jsonl.gz");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&zipped).expect("create"), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, text.as_bytes()).expect("gz");
        enc.finish().expect("gz");
        let inputs = vec![input(vec![plain, zipped], "text")];
        let counts = InputStream::count_per_file(&inputs).expect("counts");
        assert_eq!(counts[0].items, lines);
        assert_eq!(
            counts[0].marks.iter().map(|m| m.item).collect::<Vec<_>>(),
            [MARK_EVERY, 2 * MARK_EVERY, 3 * MARK_EVERY]
        );
        assert!(counts[1].marks.is_empty(), "a compressed file cannot be entered part-way");
        let at = |stream: &mut InputStream<'_>| match stream.next_item().expect("item") {
            Some(InputItem::Record(r)) => format!("{} at {}", r.id, r.lineage.source),
            Some(InputItem::Unreadable(q)) => format!("unreadable: {}", q.error),
            None => "end".into(),
        };
        for skip in [
            0,
            1,
            MARK_EVERY - 1,
            MARK_EVERY,
            2 * MARK_EVERY + 7,
            3 * MARK_EVERY + 99,
            lines + 5,
            lines + MARK_EVERY + 3,
        ] {
            let mut read = InputStream::new(&inputs);
            let mut counted = InputStream::with_counts(&inputs, counts.clone());
            read.skip_lines(skip).expect("skip");
            counted.skip_lines(skip).expect("skip");
            for _ in 0..3 {
                assert_eq!(at(&mut counted), at(&mut read), "after skipping {skip}");
            }
        }
        let mut counted = InputStream::with_counts(&inputs, counts);
        counted.skip_lines(2 * MARK_EVERY + 50).expect("skip");
        match &counted.current {
            Some(Current::Lines(open)) => {
                assert_eq!(open.lines.line(), 2 * MARK_EVERY as usize + 50, "entered at the second mark")
            }
            _ => panic!("the file is open"),
        }
    }
}
