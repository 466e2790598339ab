//! Reading a free-text answer line by line.
//!
//! Each line is cleaned of Markdown (`#` headings, `**bold**`, list markers,
//! table pipes, quote markers) and then read as one of:
//!
//! - **labelled ratings**: an aspect name at the start of the line, or after
//!   `,`, `;`, `:`, `|`, `.`, `(`, `{` or `and` (`the` allowed before it),
//!   or followed by a colon, and then by a rating — `Helpfulness: 4`,
//!   `**Helpfulness**: 4/5`, `- helpfulness — 4 out of 5`,
//!   `| Instruction Following | 4 | … |`, `Helpfulness (1-5): 4`,
//!   `Rating for honesty: 5`, `Helpfulness: 4, Honesty: 5`. Names match in
//!   any case, with spaces, `-` or `_` between their words. The text after
//!   the rating is that aspect's rationale. A name that starts a line and is
//!   followed by nothing or a separator (`### Helpfulness`, `Helpfulness:`)
//!   opens a section for that aspect even without a rating; one that merely
//!   starts a sentence (`Truthfulness aside, …`) does not. On a line opened
//!   by a name but without a rating right after it, a rating is still read
//!   after a colon (`Honesty and uncertainty: 4`), with a keyword
//!   (`score: 4`), in a clause-ending phrase (`so I rate it a 4.`) or as a
//!   fraction of the scale's maximum (`4/5`). XML-style tags
//!   (`<helpfulness>4</helpfulness>`) and Python dicts read the same way;
//! - inside an aspect's section: `Rating: 4` or `Score: 4/5` lines, a line
//!   that is only a number, and rationale text (`Rationale: …` or plain),
//!   whose prose may also state the rating as above;
//! - any other heading, or a line starting with `Overall`, `Summary`, … ends
//!   the section; text outside sections is the general rationale.
//!
//! Ratings read from prose (after a colon, a keyword or a phrase, not right
//! after the name) count only when the aspect has no explicit rating. With a
//! single aspect, a `Rating: 4` line or a bare number anywhere rates it.

use regex::Regex;

use super::rating::{Keyword, Leading, trim_separators};
use super::{Parser, Problem, Reading, Readings, snippet};

/// The patterns that find aspect names in a line, one pair per aspect.
#[derive(Debug, Clone)]
pub struct LabelPatterns {
    /// Anchored at the start of a cleaned line, with optional `Rating for`
    /// before and `rating` after the name.
    at_start: Vec<Regex>,
    /// Anywhere in a line.
    anywhere: Vec<Regex>,
    rationale_line: Regex,
    section_end: Regex,
    list_marker: Regex,
}

