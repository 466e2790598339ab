//! Recursive rounds: the student of one round becomes the model of the
//! next, real data is mixed back in by a declared policy, and a collapse
//! monitor measures every round of every arm (see `docs/rounds.md`).
//!
//! | module | job |
//! |---|---|
//! | [`plan`] | the checked `[rounds]`: arms with their stages built per round, policies, alarms |
//! | [`pool`] | a round's training pool, composed by policy; each record's origin |
//! | [`monitor`] | the collapse metrics of one round's student and data |
//! | [`summary`] | the rounds' part of `stats.json` |
//! | [`driver`] | round 0, then every round of every arm and seed, committed and resumed |
//!
//! The rounds are built on the engine, not inside it: a round's data is an
//! ordinary run of the engine (its own work directory, exactly-once
//! chunks), its training the `train-student` job's own resumable function.

pub mod driver;
pub mod monitor;
pub mod plan;
pub mod pool;
pub mod summary;

pub use driver::run;
