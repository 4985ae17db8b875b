//! The virtual queue, dial-back attempts and managers' state intervals on PostgreSQL
//! (schema v6, `migrations::V6_QUEUE`): the twin of `sqlite/queueing.rs`, run by the
//! same conformance suite.

use jiff::Timestamp;
use postgres::Row;

use super::{PostgresStore, get, get_enum, get_opt_ts, get_ts, get_u32, ms, opt_ms};
use crate::store::model::{
    AgentInterval, AgentStateKind, CustomerOutcome, DialbackAttempt, DialbackStatus, NewCallback,
    QueuedCallback,
};
use crate::store::{Store, StoreError};

const QUEUED_COLS: &str = "id, department, caller, number, dialled, source, priority, queued_at, \
    requested_at, attempts, not_before, status, updated_at, callback_id";

fn queued_from_row(row: &Row) -> Result<QueuedCallback, StoreError> {
    let priority: i32 = get(row, 6, "queued_callbacks.priority")?;
    Ok(QueuedCallback {
        id: get(row, 0, "queued_callbacks.id")?,
        department: get(row, 1, "queued_callbacks.department")?,
        caller: get(row, 2, "queued_callbacks.caller")?,
        number: get(row, 3, "queued_callbacks.number")?,
        dialled: get(row, 4, "queued_callbacks.dialled")?,
        source: get(row, 5, "queued_callbacks.source")?,
        priority: u8::try_from(priority)
            .map_err(|_| super::decode("queued_callbacks.priority", priority))?,
        queued_at: get_ts(row, 7, "queued_callbacks.queued_at")?,
        requested_at: get_ts(row, 8, "queued_callbacks.requested_at")?,
        attempts: get_u32(row, 9, "queued_callbacks.attempts")?,
        not_before: get_opt_ts(row, 10, "queued_callbacks.not_before")?,
        status: get_enum(
            row,
            11,
            "queued_callbacks.status",
            DialbackStatus::from_text,
        )?,
        updated_at: get_ts(row, 12, "queued_callbacks.updated_at")?,
        callback_id: get(row, 13, "queued_callbacks.callback_id")?,
    })
}

const ATTEMPT_COLS: &str = "callback_id, manager, started_at, ended_at, customer, status, talk_ms";

fn attempt_from_row(row: &Row) -> Result<DialbackAttempt, StoreError> {
    let status: Option<i32> = get(row, 5, "dialback_attempts.status")?;
    let talk: Option<i64> = get(row, 6, "dialback_attempts.talk_ms")?;
    Ok(DialbackAttempt {
        callback_id: get(row, 0, "dialback_attempts.callback_id")?,
        manager: get(row, 1, "dialback_attempts.manager")?,
        started_at: get_ts(row, 2, "dialback_attempts.started_at")?,
        ended_at: get_ts(row, 3, "dialback_attempts.ended_at")?,
        customer: get_enum(
            row,
            4,
            "dialback_attempts.customer",
            CustomerOutcome::from_text,
        )?,
        status: status.and_then(|s| u16::try_from(s).ok()),
        talk_ms: talk.map(|v| u64::try_from(v).unwrap_or(0)),
    })
}

const AGENT_COLS: &str = "manager, kind, detail, started_at, ended_at";

fn agent_from_row(row: &Row) -> Result<AgentInterval, StoreError> {
    Ok(AgentInterval {
        manager: get(row, 0, "agent_states.manager")?,
        kind: get_enum(row, 1, "agent_states.kind", AgentStateKind::from_text)?,
        detail: get(row, 2, "agent_states.detail")?,
        started_at: get_ts(row, 3, "agent_states.started_at")?,
        ended_at: get_opt_ts(row, 4, "agent_states.ended_at")?,
    })
}

impl PostgresStore {
    pub(super) fn q_save(&mut self, cb: &QueuedCallback) -> Result<(), StoreError> {
        self.exec(
            "save a queued callback",
            "INSERT INTO queued_callbacks (id, department, caller, number, dialled, source, \
               priority, queued_at, requested_at, attempts, not_before, status, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (id) DO UPDATE SET department = EXCLUDED.department, \
               caller = EXCLUDED.caller, number = EXCLUDED.number, dialled = EXCLUDED.dialled, \
               source = EXCLUDED.source, priority = EXCLUDED.priority, \
               queued_at = EXCLUDED.queued_at, requested_at = EXCLUDED.requested_at, \
               attempts = EXCLUDED.attempts, not_before = EXCLUDED.not_before, \
               status = EXCLUDED.status, updated_at = EXCLUDED.updated_at",
            &[
                &cb.id,
                &cb.department,
                &cb.caller,
                &cb.number,
                &cb.dialled,
                &cb.source,
                &i32::from(cb.priority),
                &ms(cb.queued_at),
                &ms(cb.requested_at),
                &i64::from(cb.attempts),
                &opt_ms(cb.not_before),
                &cb.status.as_str(),
                &ms(cb.updated_at),
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
        let sql = format!("SELECT {QUEUED_COLS} FROM queued_callbacks WHERE id = $1");
        self.query_opt("read a queued callback", &sql, &[&id], queued_from_row)
    }

    pub(super) fn q_for_request(&self, cb: i64) -> Result<Option<QueuedCallback>, StoreError> {
        let sql = format!(
            "SELECT {QUEUED_COLS} FROM queued_callbacks WHERE callback_id = $1 \
             ORDER BY updated_at DESC LIMIT 1"
        );
        self.query_opt("find a request's dial-back", &sql, &[&cb], queued_from_row)
    }

    pub(super) fn q_add_attempt(&mut self, a: &DialbackAttempt) -> Result<(), StoreError> {
        if self.q_get(&a.callback_id)?.is_none() {
            return Err(StoreError::QueuedCallbackNotFound {
                id: a.callback_id.clone(),
            });
        }
        let sql = format!(
            "INSERT INTO dialback_attempts ({ATTEMPT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        );
        self.exec(
            "save a dial-back attempt",
            &sql,
            &[
                &a.callback_id,
                &a.manager,
                &ms(a.started_at),
                &ms(a.ended_at),
                &a.customer.as_str(),
                &a.status.map(i32::from),
                &a.talk_ms.map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
            ],
        )
        .map(|_| ())
    }

    pub(super) fn q_attempts(&self, id: &str) -> Result<Vec<DialbackAttempt>, StoreError> {
        let sql = format!(
            "SELECT {ATTEMPT_COLS} FROM dialback_attempts WHERE callback_id = $1 \
             ORDER BY started_at, id"
        );
        self.query_vec("list dial-back attempts", &sql, &[&id], attempt_from_row)
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
            "UPDATE queued_callbacks SET status = $2, updated_at = $3, \
               callback_id = COALESCE($4, callback_id) WHERE id = $1",
            &[&id, &status.as_str(), &ms(at), &filed],
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
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (manager, kind, detail, started_at) \
             DO UPDATE SET ended_at = EXCLUDED.ended_at",
            &[
                &i.manager,
                &i.kind.as_str(),
                &i.detail,
                &ms(i.started_at),
                &opt_ms(i.ended_at),
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
            "SELECT {AGENT_COLS} FROM agent_states WHERE started_at < $2 \
             AND (ended_at IS NULL OR ended_at > $1) ORDER BY started_at, manager, kind, detail"
        );
        self.query_vec(
            "list managers' states",
            &sql,
            &[&ms(from), &ms(to)],
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
