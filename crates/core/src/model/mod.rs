//! The domain model: call records, ring attempts, callback requests, registrations
//! and the webhook outbox, as the core produces them and the stores persist them, and
//! [`StoreWrite`], the writes the core hands to the store without waiting.
//!
//! These are deliberately dumb records: no behaviour beyond small helpers, no references
//! to the dial plan or SIP types, so that reports, the admin API and the routing engine
//! can all read them without dragging in the protocol stack.
//!
//! Wall-clock times are [`jiff::Timestamp`]. Both stores keep them at **millisecond**
//! precision (SQLite stores INTEGER unix milliseconds), so a value read back may differ
//! from the one written by less than a millisecond; use [`to_store_precision`] when a
//! test compares round-tripped values.
//!
//! Every type derives serde with `snake_case` names; that is the JSON the admin API and
//! webhooks emit, and the format of the JSON text columns (`menu_path`, `transfers`).

pub mod recording;

use std::net::SocketAddr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Truncates a timestamp to the millisecond precision the stores keep.
///
/// Timestamps before 1970 truncate towards negative infinity, like SQLite would round
/// the stored integer; out-of-range values (impossible for millisecond-derived jiff
/// values) fall back to the input.
#[must_use]
pub fn to_store_precision(ts: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(ts.as_millisecond()).unwrap_or(ts)
}

/// Final (or current) outcome of an inbound call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// Still up: in the IVR, ringing, or talking.
    InProgress,
    /// A manager answered.
    Answered,
    /// The dial plan served the call itself and ended it (an announcement, a menu's
    /// goodbye, `hangup`): nobody was owed a call back.
    CompletedInIvr,
    /// The caller hung up while still in the menus.
    AbandonedInIvr,
    /// The caller hung up while managers were being rung.
    AbandonedRinging,
    /// The caller left (or was offered) voicemail.
    Voicemail,
    /// Nobody answered and the call ended without voicemail.
    Missed,
    /// Technical failure (no media, SIP error, …).
    Failed,
    /// Cut off by Switchboard itself: hung up when it was stopped (at the moment of
    /// the hang-up), or, after a crash or power loss, still in progress when the
    /// process died and closed at its last known time on the next start.
    Interrupted,
    /// The caller chose to be called back while queued and hung up: their place in
    /// the queue is kept (see [`QueuedCallback`]).
    CallbackQueued,
}

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Caller,
    Manager,
    /// Switchboard itself (timeouts, hangup actions, shutdown).
    System,
}

/// One step through an IVR menu: which menu, what was pressed, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuStep {
    pub menu: String,
    /// The digits collected in this menu (empty on timeout).
    pub digits: String,
    pub at: Timestamp,
}

/// A transfer of an answered call between managers (or to an external number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub from: String,
    pub to: String,
    pub at: Timestamp,
}

/// The record of one inbound call, upserted as the call progresses.
///
/// The core upserts the whole record at each milestone (start, answer, end); the last
/// write wins, so it must always carry the full picture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Unique per call (the SIP Call-ID of the inbound leg).
    pub call_id: String,
    pub started_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// The number that was dialled (Request-URI user).
    pub dialled: String,
    /// The source/campaign label of the dialled number.
    pub source: String,
    /// Caller number as received.
    pub caller: String,
    pub caller_name: Option<String>,
    pub menu_path: Vec<MenuStep>,
    /// The routing decision (e.g. `department:sales`).
    pub decision: String,
    /// Human reason for the decision (`returning caller: spoke with andrew 3 days ago`).
    pub reason: String,
    pub department: Option<String>,
    /// The manager who answered.
    pub answered_by: Option<String>,
    pub outcome: CallOutcome,
    pub hangup_side: Option<Side>,
    pub transfers: Vec<Transfer>,
    /// The conversation recording (`record = true`), relative to or inside the data
    /// directory; served by `GET /api/calls/{call_id}/recording`.
    #[serde(default)]
    pub recording: Option<String>,
}

