//! What a run produces: one record per call and totals per manager.

use super::model::{MenuChoice, RecordedRoute};

/// How a simulated call ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SimOutcome {
    Answered,
    AbandonedInIvr,
    AbandonedWaiting,
    Voicemail(String),
    /// The plan hung up (menu failures, no route, `hangup` action).
    PlanHangup,
}

/// One simulated call, for reports and for comparing with recorded calls.
#[derive(Debug, Clone, PartialEq)]
pub struct CallResult {
    pub dialled: String,
    pub caller: String,
    pub arrived_ms: u64,
    pub outcome: SimOutcome,
    /// When the caller left the menus for a department or manager.
    pub wait_start_ms: Option<u64>,
    pub answered_ms: Option<u64>,
    pub answered_by: Option<String>,
    /// The first department the call was handed to.
    pub department: Option<String>,
    /// Menus where a choice was made, with the choice.
    pub menus: Vec<(String, MenuChoice)>,
    /// The manager this caller spoke with last, when within the plan's lookback.
    pub previous: Option<String>,
    /// Whether the call reached the overflow action of a queue.
    pub overflowed: bool,
    pub record: Option<RecordedRoute>,
}

impl CallResult {
    /// Seconds from reaching a department/manager to being answered.
    pub fn answer_secs(&self) -> Option<f64> {
        Some((self.answered_ms? - self.wait_start_ms?) as f64 / 1000.0)
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
    /// [`QUEUE_BIN_SECS`] bin from the origin.
    pub queue_bins: Vec<u32>,
    /// Ring attempts made (one per manager rung).
    pub rings: u64,
    /// Events processed.
    pub events: u64,
}
