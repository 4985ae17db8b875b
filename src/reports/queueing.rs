//! Report figures of issue 13: each manager's time paused (per reason), on
//! do-not-disturb and signed out, and each department's service level per day.
//!
//! Definitions (also in docs/admin.md and docs/queues.md):
//! - A manager's state time is the part of each interval inside the period (an
//!   interval still open counts up to now).
//! - A department's *offered* calls are the calls handed to its people (the record's
//!   decision is `department:NAME`), except callers who took the callback offer
//!   (their dial-backs are counted apart). The wait runs from the moment the caller
//!   left the menus (the last menu choice, else the call's start) to the answer. The
//!   *service level* is the share of offered calls answered within the department's
//!   `service_level_secs`.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::config::DialPlan;
use crate::store::{AgentInterval, AgentStateKind, CallOutcome, CallRecord};

use super::period::Period;

/// Time a manager spent in one state within the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerStateRow {
    pub manager: String,
    pub state: AgentStateKind,
    /// The pause reason, or the department signed out of (empty: every queue).
    pub detail: String,
    pub ms: u64,
}

/// One department's service level on one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceLevelRow {
    pub department: String,
    pub date: Date,
    pub threshold_secs: u64,
    pub offered: u64,
    pub answered_within: u64,
    /// `answered_within / offered`; `None` without offered calls.
    pub share: Option<f64>,
}

/// What the report needs from the plan.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Department → its service-level threshold.
    pub service_levels: BTreeMap<String, Duration>,
}

/// The threshold of departments the options do not name.
pub const DEFAULT_SERVICE_LEVEL: Duration = Duration::from_secs(20);

impl ReportOptions {
    pub fn from_plan(plan: &DialPlan) -> Self {
        ReportOptions {
            service_levels: plan
                .departments
                .values()
                .map(|d| (d.name.clone(), d.queue.service_level))
                .collect(),
        }
    }

    fn threshold(&self, department: &str) -> Duration {
        self.service_levels
            .get(department)
            .copied()
            .unwrap_or(DEFAULT_SERVICE_LEVEL)
    }
}

fn ms_between(from: Timestamp, to: Timestamp) -> u64 {
    u64::try_from(to.as_millisecond() - from.as_millisecond()).unwrap_or(0)
}

/// Each manager's state time inside `period` (open intervals up to `now`), by
/// manager, state and detail.
pub fn manager_states(
    period: &Period,
    intervals: &[AgentInterval],
    now: Timestamp,
) -> Vec<ManagerStateRow> {
    let mut acc: BTreeMap<(String, AgentStateKind, String), u64> = BTreeMap::new();
    let end_of_period = period.end().min(now.max(period.start()));
    for i in intervals {
        let start = i.started_at.max(period.start());
        let end = i.ended_at.unwrap_or(now).min(end_of_period);
        if end <= start {
            continue;
        }
        *acc.entry((i.manager.clone(), i.kind, i.detail.clone()))
            .or_default() += ms_between(start, end);
    }
    acc.into_iter()
        .map(|((manager, state, detail), ms)| ManagerStateRow {
            manager,
            state,
            detail,
            ms,
        })
        .collect()
}

/// When the caller was handed to people: after the last menu choice, else the start.
fn offered_at(c: &CallRecord) -> Timestamp {
    c.menu_path
        .iter()
        .map(|s| s.at)
        .max()
        .unwrap_or(c.started_at)
        .max(c.started_at)
}

/// Each department's service level per local day of `period`.
pub fn service_levels(
    period: &Period,
    calls: &[CallRecord],
    opts: &ReportOptions,
) -> Vec<ServiceLevelRow> {
    let mut acc: BTreeMap<(String, Date), (u64, u64)> = BTreeMap::new();
    for c in calls.iter().filter(|c| period.contains(c.started_at)) {
        let Some(d) = c.decision.strip_prefix("department:") else {
            continue;
        };
        if c.outcome == CallOutcome::CallbackQueued {
            continue;
        }
        let slot = acc
            .entry((d.to_string(), period.local_date(c.started_at)))
            .or_default();
        slot.0 += 1;
        let within = c.answered_at.is_some_and(|at| {
            ms_between(offered_at(c), at) <= opts.threshold(d).as_millis() as u64
        });
        if within {
            slot.1 += 1;
        }
    }
    acc.into_iter()
        .map(|((department, date), (offered, within))| ServiceLevelRow {
            threshold_secs: opts.threshold(&department).as_secs(),
            department,
            date,
            offered,
            answered_within: within,
            share: (offered > 0).then(|| within as f64 / offered as f64),
        })
        .collect()
}