/// How ringing one manager ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RingOutcome {
    Answered,
    NoAnswer,
    Busy,
    Declined,
    /// Another manager answered or the caller gave up.
    Cancelled,
    Failed,
}

/// One manager rung for one call, written when the ringing ends.
///
/// The call record must have been upserted first (SQLite enforces a foreign key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingAttempt {
    pub call_id: String,
    pub manager: String,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub outcome: RingOutcome,
}

/// Why a callback request exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackReason {
    AfterHours,
    NobodyAnswered,
    /// The caller hung up while waiting for a manager.
    AbandonedWaiting,
    /// The call was lost before routing finished (e.g. hung up during the greeting).
    Missed,
    /// The department's queue was full.
    Overflow,
    /// The caller chose to leave a message (voicemail straight from a number or menu).
    Voicemail,
    /// The caller asked to be called back while queued, and the automatic dial-back
    /// gave up (customer busy or not answering on every attempt).
    DialbackFailed,
}

/// Where a callback request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackStatus {
    Open,
    Claimed,
    Done,
}

/// A request to call a customer back, in a department's queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackRequest {
    pub id: i64,
    pub department: String,
    pub caller: String,
    pub dialled: String,
    pub source: String,
    pub created_at: Timestamp,
    /// Time of the latest call that created or updated this request.
    pub updated_at: Timestamp,
    /// Menu path of the latest call.
    pub menu_path: Vec<MenuStep>,
    /// Reason of the latest call.
    pub reason: CallbackReason,
    pub recording_path: Option<String>,
    pub recording_secs: Option<f64>,
    /// Set when a recording is suspicious, e.g. `"silent"` or `"short"`.
    pub recording_flag: Option<String>,
    pub status: CallbackStatus,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<Timestamp>,
    /// Who closed the request and when (for "not called back within N hours" alerts).
    pub done_by: Option<String>,
    pub done_at: Option<Timestamp>,
    /// Free text recorded when the request is closed (`"reached"`, `"voicemail"`, …).
    pub outcome: Option<String>,
    /// How many calls fed this request (1 for a new one; repeat calls bump it).
    pub call_count: u32,
}

/// What the core knows when a call must become a callback request, passed to the
/// store's `add_or_update_callback`; the store assigns the id, status and counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCallback {
    pub department: String,
    pub caller: String,
    pub dialled: String,
    pub source: String,
    /// When the call happened.
    pub at: Timestamp,
    pub menu_path: Vec<MenuStep>,
    pub reason: CallbackReason,
    pub recording_path: Option<String>,
    pub recording_secs: Option<f64>,
    pub recording_flag: Option<String>,
}

/// A manager's contact binding (RFC 3261 §10), kept so bindings survive a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub manager: String,
    /// The Contact URI to send INVITEs to.
    pub contact_uri: String,
    /// Where the REGISTER came from (for NAT: send there rather than to the Contact).
    pub source_addr: SocketAddr,
    /// `udp` or `tcp`.
    pub transport: String,
    pub registered_at: Timestamp,
    pub expires_at: Timestamp,
    /// RFC 3261 §10.3 step 7: Call-ID and CSeq let the registrar ignore stale REGISTERs.
    pub call_id: String,
    pub cseq: u32,
    pub user_agent: Option<String>,
    /// RFC 3327 Path: the proxies the REGISTER came through, first one first. INVITEs
    /// to this contact carry them as a preloaded Route, so they reach a phone behind
    /// NAT through the proxy (and connection) it registered through, whichever
    /// Switchboard instance rings it.
    #[serde(default)]
    pub path: Vec<String>,
}

/// A webhook notification waiting in the outbox until it is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    pub id: i64,
    pub payload_json: String,
    /// Delivery attempts made so far.
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub created_at: Timestamp,
}

