//! Persistence: call records, ring attempts, caller history, the callback queue,
//! registrations and the webhook outbox.
//!
//! # Shape
//!
//! - [`Store`] is the one interface. [`SqliteStore`] is the real thing (rusqlite, bundled
//!   SQLite, WAL); [`MemoryStore`] mirrors its behaviour with plain collections so upper
//!   layers can unit-test without files. Both pass the same conformance suite
//!   (`tests/store_conformance.rs`).
//! - The database never runs on the signalling path. [`StoreWorker`] owns a store on a
//!   dedicated thread; everybody else holds a cheap, cloneable [`StoreHandle`]. The sans-IO
//!   core emits [`StoreWrite`] values (fire-and-forget, never blocking) and receives query
//!   results as inputs; the tokio driver uses the `async` query helpers.
//!
//! # Durability
//!
//! SQLite runs in WAL mode with `synchronous=NORMAL`: a committed transaction survives a
//! crash or restart of Switchboard; only an OS crash or power loss can roll back the last
//! few commits. [`StoreWorker::shutdown`] commits every write queued before it, so a clean
//! stop loses nothing the core handed over.
//!
//! # Storage format (documented for people poking at the file with `sqlite3`)
//!
//! - Timestamps are INTEGER unix **milliseconds** (UTC). Compact, index-friendly, and
//!   comparisons are plain integer comparisons; sub-millisecond precision is dropped.
//! - `menu_path` and `transfers` are JSON text columns holding the serde form of
//!   [`MenuStep`] / [`Transfer`] (`[{"menu":"main","digits":"1","at":"2026-…Z"}]`). They
//!   are only ever read back whole with their record, so child tables would buy nothing.
//! - Enums are stored as their `snake_case` text ([`CallOutcome::as_str`] etc.).
//! - The schema version is `PRAGMA user_version`; migrations live in [`migrations`].

pub mod memory;
pub mod migrations;
pub mod postgres;
pub mod recovery;
pub mod shared;
pub mod sqlite;
pub mod worker;

use std::path::PathBuf;

use jiff::Timestamp;

pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use sqlite::{BackupError, SqliteStore};
pub use switchboard_core::model::{
    self as model, AgentInterval, AgentStateKind, CallOutcome, CallRecord, CallbackReason,
    CallbackRequest, CallbackStatus, CustomerOutcome, DialbackAttempt, DialbackStatus, MenuStep,
    NewCallback, PreviousInteraction, QueuedCallback, Registration, RingAttempt, RingOutcome, Side,
    StoreWrite, Transfer, WebhookEvent, to_store_precision,
};
pub use worker::{StoreHandle, StoreWorker};

/// Errors from the storage layer. Each says what was being done and what to check.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the database {path}: {source}; check that the data directory exists and is writable"
    )]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the database {path} has schema version {found}, newer than this build of Switchboard understands (up to {supported}); run the newer Switchboard that created it, or point --data-dir elsewhere"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error(
        "upgrading the database schema to version {version} failed: {source}; the database was left unchanged, check disk space and permissions and restart"
    )]
    Migration {
        version: i64,
        source: rusqlite::Error,
    },
    #[error("database error while trying to {op}: {source}")]
    Sqlite {
        op: &'static str,
        source: rusqlite::Error,
    },
    #[error(
        "cannot connect to PostgreSQL at {url}: {source}; check that the server runs and that the host, port, user, password and database in [store] url are right (and pg_hba.conf lets this host in)"
    )]
    Connect {
        url: String,
        source: ::postgres::Error,
    },
    #[error("database error while trying to {op}: {source}")]
    Postgres {
        op: &'static str,
        source: ::postgres::Error,
    },
    #[error(
        "upgrading the PostgreSQL schema to version {version} failed: {source}; the database was left unchanged, check the database user's rights (it must be able to CREATE TABLE) and restart"
    )]
    PostgresMigration {
        version: i64,
        source: ::postgres::Error,
    },
    #[error("the database holds a value this Switchboard cannot read in {column}: {found:?}")]
    Decode { column: &'static str, found: String },
    #[error(
        "ring attempt for call {call_id} refers to a call that was never recorded; upsert the call record first"
    )]
    UnknownCall { call_id: String },
    #[error("callback request {id} does not exist; list the queue to see valid ids")]
    CallbackNotFound { id: i64 },
    #[error("callback request {id} is already claimed by {by}")]
    AlreadyClaimed { id: i64, by: String },
    #[error("callback request {id} is already done (closed by {by})")]
    AlreadyDone { id: i64, by: String },
    #[error("webhook event {id} is not in the outbox (already delivered?)")]
    WebhookNotFound { id: i64 },
    #[error("queued callback {id} does not exist")]
    QueuedCallbackNotFound { id: String },
    #[error("cannot encode {what} as JSON: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("cannot start the store thread: {source}")]
    Spawn { source: std::io::Error },
    #[error(
        "the store thread has stopped, so the database cannot be reached; see the earlier log for why and restart Switchboard"
    )]
    WorkerGone,
}

