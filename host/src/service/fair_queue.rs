//! Which queued run a free worker takes next: deficit round robin over
//! tenants.
//!
//! Each tenant with queued runs holds a place in a round; when its turn
//! comes it earns its weight in credit and starts runs while it has credit
//! (a run costs 1) and is under its `max_running`. A tenant with 50 queued
//! runs therefore gets one worker per turn like a tenant with 1, and a
//! weight-2 tenant two: nobody is starved and nobody gets ahead by queueing
//! more. A full pool never refuses work: runs wait here (backpressure); only
//! the per-tenant `max_queued` quota refuses a submission.

use std::collections::{BTreeMap, VecDeque};

/// One tenant's queue.
#[derive(Debug, Default)]
struct TenantQueue {
    runs: VecDeque<String>,
    weight: u32,
    max_running: u32,
    running: u32,
    credit: u32,
}

/// The service's queued runs, by tenant.
#[derive(Debug, Default)]
pub struct FairQueue {
    tenants: BTreeMap<String, TenantQueue>,
    /// Tenants in round order (each at most once).
    round: VecDeque<String>,
}

impl FairQueue {
    /// Queues `run` for `tenant` (whose `weight` and `max_running` are updated).
    pub fn push(&mut self, tenant: &str, weight: u32, max_running: u32, run: String) {
        let queue = self.tenants.entry(tenant.to_string()).or_default();
        queue.weight = weight.max(1);
        queue.max_running = max_running.max(1);
        queue.runs.push_back(run);
        if !self.round.iter().any(|t| t == tenant) {
            self.round.push_back(tenant.to_string());
        }
    }

    /// Takes a queued run out (cancelled before it started); whether it was queued.
    pub fn remove(&mut self, tenant: &str, run: &str) -> bool {
        let Some(queue) = self.tenants.get_mut(tenant) else { return false };
        let before = queue.runs.len();
        queue.runs.retain(|r| r != run);
        before != queue.runs.len()
    }

    /// A run that `tenant` had running is over (its worker is free).
    pub fn finished(&mut self, tenant: &str) {
        if let Some(queue) = self.tenants.get_mut(tenant) {
            queue.running = queue.running.saturating_sub(1);
        }
    }

    /// Runs queued for `tenant`.
    pub fn queued(&self, tenant: &str) -> usize {
        self.tenants.get(tenant).map_or(0, |q| q.runs.len())
    }

    /// The next run to start, and its tenant; `None` when every tenant with
    /// queued runs is at its `max_running` (or nothing is queued).
    pub fn next_run(&mut self) -> Option<(String, String)> {
        // Each tenant is visited at most twice: once to spend credit left
        // from its last turn, once with fresh credit.
        for _ in 0..self.round.len() * 2 {
            let tenant = self.round.pop_front()?;
            let Some(queue) = self.tenants.get_mut(&tenant) else { continue };
            if queue.runs.is_empty() {
                queue.credit = 0;
                continue; // leaves the round until it queues again
            }
            if queue.running >= queue.max_running {
                self.round.push_back(tenant);
                continue;
            }
            if queue.credit == 0 {
                queue.credit = queue.weight;
            }
            let run = queue.runs.pop_front()?;
            queue.credit -= 1;
            queue.running += 1;
            if queue.credit > 0 && !queue.runs.is_empty() {
                self.round.push_front(tenant.clone());
            } else {
                queue.credit = 0;
                self.round.push_back(tenant.clone());
            }
            return Some((tenant, run));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_with_many_queued_runs_does_not_starve_one_with_one() {
        let mut q = FairQueue::default();
        for i in 0..50 {
            q.push("big", 1, 4, format!("big-{i}"));
        }
        q.push("small", 1, 4, "small-0".into());
        let first_two: Vec<String> = (0..2).filter_map(|_| q.next_run()).map(|(t, _)| t).collect();
        assert_eq!(first_two, ["big", "small"]);
    }

    #[test]
    fn weights_share_the_workers_and_max_running_holds_a_tenant_back() {
        let mut q = FairQueue::default();
        for i in 0..10 {
            q.push("heavy", 2, 10, format!("h{i}"));
            q.push("light", 1, 10, format!("l{i}"));
        }
        let order: String =
            (0..6).filter_map(|_| q.next_run()).map(|(t, _)| if t == "heavy" { 'H' } else { 'L' }).collect();
        assert_eq!(order, "HHLHHL");

        let mut q = FairQueue::default();
        for i in 0..3 {
            q.push("a", 1, 1, format!("a{i}"));
        }
        assert_eq!(q.next_run().map(|(_, r)| r).as_deref(), Some("a0"));
        assert_eq!(q.next_run(), None, "a is at its max_running");
        q.finished("a");
        assert_eq!(q.next_run().map(|(_, r)| r).as_deref(), Some("a1"));
    }

    #[test]
    fn a_removed_run_is_not_started_and_order_within_a_tenant_is_kept() {
        let mut q = FairQueue::default();
        for i in 0..3 {
            q.push("t", 1, 8, format!("r{i}"));
        }
        assert!(q.remove("t", "r1"));
        assert!(!q.remove("t", "r1"));
        assert!(!q.remove("other", "r0"));
        let runs: Vec<String> = std::iter::from_fn(|| q.next_run()).map(|(_, r)| r).collect();
        assert_eq!(runs, ["r0", "r2"]);
        assert_eq!(q.queued("t"), 0);
    }
}
