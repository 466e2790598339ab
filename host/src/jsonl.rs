//! Reading JSONL line by line so that one bad line never stops the rest.
//!
//! `BufRead::lines` fails the whole stream on the first line that is not
//! UTF-8, and a read error (a truncated `.gz`) ends it with no line number.
//! [`JsonlLines`] reads raw bytes instead and gives every line a number and a
//! verdict, with one rule for every command that reads JSONL (`kiln run`,
//! `kiln filter`, `kiln dedup`):
//! - a UTF-8 byte-order mark at the start of the file is skipped;
//! - `\n` and `\r\n` both end a line;
//! - a line that is not valid UTF-8 is a [`LineError`] naming the line and the
//!   first bad byte, with the text decoded lossily for the quarantine;
//! - a blank line (empty, or only whitespace such as a lone `\r`) is a
//!   [`LineError`] too, so it is quarantined and counted, never dropped unseen;
//! - a read error (a truncated or corrupt compressed stream, a disk error)
//!   becomes one last [`LineError`] saying where reading stopped, and the
//!   stream ends; the caller goes on with its next file.

use std::io::BufRead;

use crate::record::LineError;

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A line that cannot be a record: why, and its text as well as it decodes.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    /// Where and what.
    pub error: LineError,
    /// The line's bytes, decoded lossily (empty when nothing could be read).
    pub lossy: String,
}

/// The lines of one JSONL stream, numbered from 1.
pub struct JsonlLines<R> {
    reader: R,
    source: String,
    line: usize,
    /// Bytes read from `reader` so far.
    consumed: u64,
    buf: Vec<u8>,
    done: bool,
    read_error: Option<std::io::Error>,
}

impl<R: BufRead> JsonlLines<R> {
    /// The lines of `reader`; `source` names it in errors (a path, `stdin`).
    pub fn new(reader: R, source: impl Into<String>) -> Self {
        JsonlLines {
            reader,
            source: source.into(),
            line: 0,
            consumed: 0,
            buf: Vec::new(),
            done: false,
            read_error: None,
        }
    }

    /// The lines of `reader`, which starts after line `line` of the stream
    /// `source` (a file opened at a line's byte offset): numbered from `line + 1`.
    pub fn after_line(reader: R, source: impl Into<String>, line: usize) -> Self {
        JsonlLines { line, ..JsonlLines::new(reader, source) }
    }

    /// The bytes read so far: where the next line starts, from where the reader started.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The number of the last line returned.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The read error that ended the stream, if one did (its last line was
    /// the [`BadLine`] saying so): a caller for whom such an error is not
    /// the data's fault (a network failure) takes it and stops instead.
    pub fn take_read_error(&mut self) -> Option<std::io::Error> {
        self.read_error.take()
    }

    /// The name given to the stream.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn bad(&self, message: String, lossy: String) -> BadLine {
        BadLine { error: LineError { source_name: self.source.clone(), line: self.line, message }, lossy }
    }
}

impl<R: BufRead> Iterator for JsonlLines<R> {
    /// A line's text, or why it cannot be one.
    type Item = Result<String, BadLine>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.buf.clear();
        let read = loop {
            match self.reader.read_until(b'\n', &mut self.buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match read {
            Ok(0) => {
                self.done = true;
                None
            }
            Ok(read) => {
                self.consumed += read as u64;
                self.line += 1;
                let mut bytes = self.buf.as_slice();
                if self.line == 1 {
                    bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
                }
                let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
                let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
                Some(match std::str::from_utf8(bytes) {
                    Ok(text) if text.trim().is_empty() => Err(self.bad(
                        "blank line: each line of a JSONL file must hold one JSON object (remove blank lines)".into(),
                        text.to_string(),
                    )),
                    Ok(text) => Ok(text.to_string()),
                    Err(e) => Err(self.bad(
                        format!(
                            "not valid UTF-8 (invalid byte at column {}); re-encode the file as UTF-8",
                            e.valid_up_to() + 1
                        ),
                        String::from_utf8_lossy(bytes).into_owned(),
                    )),
                })
            }
            Err(e) => {
                // Nothing after a read error can be trusted: report it once
                // and end the stream, so the caller goes on with its next file.
                self.done = true;
                self.line += 1;
                let partial = String::from_utf8_lossy(&self.buf).into_owned();
                let bad = self.bad(
                    format!(
                        "cannot read the file from here on ({e}); a truncated or corrupt compressed file? The lines before were read; the rest of this file is skipped"
                    ),
                    partial,
                );
                self.read_error = Some(e);
                Some(Err(bad))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bytes: &[u8]) -> Vec<Result<String, String>> {
        JsonlLines::new(bytes, "f.jsonl").map(|r| r.map_err(|b| format!("{} | {}", b.error, b.lossy))).collect()
    }

    #[test]
    fn a_bom_is_skipped_and_crlf_ends_lines() {
        assert_eq!(
            lines(b"\xEF\xBB\xBF{\"a\":1}\r\n{\"b\":2}\n{\"c\":3}"),
            [Ok("{\"a\":1}".to_string()), Ok("{\"b\":2}".to_string()), Ok("{\"c\":3}".to_string())]
        );
    }

    #[test]
    fn invalid_utf8_is_one_bad_line_with_its_number() {
        let got = lines(b"{\"a\":1}\n{\"b\":\"\xff\xfe\"}\n{\"c\":3}\n");
        assert_eq!(got[0], Ok("{\"a\":1}".to_string()));
        let bad = got[1].as_ref().expect_err("bad");
        assert!(bad.starts_with("f.jsonl:2: not valid UTF-8 (invalid byte at column 7)"), "{bad}");
        assert!(bad.ends_with("{\"b\":\"\u{fffd}\u{fffd}\"}"), "{bad}");
        assert_eq!(got[2], Ok("{\"c\":3}".to_string()));
    }

    #[test]
    fn blank_lines_are_bad_lines_not_skipped() {
        let got = lines(b"{}\n\n\r\n  \n{}\n");
        assert_eq!(got.len(), 5);
        for (i, line) in got.iter().enumerate().skip(1).take(3) {
            let e = line.as_ref().expect_err("blank");
            assert!(e.starts_with(&format!("f.jsonl:{}: blank line", i + 1)), "{e}");
        }
    }

    #[test]
    fn a_read_error_ends_the_stream_with_one_bad_line() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, "{\"n\":1}\n".repeat(1000).as_bytes()).expect("write");
        let bytes = gz.finish().expect("finish");
        let cut = &bytes[..bytes.len() / 2];
        let reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(cut));
        let got: Vec<_> = JsonlLines::new(reader, "t.jsonl.gz").collect();
        let last = got.last().expect("something").as_ref().expect_err("the truncation is reported");
        assert!(last.error.message.contains("cannot read the file from here on"), "{}", last.error);
        assert_eq!(last.error.line, got.len());
        assert!(got.len() > 1, "the lines before the cut are read");
        assert!(got[..got.len() - 1].iter().all(|l| l.as_ref().is_ok_and(|t| t == "{\"n\":1}")));
    }
}
