//! Reading an answer that holds a JSON object: `{"helpfulness": 4, …}`,
//! `{"helpfulness": {"rating": 4, "rationale": "…"}}`, nested under another
//! key (`{"ratings": {…}}`), or a list of `{"aspect": …, "rating": …}`; in a
//! ```` ```json ```` fence or inline. Keys match aspect names in any case or
//! spacing, also with a `_rating` or `_score` suffix. Ratings may be numbers
//! or strings such as `"4/5"`.

use serde_json::{Map, Value};

use super::rating::{Keyword, Leading};
use super::{Parser, Problem, Reading, Readings, snippet};

/// Keys that hold a rating inside an aspect's object.
const RATING_KEYS: [&str; 6] = ["rating", "score", "value", "grade", "rate", "points"];
/// Keys that hold a rationale.
const RATIONALE_KEYS: [&str; 8] =
    ["rationale", "reason", "reasoning", "explanation", "justification", "comment", "feedback", "critique"];
/// Keys that name the aspect inside a list entry.
const NAME_KEYS: [&str; 6] = ["aspect", "name", "criterion", "criteria", "dimension", "category"];
/// How deep objects are searched.
const MAX_DEPTH: usize = 6;

/// The readings in the first JSON object or array of `answer` that parses,
/// or `None` when there is none.
pub fn read(parser: &Parser, answer: &str) -> Option<Readings> {
    let value = candidates(answer).into_iter().find_map(|c| serde_json::from_str::<Value>(c).ok())?;
    let mut readings = Readings::new(parser.keys.len());
    walk(parser, &value, 0, &mut readings);
    Some(readings)
}

/// Texts that may be JSON: the contents of each code fence, then the span
/// from the first `{` to the last `}`.
fn candidates(answer: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = answer;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        // Skip the info string (`json`) up to the end of the line.
        let body_start = after.find('\n').map_or(after.len(), |i| i + 1);
        let body = &after[body_start..];
        let Some(close) = body.find("```") else { break };
        let block = body[..close].trim();
        if block.starts_with(['{', '[']) {
            out.push(block);
        }
        rest = &body[close + 3..];
    }
    if let (Some(start), Some(end)) = (answer.find('{'), answer.rfind('}'))
        && start < end
    {
        out.push(&answer[start..=end]);
    }
    out
}

fn walk(parser: &Parser, value: &Value, depth: usize, out: &mut Readings) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            // A list entry: {"aspect": "helpfulness", "rating": 4, ...}.
            if let Some(a) = NAME_KEYS.iter().find_map(|k| get(map, k)?.as_str().and_then(|n| parser.aspect_index(n))) {
                aspect_value(parser, a, "", value, out);
                return;
            }
            for (k, v) in map {
                if let Some(a) = aspect_of_key(parser, k) {
                    aspect_value(parser, a, k, v, out);
                } else if is_one_of(k, &RATIONALE_KEYS) {
                    if let Some(text) = v.as_str() {
                        out.general.push(text.trim().to_string());
                    }
                } else if v.is_object() || v.is_array() {
                    walk(parser, v, depth + 1, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| walk(parser, v, depth + 1, out)),
        _ => {}
    }
}

/// The aspect a key names: `helpfulness`, `Instruction Following`,
/// `honesty_rating`, `truthfulnessScore`.
fn aspect_of_key(parser: &Parser, key: &str) -> Option<usize> {
    parser.aspect_index(key).or_else(|| {
        let k = super::key(key);
        ["rating", "score"].iter().find_map(|suffix| parser.aspect_index(k.strip_suffix(suffix)?))
    })
}

/// Reads the rating of aspect `a` from `v`, the value of member `key`.
fn aspect_value(parser: &Parser, a: usize, key: &str, v: &Value, out: &mut Readings) {
    let shown = if key.is_empty() { v.to_string() } else { format!("\"{key}\": {v}") };
    let snip = snippet(&shown);
    let read = &mut out.aspects[a];
    let rating_value = match v {
        Value::Object(map) => {
            if let Some(text) = RATIONALE_KEYS.iter().find_map(|k| get(map, k)?.as_str()) {
                read.rationale.push(text.trim().to_string());
            }
            match RATING_KEYS.iter().find_map(|k| get(map, k)) {
                Some(r) => r,
                None => {
                    read.problems.push(Problem::NotANumber(snip));
                    return;
                }
            }
        }
        other => other,
    };
    match rating_value {
        Value::Number(n) => match n.as_f64() {
            Some(value) => read.ratings.push(Reading { rating: super::Rating { value, out_of: None }, snippet: snip }),
            None => read.problems.push(Problem::NotANumber(snip)),
        },
        Value::String(s) => match parser.ratings.leading(s, Keyword::Optional) {
            Leading::Rating(rating, rest) => {
                read.ratings.push(Reading { rating, snippet: snip });
                let rest = super::rating::trim_separators(rest).trim();
                if !rest.is_empty() {
                    read.rationale.push(rest.to_string());
                }
            }
            Leading::Range => read.problems.push(Problem::Range(snip)),
            Leading::Nothing => read.problems.push(Problem::NotANumber(snip)),
        },
        _ => read.problems.push(Problem::NotANumber(snip)),
    }
}

/// The member of `map` whose key is `name` in any case.
fn get<'v>(map: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

fn is_one_of(key: &str, names: &[&str]) -> bool {
    names.iter().any(|n| key.eq_ignore_ascii_case(n))
}
