//! Drop reasons, interned: a filter's reasons are a small vocabulary
//! (`gopher_short_doc`, `too_short`, …) repeated over most of the records it
//! sees, so a [`Reason`] is usually a pointer to one process-wide copy of its
//! text, and handing it to a record costs a copy of two words, with no
//! reference count to raise and lower per record.
//!
//! Plugins are untrusted, and one could make every reason unique. The
//! interner therefore keeps at most [`MAX_INTERNED`] reasons of at most
//! [`MAX_INTERNED_LEN`] bytes (under 1 MiB in all, held for the life of the
//! process); any other reason is shared by reference count instead, as cheap
//! as before interning, and freed when its last record is.

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex};

/// The most distinct reasons the process interns.
pub const MAX_INTERNED: usize = 4096;
/// The longest reason, in bytes, that is interned.
pub const MAX_INTERNED_LEN: usize = 200;

/// Why a record was dropped: text that derefs to `str`, cheap to clone.
#[derive(Clone)]
pub struct Reason(Repr);

#[derive(Clone)]
enum Repr {
    Interned(&'static str),
    Shared(Arc<str>),
}

impl Reason {
    /// The reason `text`: interned while the interner has room for it,
    /// otherwise shared by reference count.
    pub fn new(text: &str) -> Self {
        static PROCESS: LazyLock<Interner> = LazyLock::new(|| Interner::new(MAX_INTERNED));
        Reason::in_interner(&PROCESS, text)
    }

    fn in_interner(interner: &Interner, text: &str) -> Self {
        match interner.intern(text) {
            Some(interned) => Reason(Repr::Interned(interned)),
            None => Reason(Repr::Shared(Arc::from(text))),
        }
    }

    /// The reason's text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Interned(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

/// A set of interned texts, holding at most `capacity` of them.
struct Interner {
    table: Mutex<HashSet<&'static str>>,
    capacity: usize,
}

impl Interner {
    fn new(capacity: usize) -> Self {
        Interner { table: Mutex::default(), capacity }
    }

    /// The interned copy of `text`, made on first sight; `None` when `text`
    /// is too long or the interner is full.
    fn intern(&self, text: &str) -> Option<&'static str> {
        if text.len() > MAX_INTERNED_LEN {
            return None;
        }
        // The table is consistent after any panic (an insert either happened
        // or not), so a poisoned lock is safe to take over.
        let mut table = self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(&interned) = table.get(text) {
            return Some(interned);
        }
        if table.len() >= self.capacity {
            return None;
        }
        let interned: &'static str = Box::leak(text.into());
        table.insert(interned);
        Some(interned)
    }
}

impl Deref for Reason {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Reason {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Reason {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Reason {}

impl PartialEq<str> for Reason {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Reason {
    fn from(text: &str) -> Self {
        Reason::new(text)
    }
}

impl From<String> for Reason {
    fn from(text: String) -> Self {
        Reason::new(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_is_interned_once() {
        let (a, b) = (Reason::new("reason_tests_same"), Reason::new(&String::from("reason_tests_same")));
        assert_eq!(a, b);
        assert!(std::ptr::eq(a.as_ptr(), b.as_ptr()), "one copy");
        assert!(matches!(a.0, Repr::Interned(_)));
    }

    #[test]
    fn a_long_reason_is_shared_not_interned() {
        let long = "x".repeat(MAX_INTERNED_LEN + 1);
        let r = Reason::new(&long);
        assert!(matches!(r.0, Repr::Shared(_)));
        assert_eq!(&*r, long.as_str());
        let copy = r.clone();
        assert!(std::ptr::eq(r.as_ptr(), copy.as_ptr()), "clones share the text");
    }

    #[test]
    fn a_full_interner_shares_the_rest() {
        let interner = Interner::new(3);
        for text in ["a", "b", "c"] {
            assert!(matches!(Reason::in_interner(&interner, text).0, Repr::Interned(_)));
        }
        let r = Reason::in_interner(&interner, "d");
        assert!(matches!(r.0, Repr::Shared(_)), "full");
        assert_eq!(r, "d");
        assert!(matches!(Reason::in_interner(&interner, "b").0, Repr::Interned(_)), "what is in stays in");
    }

    #[test]
    fn displays_and_compares_as_its_text() {
        let r = Reason::from("reason_tests_display");
        assert_eq!(r.to_string(), "reason_tests_display");
        assert_eq!(format!("{r:?}"), "\"reason_tests_display\"");
        assert_eq!(r, "reason_tests_display");
        assert_eq!(Reason::from(String::from("x")).len(), 1);
    }
}