impl LabelPatterns {
    /// Patterns for the aspects called `names` (valid score names).
    pub fn new(names: &[&str]) -> Result<Self, regex::Error> {
        let mut at_start = Vec::with_capacity(names.len());
        let mut anywhere = Vec::with_capacity(names.len());
        for name in names {
            let words: Vec<String> = name.split('_').filter(|w| !w.is_empty()).map(regex::escape).collect();
            let words = words.join(r"[\s_\-]*");
            let suffix = r"(?:\s*(?:rating|score|grade|assessment|evaluation)s?\b)?";
            at_start.push(Regex::new(&format!(
                r#"(?i)^(?:(?:rating|score|grade)s?\s+(?:for|of)\s+)?(?:the\s+)?["'\[<]?\b{words}\b["'\]>]?{suffix}"#
            ))?);
            anywhere.push(Regex::new(&format!(r#"(?i)["']?\b{words}\b["']?{suffix}"#))?);
        }
        Ok(LabelPatterns {
            at_start,
            anywhere,
            rationale_line: Regex::new(
                r"(?i)^(?:rationale|reason|reasoning|explanation|justification|comment|feedback)s?\s*[:\-–—]\s*",
            )?,
            section_end: Regex::new(
                r"(?i)^(?:overall|summary|in\s+summary|in\s+conclusion|conclusion|total|average|final\s+(?:verdict|thoughts|assessment))\b",
            )?,
            list_marker: Regex::new(r"^(?:[-*+•]\s+|[0-9]{1,2}[.)]\s+|[a-zA-Z][.)]\s+)")?,
        })
    }
}

/// An aspect name found in a line: which aspect, where its lead-in (`, and
/// the `) and the name start, and where the name ends.
#[derive(Debug, Clone, Copy)]
struct Label {
    aspect: usize,
    lead: usize,
    start: usize,
    end: usize,
}

/// The readings in a free-text answer.
pub fn read(parser: &Parser, answer: &str) -> Readings {
    let mut reader = Reader { parser, readings: Readings::new(parser.keys.len()), section: None };
    for raw in answer.lines() {
        reader.line(raw);
    }
    reader.readings
}

struct Reader<'p> {
    parser: &'p Parser,
    readings: Readings,
    /// The aspect whose section the reader is in.
    section: Option<usize>,
}

impl Reader<'_> {
    fn line(&mut self, raw: &str) {
        let (line, heading) = clean(raw, &self.parser.labels.list_marker);
        if line.is_empty() || line.chars().all(|c| matches!(c, '-' | ':' | '|' | '=' | ' ' | '+')) {
            return;
        }
        let labels = self.labels(&line, heading);
        if !labels.is_empty() {
            self.labelled(&line, &labels);
        } else if heading || self.parser.labels.section_end.is_match(&line) {
            self.section = None;
            self.rationale(None, &line);
        } else if !self.rating_line(&line) {
            self.prose(&line);
        }
    }

    /// The aspect a rating line without a name rates: the current section's,
    /// or the only one.
    fn target(&self) -> Option<usize> {
        self.section.or((self.parser.keys.len() == 1).then_some(0))
    }

    /// Reads `Rating: 4` (with its rationale) or a bare `4/5`; whether the
    /// line was one.
    fn rating_line(&mut self, line: &str) -> bool {
        let ratings = &self.parser.ratings;
        let bare = || match ratings.leading(line, Keyword::Optional) {
            Leading::Rating(rating, rest)
                if trim_separators(rest).is_empty()
                    && line.starts_with(|c: char| c.is_ascii_digit() || c == '(' || c == '[') =>
            {
                Leading::Rating(rating, rest)
            }
            _ => Leading::Nothing,
        };
        let read = match ratings.leading(line, Keyword::Required) {
            Leading::Nothing => bare(),
            other => other,
        };
        let Some(a) = self.target() else {
            return !matches!(read, Leading::Nothing);
        };
        match read {
            Leading::Rating(rating, rest) => {
                self.readings.aspects[a].ratings.push(Reading { rating, snippet: snippet(line) });
                self.rationale(Some(a), trim_separators(rest));
                true
            }
            Leading::Range => {
                self.readings.aspects[a].problems.push(Problem::Range(snippet(line)));
                true
            }
            Leading::Nothing => false,
        }
    }

    /// A line of prose: rationale, and in a section possibly a rating stated
    /// in passing (`I would rate it a 4.`).
    fn prose(&mut self, line: &str) {
        let text = match self.parser.labels.rationale_line.find(line) {
            Some(m) => &line[m.end()..],
            None => line,
        };
        if let Some(a) = self.target() {
            let stated = self.parser.ratings.anywhere(text, self.parser.rubric.scale.max);
            let read = &mut self.readings.aspects[a];
            read.inferred.extend(stated.into_iter().map(|rating| Reading { rating, snippet: snippet(line) }));
        }
        self.rationale(self.section, text);
    }

    /// The aspect names in `line` that label a rating or, at the start of a
    /// heading-like line, open a section.
    fn labels(&self, line: &str, heading: bool) -> Vec<Label> {
        let patterns = &self.parser.labels;
        let mut labels: Vec<Label> = Vec::new();
        // The longest name at the start wins (`code_clarity` over `code`).
        let start = patterns
            .at_start
            .iter()
            .enumerate()
            .filter_map(|(aspect, re)| re.find(line).map(|m| Label { aspect, lead: 0, start: 0, end: m.end() }))
            .max_by_key(|l| l.end);
        // A name that merely starts a sentence (`Truthfulness aside, …`) is no label.
        labels.extend(start.filter(|l| {
            let rest = &line[l.end..];
            heading
                || opens_section(rest)
                || !matches!(self.parser.ratings.leading(rest, Keyword::Optional), Leading::Nothing)
                || !self.stated_later(rest).is_empty()
        }));
        for (aspect, re) in patterns.anywhere.iter().enumerate() {
            for m in re.find_iter(line) {
                let lead = lead_in(&line[..m.start()]);
                let colon_after = line[m.end()..].trim_start().starts_with(':');
                if m.start() == 0
                    || !(lead.is_some() || colon_after)
                    || labels.iter().any(|l| l.start < m.end() && m.start() < l.end)
                {
                    continue;
                }
                // Mid-line, a name counts only when a rating follows it.
                if matches!(self.parser.ratings.leading(&line[m.end()..], Keyword::Optional), Leading::Rating(..)) {
                    labels.push(Label { aspect, lead: lead.unwrap_or(m.start()), start: m.start(), end: m.end() });
                }
            }
        }
        labels.sort_by_key(|l| l.start);
        labels
    }

    fn labelled(&mut self, line: &str, labels: &[Label]) {
        for (i, label) in labels.iter().enumerate() {
            let until = labels.get(i + 1).map_or(line.len(), |next| next.lead.max(label.end));
            let rest = &line[label.end..until];
            let a = label.aspect;
            self.section = Some(a);
            match self.parser.ratings.leading(rest, Keyword::Optional) {
                Leading::Rating(rating, after) => {
                    self.readings.aspects[a].ratings.push(Reading { rating, snippet: snippet(line) });
                    self.rationale(Some(a), trim_separators(after));
                }
                Leading::Range => self.readings.aspects[a].problems.push(Problem::Range(snippet(line))),
                Leading::Nothing => {
                    let stated = self.stated_later(rest);
                    let read = &mut self.readings.aspects[a];
                    read.inferred.extend(stated.into_iter().map(|rating| Reading { rating, snippet: snippet(line) }));
                    self.rationale(Some(a), trim_separators(rest));
                }
            }
        }
    }

    /// Ratings in the text after a name that is not directly followed by one:
    /// after a colon (`and uncertainty: 4`), else with a keyword or as a
    /// fraction of the scale's maximum.
    fn stated_later(&self, rest: &str) -> Vec<super::Rating> {
        if let Some((head, tail)) = rest.split_once(':')
            && head.chars().count() <= 40
            && let Leading::Rating(rating, _) = self.parser.ratings.leading(tail, Keyword::Optional)
        {
            return vec![rating];
        }
        self.parser.ratings.anywhere(rest, self.parser.rubric.scale.max)
    }

    fn rationale(&mut self, aspect: Option<usize>, text: &str) {
        let text = text.trim().trim_end_matches(['|', ',']).trim();
        if !text.chars().any(char::is_alphanumeric) {
            return;
        }
        match aspect {
            Some(a) => self.readings.aspects[a].rationale.push(text.to_string()),
            None => self.readings.general.push(text.to_string()),
        }
    }
}

/// Where the lead-in of a label starts when `before` (the line up to a name)
/// ends where a new label may start: after `,`, `;`, `:`, `|`, `.`, `(` or
/// `{`, or after `and`, with an optional `the` before the name (`…, the
/// honesty is 5`). The lead-in (`and the `) belongs to the label, not to the
/// rationale before it.
fn lead_in(before: &str) -> Option<usize> {
    let mut rest = before.trim_end();
    if let Some(r) = strip_word(rest, "the") {
        rest = r;
    }
    if let Some(r) = strip_word(rest, "and") {
        return Some(r.len());
    }
    rest.ends_with([',', ';', ':', '|', '.', '(', '{']).then_some(rest.len())
}

/// `text` without the word `word` at its end (any case), trimmed.
fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let cut = text.len().checked_sub(word.len())?;
    let (rest, tail) = (text.get(..cut)?, text.get(cut..)?);
    let whole_word = rest.is_empty() || rest.ends_with(|c: char| !c.is_alphanumeric());
    (tail.eq_ignore_ascii_case(word) && whole_word).then(|| rest.trim_end())
}

