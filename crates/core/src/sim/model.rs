//! The simulator's inputs as plain data: arrivals, how callers choose in menus, how
//! managers answer and talk. Built by the traffic generator or from recorded calls;
//! the same `Traffic` is run through every plan, so plans are compared on equal calls.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::rng::Dist;

/// What a caller does in a menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MenuChoice {
    /// Press this key.
    Key(char),
    /// Say nothing until the menu's timeout.
    Timeout,
    /// Hang up while listening (abandoned in the IVR).
    Hangup,
}

/// One incoming call.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    /// Milliseconds after [`Traffic::origin`].
    pub at_ms: u64,
    pub dialled: String,
    pub caller: String,
    /// How long the caller waits for a manager before hanging up (infinite: forever).
    pub patience_secs: f64,
    /// Replay: the choices the caller made, in order. When they run out in a menu the
    /// caller hangs up there. `None`: sample from [`Traffic::menus`].
    pub keys: Option<Vec<MenuChoice>>,
    /// Replay: the recorded call this arrival came from.
    pub record: Option<RecordedRoute>,
    /// Replay: what the phones and the caller did on the recorded call, played back
    /// as long as the simulated call rings the same people.
    pub script: Option<Script>,
}

/// How a phone reacts when it rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// Picks up after this many ms.
    Answer(u64),
    /// Refuses (busy, declined) after this many ms.
    Reject(crate::model::RingOutcome, u64),
    /// Keeps ringing.
    NoAnswer,
}

/// A recorded call's behaviour, for replay.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    /// The phones rung, in order, and what each did.
    pub rings: Vec<(String, Reaction)>,
    /// How long the conversation lasted.
    pub talk_ms: Option<u64>,
    /// The caller hung up this long after the call started (unanswered calls).
    pub hangup_after_ms: Option<u64>,
}

/// What production decided for a replayed call, for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRoute {
    pub call_id: String,
    pub department: Option<String>,
    /// Menus where a key was pressed (or the timeout hit), in order.
    pub menus: Vec<String>,
    pub outcome: crate::model::CallOutcome,
    pub answered_by: Option<String>,
}

/// How one manager behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagerModel {
    /// Chance that they pick up a ringing call at all.
    pub answer_probability: f64,
    /// Seconds of ringing before they pick up (if that exceeds the ring timeout, the
    /// ring times out instead).
    pub answer_delay: Dist,
    pub talk_time: Dist,
    /// Signed-in ranges in ms after the origin; `None`: all the time.
    pub shifts: Option<Vec<(u64, u64)>>,
}

impl Default for ManagerModel {
    fn default() -> Self {
        ManagerModel {
            answer_probability: 1.0,
            answer_delay: Dist::Fixed { secs: 5.0 },
            talk_time: Dist::Exponential { mean: 180.0 },
            shifts: None,
        }
    }
}

impl ManagerModel {
    pub fn signed_in_at(&self, ms: u64) -> bool {
        self.shifts
            .as_ref()
            .is_none_or(|s| s.iter().any(|(a, b)| *a <= ms && ms < *b))
    }

    /// Signed-in milliseconds within `[0, window)`.
    pub fn signed_in_ms(&self, window: u64) -> u64 {
        match &self.shifts {
            None => window,
            Some(s) => s
                .iter()
                .map(|(a, b)| (*b).min(window).saturating_sub(*a))
                .sum(),
        }
    }
}

/// Who a known caller spoke with before the simulated period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriorManager {
    /// A recorded manager (replay).
    Named(String),
    /// Generated: picks `value % n` among the plan's managers, so the same caller maps
    /// to the same person in plans with the same staff.
    Pick(u64),
}

/// How queued callers use the callback offer, and how dial-backs go (the traffic
/// file's `[callbacks]`).
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackModel {
    /// Share of callers who press the callback key when a queue offers it.
    pub share: f64,
    /// Seconds in the queue before they press it (they hear the offer first).
    pub after_secs: f64,
    /// Chance that the customer answers a dial-back.
    pub reach: f64,
    /// Seconds the customer's phone rings before they answer (or the attempt fails).
    pub answer_secs: f64,
    /// Length of a dial-back conversation.
    pub talk_time: Dist,
}

impl Default for CallbackModel {
    fn default() -> Self {
        CallbackModel {
            share: 0.0,
            after_secs: 20.0,
            reach: 0.8,
            answer_secs: 10.0,
            talk_time: Dist::Exponential { mean: 180.0 },
        }
    }
}

/// Everything a run needs besides the plan.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// Simulated time zero.
    pub origin: Timestamp,
    /// Length of the observed period (arrivals window) in ms: occupancy is measured
    /// against it.
    pub window_ms: u64,
    pub seed: u64,
    /// Sorted by `at_ms`.
    pub arrivals: Vec<Arrival>,
    /// Menu → choices with their weights.
    pub menus: BTreeMap<String, Vec<(MenuChoice, f64)>>,
    pub default_manager: ManagerModel,
    pub managers: BTreeMap<String, ManagerModel>,
    /// Seconds a caller listens to a menu before pressing a key.
    pub menu_secs: f64,
    /// Seconds a `play:` prompt lasts.
    pub play_secs: f64,
    /// Seconds a voicemail message lasts.
    pub message_secs: f64,
    /// Caller patience the arrivals were drawn from (replay draws from it too).
    pub patience: Dist,
    /// Caller → whom they spoke with before the period, and when.
    pub prior: BTreeMap<String, (PriorManager, Timestamp)>,
    /// The callback offer and dial-backs.
    pub callbacks: CallbackModel,
}

impl Traffic {
    pub fn manager(&self, name: &str) -> &ManagerModel {
        self.managers.get(name).unwrap_or(&self.default_manager)
    }
}
