//! Column conversions: rows to the store's types and back (timestamps as BIGINT unix
//! milliseconds, enums as their text, JSON columns), each failure naming its column.

use super::*;

pub(super) fn ms(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

pub(super) fn opt_ms(ts: Option<Timestamp>) -> Option<i64> {
    ts.map(Timestamp::as_millisecond)
}

pub(super) fn decode(column: &'static str, found: impl fmt::Display) -> StoreError {
    StoreError::Decode {
        column,
        found: found.to_string(),
    }
}

pub(super) fn get<'a, T: postgres::types::FromSql<'a>>(
    row: &'a Row,
    idx: usize,
    column: &'static str,
) -> Result<T, StoreError> {
    row.try_get(idx)
        .map_err(|source| StoreError::Postgres { op: column, source })
}

pub(super) fn get_ts(row: &Row, idx: usize, column: &'static str) -> Result<Timestamp, StoreError> {
    let v: i64 = get(row, idx, column)?;
    Timestamp::from_millisecond(v).map_err(|_| decode(column, v))
}

pub(super) fn get_opt_ts(
    row: &Row,
    idx: usize,
    column: &'static str,
) -> Result<Option<Timestamp>, StoreError> {
    let v: Option<i64> = get(row, idx, column)?;
    v.map(|v| Timestamp::from_millisecond(v).map_err(|_| decode(column, v)))
        .transpose()
}

pub(super) fn get_u32(row: &Row, idx: usize, column: &'static str) -> Result<u32, StoreError> {
    let v: i64 = get(row, idx, column)?;
    u32::try_from(v).map_err(|_| decode(column, v))
}

pub(super) fn get_json<T: DeserializeOwned>(
    row: &Row,
    idx: usize,
    column: &'static str,
) -> Result<T, StoreError> {
    let text: String = get(row, idx, column)?;
    serde_json::from_str(&text).map_err(|_| decode(column, text))
}

pub(super) fn get_enum<T>(
    row: &Row,
    idx: usize,
    column: &'static str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let text: String = get(row, idx, column)?;
    parse(&text).ok_or_else(|| decode(column, text))
}

pub(super) fn get_opt_enum<T>(
    row: &Row,
    idx: usize,
    column: &'static str,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, StoreError> {
    let text: Option<String> = get(row, idx, column)?;
    text.map(|text| parse(&text).ok_or_else(|| decode(column, text)))
        .transpose()
}

pub(super) fn to_json<T: serde::Serialize>(
    value: &T,
    what: &'static str,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Json { what, source })
}

// ---------------------------------------------------------------------------------------
// Row mappers, each beside its column list.

pub(super) const CALL_COLS: &str = "call_id, started_at, answered_at, ended_at, dialled, source, caller, \
    caller_name, menu_path, decision, reason, department, answered_by, outcome, hangup_side, \
    transfers, recording";

pub(super) fn call_from_row(row: &Row) -> Result<CallRecord, StoreError> {
    Ok(CallRecord {
        call_id: get(row, 0, "calls.call_id")?,
        started_at: get_ts(row, 1, "calls.started_at")?,
        answered_at: get_opt_ts(row, 2, "calls.answered_at")?,
        ended_at: get_opt_ts(row, 3, "calls.ended_at")?,
        dialled: get(row, 4, "calls.dialled")?,
        source: get(row, 5, "calls.source")?,
        caller: get(row, 6, "calls.caller")?,
        caller_name: get(row, 7, "calls.caller_name")?,
        menu_path: get_json(row, 8, "calls.menu_path")?,
        decision: get(row, 9, "calls.decision")?,
        reason: get(row, 10, "calls.reason")?,
        department: get(row, 11, "calls.department")?,
        answered_by: get(row, 12, "calls.answered_by")?,
        outcome: get_enum(row, 13, "calls.outcome", CallOutcome::from_text)?,
        hangup_side: get_opt_enum(row, 14, "calls.hangup_side", Side::from_text)?,
        transfers: get_json(row, 15, "calls.transfers")?,
        recording: get(row, 16, "calls.recording")?,
    })
}

pub(super) const RING_COLS: &str = "call_id, manager, started_at, ended_at, outcome";

pub(super) fn ring_from_row(row: &Row) -> Result<RingAttempt, StoreError> {
    Ok(RingAttempt {
        call_id: get(row, 0, "ring_attempts.call_id")?,
        manager: get(row, 1, "ring_attempts.manager")?,
        started_at: get_ts(row, 2, "ring_attempts.started_at")?,
        ended_at: get_ts(row, 3, "ring_attempts.ended_at")?,
        outcome: get_enum(row, 4, "ring_attempts.outcome", RingOutcome::from_text)?,
    })
}

pub(super) const CALLBACK_COLS: &str = "id, department, caller, dialled, source, created_at, updated_at, \
    menu_path, reason, recording_path, recording_secs, recording_flag, status, claimed_by, \
    claimed_at, done_by, done_at, outcome, call_count";

pub(super) fn callback_from_row(row: &Row) -> Result<CallbackRequest, StoreError> {
    Ok(CallbackRequest {
        id: get(row, 0, "callbacks.id")?,
        department: get(row, 1, "callbacks.department")?,
        caller: get(row, 2, "callbacks.caller")?,
        dialled: get(row, 3, "callbacks.dialled")?,
        source: get(row, 4, "callbacks.source")?,
        created_at: get_ts(row, 5, "callbacks.created_at")?,
        updated_at: get_ts(row, 6, "callbacks.updated_at")?,
        menu_path: get_json(row, 7, "callbacks.menu_path")?,
        reason: get_enum(row, 8, "callbacks.reason", CallbackReason::from_text)?,
        recording_path: get(row, 9, "callbacks.recording_path")?,
        recording_secs: get(row, 10, "callbacks.recording_secs")?,
        recording_flag: get(row, 11, "callbacks.recording_flag")?,
        status: get_enum(row, 12, "callbacks.status", CallbackStatus::from_text)?,
        claimed_by: get(row, 13, "callbacks.claimed_by")?,
        claimed_at: get_opt_ts(row, 14, "callbacks.claimed_at")?,
        done_by: get(row, 15, "callbacks.done_by")?,
        done_at: get_opt_ts(row, 16, "callbacks.done_at")?,
        outcome: get(row, 17, "callbacks.outcome")?,
        call_count: get_u32(row, 18, "callbacks.call_count")?,
    })
}

pub(super) const REGISTRATION_COLS: &str = "manager, contact_uri, source_addr, transport, registered_at, \
    expires_at, call_id, cseq, user_agent, path";

pub(super) fn registration_from_row(row: &Row) -> Result<Registration, StoreError> {
    let addr: String = get(row, 2, "registrations.source_addr")?;
    Ok(Registration {
        manager: get(row, 0, "registrations.manager")?,
        contact_uri: get(row, 1, "registrations.contact_uri")?,
        source_addr: addr
            .parse::<SocketAddr>()
            .map_err(|_| decode("registrations.source_addr", &addr))?,
        transport: get(row, 3, "registrations.transport")?,
        registered_at: get_ts(row, 4, "registrations.registered_at")?,
        expires_at: get_ts(row, 5, "registrations.expires_at")?,
        call_id: get(row, 6, "registrations.call_id")?,
        cseq: get_u32(row, 7, "registrations.cseq")?,
        user_agent: get(row, 8, "registrations.user_agent")?,
        path: get_json(row, 9, "registrations.path")?,
    })
}

pub(super) const WEBHOOK_COLS: &str = "id, payload_json, attempts, next_attempt_at, created_at";

pub(super) fn webhook_from_row(row: &Row) -> Result<WebhookEvent, StoreError> {
    Ok(WebhookEvent {
        id: get(row, 0, "webhook_outbox.id")?,
        payload_json: get(row, 1, "webhook_outbox.payload_json")?,
        attempts: get_u32(row, 2, "webhook_outbox.attempts")?,
        next_attempt_at: get_ts(row, 3, "webhook_outbox.next_attempt_at")?,
        created_at: get_ts(row, 4, "webhook_outbox.created_at")?,
    })
}

pub(super) fn limit_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
