//! Schema versions, as an ordered list of SQL scripts.
//!
//! `PRAGMA user_version` holds how many scripts have been applied. Opening a database runs
//! the missing ones, all in one `BEGIN IMMEDIATE` transaction, so a database is either at
//! its old version or fully upgraded, and two processes opening the same file at once
//! cannot both migrate. A database with a version above [`SCHEMA_VERSION`] was written by
//! a newer Switchboard and is refused rather than guessed at.
//!
//! Rules for adding a migration: append, never edit a shipped script; keep each script
//! valid on the schema the previous ones produce.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// v1: call records and ring attempts (routing issue: history and records).
const V1_CALLS: &str = r"
CREATE TABLE calls (
    call_id      TEXT PRIMARY KEY NOT NULL,
    started_at   INTEGER NOT NULL,
    answered_at  INTEGER,
    ended_at     INTEGER,
    dialled      TEXT NOT NULL,
    source       TEXT NOT NULL,
    caller       TEXT NOT NULL,
    caller_name  TEXT,
    menu_path    TEXT NOT NULL DEFAULT '[]',
    decision     TEXT NOT NULL,
    reason       TEXT NOT NULL,
    department   TEXT,
    answered_by  TEXT,
    outcome      TEXT NOT NULL,
    hangup_side  TEXT,
    transfers    TEXT NOT NULL DEFAULT '[]'
) STRICT;
CREATE INDEX calls_by_start ON calls(started_at);
-- last_interaction(): latest answered call of a caller.
CREATE INDEX calls_by_caller_answered ON calls(caller, answered_at) WHERE answered_by IS NOT NULL;

CREATE TABLE ring_attempts (
    id          INTEGER PRIMARY KEY,
    call_id     TEXT NOT NULL REFERENCES calls(call_id) ON DELETE CASCADE,
    manager     TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER NOT NULL,
    outcome     TEXT NOT NULL
) STRICT;
CREATE INDEX ring_attempts_by_start ON ring_attempts(started_at);
CREATE INDEX ring_attempts_by_call ON ring_attempts(call_id);
";

/// v2: the callback queue and the webhook outbox (after-hours issue).
const V2_CALLBACKS: &str = r"
CREATE TABLE callbacks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    department      TEXT NOT NULL,
    caller          TEXT NOT NULL,
    dialled         TEXT NOT NULL,
    source          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    menu_path       TEXT NOT NULL DEFAULT '[]',
    reason          TEXT NOT NULL,
    recording_path  TEXT,
    recording_secs  REAL,
    recording_flag  TEXT,
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'claimed', 'done')),
    claimed_by      TEXT,
    claimed_at      INTEGER,
    done_by         TEXT,
    done_at         INTEGER,
    outcome         TEXT,
    call_count      INTEGER NOT NULL DEFAULT 1
) STRICT;
-- At most one unfinished request per caller and department: the upsert target of
-- add_or_update_callback(), and a guarantee that repeats never duplicate.
CREATE UNIQUE INDEX callbacks_one_unfinished ON callbacks(department, caller) WHERE status <> 'done';
CREATE INDEX callbacks_by_status ON callbacks(status, created_at);
CREATE INDEX callbacks_by_department ON callbacks(department, status, created_at);

CREATE TABLE webhook_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    payload_json     TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_outbox_due ON webhook_outbox(next_attempt_at);
";

/// v3: registrar bindings survive restarts.
const V3_REGISTRATIONS: &str = r"
CREATE TABLE registrations (
    manager        TEXT NOT NULL,
    contact_uri    TEXT NOT NULL,
    source_addr    TEXT NOT NULL,
    transport      TEXT NOT NULL,
    registered_at  INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    call_id        TEXT NOT NULL,
    cseq           INTEGER NOT NULL,
    user_agent     TEXT,
    PRIMARY KEY (manager, contact_uri)
) STRICT;
CREATE INDEX registrations_by_expiry ON registrations(expires_at);
";

