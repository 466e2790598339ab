//! `kiln serve`: many tenants' pipelines on one machine, with plugins none
//! of them wrote.
//!
//! - [`tenants`] and [`tokens`]: who may call, authenticated by a token of
//!   which only a hash is kept;
//! - [`isolation`]: what a tenant's pipeline may name (its own uploads);
//! - [`quotas`] and [`secrets`]: what a tenant may use, and the API keys the
//!   operator gave it;
//! - [`fair_queue`]: deficit round robin over tenants, so a full pool
//!   queues and no tenant starves another;
//! - [`core`]: submission, cancellation, the workers, recovery after a crash;
//! - [`db`] and [`runs`]: durable state (SQLite, or PostgreSQL);
//! - [`api`] and [`admin`]: the HTTP API (axum), and its administrators' part;
//!   [`http`]: what both share (error answers, the tenant of a request);
//! - [`console`] and [`review`]: the web console, and its human review queue.
//!
//! Runs go through the engine's library API ([`crate::pipeline`]); plugins
//! keep the sandbox's per-instance limits.

pub mod admin;
pub mod api;
pub mod console;
pub mod core;
pub mod db;
pub mod error;
pub mod fair_queue;
pub mod http;
pub mod isolation;
pub mod progress;
pub mod quotas;
pub mod review;
pub mod runs;
pub mod secrets;
pub mod tenants;
pub mod tokens;

pub use core::{Service, ServiceConfig, Upload};
pub use db::Db;
pub use error::ServiceError;
