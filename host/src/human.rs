//! Text for people: counts and rates with thousands separators, and names
//! that a pipeline or a plugin controls made safe to print.
//!
//! Everything Kiln prints to a terminal or log goes through here, so that a
//! rate reads `10,769/s` (not `10769.5533/s`) wherever it appears, and a
//! stage, pipeline or plugin name holding escape sequences cannot move the
//! cursor, recolour the terminal or forge log lines.

use indicatif::HumanCount;

/// `n` with thousands separators: `1,234,567`.
pub fn count(n: u64) -> String {
    HumanCount(n).to_string()
}

/// A per-second rate: whole numbers with separators from 10 up, one decimal
/// below (a slow model stage does 0.4 records/s, not 0).
pub fn rate(per_second: f64) -> String {
    if !per_second.is_finite() || per_second < 0.0 {
        "-".to_string()
    } else if per_second >= 10.0 {
        count(per_second as u64)
    } else {
        format!("{per_second:.1}")
    }
}

/// `text` with every control character (newlines, escapes, `\u{1b}[…`
/// sequences) written as a Rust escape, so it prints on one line as itself.
pub fn printable(text: &str) -> String {
    text.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_people_write_them() {
        assert_eq!(rate(10_769.553_3), "10,769");
        assert_eq!(rate(0.42), "0.4");
        assert_eq!(rate(f64::NAN), "-");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("a\u{1b}[2Jb\nc"), "a\\u{1b}[2Jb\\nc");
        assert_eq!(printable("café"), "café");
    }
}