/// The storage interface shared by [`SqliteStore`] and [`MemoryStore`].
///
/// Time ranges are half-open: `from <= t < to`. Lists come back in a stable order
/// (oldest first, ties by id/key) so reports and tests are deterministic.
pub trait Store: Send {
    /// Inserts or fully replaces the record with this `call_id`.
    fn upsert_call(&mut self, call: &CallRecord) -> Result<(), StoreError>;
    /// Appends a ring attempt; the call must already be recorded.
    fn add_ring_attempt(&mut self, attempt: &RingAttempt) -> Result<(), StoreError>;
    fn get_call(&self, call_id: &str) -> Result<Option<CallRecord>, StoreError>;
    /// Calls that *started* in `[from, to)`, by start time.
    fn calls_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<CallRecord>, StoreError>;
    /// Calls whose outcome is still `in_progress`, by start time (after a crash:
    /// the ones [`recovery::close_interrupted`] closes).
    fn calls_in_progress(&self) -> Result<Vec<CallRecord>, StoreError> {
        Ok(self
            .calls_between(Timestamp::MIN, Timestamp::MAX)?
            .into_iter()
            .filter(|c| c.outcome == CallOutcome::InProgress)
            .collect())
    }
    /// Ring attempts that *started* in `[from, to)`, by start time.
    fn ring_attempts_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RingAttempt>, StoreError>;
    /// Ring attempts of one call, in the order they started.
    fn ring_attempts_for_call(&self, call_id: &str) -> Result<Vec<RingAttempt>, StoreError>;
    /// The manager who most recently *answered* a call from `caller`, if that answer was
    /// at or after `since` (returning-caller routing).
    fn last_interaction(
        &self,
        caller: &str,
        since: Timestamp,
    ) -> Result<Option<PreviousInteraction>, StoreError>;

    /// Files a callback request. If the same caller already has a request in the same
    /// department that is not done, that one is updated instead (call count bumped,
    /// `updated_at`, menu path, reason and source refreshed, recording replaced only when
    /// the new call left one). Returns the request id and whether it was created.
    fn add_or_update_callback(&mut self, req: &NewCallback) -> Result<(i64, bool), StoreError>;
    /// The queue, oldest first, optionally filtered.
    fn list_callbacks(
        &self,
        department: Option<&str>,
        status: Option<CallbackStatus>,
    ) -> Result<Vec<CallbackRequest>, StoreError>;
    fn get_callback(&self, id: i64) -> Result<Option<CallbackRequest>, StoreError>;
    /// Atomically moves an open request to claimed. Of several concurrent claimers (even
    /// on different connections or processes) exactly one succeeds; the others get
    /// [`StoreError::AlreadyClaimed`] naming the winner.
    fn claim_callback(
        &mut self,
        id: i64,
        manager: &str,
        now: Timestamp,
    ) -> Result<CallbackRequest, StoreError>;
    /// Closes a request with an outcome. Allowed for an open request (the manager called
    /// back without claiming; it counts as their claim) or one claimed by `manager`.
    fn complete_callback(
        &mut self,
        id: i64,
        manager: &str,
        outcome: &str,
        now: Timestamp,
    ) -> Result<CallbackRequest, StoreError>;

    /// Inserts or replaces the binding keyed by `(manager, contact_uri)`.
    fn save_registration(&mut self, reg: &Registration) -> Result<(), StoreError>;
    /// Returns whether a binding was removed.
    fn remove_registration(&mut self, manager: &str, contact_uri: &str)
    -> Result<bool, StoreError>;
    /// All bindings, by manager then contact (expired ones included until cleaned up).
    fn registrations(&self) -> Result<Vec<Registration>, StoreError>;
    /// Removes bindings with `expires_at <= now`; returns how many.
    fn remove_expired_registrations(&mut self, now: Timestamp) -> Result<usize, StoreError>;

    /// Puts a webhook payload in the outbox, due immediately. Returns its id.
    fn enqueue_webhook(&mut self, payload_json: &str, now: Timestamp) -> Result<i64, StoreError>;
    /// Events with `next_attempt_at <= now`, most overdue first, at most `limit`.
    fn due_webhooks(&self, now: Timestamp, limit: usize) -> Result<Vec<WebhookEvent>, StoreError>;
    /// Removes a delivered event from the outbox (idempotent).
    fn mark_webhook_delivered(&mut self, id: i64) -> Result<(), StoreError>;
    fn reschedule_webhook(
        &mut self,
        id: i64,
        next_at: Timestamp,
        attempts: u32,
    ) -> Result<(), StoreError>;

    /// Retention (`[server] retention_days`): deletes call records (with their ring
    /// attempts) that started before `cutoff`, callback requests that were closed
    /// before it, and webhook notifications queued before it that were never delivered,
    /// finished dial-backs and managers' state intervals that ended before it.
    /// Open and claimed requests and waiting dial-backs are kept whatever their age.
    fn purge_before(&mut self, cutoff: Timestamp) -> Result<Purged, StoreError>;

    // ---- the virtual queue and managers' states (issue 13) --------------------------

