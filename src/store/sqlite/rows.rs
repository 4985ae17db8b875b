//! Column conversions and row mappers: rows to the store's types and back
//! (timestamps as INTEGER unix milliseconds, enums as their text, JSON columns).

use super::*;

// ---------------------------------------------------------------------------------------
// Column conversions. Failures surface as rusqlite conversion errors naming the column,
// then as `StoreError::Sqlite { op }` naming the operation.

#[derive(Debug)]
pub(super) struct BadText {
    expected: &'static str,
    found: String,
}

impl fmt::Display for BadText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}, found {:?}", self.expected, self.found)
    }
}

impl StdError for BadText {}

pub(super) fn conv_err(
    idx: usize,
    ty: Type,
    err: impl Into<Box<dyn StdError + Send + Sync>>,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, err.into())
}

pub(super) fn ms(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

pub(super) fn opt_ms(ts: Option<Timestamp>) -> Option<i64> {
    ts.map(Timestamp::as_millisecond)
}

pub(super) fn get_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<Timestamp> {
    let v: i64 = row.get(idx)?;
    Timestamp::from_millisecond(v).map_err(|e| conv_err(idx, Type::Integer, e))
}

pub(super) fn get_opt_ts(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Timestamp>> {
    let v: Option<i64> = row.get(idx)?;
    v.map(|v| Timestamp::from_millisecond(v).map_err(|e| conv_err(idx, Type::Integer, e)))
        .transpose()
}

pub(super) fn get_json<T: DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| conv_err(idx, Type::Text, e))
}

pub(super) fn get_enum<T>(
    row: &Row<'_>,
    idx: usize,
    expected: &'static str,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    parse(&text).ok_or_else(|| {
        conv_err(
            idx,
            Type::Text,
            BadText {
                expected,
                found: text,
            },
        )
    })
}

pub(super) fn get_opt_enum<T>(
    row: &Row<'_>,
    idx: usize,
    expected: &'static str,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = row.get(idx)?;
    text.map(|text| {
        parse(&text).ok_or_else(|| {
            conv_err(
                idx,
                Type::Text,
                BadText {
                    expected,
                    found: text,
                },
            )
        })
    })
    .transpose()
}

pub(super) fn to_json<T: Serialize>(value: &T, what: &'static str) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Json { what, source })
}

pub(super) fn sql_err(op: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { op, source }
}

pub(super) fn limit_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------------
// Row mappers. Each column list and its mapper sit together so they cannot drift apart.

pub(super) const CALL_COLS: &str = "call_id, started_at, answered_at, ended_at, dialled, source, caller, \
    caller_name, menu_path, decision, reason, department, answered_by, outcome, hangup_side, \
    transfers, recording";

pub(super) fn call_from_row(row: &Row<'_>) -> rusqlite::Result<CallRecord> {
    Ok(CallRecord {
        call_id: row.get(0)?,
        started_at: get_ts(row, 1)?,
        answered_at: get_opt_ts(row, 2)?,
        ended_at: get_opt_ts(row, 3)?,
        dialled: row.get(4)?,
        source: row.get(5)?,
        caller: row.get(6)?,
        caller_name: row.get(7)?,
        menu_path: get_json(row, 8)?,
        decision: row.get(9)?,
        reason: row.get(10)?,
        department: row.get(11)?,
        answered_by: row.get(12)?,
        outcome: get_enum(row, 13, "a call outcome", CallOutcome::from_text)?,
        hangup_side: get_opt_enum(row, 14, "a hangup side", Side::from_text)?,
        transfers: get_json(row, 15)?,
        recording: row.get(16)?,
    })
}

pub(super) const RING_COLS: &str = "call_id, manager, started_at, ended_at, outcome";

pub(super) fn ring_from_row(row: &Row<'_>) -> rusqlite::Result<RingAttempt> {
    Ok(RingAttempt {
        call_id: row.get(0)?,
        manager: row.get(1)?,
        started_at: get_ts(row, 2)?,
        ended_at: get_ts(row, 3)?,
        outcome: get_enum(row, 4, "a ring outcome", RingOutcome::from_text)?,
    })
}

pub(super) const CALLBACK_COLS: &str = "id, department, caller, dialled, source, created_at, updated_at, \
    menu_path, reason, recording_path, recording_secs, recording_flag, status, claimed_by, \
    claimed_at, done_by, done_at, outcome, call_count";

pub(super) fn callback_from_row(row: &Row<'_>) -> rusqlite::Result<CallbackRequest> {
    Ok(CallbackRequest {
        id: row.get(0)?,
        department: row.get(1)?,
        caller: row.get(2)?,
        dialled: row.get(3)?,
        source: row.get(4)?,
        created_at: get_ts(row, 5)?,
        updated_at: get_ts(row, 6)?,
        menu_path: get_json(row, 7)?,
        reason: get_enum(row, 8, "a callback reason", CallbackReason::from_text)?,
        recording_path: row.get(9)?,
        recording_secs: row.get(10)?,
        recording_flag: row.get(11)?,
        status: get_enum(row, 12, "a callback status", CallbackStatus::from_text)?,
        claimed_by: row.get(13)?,
        claimed_at: get_opt_ts(row, 14)?,
        done_by: row.get(15)?,
        done_at: get_opt_ts(row, 16)?,
        outcome: row.get(17)?,
        call_count: row.get(18)?,
    })
}

pub(super) const REGISTRATION_COLS: &str = "manager, contact_uri, source_addr, transport, registered_at, \
    expires_at, call_id, cseq, user_agent, path";

pub(super) fn registration_from_row(row: &Row<'_>) -> rusqlite::Result<Registration> {
    let addr: String = row.get(2)?;
    Ok(Registration {
        manager: row.get(0)?,
        contact_uri: row.get(1)?,
        source_addr: addr
            .parse::<SocketAddr>()
            .map_err(|e| conv_err(2, Type::Text, e))?,
        transport: row.get(3)?,
        registered_at: get_ts(row, 4)?,
        expires_at: get_ts(row, 5)?,
        call_id: row.get(6)?,
        cseq: row.get(7)?,
        user_agent: row.get(8)?,
        path: get_json(row, 9)?,
    })
}

pub(super) const WEBHOOK_COLS: &str = "id, payload_json, attempts, next_attempt_at, created_at";

pub(super) fn webhook_from_row(row: &Row<'_>) -> rusqlite::Result<WebhookEvent> {
    Ok(WebhookEvent {
        id: row.get(0)?,
        payload_json: row.get(1)?,
        attempts: row.get(2)?,
        next_attempt_at: get_ts(row, 3)?,
        created_at: get_ts(row, 4)?,
    })
}