/// v6 (issue 13): the virtual queue (callers waiting to be called back, kept across
/// restarts), each dial-back attempt, and managers' state intervals (paused with a
/// reason, do-not-disturb, signed out) for the per-manager report.
const V6_QUEUE: &str = r"
CREATE TABLE queued_callbacks (
    id            TEXT PRIMARY KEY NOT NULL,
    department    TEXT NOT NULL,
    caller        TEXT NOT NULL,
    number        TEXT NOT NULL,
    dialled       TEXT NOT NULL,
    source        TEXT NOT NULL,
    priority      INTEGER NOT NULL,
    queued_at     INTEGER NOT NULL,
    requested_at  INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    not_before    INTEGER,
    status        TEXT NOT NULL CHECK (status IN ('waiting', 'dialing', 'connected', 'gave_up', 'cancelled')),
    updated_at    INTEGER NOT NULL,
    callback_id   INTEGER REFERENCES callbacks(id) ON DELETE SET NULL
) STRICT;
CREATE INDEX queued_callbacks_by_status ON queued_callbacks(status, queued_at);
CREATE INDEX queued_callbacks_by_request ON queued_callbacks(callback_id);

CREATE TABLE dialback_attempts (
    id           INTEGER PRIMARY KEY,
    callback_id  TEXT NOT NULL REFERENCES queued_callbacks(id) ON DELETE CASCADE,
    manager      TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    ended_at     INTEGER NOT NULL,
    customer     TEXT NOT NULL,
    status       INTEGER,
    talk_ms      INTEGER
) STRICT;
CREATE INDEX dialback_attempts_by_callback ON dialback_attempts(callback_id);

CREATE TABLE agent_states (
    manager     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    PRIMARY KEY (manager, kind, detail, started_at)
) STRICT;
CREATE INDEX agent_states_by_start ON agent_states(started_at);
";

/// v4: a binding's RFC 3327 Path (phones registering through a proxy; JSON list).
const V4_REGISTRATION_PATH: &str = r"
ALTER TABLE registrations ADD COLUMN path TEXT NOT NULL DEFAULT '[]';
";

/// v5: a call's conversation recording (`record = true`, issue 14).
const V5_CALL_RECORDING: &str = r"
ALTER TABLE calls ADD COLUMN recording TEXT;
";

/// Every migration, in order; script `i` takes the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    V1_CALLS,
    V2_CALLBACKS,
    V3_REGISTRATIONS,
    V4_REGISTRATION_PATH,
    V5_CALL_RECORDING,
    V6_QUEUE,
];

/// The schema version this build writes (= number of migrations).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn user_version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Brings the database at `conn` up to [`SCHEMA_VERSION`]. `path` is only for messages.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let too_new = |found| StoreError::SchemaTooNew {
        path: path.to_path_buf(),
        found,
        supported: SCHEMA_VERSION,
    };
    let sql_err = |op| move |source| StoreError::Sqlite { op, source };

    let current = user_version(conn).map_err(sql_err("read the schema version"))?;
    if current > SCHEMA_VERSION {
        return Err(too_new(current));
    }
    if current == SCHEMA_VERSION {
        return Ok(());
    }

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err("lock the database for a schema upgrade"))?;
    // Re-read under the write lock: another process may have migrated meanwhile.
    let current = user_version(&tx).map_err(sql_err("read the schema version"))?;
    if current > SCHEMA_VERSION {
        return Err(too_new(current));
    }
    let already = usize::try_from(current).unwrap_or(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(already) {
        let version = i64::try_from(index).unwrap_or(i64::MAX).saturating_add(1);
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", version))
            .map_err(|source| StoreError::Migration { version, source })?;
    }
    tx.commit().map_err(|source| StoreError::Migration {
        version: SCHEMA_VERSION,
        source,
    })?;
    tracing::info!(
        from = current,
        to = SCHEMA_VERSION,
        path = %path.display(),
        "database schema upgraded"
    );
    Ok(())
}
