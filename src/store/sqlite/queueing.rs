//! The virtual queue, dial-back attempts and managers' state intervals on SQLite
//! (schema v4, `migrations::V4_QUEUE`).

use jiff::Timestamp;
use rusqlite::{Row, params};

use super::{SqliteStore, get_enum, get_opt_ts, get_ts, ms, opt_ms};
use crate::store::model::{
    AgentInterval, AgentStateKind, CustomerOutcome, DialbackAttempt, DialbackStatus, NewCallback,
    QueuedCallback,
};
use crate::store::{Store, StoreError};

const QUEUED_COLS: &str = "id, department, caller, number, dialled, source, priority, queued_at, \
    requested_at, attempts, not_before, status, updated_at, callback_id";

fn queued_from_row(row: &Row<'_>) -> rusqlite::Result<QueuedCallback> {
    Ok(QueuedCallback {
        id: row.get(0)?,
        department: row.get(1)?,
        caller: row.get(2)?,
        number: row.get(3)?,
        dialled: row.get(4)?,
        source: row.get(5)?,
        priority: row.get(6)?,
        queued_at: get_ts(row, 7)?,
        requested_at: get_ts(row, 8)?,
        attempts: row.get(9)?,
        not_before: get_opt_ts(row, 10)?,
        status: get_enum(row, 11, "a dial-back status", DialbackStatus::from_text)?,
        updated_at: get_ts(row, 12)?,
        callback_id: row.get(13)?,
    })
}

const ATTEMPT_COLS: &str = "callback_id, manager, started_at, ended_at, customer, status, talk_ms";

fn attempt_from_row(row: &Row<'_>) -> rusqlite::Result<DialbackAttempt> {
    Ok(DialbackAttempt {
        callback_id: row.get(0)?,
        manager: row.get(1)?,
        started_at: get_ts(row, 2)?,
        ended_at: get_ts(row, 3)?,
        customer: get_enum(row, 4, "a customer outcome", CustomerOutcome::from_text)?,
        status: row.get(5)?,
        talk_ms: row
            .get::<_, Option<i64>>(6)?
            .map(|v| u64::try_from(v).unwrap_or(0)),
    })
}

const AGENT_COLS: &str = "manager, kind, detail, started_at, ended_at";

fn agent_from_row(row: &Row<'_>) -> rusqlite::Result<AgentInterval> {
    Ok(AgentInterval {
        manager: row.get(0)?,
        kind: get_enum(row, 1, "a manager state", AgentStateKind::from_text)?,
        detail: row.get(2)?,
        started_at: get_ts(row, 3)?,
        ended_at: get_opt_ts(row, 4)?,
    })
}

impl SqliteStore {
    pub(super) fn q_save(&mut self, cb: &QueuedCallback) -> Result<(), StoreError> {
        self.exec(
            "save a queued callback",
            "INSERT INTO queued_callbacks (id, department, caller, number, dialled, source, \
               priority, queued_at, requested_at, attempts, not_before, status, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
             ON CONFLICT (id) DO UPDATE SET department = excluded.department, \
               caller = excluded.caller, number = excluded.number, dialled = excluded.dialled, \
               source = excluded.source, priority = excluded.priority, \
               queued_at = excluded.queued_at, requested_at = excluded.requested_at, \
               attempts = excluded.attempts, not_before = excluded.not_before, \
               status = excluded.status, updated_at = excluded.updated_at",
            params![
                cb.id,
                cb.department,
                cb.caller,
                cb.number,
                cb.dialled,
                cb.source,
                cb.priority,
                ms(cb.queued_at),
                ms(cb.requested_at),
                cb.attempts,
                opt_ms(cb.not_before),
                cb.status.as_str(),
                ms(cb.updated_at),
            ],
        )
        .map(|_| ())
    }

    pub(super) fn q_waiting(&self) -> Result<Vec<QueuedCallback>, StoreError> {
        let sql = format!(
            "SELECT {QUEUED_COLS} FROM queued_callbacks WHERE status IN ('waiting', 'dialing') \
             ORDER BY queued_at, id"
        );
        self.query_vec("list queued callbacks", &sql, &[], queued_from_row)
    }