    /// Inserts or replaces a queued callback (by id). Its `callback_id` is kept.
    fn save_queued_callback(&mut self, cb: &QueuedCallback) -> Result<(), StoreError>;
    /// Callbacks still waiting (or being dialled when the router stopped), in the
    /// order the callers joined their queues.
    fn queued_callbacks(&self) -> Result<Vec<QueuedCallback>, StoreError>;
    /// One queued callback, whatever its status.
    fn get_queued_callback(&self, id: &str) -> Result<Option<QueuedCallback>, StoreError>;
    /// The dial-back that filed callback request `callback_id` when it gave up.
    fn queued_callback_for_request(
        &self,
        callback_id: i64,
    ) -> Result<Option<QueuedCallback>, StoreError>;
    /// Records one dial-back attempt; the queued callback must exist.
    fn add_dialback_attempt(&mut self, a: &DialbackAttempt) -> Result<(), StoreError>;
    /// The attempts of one queued callback, in order.
    fn dialback_attempts(&self, id: &str) -> Result<Vec<DialbackAttempt>, StoreError>;
    /// The dial-back is over with `status`; with `request`, that callback request is
    /// filed (or the caller's open one updated) and linked. Returns its id.
    fn finish_queued_callback(
        &mut self,
        id: &str,
        status: DialbackStatus,
        at: Timestamp,
        request: Option<&NewCallback>,
    ) -> Result<Option<i64>, StoreError>;
    /// Inserts or closes a manager's state interval, keyed by
    /// `(manager, kind, detail, started_at)`.
    fn save_agent_interval(&mut self, i: &AgentInterval) -> Result<(), StoreError>;
    /// Intervals overlapping `[from, to)` (open ones included), by start.
    fn agent_intervals_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<AgentInterval>, StoreError>;
    /// Intervals not ended yet (restored at start), by start.
    fn open_agent_intervals(&self) -> Result<Vec<AgentInterval>, StoreError>;

    /// Applies several writes, returning the errors of those that failed (the others
    /// still take effect). SQLite overrides this to use one transaction per batch, with
    /// each write atomic on its own.
    fn apply_batch(&mut self, writes: &[StoreWrite]) -> Vec<StoreError> {
        writes
            .iter()
            .filter_map(|w| apply_write(self, w).err())
            .collect()
    }
}

/// What [`Store::purge_before`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    pub calls: usize,
    pub ring_attempts: usize,
    pub callbacks: usize,
    pub webhooks: usize,
    /// Finished dial-backs (with their attempts).
    pub dialbacks: usize,
    /// Managers' state intervals.
    pub agent_states: usize,
}

/// Applies one [`StoreWrite`] through the [`Store`] methods.
///
/// Not atomic across the steps of [`StoreWrite::Callback`] on its own; run it inside
/// [`Store::apply_batch`] (as the worker does) for that.
pub fn apply_write<S: Store + ?Sized>(store: &mut S, write: &StoreWrite) -> Result<(), StoreError> {
    match write {
        StoreWrite::UpsertCall(call) => store.upsert_call(call),
        StoreWrite::RingAttempt(attempt) => store.add_ring_attempt(attempt),
        StoreWrite::Callback { request, notify } => {
            let (id, created) = store.add_or_update_callback(request)?;
            if created && *notify {
                let req = store
                    .get_callback(id)?
                    .ok_or(StoreError::CallbackNotFound { id })?;
                let payload = callback_created_payload(&req)?;
                store.enqueue_webhook(&payload, request.at)?;
            }
            Ok(())
        }
        StoreWrite::SaveRegistration(reg) => store.save_registration(reg),
        StoreWrite::RemoveRegistration {
            manager,
            contact_uri,
        } => store.remove_registration(manager, contact_uri).map(|_| ()),
        StoreWrite::RemoveExpiredRegistrations { now } => {
            store.remove_expired_registrations(*now).map(|_| ())
        }
        StoreWrite::EnqueueWebhook { payload_json, now } => {
            store.enqueue_webhook(payload_json, *now).map(|_| ())
        }
        StoreWrite::WebhookDelivered { id } => store.mark_webhook_delivered(*id),
        StoreWrite::RescheduleWebhook {
            id,
            next_at,
            attempts,
        } => store.reschedule_webhook(*id, *next_at, *attempts),
        StoreWrite::QueueCallback(cb) => store.save_queued_callback(cb),
        StoreWrite::DialbackAttempt(a) => store.add_dialback_attempt(a),
        StoreWrite::DialbackFinished {
            id,
            status,
            at,
            request,
        } => store
            .finish_queued_callback(id, *status, *at, request.as_ref())
            .map(|_| ()),
        StoreWrite::AgentState(i) => store.save_agent_interval(i),
    }
}

/// The webhook body for a new callback request:
/// `{"event":"callback.created","callback":{…CallbackRequest…}}`.
pub fn callback_created_payload(req: &CallbackRequest) -> Result<String, StoreError> {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        event: &'static str,
        callback: &'a CallbackRequest,
    }
    serde_json::to_string(&Body {
        event: "callback.created",
        callback: req,
    })
    .map_err(|source| StoreError::Json {
        what: "webhook payload",
        source,
    })
}
