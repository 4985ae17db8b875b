//! [`Store`] on PostgreSQL, for several Switchboard instances sharing one database
//! (`[store] url = "postgres://…"`; see `docs/scale-out.md`).
//!
//! The same tables and the same semantics as [`super::SqliteStore`] (the conformance
//! suite in `tests/store_conformance.rs` runs against both). What differs is how the
//! atomic operations stay atomic with many writers:
//!
//! - Claiming a callback is one `UPDATE … WHERE status = 'open' RETURNING`: under READ
//!   COMMITTED a second concurrent UPDATE waits for the first one's row lock, then
//!   re-checks the WHERE on the committed row and changes nothing.
//! - Filing a callback is one `INSERT … ON CONFLICT (department, caller) WHERE status <>
//!   'done' DO UPDATE`, against the same partial unique index as SQLite's.
//! - A batch of writes is one transaction with a savepoint per write, so a failing
//!   write leaves nothing behind and does not take the others down.
//! - Schema upgrades run under an advisory lock ([`migrations`]).
//!
//! The synchronous `postgres` client fits the store thread ([`super::StoreWorker`]): the
//! store owns one connection and the thread blocks on it, never the signalling path.
//! Statements are prepared once per connection and cached.

pub mod connection;
pub mod migrations;
mod queueing;
mod rows;

use rows::*;

use std::fmt;
use std::net::SocketAddr;

use jiff::Timestamp;
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Row, Statement};
use serde::de::DeserializeOwned;

use super::model::{
    AgentInterval, CallOutcome, CallRecord, CallbackReason, CallbackRequest, CallbackStatus,
    DialbackAttempt, DialbackStatus, NewCallback, PreviousInteraction, QueuedCallback,
    Registration, RingAttempt, RingOutcome, Side, WebhookEvent,
};
use super::{Purged, Store, StoreError, StoreWrite, apply_write};

/// A connection to a PostgreSQL database holding Switchboard's tables.
pub struct PostgresStore {
    /// Reconnects after the server restarted (see [`connection`]).
    conn: connection::Connection,
    /// The URL without its password, for messages.
    url: String,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for logs and errors.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Whether a `[store] url` names a PostgreSQL database.
#[must_use]
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and upgrades
    /// the schema. TLS is not used: run PostgreSQL on a private network or loopback
    /// (see docs/scale-out.md).
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let shown = redact_url(url);
        let conn = connection::Connection::open(url, &shown)?;
        migrations::migrate(&mut conn.client(), &shown)?;
        Ok(Self { conn, url: shown })
    }

    /// The database URL without its password.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `f` on the connection with the prepared form of `sql`.
    fn with_stmt<T>(
        &self,
        op: &'static str,
        sql: &str,
        f: impl Fn(&mut Client, &Statement) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        self.conn.with_stmt(op, sql, f)
    }

    fn query_vec<T>(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        map: fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.with_stmt(op, sql, |c, s| c.query(s, params))?;
        rows.iter().map(map).collect()
    }

    fn query_opt<T>(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        map: fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let row = self.with_stmt(op, sql, |c, s| c.query_opt(s, params))?;
        row.as_ref().map(map).transpose()
    }

    fn exec(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.with_stmt(op, sql, |c, s| c.execute(s, params))
    }

    fn batch(&self, op: &'static str, sql: &str) -> Result<(), StoreError> {
        self.conn.batch(op, sql)
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
                CallbackStatus::Claimed | CallbackStatus::Open => StoreError::AlreadyClaimed {
                    id,
                    by: cb.claimed_by.unwrap_or_else(|| manager.to_owned()),
                },
            },
        }
    }

    /// One transaction, so a reader never sees half a purge.
    fn purge(&mut self, cutoff: Timestamp) -> Result<Purged, StoreError> {
        let cutoff = ms(cutoff);
        let pg = |op| move |source| StoreError::Postgres { op, source };
        let mut client = self.conn.client();
        let mut tx = client
            .transaction()
            .map_err(pg("start the retention cleanup"))?;
        let ring_attempts = tx
            .execute(
                "DELETE FROM ring_attempts WHERE started_at < $1 \
                 OR call_id IN (SELECT call_id FROM calls WHERE started_at < $1)",
                &[&cutoff],
            )
            .map_err(pg("delete old ring attempts"))?;
        let calls = tx
            .execute("DELETE FROM calls WHERE started_at < $1", &[&cutoff])
            .map_err(pg("delete old call records"))?;
        let callbacks = tx
            .execute(
                "DELETE FROM callbacks WHERE status = 'done' \
                 AND COALESCE(done_at, updated_at) < $1",
                &[&cutoff],
            )
            .map_err(pg("delete old closed callback requests"))?;
        let webhooks = tx
            .execute(
                "DELETE FROM webhook_outbox WHERE created_at < $1",
                &[&cutoff],
            )
            .map_err(pg("delete old webhook notifications"))?;
        let dialbacks = tx
            .execute(
                "DELETE FROM queued_callbacks WHERE status NOT IN ('waiting', 'dialing') \
                 AND updated_at < $1",
                &[&cutoff],
            )
            .map_err(pg("delete old finished dial-backs"))?;
        let agent_states = tx
            .execute(
                "DELETE FROM agent_states WHERE ended_at IS NOT NULL AND ended_at < $1",
                &[&cutoff],
            )
            .map_err(pg("delete old managers' states"))?;
        tx.commit().map_err(pg("commit the retention cleanup"))?;
        let n = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Ok(Purged {
            calls: n(calls),
            ring_attempts: n(ring_attempts),
            callbacks: n(callbacks),
            webhooks: n(webhooks),
            dialbacks: n(dialbacks),
            agent_states: n(agent_states),
        })
    }
}

