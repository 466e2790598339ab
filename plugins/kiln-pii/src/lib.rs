//! # kiln-pii: finding personal data in text
//!
//! The detectors behind Kiln's PII plugins: `pii-redact` (a mapper that
//! replaces personal data by typed placeholders) and `pii-rewrite` (a refiner
//! that asks a model to do the same and checks its answer). It is a plain
//! library, not a plugin, so that both can link it without exporting each
//! other's component world.
//!
//! - [`Detector`] finds emails, phone numbers, IPv4 and IPv6 addresses and
//!   payment card numbers ([`Kind`]) as sorted, disjoint byte [`Span`]s.
//! - [`Placeholders`] and [`Detector::redact`] replace them by `[EMAIL]`,
//!   `[PHONE]`, `[IPV4]`, `[IPV6]`, `[CARD]` (or another template) and count
//!   them ([`Counts`]).
//! - [`luhn_valid`] and [`issuer_prefix_ok`] are the payment card checks.
//!
//! ```
//! use kiln_pii::{Detector, Kind, Placeholders};
//!
//! let detector = Detector::new(&Kind::ALL)?;
//! let (text, counts) = detector.redact("mail jane@example.org or call (555) 123-4567", &Placeholders::default());
//! assert_eq!(text, "mail [EMAIL] or call [PHONE]");
//! assert_eq!(counts.get(Kind::Email), 1);
//! # Ok::<(), kiln_pii::Error>(())
//! ```
//!
#![doc = include_str!("../MATCHING.md")]

mod boundary;
mod card;
mod detector;
mod kind;
mod redact;

pub use card::{issuer_prefix_ok, luhn_valid};
pub use detector::{Detector, Error};
pub use kind::{Counts, Kind, Span};
pub use redact::Placeholders;