/// What the business's CRM said about a caller (`[lookup]`, docs/integrations.md):
/// every field optional. An unknown caller is the empty answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CrmAnswer {
    /// The manager who owns this customer (a `[managers]` name or extension).
    pub owner: Option<String>,
    /// The department to send the call to instead of the number's action.
    pub department: Option<String>,
    /// Queue priority: higher is served first (0 = normal).
    pub priority: Option<u8>,
    /// The name shown on the manager's phone.
    pub display_name: Option<String>,
    /// Labels shown on the manager's phone (`X-Switchboard-Tags`).
    pub tags: Vec<String>,
}

impl CrmAnswer {
    /// Nothing the answer could change.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self == &CrmAnswer::default()
    }
}

/// The manager a caller last spoke with (for returning-caller routing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousInteraction {
    pub manager: String,
    /// When that manager answered.
    pub at: Timestamp,
}

macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The stable text form, used in the database and in JSON.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }

            /// Parses the text form written by [`Self::as_str`].
            #[must_use]
            pub fn from_text(text: &str) -> Option<Self> {
                match text { $($text => Some($ty::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(CallOutcome {
    InProgress => "in_progress",
    Answered => "answered",
    CompletedInIvr => "completed_in_ivr",
    AbandonedInIvr => "abandoned_in_ivr",
    AbandonedRinging => "abandoned_ringing",
    Voicemail => "voicemail",
    Missed => "missed",
    Failed => "failed",
    Interrupted => "interrupted",
    CallbackQueued => "callback_queued",
});

text_enum!(Side {
    Caller => "caller",
    Manager => "manager",
    System => "system",
});

text_enum!(RingOutcome {
    Answered => "answered",
    NoAnswer => "no_answer",
    Busy => "busy",
    Declined => "declined",
    Cancelled => "cancelled",
    Failed => "failed",
});

text_enum!(CallbackReason {
    AfterHours => "after_hours",
    NobodyAnswered => "nobody_answered",
    AbandonedWaiting => "abandoned_waiting",
    Missed => "missed",
    Overflow => "overflow",
    Voicemail => "voicemail",
    DialbackFailed => "dialback_failed",
});

text_enum!(DialbackStatus {
    Waiting => "waiting",
    Dialing => "dialing",
    Connected => "connected",
    GaveUp => "gave_up",
    Cancelled => "cancelled",
});

text_enum!(CustomerOutcome {
    Answered => "answered",
    Busy => "busy",
    NoAnswer => "no_answer",
    Voicemail => "voicemail",
    Declined => "declined",
    Failed => "failed",
    NotDialled => "not_dialled",
});

text_enum!(AgentStateKind {
    Paused => "paused",
    DoNotDisturb => "do_not_disturb",
    SignedOut => "signed_out",
});

text_enum!(CallbackStatus {
    Open => "open",
    Claimed => "claimed",
    Done => "done",
});

/// Where a queued callback (the virtual queue) is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialbackStatus {
    /// Keeps its place in the department's queue.
    Waiting,
    /// A manager is rung or talking to the customer now.
    Dialing,
    /// The manager and the customer were connected.
    Connected,
    /// Every attempt failed: an open callback request was filed for a person.
    GaveUp,
    /// Taken out of the queue by an admin (claimed or closed by hand).
    Cancelled,
}

/// A caller who asked to be called back instead of waiting: their place in a
/// department's queue, kept across restarts until a manager is free for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedCallback {
    /// Stable id: the Call-ID of the call that asked for it.
    pub id: String,
    pub department: String,
    /// The caller ID of that call.
    pub caller: String,
    /// The number to dial (the caller ID or a keyed-in number, checked against the
    /// trunk's allowed prefixes).
    pub number: String,
    pub dialled: String,
    pub source: String,
    /// Queue priority (higher is served first).
    pub priority: u8,
    /// When the caller joined the queue: their place (first come, first served).
    pub queued_at: Timestamp,
    /// When they pressed the callback key.
    pub requested_at: Timestamp,
    /// Dial-outs to the customer so far.
    pub attempts: u32,
    /// Not dialled again before this (the back-off after a failed attempt).
    pub not_before: Option<Timestamp>,
    pub status: DialbackStatus,
    pub updated_at: Timestamp,
    /// The open callback request filed when the dial-back gave up.
    #[serde(default)]
    pub callback_id: Option<i64>,
}

/// How the customer's end of one dial-back attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerOutcome {
    Answered,
    Busy,
    NoAnswer,
    /// The manager marked it as the customer's voicemail.
    Voicemail,
    Declined,
    /// The trunk refused or failed the call (or the number was refused).
    Failed,
    /// The manager's phone was not answered; the customer was never dialled.
    NotDialled,
}

/// One dial-back attempt: the manager rung first, then the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialbackAttempt {
    /// The [`QueuedCallback`] id.
    pub callback_id: String,
    pub manager: String,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub customer: CustomerOutcome,
    /// The SIP status the trunk answered, when it refused.
    pub status: Option<u16>,
    /// Talk time, when connected.
    pub talk_ms: Option<u64>,
}