impl PostgresStore {
    /// The batch's transaction; returns its errors and whether the COMMIT went out on
    /// an open connection (from then on, whether it was applied is unknown).
    fn one_batch(&mut self, writes: &[StoreWrite]) -> (Vec<StoreError>, bool) {
        let mut errors = Vec::new();
        if let Err(e) = self.batch("start a write transaction", "BEGIN") {
            errors.push(e);
            return (errors, false);
        }
        self.conn.set_in_batch(true);
        for write in writes {
            let result = self
                .batch("start a write", "SAVEPOINT write")
                .and_then(|()| apply_write(self, write));
            let end = match result {
                Ok(()) => "RELEASE SAVEPOINT write",
                Err(e) => {
                    errors.push(e);
                    "ROLLBACK TO SAVEPOINT write; RELEASE SAVEPOINT write"
                }
            };
            if let Err(e) = self.batch("finish a write", end) {
                errors.push(e);
            }
        }
        self.conn.set_in_batch(false);
        if self.conn.is_closed() {
            // Broken before the COMMIT: the server rolled the transaction back.
            return (errors, false);
        }
        if let Err(e) = self.batch("commit a batch of writes", "COMMIT") {
            errors.push(e);
            // Leave the connection usable for the next batch.
            let _ = self.batch("roll back a failed batch", "ROLLBACK");
        }
        (errors, true)
    }
}

impl Store for PostgresStore {
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

    fn upsert_call(&mut self, call: &CallRecord) -> Result<(), StoreError> {
        let menu_path = to_json(&call.menu_path, "menu path")?;
        let transfers = to_json(&call.transfers, "transfers")?;
        let sql = format!(
            "INSERT INTO calls ({CALL_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             ON CONFLICT (call_id) DO UPDATE SET \
               started_at = EXCLUDED.started_at, answered_at = EXCLUDED.answered_at, \
               ended_at = EXCLUDED.ended_at, dialled = EXCLUDED.dialled, \
               source = EXCLUDED.source, caller = EXCLUDED.caller, \
               caller_name = EXCLUDED.caller_name, menu_path = EXCLUDED.menu_path, \
               decision = EXCLUDED.decision, reason = EXCLUDED.reason, \
               department = EXCLUDED.department, answered_by = EXCLUDED.answered_by, \
               outcome = EXCLUDED.outcome, hangup_side = EXCLUDED.hangup_side, \
               transfers = EXCLUDED.transfers, recording = EXCLUDED.recording"
        );
        self.exec(
            "save a call record",
            &sql,
            &[
                &call.call_id,
                &ms(call.started_at),
                &opt_ms(call.answered_at),
                &opt_ms(call.ended_at),
                &call.dialled,
                &call.source,
                &call.caller,
                &call.caller_name,
                &menu_path,
                &call.decision,
                &call.reason,
                &call.department,
                &call.answered_by,
                &call.outcome.as_str(),
                &call.hangup_side.map(Side::as_str),
                &transfers,
                &call.recording,
            ],
        )
        .map(|_| ())
    }

