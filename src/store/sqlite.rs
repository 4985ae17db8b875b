//! [`Store`] on SQLite: WAL journal, `synchronous=NORMAL`, a busy timeout so the CLI and
//! the server can share the file, foreign keys on, schema from [`super::migrations`].
//!
//! Atomic operations are single statements (`INSERT … ON CONFLICT … RETURNING`,
//! `UPDATE … WHERE status = 'open' RETURNING`), so they stay atomic across connections
//! and processes without explicit locking.

use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, ToSql, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

mod maintenance;
mod queueing;
mod rows;

pub use maintenance::BackupError;

use super::migrations;
use super::model::{
    AgentInterval, CallOutcome, CallRecord, CallbackReason, CallbackRequest, CallbackStatus,
    DialbackAttempt, DialbackStatus, NewCallback, PreviousInteraction, QueuedCallback,
    Registration, RingAttempt, RingOutcome, Side, WebhookEvent,
};
use super::{Store, StoreError, StoreWrite, apply_write};
use rows::*;

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A SQLite database file (or an in-memory database for tests).
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Prepared statements kept: every distinct one this store runs (about 25), with room.
const STATEMENT_CACHE: usize = 64;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and upgrades its schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Self::configure(conn, path)
    }

    /// A private in-memory database (WAL does not apply; everything else does).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Self::configure(conn, path)
    }

    /// The file this store was opened on.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(mut conn: Connection, path: PathBuf) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // WAL: readers never block the writer, and a commit is one sequential append.
        // NORMAL is safe against application crashes in WAL mode (only power loss can
        // roll back the latest commits) and avoids an fsync per transaction.
        let _mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        migrations::migrate(&mut conn, &path)?;
        // Every statement the writes and queries use stays prepared (rusqlite keeps 16
        // by default, fewer than this store has, so the busiest ones were re-parsed).
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(Self { conn, path })
    }

    fn claim_or_complete_failure(&self, id: i64, manager: &str) -> StoreError {
        match self.get_callback(id) {
            Err(e) => e,
            Ok(None) => StoreError::CallbackNotFound { id },
            Ok(Some(cb)) => match cb.status {
                CallbackStatus::Done => StoreError::AlreadyDone {
                    id,
                    by: cb.done_by.unwrap_or_default(),
                },
                // Open can only be seen here if it changed between our two statements;
                // report it as a lost race rather than pretend success.
                CallbackStatus::Claimed | CallbackStatus::Open => StoreError::AlreadyClaimed {
                    id,
                    by: cb.claimed_by.unwrap_or_else(|| manager.to_owned()),
                },
            },
        }
    }
}

fn is_foreign_key_violation(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
    )
}

impl SqliteStore {
    fn query_vec<T>(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&dyn ToSql],
        map: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let run = || -> rusqlite::Result<Vec<T>> {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let rows = stmt.query_map(params, map)?;
            rows.collect()
        };
        run().map_err(sql_err(op))
    }

    fn query_opt<T>(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&dyn ToSql],
        map: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        let run = || -> rusqlite::Result<Option<T>> {
            let mut stmt = self.conn.prepare_cached(sql)?;
            stmt.query_row(params, map).optional()
        };
        run().map_err(sql_err(op))
    }

    fn exec(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&dyn ToSql],
    ) -> Result<usize, StoreError> {
        let run = || -> rusqlite::Result<usize> { self.conn.prepare_cached(sql)?.execute(params) };
        run().map_err(sql_err(op))
    }

    /// Runs one transaction-control statement from the statement cache: a batch of one
    /// write runs four of them, and parsing each anew was a visible part of the store
    /// thread's time at low call rates (issue 16).
    fn control(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([]).map(drop)
    }
}

impl Store for SqliteStore {
    fn upsert_call(&mut self, call: &CallRecord) -> Result<(), StoreError> {
        let menu_path = to_json(&call.menu_path, "menu path")?;
        let transfers = to_json(&call.transfers, "transfers")?;
        let sql = format!(
            "INSERT INTO calls ({CALL_COLS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
             ON CONFLICT (call_id) DO UPDATE SET \
               started_at = excluded.started_at, answered_at = excluded.answered_at, \
               ended_at = excluded.ended_at, dialled = excluded.dialled, \
               source = excluded.source, caller = excluded.caller, \
               caller_name = excluded.caller_name, menu_path = excluded.menu_path, \
               decision = excluded.decision, reason = excluded.reason, \
               department = excluded.department, answered_by = excluded.answered_by, \
               outcome = excluded.outcome, hangup_side = excluded.hangup_side, \
               transfers = excluded.transfers, recording = excluded.recording"
        );
        self.exec(
            "save a call record",
            &sql,
            params![
                call.call_id,
                ms(call.started_at),
                opt_ms(call.answered_at),
                opt_ms(call.ended_at),
                call.dialled,
                call.source,
                call.caller,
                call.caller_name,
                menu_path,
                call.decision,
                call.reason,
                call.department,
                call.answered_by,
                call.outcome.as_str(),
                call.hangup_side.map(Side::as_str),
                transfers,
                call.recording,
            ],
        )
        .map(|_| ())
    }