    pub(super) fn q_get(&self, id: &str) -> Result<Option<QueuedCallback>, StoreError> {
        let sql = format!("SELECT {QUEUED_COLS} FROM queued_callbacks WHERE id = ?1");
        self.query_opt("read a queued callback", &sql, params![id], queued_from_row)
    }

    pub(super) fn q_for_request(&self, cb: i64) -> Result<Option<QueuedCallback>, StoreError> {
        let sql = format!(
            "SELECT {QUEUED_COLS} FROM queued_callbacks WHERE callback_id = ?1 \
             ORDER BY updated_at DESC LIMIT 1"
        );
        self.query_opt(
            "find a request's dial-back",
            &sql,
            params![cb],
            queued_from_row,
        )
    }

    pub(super) fn q_add_attempt(&mut self, a: &DialbackAttempt) -> Result<(), StoreError> {
        if self.q_get(&a.callback_id)?.is_none() {
            return Err(StoreError::QueuedCallbackNotFound {
                id: a.callback_id.clone(),
            });
        }
        let sql = format!(
            "INSERT INTO dialback_attempts ({ATTEMPT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        );
        self.exec(
            "save a dial-back attempt",
            &sql,
            params![
                a.callback_id,
                a.manager,
                ms(a.started_at),
                ms(a.ended_at),
                a.customer.as_str(),
                a.status,
                a.talk_ms.map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
            ],
        )
        .map(|_| ())
    }

    pub(super) fn q_attempts(&self, id: &str) -> Result<Vec<DialbackAttempt>, StoreError> {
        let sql = format!(
            "SELECT {ATTEMPT_COLS} FROM dialback_attempts WHERE callback_id = ?1 \
             ORDER BY started_at, id"
        );
        self.query_vec(
            "list dial-back attempts",
            &sql,
            params![id],
            attempt_from_row,
        )
    }

    pub(super) fn q_finish(
        &mut self,
        id: &str,
        status: DialbackStatus,
        at: Timestamp,
        request: Option<&NewCallback>,
    ) -> Result<Option<i64>, StoreError> {
        let filed = match request {
            Some(r) => Some(self.add_or_update_callback(r)?.0),
            None => None,
        };
        let n = self.exec(
            "finish a queued callback",
            "UPDATE queued_callbacks SET status = ?2, updated_at = ?3, \
               callback_id = COALESCE(?4, callback_id) WHERE id = ?1",
            params![id, status.as_str(), ms(at), filed],
        )?;
        if n == 0 {
            return Err(StoreError::QueuedCallbackNotFound { id: id.to_string() });
        }
        Ok(filed)
    }

    pub(super) fn q_save_agent(&mut self, i: &AgentInterval) -> Result<(), StoreError> {
        self.exec(
            "save a manager's state",
            "INSERT INTO agent_states (manager, kind, detail, started_at, ended_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (manager, kind, detail, started_at) DO UPDATE SET ended_at = excluded.ended_at",
            params![
                i.manager,
                i.kind.as_str(),
                i.detail,
                ms(i.started_at),
                opt_ms(i.ended_at)
            ],
        )
        .map(|_| ())
    }

    pub(super) fn q_agents_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<AgentInterval>, StoreError> {
        let sql = format!(
            "SELECT {AGENT_COLS} FROM agent_states WHERE started_at < ?2 \
             AND (ended_at IS NULL OR ended_at > ?1) ORDER BY started_at, manager, kind, detail"
        );
        self.query_vec(
            "list managers' states",
            &sql,
            params![ms(from), ms(to)],
            agent_from_row,
        )
    }

    pub(super) fn q_agents_open(&self) -> Result<Vec<AgentInterval>, StoreError> {
        let sql = format!(
            "SELECT {AGENT_COLS} FROM agent_states WHERE ended_at IS NULL \
             ORDER BY started_at, manager, kind, detail"
        );
        self.query_vec("list open managers' states", &sql, &[], agent_from_row)
    }
}