/// Whether the text after a name at the start of a line makes the line a
/// label: nothing, or a separator (`Helpfulness:`, `Helpfulness - …`,
/// `Helpfulness (1-5):`).
fn opens_section(rest: &str) -> bool {
    let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'');
    rest.is_empty() || rest.starts_with([':', '-', '—', '–', '|', '(', '[', '='])
}

/// `raw` without Markdown decoration, and whether it is a heading.
fn clean(raw: &str, list_marker: &Regex) -> (String, bool) {
    let trimmed = raw.trim();
    let bold_line = trimmed.starts_with("**") && (trimmed.ends_with("**") || trimmed.ends_with("**:"));
    let heading = trimmed.starts_with('#') || bold_line;
    let mut line = trimmed.trim_start_matches(['#', '>']).trim();
    line = line.trim_matches('|').trim();
    if let Some(m) = list_marker.find(line) {
        line = line[m.end()..].trim_start();
    }
    let line: String = line.replace("**", "").replace("__", "").chars().filter(|&c| c != '*' && c != '`').collect();
    // A list marker may hide behind emphasis: `**1. Helpfulness**`.
    let line = match list_marker.find(&line) {
        Some(m) => line[m.end()..].trim().to_string(),
        None => line.trim().to_string(),
    };
    (line, heading)
}