/// A state a manager is in for a while (paused with a reason, do-not-disturb, signed
/// out of one department's queue or all), for the per-manager report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStateKind {
    Paused,
    DoNotDisturb,
    SignedOut,
}

/// One interval of an [`AgentStateKind`]; `ended_at` is `None` while it lasts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInterval {
    pub manager: String,
    pub kind: AgentStateKind,
    /// The pause reason, or the department signed out of (empty: all).
    pub detail: String,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
}

/// A write the core hands to the store thread without waiting for it.
///
/// Each variant maps onto one method of the app's `Store` (its `apply_write`).
#[derive(Debug, Clone, PartialEq)]
pub enum StoreWrite {
    UpsertCall(CallRecord),
    RingAttempt(RingAttempt),
    /// Add a callback request (or update the caller's open one). With `notify`, a newly
    /// created request also gets a `callback.created` webhook event in the outbox, in the
    /// same transaction, so the notification cannot be lost between the two.
    Callback {
        request: NewCallback,
        notify: bool,
    },
    SaveRegistration(Registration),
    RemoveRegistration {
        manager: String,
        contact_uri: String,
    },
    RemoveExpiredRegistrations {
        now: Timestamp,
    },
    EnqueueWebhook {
        payload_json: String,
        now: Timestamp,
    },
    WebhookDelivered {
        id: i64,
    },
    RescheduleWebhook {
        id: i64,
        next_at: Timestamp,
        attempts: u32,
    },
    /// Save (insert or replace) a queued callback: its place in the virtual queue.
    QueueCallback(QueuedCallback),
    /// Record one dial-back attempt.
    DialbackAttempt(DialbackAttempt),
    /// The dial-back is over (`Connected`, `GaveUp`, `Cancelled`); with `request`, a
    /// callback request for a person is filed in the same transaction (given up).
    DialbackFinished {
        id: String,
        status: DialbackStatus,
        at: Timestamp,
        request: Option<NewCallback>,
    },
    /// A manager's state interval started (open) or ended (closed): upserted by
    /// `(manager, kind, detail, started_at)`.
    AgentState(AgentInterval),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_match_serde() {
        for o in [
            CallOutcome::InProgress,
            CallOutcome::AbandonedInIvr,
            CallOutcome::AbandonedRinging,
        ] {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{}\"", o.as_str()));
            assert_eq!(CallOutcome::from_text(o.as_str()), Some(o));
        }
        let json = serde_json::to_string(&RingOutcome::NoAnswer).unwrap();
        assert_eq!(json, "\"no_answer\"");
        assert_eq!(CallbackStatus::from_text("nope"), None);
    }

    #[test]
    fn precision_truncates_to_millis() {
        let ts = Timestamp::new(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(to_store_precision(ts).as_millisecond(), ts.as_millisecond());
        assert_eq!(to_store_precision(ts).subsec_nanosecond(), 123_000_000);
    }
}
