//! What a run tells its user: per-stage counts ([`stats`], written as
//! `stats.json`, with the [`diversity`] of what was kept), the self-contained `report.html` ([`html`], with the training
//! section from [`training`], the rounds' curves from [`rounds`] and quarantined errors grouped by
//! [`quarantine`]), and progress on the terminal ([`progress`], with other
//! stderr output routed above the bars by [`stderr_capture`]).

pub mod counts;
pub mod diversity;
pub mod escape;
pub mod html;
pub mod progress;
pub mod quarantine;
pub mod rounds;
pub mod stats;
pub mod stderr_capture;
pub mod training;