    fn add_ring_attempt(&mut self, attempt: &RingAttempt) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO ring_attempts ({RING_COLS}) VALUES ($1, $2, $3, $4, $5)");
        let result = self.exec(
            "save a ring attempt",
            &sql,
            &[
                &attempt.call_id,
                &attempt.manager,
                &ms(attempt.started_at),
                &ms(attempt.ended_at),
                &attempt.outcome.as_str(),
            ],
        );
        match result {
            Err(StoreError::Postgres { source, .. })
                if source.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) =>
            {
                Err(StoreError::UnknownCall {
                    call_id: attempt.call_id.clone(),
                })
            }
            other => other.map(|_| ()),
        }
    }

    fn get_call(&self, call_id: &str) -> Result<Option<CallRecord>, StoreError> {
        let sql = format!("SELECT {CALL_COLS} FROM calls WHERE call_id = $1");
        self.query_opt("read a call record", &sql, &[&call_id], call_from_row)
    }

    fn calls_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<CallRecord>, StoreError> {
        let sql = format!(
            "SELECT {CALL_COLS} FROM calls WHERE started_at >= $1 AND started_at < $2 \
             ORDER BY started_at, call_id COLLATE \"C\""
        );
        self.query_vec(
            "list call records",
            &sql,
            &[&ms(from), &ms(to)],
            call_from_row,
        )
    }

    fn ring_attempts_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RingAttempt>, StoreError> {
        let sql = format!(
            "SELECT {RING_COLS} FROM ring_attempts WHERE started_at >= $1 AND started_at < $2 \
             ORDER BY started_at, id"
        );
        self.query_vec(
            "list ring attempts",
            &sql,
            &[&ms(from), &ms(to)],
            ring_from_row,
        )
    }

    fn ring_attempts_for_call(&self, call_id: &str) -> Result<Vec<RingAttempt>, StoreError> {
        let sql = format!(
            "SELECT {RING_COLS} FROM ring_attempts WHERE call_id = $1 ORDER BY started_at, id"
        );
        self.query_vec(
            "list ring attempts of a call",
            &sql,
            &[&call_id],
            ring_from_row,
        )
    }

    fn last_interaction(
        &self,
        caller: &str,
        since: Timestamp,
    ) -> Result<Option<PreviousInteraction>, StoreError> {
        self.query_opt(
            "look up the caller's history",
            "SELECT answered_by, answered_at FROM calls \
             WHERE caller = $1 AND answered_by IS NOT NULL AND answered_at >= $2 \
             ORDER BY answered_at DESC, call_id COLLATE \"C\" DESC LIMIT 1",
            &[&caller, &ms(since)],
            |row| {
                Ok(PreviousInteraction {
                    manager: get(row, 0, "calls.answered_by")?,
                    at: get_ts(row, 1, "calls.answered_at")?,
                })
            },
        )
    }

    fn add_or_update_callback(&mut self, req: &NewCallback) -> Result<(i64, bool), StoreError> {
        let menu_path = to_json(&req.menu_path, "menu path")?;
        let row = self.query_opt(
            "file a callback request",
            "INSERT INTO callbacks AS c (department, caller, dialled, source, created_at, \
               updated_at, menu_path, reason, recording_path, recording_secs, \
               recording_flag, status, call_count) \
             VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10, 'open', 1) \
             ON CONFLICT (department, caller) WHERE status <> 'done' DO UPDATE SET \
               dialled = EXCLUDED.dialled, source = EXCLUDED.source, \
               updated_at = GREATEST(c.updated_at, EXCLUDED.updated_at), \
               menu_path = EXCLUDED.menu_path, reason = EXCLUDED.reason, \
               recording_path = COALESCE(EXCLUDED.recording_path, c.recording_path), \
               recording_secs = CASE WHEN EXCLUDED.recording_path IS NULL \
                 THEN c.recording_secs ELSE EXCLUDED.recording_secs END, \
               recording_flag = CASE WHEN EXCLUDED.recording_path IS NULL \
                 THEN c.recording_flag ELSE EXCLUDED.recording_flag END, \
               call_count = c.call_count + 1 \
             RETURNING id, call_count",
            &[
                &req.department,
                &req.caller,
                &req.dialled,
                &req.source,
                &ms(req.at),
                &menu_path,
                &req.reason.as_str(),
                &req.recording_path,
                &req.recording_secs,
                &req.recording_flag,
            ],
            |row| {
                Ok((
                    get::<i64>(row, 0, "callbacks.id")?,
                    get::<i64>(row, 1, "callbacks.call_count")?,
                ))
            },
        )?;
        let (id, count) = row.ok_or(StoreError::Decode {
            column: "callbacks",
            found: "no row returned by the upsert".into(),
        })?;
        Ok((id, count == 1))
    }

    fn list_callbacks(
        &self,
        department: Option<&str>,
        status: Option<CallbackStatus>,
    ) -> Result<Vec<CallbackRequest>, StoreError> {
        let status = status.map(CallbackStatus::as_str);
        let (filter, params): (&str, Vec<&(dyn ToSql + Sync)>) = match (&department, &status) {
            (Some(d), Some(s)) => ("WHERE department = $1 AND status = $2", vec![d, s]),
            (Some(d), None) => ("WHERE department = $1", vec![d]),
            (None, Some(s)) => ("WHERE status = $1", vec![s]),
            (None, None) => ("", vec![]),
        };
        let sql = format!("SELECT {CALLBACK_COLS} FROM callbacks {filter} ORDER BY created_at, id");
        self.query_vec("list callback requests", &sql, &params, callback_from_row)
    }

    fn get_callback(&self, id: i64) -> Result<Option<CallbackRequest>, StoreError> {
        let sql = format!("SELECT {CALLBACK_COLS} FROM callbacks WHERE id = $1");
        self.query_opt("read a callback request", &sql, &[&id], callback_from_row)
    }

    fn claim_callback(
        &mut self,
        id: i64,
        manager: &str,
        now: Timestamp,
    ) -> Result<CallbackRequest, StoreError> {
        let sql = format!(
            "UPDATE callbacks SET status = 'claimed', claimed_by = $2, claimed_at = $3 \
             WHERE id = $1 AND status = 'open' RETURNING {CALLBACK_COLS}"
        );
        match self.query_opt(
            "claim a callback request",
            &sql,
            &[&id, &manager, &ms(now)],
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
            "UPDATE callbacks SET status = 'done', outcome = $3, done_by = $2, done_at = $4, \
               claimed_by = COALESCE(claimed_by, $2), claimed_at = COALESCE(claimed_at, $4) \
             WHERE id = $1 AND (status = 'open' OR (status = 'claimed' AND claimed_by = $2)) \
             RETURNING {CALLBACK_COLS}"
        );
        match self.query_opt(
            "close a callback request",
            &sql,
            &[&id, &manager, &outcome, &ms(now)],
            callback_from_row,
        )? {
            Some(cb) => Ok(cb),
            None => Err(self.claim_or_complete_failure(id, manager)),
        }
    }

    fn save_registration(&mut self, reg: &Registration) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO registrations ({REGISTRATION_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (manager, contact_uri) DO UPDATE SET \
               source_addr = EXCLUDED.source_addr, transport = EXCLUDED.transport, \
               registered_at = EXCLUDED.registered_at, expires_at = EXCLUDED.expires_at, \
               call_id = EXCLUDED.call_id, cseq = EXCLUDED.cseq, \
               user_agent = EXCLUDED.user_agent, path = EXCLUDED.path"
        );
        let path = to_json(&reg.path, "path")?;
        self.exec(
            "save a registration",
            &sql,
            &[
                &reg.manager,
                &reg.contact_uri,
                &reg.source_addr.to_string(),
                &reg.transport,
                &ms(reg.registered_at),
                &ms(reg.expires_at),
                &reg.call_id,
                &i64::from(reg.cseq),
                &reg.user_agent,
                &path,
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
            "DELETE FROM registrations WHERE manager = $1 AND contact_uri = $2",
            &[&manager, &contact_uri],
        )
        .map(|n| n > 0)
    }

    fn registrations(&self) -> Result<Vec<Registration>, StoreError> {
        let sql = format!(
            "SELECT {REGISTRATION_COLS} FROM registrations \
             ORDER BY manager COLLATE \"C\", contact_uri COLLATE \"C\""
        );
        self.query_vec("list registrations", &sql, &[], registration_from_row)
    }

    fn remove_expired_registrations(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        self.exec(
            "remove expired registrations",
            "DELETE FROM registrations WHERE expires_at <= $1",
            &[&ms(now)],
        )
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn enqueue_webhook(&mut self, payload_json: &str, now: Timestamp) -> Result<i64, StoreError> {
        let id = self.query_opt(
            "queue a webhook notification",
            "INSERT INTO webhook_outbox (payload_json, attempts, next_attempt_at, created_at) \
             VALUES ($1, 0, $2, $2) RETURNING id",
            &[&payload_json, &ms(now)],
            |row| get::<i64>(row, 0, "webhook_outbox.id"),
        )?;
        id.ok_or(StoreError::Decode {
            column: "webhook_outbox.id",
            found: "no id returned".into(),
        })
    }

    fn due_webhooks(&self, now: Timestamp, limit: usize) -> Result<Vec<WebhookEvent>, StoreError> {
        let sql = format!(
            "SELECT {WEBHOOK_COLS} FROM webhook_outbox WHERE next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2"
        );
        self.query_vec(
            "list due webhook notifications",
            &sql,
            &[&ms(now), &limit_i64(limit)],
            webhook_from_row,
        )
    }

    fn mark_webhook_delivered(&mut self, id: i64) -> Result<(), StoreError> {
        self.exec(
            "remove a delivered webhook notification",
            "DELETE FROM webhook_outbox WHERE id = $1",
            &[&id],
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
            "UPDATE webhook_outbox SET next_attempt_at = $2, attempts = $3 WHERE id = $1",
            &[&id, &ms(next_at), &i64::from(attempts)],
        )?;
        if changed == 0 {
            return Err(StoreError::WebhookNotFound { id });
        }
        Ok(())
    }

    fn purge_before(&mut self, cutoff: Timestamp) -> Result<Purged, StoreError> {
        self.purge(cutoff)
    }

    /// One transaction for the whole batch (one commit, one WAL flush on the server),
    /// with a savepoint per write so a failing write leaves nothing behind and does not
    /// take the others down with it.
    /// A connection that broke before the COMMIT is replaced and the batch written
    /// again once (see [`connection`]).
    fn apply_batch(&mut self, writes: &[StoreWrite]) -> Vec<StoreError> {
        self.conn.heal();
        let (errors, committed) = self.one_batch(writes);
        if errors.is_empty() || committed || !self.conn.is_closed() || !self.conn.heal() {
            return errors;
        }
        tracing::info!(
            "the connection broke before the commit: writing the batch of {} again",
            writes.len()
        );
        self.one_batch(writes).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://sb:s3cret@db.example:5432/switchboard"),
            "postgres://sb:***@db.example:5432/switchboard"
        );
        assert_eq!(
            redact_url("postgres://sb@127.0.0.1/switchboard"),
            "postgres://sb@127.0.0.1/switchboard"
        );
        assert_eq!(redact_url("not a url"), "not a url");
        assert!(is_postgres_url("postgresql://x/y"));
        assert!(!is_postgres_url("sqlite:///tmp/x.db"));
    }
}
