//! # kiln-arith: arithmetic word problems for Generative Data Refinement
//!
//! The shared, natively tested logic of Kiln's offline GDR demo: an embedded
//! teacher generates step-by-step solutions to arithmetic word problems (with
//! realistic, systematic mistakes), a verifier checks every step exactly, a
//! filter keeps the verified ones, and a student trained on them is evaluated
//! on held-out problems by exact match of the final answer.
//!
//! - [`Problem::generate`] draws problem `index` of a seeded set
//!   ([`ProblemConfig`]); [`Problem::question`] renders it, as an English word
//!   problem or as an equation (`What is 47 + 38?`, [`QuestionStyle`]), and
//!   [`parse_question`] reads either back exactly; [`Problem::class`] names
//!   what makes it hard.
//! - [`Problem::solve`] is the exact solver, in the canonical format:
//!   `Step k: a op b = c` lines, then `Answer: n` ([`solution`]).
//! - [`teacher::answer`] is the simulated teacher model, erring per
//!   [`ErrorProfile`], deterministic per `(prompt text, seed)`.
//! - [`verify`] checks a record `Question: ...\nSolution:\n<steps>\nAnswer: n`.
//! - [`extract_answer`] reads a model's final answer for exact-match evaluation.
//!
//! Everything is pure and deterministic, so it runs the same natively and
//! inside a WebAssembly plugin.

pub mod digits;
mod parse;
mod problem;
mod render;
pub mod rng;
pub mod solution;
mod solve;
pub mod teacher;
pub mod templates;
mod verify;

pub use parse::{ParseError, find_problem, parse_question, question_in};
pub use problem::{ConfigError, Op, Operation, Problem, ProblemClass, ProblemConfig, QuestionStyle};
pub use solution::{ParsedSolution, Solution, Step, StepLine, extract_answer, parse_solution, record_text};
pub use teacher::{ErrorProfile, ProfileError};
pub use verify::{Verification, VerifyError, verify, verify_solution};
