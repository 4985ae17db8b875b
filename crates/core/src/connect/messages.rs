//! The connect policy's messages: what a call asks for ([`ConnectTarget`]), what calls
//! and managers tell it ([`ConnectInput`]), and what it answers ([`ConnectOutput`],
//! [`Wait`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::WaitEstimate;
use crate::config::DialPlan;
use crate::media::CallKey;
use crate::model::RingOutcome;
use crate::routing::{Reason, Step};

/// Whom a call asks to be connected to (the dial plan's `department:` and `manager:`
/// targets, and returning callers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectTarget {
    /// A department: its strategy picks the members, round after round.
    Department(String),
    /// One manager (a direct `manager:NAME` action or a returning caller): ring for
    /// `ring_timeout`; while they are busy wait up to `wait`; then `fallback`.
    Manager {
        name: String,
        ring_timeout: Duration,
        wait: Duration,
        fallback: Box<Step>,
    },
}

/// What a call (or the simulator on its behalf) tells the connect policy, applied
/// with [`Connector::handle`].
#[derive(Debug, Clone)]
pub enum ConnectInput {
    Request {
        call: CallKey,
        plan: Arc<DialPlan>,
        target: ConnectTarget,
        priority: u8,
    },
    RingEnded {
        call: CallKey,
        manager: String,
        outcome: RingOutcome,
    },
    Answered {
        call: CallKey,
        manager: String,
    },
    Left {
        call: CallKey,
    },
    TalkEnded {
        manager: String,
        plan: Arc<DialPlan>,
    },
    /// The queued caller hung up to be called back: their entry keeps its place
    /// (the virtual queue) and a `Ring` for it starts the dial-back.
    Virtualize {
        call: CallKey,
        /// The key the entry goes on under (the dial-back's; may be `call`).
        new_key: CallKey,
    },
    /// A virtual entry kept across a restart: back into `department`'s queue,
    /// ahead of everyone who arrived after `since`.
    Restore {
        call: CallKey,
        plan: Arc<DialPlan>,
        department: String,
        priority: u8,
        since: Timestamp,
        /// Not offered to a manager before this (a retry's back-off).
        not_before: Option<Instant>,
    },
    /// A dial-back attempt failed: the virtual entry waits until `until`, then takes
    /// its old place again (managers who did not answer may be rung again).
    Park {
        call: CallKey,
        until: Instant,
    },
    /// The answer to [`Claim::Ring`] `id` (shared mode): whom the call may ring.
    Claimed {
        id: u64,
        call: CallKey,
        granted: Vec<String>,
        refused: Vec<String>,
    },
}

/// Work for whoever carries the calls out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectOutput {
    /// Ring these managers now (one round: one manager, or all of them for ring-all)
    /// for up to `ring_timeout`; report each with [`Connector::handle_ring_ended`] or
    /// [`Connector::handle_answered`].
    Ring {
        call: CallKey,
        managers: Vec<String>,
        ring_timeout: Duration,
        /// The department ringing them, `None` for a direct connect to one manager.
        department: Option<String>,
        reason: Reason,
    },
    /// Nobody can be rung right now: the caller waits (hold music).
    Wait {
        call: CallKey,
        wait: Wait,
        reason: Reason,
    },
    /// Nobody will take this call: its program continues with `step` (overflow,
    /// after hours, a manager's fallback). A virtual entry stays held (out of the
    /// queue, keeping its place) until it is parked or left.
    Failed {
        call: CallKey,
        step: Step,
        reason: Reason,
    },
    /// A queued caller's place changed (someone ahead was served or left, a caller
    /// of higher priority arrived).
    Position {
        call: CallKey,
        department: String,
        position: usize,
        estimate: WaitEstimate,
    },
}

impl ConnectOutput {
    pub fn call(&self) -> CallKey {
        match self {
            ConnectOutput::Ring { call, .. }
            | ConnectOutput::Wait { call, .. }
            | ConnectOutput::Failed { call, .. }
            | ConnectOutput::Position { call, .. } => *call,
        }
    }
}

/// What a caller waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// In a department's queue at `position` (1 = next).
    Queue {
        department: String,
        position: usize,
        hold_prompt: Option<String>,
        estimate: WaitEstimate,
    },
    /// For one manager (a returning caller) to be free.
    Manager { name: String },
}
