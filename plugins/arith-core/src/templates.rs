//! The vocabulary of word problems: names, items and sentence templates.
//!
//! Shared by the renderer (which fills templates in) and the parser (which
//! matches sentences against them), so that the two can never drift apart.
//! Placeholders: `{name}` a person's name (one word), `{n}` the number the
//! sentence is about, `{k}` the multiplier of an opening "k boxes of n",
//! `{item}` the item, agreeing in number with `{n}`, and `{items}` the item
//! in the plural.

/// Something counted in a problem, e.g. marble/marbles.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Item {
    /// One of them: `marble`.
    pub singular: &'static str,
    /// Several: `marbles`.
    pub plural: &'static str,
}

impl Item {
    /// The form that agrees with `count`.
    pub fn form(&self, count: i64) -> &'static str {
        if count == 1 { self.singular } else { self.plural }
    }
}

const fn item(singular: &'static str, plural: &'static str) -> Item {
    Item { singular, plural }
}

/// Everything a problem may count.
pub const ITEMS: &[Item] = &[
    item("marble", "marbles"),
    item("sticker", "stickers"),
    item("apple", "apples"),
    item("coin", "coins"),
    item("stamp", "stamps"),
    item("book", "books"),
    item("pencil", "pencils"),
    item("cookie", "cookies"),
    item("shell", "shells"),
    item("card", "cards"),
    item("bead", "beads"),
    item("button", "buttons"),
    item("candle", "candles"),
    item("ticket", "tickets"),
    item("brick", "bricks"),
    item("seed", "seeds"),
];

/// The names problems are about when no persona provides one.
pub const NAMES: &[&str] = &[
    "Maya", "Liam", "Aisha", "Noah", "Sofia", "Kenji", "Emma", "Omar", "Lena", "Diego", "Priya", "Lucas", "Zara",
    "Mateo", "Hana", "Felix", "Amara", "Jonas", "Ines", "Ravi",
];

/// First sentence when the first operation is not a multiplication.
pub const OPENINGS: &[&str] = &[
    "{name} has {n} {item}.",
    "{name} starts with {n} {item}.",
    "{name} has a collection of {n} {item}.",
    "At first, {name} has {n} {item}.",
];

/// First sentence when the first operation is a multiplication: `{k}` groups of `{n}`.
pub const GROUPED_OPENINGS: &[&str] = &[
    "{name} has {k} boxes, and each box holds {n} {item}.",
    "{name} buys {k} bags with {n} {item} in each bag.",
    "{name} fills {k} jars with {n} {item} each.",
];

/// Sentences that add `{n}`.
pub const ADDITIONS: &[&str] = &[
    "{name} buys {n} more {item}.",
    "Then {name} finds {n} more {item}.",
    "A friend gives {name} {n} {item}.",
    "After that, {name} gets {n} more {item}.",
];

/// Sentences that subtract `{n}`.
pub const SUBTRACTIONS: &[&str] = &[
    "{name} gives away {n} {item}.",
    "Then {name} loses {n} {item}.",
    "{name} sells {n} of the {items}.",
    "After that, {name} uses {n} {item}.",
];

/// Sentences that multiply by `{n}` (after the opening).
pub const MULTIPLICATIONS: &[&str] = &[
    "Then {name} ends up with {n} times as many {items}.",
    "{name} now has {n} times as many {items} as before.",
    "After that, the number of {items} {name} has is multiplied by {n}.",
];

/// The question that ends every problem.
pub const QUESTIONS: &[&str] = &[
    "How many {items} does {name} have now?",
    "How many {items} does {name} end up with?",
    "How many {items} does {name} have at the end?",
];

/// Leading words an operation sentence may carry beyond its template; the
/// parser tolerates them (a rephrasing model adds them freely).
pub const CONNECTIVES: &[&str] = &["then", "next", "later", "after that", "and then", "finally", "and"];

/// The item whose singular or plural form is `word` (case-insensitive).
pub fn item_named(word: &str) -> Option<&'static Item> {
    ITEMS.iter().find(|i| i.singular.eq_ignore_ascii_case(word) || i.plural.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_names_its_person_and_number() {
        for set in [OPENINGS, GROUPED_OPENINGS, ADDITIONS, SUBTRACTIONS, MULTIPLICATIONS, QUESTIONS] {
            for t in set {
                assert!(t.contains("{name}"), "{t}");
                assert!(t.contains("{item}") || t.contains("{items}"), "{t}");
                assert_eq!(t.contains("{n}"), !std::ptr::eq(set, QUESTIONS), "{t}");
            }
        }
        assert!(GROUPED_OPENINGS.iter().all(|t| t.contains("{k}")));
    }

    #[test]
    fn items_are_found_by_either_form() {
        assert_eq!(item_named("Marbles").map(|i| i.singular), Some("marble"));
        assert_eq!(item_named("coin").map(|i| i.plural), Some("coins"));
        assert!(item_named("unicorns").is_none());
        assert_eq!(ITEMS[0].form(1), "marble");
        assert_eq!(ITEMS[0].form(0), "marbles");
    }

    #[test]
    fn names_are_single_capitalised_words() {
        for n in NAMES {
            assert!(n.chars().next().is_some_and(char::is_uppercase) && n.chars().all(char::is_alphabetic), "{n}");
        }
    }
}
