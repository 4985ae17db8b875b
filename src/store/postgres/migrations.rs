//! PostgreSQL schema versions, as an ordered list of SQL scripts (the PostgreSQL twin of
//! [`crate::store::migrations`]).
//!
//! The table `switchboard_schema` holds how many scripts have been applied. Opening a
//! database runs the missing ones in one transaction under a transaction-level advisory
//! lock, so several Switchboard instances starting at once against the same database
//! never migrate twice: the second waits for the first, then finds nothing to do. A
//! database with a version above [`SCHEMA_VERSION`] was written by a newer Switchboard
//! and is refused rather than guessed at.
//!
//! The tables mirror SQLite's (same names, same columns, timestamps as BIGINT unix
//! milliseconds, enums as their `snake_case` text, JSON as text), so a report or a
//! `psql` session reads the same data either way.
//!
//! Rules for adding a migration: append, never edit a shipped script.

use postgres::Client;

use crate::store::StoreError;

/// v1: call records and ring attempts.
const V1_CALLS: &str = r"
CREATE TABLE calls (
    call_id      TEXT PRIMARY KEY NOT NULL,
    started_at   BIGINT NOT NULL,
    answered_at  BIGINT,
    ended_at     BIGINT,
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
);
CREATE INDEX calls_by_start ON calls(started_at);
CREATE INDEX calls_by_caller_answered ON calls(caller, answered_at) WHERE answered_by IS NOT NULL;

CREATE TABLE ring_attempts (
    id          BIGSERIAL PRIMARY KEY,
    call_id     TEXT NOT NULL REFERENCES calls(call_id) ON DELETE CASCADE,
    manager     TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT NOT NULL,
    outcome     TEXT NOT NULL
);
CREATE INDEX ring_attempts_by_start ON ring_attempts(started_at);
CREATE INDEX ring_attempts_by_call ON ring_attempts(call_id);
";

/// v2: the callback queue and the webhook outbox.
const V2_CALLBACKS: &str = r"
CREATE TABLE callbacks (
    id              BIGSERIAL PRIMARY KEY,
    department      TEXT NOT NULL,
    caller          TEXT NOT NULL,
    dialled         TEXT NOT NULL,
    source          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    menu_path       TEXT NOT NULL DEFAULT '[]',
    reason          TEXT NOT NULL,
    recording_path  TEXT,
    recording_secs  DOUBLE PRECISION,
    recording_flag  TEXT,
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'claimed', 'done')),
    claimed_by      TEXT,
    claimed_at      BIGINT,
    done_by         TEXT,
    done_at         BIGINT,
    outcome         TEXT,
    call_count      BIGINT NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX callbacks_one_unfinished ON callbacks(department, caller) WHERE status <> 'done';
CREATE INDEX callbacks_by_status ON callbacks(status, created_at);
CREATE INDEX callbacks_by_department ON callbacks(department, status, created_at);

