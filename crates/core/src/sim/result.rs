//! What a run produces: one record per call and totals per manager.

use super::model::{MenuChoice, RecordedRoute};
use crate::model::CallOutcome;

/// What happened to a call, in order, for comparing runs exactly (the live router
/// against the simulator, a replay against the record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trace {
    /// A manager's phone rang.
    Rung(String),
    /// The caller queued in a department at a position.
    Queued(String, usize),
    /// The caller waits for one busy manager.
    WaitingFor(String),
    /// A manager answered.
    Answered(String),
    Ended(CallOutcome),
}

/// One simulated call, for reports and for comparing with recorded calls.
#[derive(Debug, Clone, PartialEq)]
pub struct CallResult {
    pub dialled: String,
    pub caller: String,
    pub arrived_ms: u64,
    /// How the call ended, classified exactly as the router classifies its records.
    pub outcome: CallOutcome,
    /// The mailbox, when the caller reached voicemail.
    pub voicemail: Option<String>,
    /// When the caller left the menus for a department or manager.
    pub wait_start_ms: Option<u64>,
    pub answered_ms: Option<u64>,
    pub answered_by: Option<String>,
    /// The department the call was last handed to (or the mailbox it reached), as
    /// the call record keeps it.
    pub department: Option<String>,
    /// Menus where a choice was made, with the choice.
    pub menus: Vec<(String, MenuChoice)>,
    /// The manager this caller spoke with last, when within the plan's lookback.
    pub previous: Option<String>,
    /// Whether the call reached a department's overflow action.
    pub overflowed: bool,
    /// The caller hung up to be called back (the queue's callback offer).
    pub callback: bool,
    pub record: Option<RecordedRoute>,
    /// What happened, with the milliseconds since the start of the run.
    pub trace: Vec<(u64, Trace)>,
}

impl CallResult {
    /// Seconds from reaching a department/manager to being answered.
    pub fn answer_secs(&self) -> Option<f64> {
        Some((self.answered_ms? - self.wait_start_ms?) as f64 / 1000.0)
    }
}

/// Service level of one department in a run: the share of the calls offered to its
/// people that were answered within its `service_level_secs` (callers who took the
/// callback offer are not offered calls: their dial-backs are counted apart).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceLevel {
    pub department: String,
    pub threshold_secs: u64,
    /// Calls that waited for the department's people.
    pub offered: u64,
    pub answered_within: u64,
}

impl ServiceLevel {
    /// `answered_within / offered` (`None` without offered calls).
    pub fn share(&self) -> Option<f64> {
        (self.offered > 0).then(|| self.answered_within as f64 / self.offered as f64)
    }
}

impl SimResult {
    /// Service level per department of `plan`, from this run's calls.
    pub fn service_levels(&self, plan: &crate::config::DialPlan) -> Vec<ServiceLevel> {
        plan.departments
            .values()
            .map(|d| {
                let t = d.queue.service_level.as_secs();
                let mut sl = ServiceLevel {
                    department: d.name.clone(),
                    threshold_secs: t,
                    offered: 0,
                    answered_within: 0,
                };
                for c in &self.calls {
                    if c.department.as_deref() != Some(d.name.as_str())
                        || c.wait_start_ms.is_none()
                        || c.callback
                    {
                        continue;
                    }
                    sl.offered += 1;
                    if c.answer_secs().is_some_and(|s| s <= t as f64) {
                        sl.answered_within += 1;
                    }
                }
                sl
            })
            .collect()
    }
}

/// Per-manager totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManagerTotals {
    pub name: String,
    pub calls: u32,
    pub talk_ms: u64,
    pub signed_in_ms: u64,
}

/// Everything one run of one plan produced.
#[derive(Debug, Clone)]
pub struct SimResult {
    pub calls: Vec<CallResult>,
    pub managers: Vec<ManagerTotals>,
    /// Most callers waiting (queued or waiting for a specific manager) in each
    /// [`QUEUE_BIN_SECS`](super::engine::QUEUE_BIN_SECS) bin from the origin.
    pub queue_bins: Vec<u32>,
    /// Ring attempts made (one per manager rung).
    pub rings: u64,
    /// Events processed.
    pub events: u64,
    /// Callback requests filed.
    pub callbacks: u64,
    /// Callers who took the callback offer, and how their dial-backs went.
    pub dialbacks: super::switch::DialbackTotals,
}
