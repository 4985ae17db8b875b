//! A call's life events: what logs, call records, metrics and webhooks are made from.

use std::time::Duration;

use super::CallKey;
use super::outcome::{EndCause, Outcome};
use super::program::CallInfo;
use crate::model::RingOutcome;
use crate::routing::Reason;

/// Something that happened to a call.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    Started {
        key: CallKey,
        info: CallInfo,
    },
    /// We answered the caller (200 OK).
    Answered {
        key: CallKey,
    },
    /// A menu starts playing and listening for keys.
    MenuEntered {
        key: CallKey,
        menu: String,
    },
    MenuChoice {
        key: CallKey,
        menu: String,
        input: String,
        reason: Option<Reason>,
    },
    /// A routing decision of the plan (the entry decision, or what follows a failed
    /// connect or a transfer).
    Decision {
        key: CallKey,
        reason: Reason,
    },
    /// The call is handed to people: `target` is `department:NAME` or `manager:NAME`.
    Connecting {
        key: CallKey,
        target: String,
        department: Option<String>,
    },
    /// The caller waits in a department's queue at `position` (1 = next).
    Queued {
        key: CallKey,
        department: String,
        position: usize,
    },
    /// The queued caller confirmed a callback at `number` and leaves the line; their
    /// place in `department`'s queue is kept.
    CallbackQueued {
        key: CallKey,
        department: String,
        number: String,
    },
    /// The caller waits for one busy manager (a returning caller).
    WaitingFor {
        key: CallKey,
        manager: String,
    },
    /// The caller reached a voicemail box (its greeting plays).
    Voicemail {
        key: CallKey,
        mailbox: String,
    },
    /// A manager's phone(s) started ringing for this call.
    Ringing {
        key: CallKey,
        manager: String,
        /// The department ringing them, `None` for a direct connect.
        department: Option<String>,
    },
    /// The CRM lookup (`[lookup]`) answered, failed or timed out, before routing.
    LookedUp {
        key: CallKey,
        answer: Option<crate::model::CrmAnswer>,
        /// Why there is no answer (`None` when the CRM answered).
        failure: Option<LookupFailure>,
    },
    /// The conversation is being recorded into `path` (`record = true`).
    RecordingStarted {
        key: CallKey,
        path: std::path::PathBuf,
    },
    /// The conversation recording is complete (or could not be written: `error`).
    Recorded {
        key: CallKey,
        path: std::path::PathBuf,
        duration: Duration,
        error: Option<String>,
    },
    /// One manager stopped ringing for this call.
    RingEnded {
        key: CallKey,
        manager: String,
        outcome: RingOutcome,
    },
    /// A manager answered and the call is bridged to them.
    Connected {
        key: CallKey,
        manager: String,
    },
    /// A manager passed the call on (blind transfer); `to` is the new target.
    Transferred {
        key: CallKey,
        from: String,
        to: String,
    },
    Ended {
        key: CallKey,
        cause: EndCause,
        duration: Duration,
        outcome: Outcome,
    },
}

impl CallEvent {
    pub fn key(&self) -> CallKey {
        match self {
            CallEvent::Started { key, .. }
            | CallEvent::Answered { key }
            | CallEvent::MenuEntered { key, .. }
            | CallEvent::WaitingFor { key, .. }
            | CallEvent::MenuChoice { key, .. }
            | CallEvent::Decision { key, .. }
            | CallEvent::Connecting { key, .. }
            | CallEvent::Queued { key, .. }
            | CallEvent::CallbackQueued { key, .. }
            | CallEvent::Voicemail { key, .. }
            | CallEvent::RingEnded { key, .. }
            | CallEvent::Ringing { key, .. }
            | CallEvent::LookedUp { key, .. }
            | CallEvent::RecordingStarted { key, .. }
            | CallEvent::Recorded { key, .. }
            | CallEvent::Connected { key, .. }
            | CallEvent::Transferred { key, .. }
            | CallEvent::Ended { key, .. } => *key,
        }
    }
}

/// Why a CRM lookup gave no answer (the call is routed normally).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupFailure {
    /// No answer within `[lookup] timeout_ms`.
    Timeout,
    /// The request failed or the answer was not usable (logged by the driver).
    Error,
}

impl LookupFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            LookupFailure::Timeout => "timeout",
            LookupFailure::Error => "error",
        }
    }
}