CREATE TABLE webhook_outbox (
    id               BIGSERIAL PRIMARY KEY,
    payload_json     TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX webhook_outbox_due ON webhook_outbox(next_attempt_at);
";

/// v3: registrar bindings (shared by every instance: any of them can ring any phone).
const V3_REGISTRATIONS: &str = r"
CREATE TABLE registrations (
    manager        TEXT NOT NULL,
    contact_uri    TEXT NOT NULL,
    source_addr    TEXT NOT NULL,
    transport      TEXT NOT NULL,
    registered_at  BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    call_id        TEXT NOT NULL,
    cseq           BIGINT NOT NULL,
    user_agent     TEXT,
    PRIMARY KEY (manager, contact_uri)
);
CREATE INDEX registrations_by_expiry ON registrations(expires_at);
";

/// v4: a binding's RFC 3327 Path (phones registering through a proxy; JSON list).
const V4_REGISTRATION_PATH: &str = r"
ALTER TABLE registrations ADD COLUMN path TEXT NOT NULL DEFAULT '[]';
";

/// v5: managers' state shared by instances (`store::shared`): instance leases, ring
/// and talk claims, department queue entries, pauses and wrap-up. Times are the
/// database server's clock (`sb_now_ms()`), so instances never compare their own.
const V5_SHARED_STATE: &str = r"
CREATE FUNCTION sb_now_ms() RETURNS BIGINT LANGUAGE sql VOLATILE
    AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT $$;

CREATE TABLE sb_instances (
    name         TEXT PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    lease_until  BIGINT NOT NULL
);

CREATE TABLE manager_claims (
    id        BIGSERIAL PRIMARY KEY,
    manager   TEXT NOT NULL,
    instance  TEXT NOT NULL,
    call_ref  BIGINT NOT NULL,
    state     TEXT NOT NULL CHECK (state IN ('ringing', 'talking')),
    since     BIGINT NOT NULL
);
CREATE INDEX manager_claims_by_manager ON manager_claims(manager);
CREATE INDEX manager_claims_by_call ON manager_claims(instance, call_ref);

CREATE TABLE manager_state (
    manager        TEXT PRIMARY KEY,
    last_call_end  BIGINT,
    paused_reason  TEXT,
    paused_since   BIGINT
);

CREATE TABLE queue_entries (
    instance    TEXT NOT NULL,
    call_ref    BIGINT NOT NULL,
    department  TEXT NOT NULL,
    priority    INTEGER NOT NULL,
    since       BIGINT NOT NULL,
    id          BIGSERIAL,
    PRIMARY KEY (instance, call_ref)
);
CREATE INDEX queue_entries_by_department ON queue_entries(department, priority DESC, since, id);
";

/// v6: a call's conversation recording (`record = true`, issue 14).
const V6_CALL_RECORDING: &str = r"
ALTER TABLE calls ADD COLUMN recording TEXT;
";

/// v7 (issue 13): the virtual queue (callers waiting to be called back, kept across
/// restarts), each dial-back attempt, and managers' state intervals for the
/// per-manager report; the same tables as SQLite's v6.
const V7_QUEUE: &str = r"
CREATE TABLE queued_callbacks (
    id            TEXT PRIMARY KEY NOT NULL,
    department    TEXT NOT NULL,
    caller        TEXT NOT NULL,
    number        TEXT NOT NULL,
    dialled       TEXT NOT NULL,
    source        TEXT NOT NULL,
    priority      INTEGER NOT NULL,
    queued_at     BIGINT NOT NULL,
    requested_at  BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    not_before    BIGINT,
    status        TEXT NOT NULL CHECK (status IN ('waiting', 'dialing', 'connected', 'gave_up', 'cancelled')),
    updated_at    BIGINT NOT NULL,
    callback_id   BIGINT REFERENCES callbacks(id) ON DELETE SET NULL
);
CREATE INDEX queued_callbacks_by_status ON queued_callbacks(status, queued_at);
CREATE INDEX queued_callbacks_by_request ON queued_callbacks(callback_id);

CREATE TABLE dialback_attempts (
    id           BIGSERIAL PRIMARY KEY,
    callback_id  TEXT NOT NULL REFERENCES queued_callbacks(id) ON DELETE CASCADE,
    manager      TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    ended_at     BIGINT NOT NULL,
    customer     TEXT NOT NULL,
    status       INTEGER,
    talk_ms      BIGINT
);
CREATE INDEX dialback_attempts_by_callback ON dialback_attempts(callback_id);

CREATE TABLE agent_states (
    manager     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    PRIMARY KEY (manager, kind, detail, started_at)
);
CREATE INDEX agent_states_by_start ON agent_states(started_at);
";

/// Every migration, in order; script `i` takes the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    V1_CALLS,
    V2_CALLBACKS,
    V3_REGISTRATIONS,
    V4_REGISTRATION_PATH,
    V5_SHARED_STATE,
    V6_CALL_RECORDING,
    V7_QUEUE,
];

/// The schema version this build writes (= number of migrations).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Key of the advisory lock that serialises schema upgrades ("SwBd" + 1).
const MIGRATION_LOCK: i64 = 0x5377_4264_0001;

/// Brings the database behind `client` up to [`SCHEMA_VERSION`]. `url` (without its
/// password) is only for messages.
pub(crate) fn migrate(client: &mut Client, url: &str) -> Result<(), StoreError> {
    let pg = |op| move |source| StoreError::Postgres { op, source };
    let mut tx = client
        .transaction()
        .map_err(pg("start the schema upgrade"))?;
    // Whoever comes second waits here until the first one committed.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(pg("lock the database for a schema upgrade"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS switchboard_schema (version BIGINT NOT NULL); \
         INSERT INTO switchboard_schema (version) \
           SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM switchboard_schema)",
    )
    .map_err(pg("create the schema version table"))?;
    let current: i64 = tx
        .query_one("SELECT max(version) FROM switchboard_schema", &[])
        .and_then(|row| row.try_get(0))
        .map_err(pg("read the schema version"))?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: url.into(),
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    if current == SCHEMA_VERSION {
        return Ok(());
    }
    let already = usize::try_from(current).unwrap_or(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(already) {
        let version = i64::try_from(index).unwrap_or(i64::MAX).saturating_add(1);
        tx.batch_execute(sql)
            .and_then(|()| {
                tx.execute("UPDATE switchboard_schema SET version = $1", &[&version])
                    .map(|_| ())
            })
            .map_err(|source| StoreError::PostgresMigration { version, source })?;
    }
    tx.commit()
        .map_err(|source| StoreError::PostgresMigration {
            version: SCHEMA_VERSION,
            source,
        })?;
    tracing::info!(from = current, to = SCHEMA_VERSION, database = %url, "database schema upgraded");
    Ok(())
}