    fn add_ring_attempt(&mut self, attempt: &RingAttempt) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO ring_attempts ({RING_COLS}) VALUES (?1, ?2, ?3, ?4, ?5)");
        let result = self.conn.prepare_cached(&sql).and_then(|mut stmt| {
            stmt.execute(params![
                attempt.call_id,
                attempt.manager,
                ms(attempt.started_at),
                ms(attempt.ended_at),
                attempt.outcome.as_str(),
            ])
        });
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::UnknownCall {
                call_id: attempt.call_id.clone(),
            }),
            Err(source) => Err(StoreError::Sqlite {
                op: "save a ring attempt",
                source,
            }),
        }
    }

    fn get_call(&self, call_id: &str) -> Result<Option<CallRecord>, StoreError> {
        let sql = format!("SELECT {CALL_COLS} FROM calls WHERE call_id = ?1");
        self.query_opt("read a call record", &sql, params![call_id], call_from_row)
    }

    fn calls_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<CallRecord>, StoreError> {
        let sql = format!(
            "SELECT {CALL_COLS} FROM calls WHERE started_at >= ?1 AND started_at < ?2 \
             ORDER BY started_at, call_id"
        );
        self.query_vec(
            "list call records",
            &sql,
            params![ms(from), ms(to)],
            call_from_row,
        )
    }

    fn calls_in_progress(&self) -> Result<Vec<CallRecord>, StoreError> {
        let sql = format!(
            "SELECT {CALL_COLS} FROM calls WHERE outcome = 'in_progress' \
             ORDER BY started_at, call_id"
        );
        self.query_vec("list calls in progress", &sql, &[], call_from_row)
    }

    fn ring_attempts_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RingAttempt>, StoreError> {
        let sql = format!(
            "SELECT {RING_COLS} FROM ring_attempts WHERE started_at >= ?1 AND started_at < ?2 \
             ORDER BY started_at, id"
        );
        self.query_vec(
            "list ring attempts",
            &sql,
            params![ms(from), ms(to)],
            ring_from_row,
        )
    }

    fn ring_attempts_for_call(&self, call_id: &str) -> Result<Vec<RingAttempt>, StoreError> {
        let sql = format!(
            "SELECT {RING_COLS} FROM ring_attempts WHERE call_id = ?1 ORDER BY started_at, id"
        );
        self.query_vec(
            "list ring attempts of a call",
            &sql,
            params![call_id],
            ring_from_row,
        )
    }

    fn last_interaction(
        &self,
        caller: &str,
        since: Timestamp,
    ) -> Result<Option<PreviousInteraction>, StoreError> {
        // Served by the partial index calls_by_caller_answered.
        self.query_opt(
            "look up the caller's history",
            "SELECT answered_by, answered_at FROM calls \
             WHERE caller = ?1 AND answered_by IS NOT NULL AND answered_at >= ?2 \
             ORDER BY answered_at DESC, call_id DESC LIMIT 1",
            params![caller, ms(since)],
            |row| {
                Ok(PreviousInteraction {
                    manager: row.get(0)?,
                    at: get_ts(row, 1)?,
                })
            },
        )
    }

    fn add_or_update_callback(&mut self, req: &NewCallback) -> Result<(i64, bool), StoreError> {
        let menu_path = to_json(&req.menu_path, "menu path")?;
        // One statement, so it is atomic against other connections: the partial unique
        // index makes a second unfinished request for the same caller a conflict, and
        // the conflict turns into an update of the existing one.
        let (id, count): (i64, u32) = self
            .conn
            .prepare_cached(
                "INSERT INTO callbacks (department, caller, dialled, source, created_at, \
                   updated_at, menu_path, reason, recording_path, recording_secs, \
                   recording_flag, status, call_count) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9, ?10, 'open', 1) \
                 ON CONFLICT (department, caller) WHERE status <> 'done' DO UPDATE SET \
                   dialled = excluded.dialled, source = excluded.source, \
                   updated_at = max(updated_at, excluded.updated_at), \
                   menu_path = excluded.menu_path, reason = excluded.reason, \
                   recording_path = coalesce(excluded.recording_path, recording_path), \
                   recording_secs = CASE WHEN excluded.recording_path IS NULL \
                     THEN recording_secs ELSE excluded.recording_secs END, \
                   recording_flag = CASE WHEN excluded.recording_path IS NULL \
                     THEN recording_flag ELSE excluded.recording_flag END, \
                   call_count = call_count + 1 \
                 RETURNING id, call_count",
            )
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![
                        req.department,
                        req.caller,
                        req.dialled,
                        req.source,
                        ms(req.at),
                        menu_path,
                        req.reason.as_str(),
                        req.recording_path,
                        req.recording_secs,
                        req.recording_flag,
                    ],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
            })
            .map_err(sql_err("file a callback request"))?;
        Ok((id, count == 1))
    }

    fn list_callbacks(
        &self,
        department: Option<&str>,
        status: Option<CallbackStatus>,
    ) -> Result<Vec<CallbackRequest>, StoreError> {
        let status = status.map(CallbackStatus::as_str);
        // Separate statements per filter so each can use its index.
        let (filter, params): (&str, Vec<&dyn ToSql>) = match (&department, &status) {
            (Some(d), Some(s)) => ("WHERE department = ?1 AND status = ?2", vec![d, s]),
            (Some(d), None) => ("WHERE department = ?1", vec![d]),
            (None, Some(s)) => ("WHERE status = ?1", vec![s]),
            (None, None) => ("", vec![]),
        };
        let sql = format!("SELECT {CALLBACK_COLS} FROM callbacks {filter} ORDER BY created_at, id");
        self.query_vec("list callback requests", &sql, &params, callback_from_row)
    }

    fn get_callback(&self, id: i64) -> Result<Option<CallbackRequest>, StoreError> {
        let sql = format!("SELECT {CALLBACK_COLS} FROM callbacks WHERE id = ?1");
        self.query_opt(
            "read a callback request",
            &sql,
            params![id],
            callback_from_row,
        )
    }

    fn claim_callback(
        &mut self,
        id: i64,
        manager: &str,
        now: Timestamp,
    ) -> Result<CallbackRequest, StoreError> {
        // The WHERE status = 'open' is the whole lock: SQLite serialises writers, so only
        // one UPDATE can see the row open and change it.
        let sql = format!(
            "UPDATE callbacks SET status = 'claimed', claimed_by = ?2, claimed_at = ?3 \
             WHERE id = ?1 AND status = 'open' RETURNING {CALLBACK_COLS}"
        );
        match self.query_opt(
            "claim a callback request",
            &sql,
            params![id, manager, ms(now)],
            callback_from_row,
        )? {
            Some(cb) => Ok(cb),
            None => Err(self.claim_or_complete_failure(id, manager)),
        }
    }

    fn complete_callback(
        &mut self,
        id: i64,
        manager: &str,
        outcome: &str,
        now: Timestamp,
    ) -> Result<CallbackRequest, StoreError> {
        let sql = format!(
            "UPDATE callbacks SET status = 'done', outcome = ?3, done_by = ?2, done_at = ?4, \
               claimed_by = coalesce(claimed_by, ?2), claimed_at = coalesce(claimed_at, ?4) \
             WHERE id = ?1 AND (status = 'open' OR (status = 'claimed' AND claimed_by = ?2)) \
             RETURNING {CALLBACK_COLS}"
        );
        match self.query_opt(
            "close a callback request",
            &sql,
            params![id, manager, outcome, ms(now)],
            callback_from_row,
        )? {
            Some(cb) => Ok(cb),
            None => Err(self.claim_or_complete_failure(id, manager)),
        }
    }

    fn save_registration(&mut self, reg: &Registration) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT OR REPLACE INTO registrations ({REGISTRATION_COLS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        );
        let path = to_json(&reg.path, "path")?;
        self.exec(
            "save a registration",
            &sql,
            params![
                reg.manager,
                reg.contact_uri,
                reg.source_addr.to_string(),
                reg.transport,
                ms(reg.registered_at),
                ms(reg.expires_at),
                reg.call_id,
                reg.cseq,
                reg.user_agent,
                path,
            ],
        )
        .map(|_| ())
    }

    fn remove_registration(
        &mut self,
        manager: &str,
        contact_uri: &str,
    ) -> Result<bool, StoreError> {
        self.exec(
            "remove a registration",
            "DELETE FROM registrations WHERE manager = ?1 AND contact_uri = ?2",
            params![manager, contact_uri],
        )
        .map(|n| n > 0)
    }

    fn registrations(&self) -> Result<Vec<Registration>, StoreError> {
        let sql =
            format!("SELECT {REGISTRATION_COLS} FROM registrations ORDER BY manager, contact_uri");
        self.query_vec("list registrations", &sql, &[], registration_from_row)
    }

    fn remove_expired_registrations(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        self.exec(
            "remove expired registrations",
            "DELETE FROM registrations WHERE expires_at <= ?1",
            params![ms(now)],
        )
    }

    fn purge_before(&mut self, cutoff: Timestamp) -> Result<super::Purged, StoreError> {
        self.purge(cutoff)
    }

    fn enqueue_webhook(&mut self, payload_json: &str, now: Timestamp) -> Result<i64, StoreError> {
        self.exec(
            "queue a webhook notification",
            "INSERT INTO webhook_outbox (payload_json, attempts, next_attempt_at, created_at) \
             VALUES (?1, 0, ?2, ?2)",
            params![payload_json, ms(now)],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn due_webhooks(&self, now: Timestamp, limit: usize) -> Result<Vec<WebhookEvent>, StoreError> {
        let sql = format!(
            "SELECT {WEBHOOK_COLS} FROM webhook_outbox WHERE next_attempt_at <= ?1 \
             ORDER BY next_attempt_at, id LIMIT ?2"
        );
        self.query_vec(
            "list due webhook notifications",
            &sql,
            params![ms(now), limit_i64(limit)],
            webhook_from_row,
        )
    }

    fn mark_webhook_delivered(&mut self, id: i64) -> Result<(), StoreError> {
        self.exec(
            "remove a delivered webhook notification",
            "DELETE FROM webhook_outbox WHERE id = ?1",
            params![id],
        )
        .map(|_| ())
    }

    fn reschedule_webhook(
        &mut self,
        id: i64,
        next_at: Timestamp,
        attempts: u32,
    ) -> Result<(), StoreError> {
        let changed = self.exec(
            "reschedule a webhook notification",
            "UPDATE webhook_outbox SET next_attempt_at = ?2, attempts = ?3 WHERE id = ?1",
            params![id, ms(next_at), attempts],
        )?;
        if changed == 0 {
            return Err(StoreError::WebhookNotFound { id });
        }
        Ok(())
    }

    fn save_queued_callback(&mut self, cb: &QueuedCallback) -> Result<(), StoreError> {
        self.q_save(cb)
    }

    fn queued_callbacks(&self) -> Result<Vec<QueuedCallback>, StoreError> {
        self.q_waiting()
    }

    fn get_queued_callback(&self, id: &str) -> Result<Option<QueuedCallback>, StoreError> {
        self.q_get(id)
    }

    fn queued_callback_for_request(
        &self,
        callback_id: i64,
    ) -> Result<Option<QueuedCallback>, StoreError> {
        self.q_for_request(callback_id)
    }

    fn add_dialback_attempt(&mut self, a: &DialbackAttempt) -> Result<(), StoreError> {
        self.q_add_attempt(a)
    }

    fn dialback_attempts(&self, id: &str) -> Result<Vec<DialbackAttempt>, StoreError> {
        self.q_attempts(id)
    }

    fn finish_queued_callback(
        &mut self,
        id: &str,
        status: DialbackStatus,
        at: Timestamp,
        request: Option<&NewCallback>,
    ) -> Result<Option<i64>, StoreError> {
        self.q_finish(id, status, at, request)
    }

    fn save_agent_interval(&mut self, i: &AgentInterval) -> Result<(), StoreError> {
        self.q_save_agent(i)
    }

    fn agent_intervals_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<AgentInterval>, StoreError> {
        self.q_agents_between(from, to)
    }

    fn open_agent_intervals(&self) -> Result<Vec<AgentInterval>, StoreError> {
        self.q_agents_open()
    }

    /// One `BEGIN IMMEDIATE … COMMIT` for the whole batch (one WAL append instead of one
    /// per write), with a savepoint per write so a failing write leaves nothing behind
    /// and does not take the others down with it.
    fn apply_batch(&mut self, writes: &[StoreWrite]) -> Vec<StoreError> {
        let mut errors = Vec::new();
        if let Err(source) = self.control("BEGIN IMMEDIATE") {
            errors.push(StoreError::Sqlite {
                op: "start a write transaction",
                source,
            });
            return errors;
        }
        for write in writes {
            let result = self
                .control("SAVEPOINT write")
                .map_err(sql_err("start a write"))
                .and_then(|()| apply_write(self, write));
            let end = match result {
                Ok(()) => self.control("RELEASE write"),
                Err(e) => {
                    errors.push(e);
                    self.conn.execute_batch("ROLLBACK TO write; RELEASE write")
                }
            };
            if let Err(source) = end {
                errors.push(StoreError::Sqlite {
                    op: "finish a write",
                    source,
                });
            }
        }
        if let Err(source) = self.control("COMMIT") {
            errors.push(StoreError::Sqlite {
                op: "commit a batch of writes",
                source,
            });
            // Leave the connection usable for the next batch.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        errors
    }
}
