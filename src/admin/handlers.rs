//! Request handlers. Errors are JSON `{"error": "..."}` with a status that says what
//! happened: 400 bad input, 403 recording outside the data directory, 404 no such
//! request or file, 409 lost a claim race / already closed, 500 store trouble.

use std::collections::HashMap;
use std::path::{Component, Path as FsPath, PathBuf};

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::reports::{self, Period, PeriodError};
use crate::store::{CallRecord, CallbackStatus, RingAttempt, StoreError};

use super::AdminState;

/// An API error: a status and a message for the operator.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::CallbackNotFound { id } => {
                Self::new(StatusCode::NOT_FOUND, format!("no such request: {id}"))
            }
            StoreError::AlreadyClaimed { by, .. } => {
                Self::new(StatusCode::CONFLICT, format!("already claimed by {by}"))
            }
            StoreError::AlreadyDone { by, .. } => Self::new(
                StatusCode::CONFLICT,
                format!("already done (closed by {by})"),
            ),
            other => {
                tracing::error!(error = %other, "admin API: store query failed");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
            }
        }
    }
}

impl From<PeriodError> for ApiError {
    fn from(e: PeriodError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, e.to_string())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, e.body_text())
    }
}

/// `/api/callbacks/abc`: the same JSON error shape as every other mistake.
impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{}; request ids are whole numbers, e.g. /api/callbacks/3",
                e.body_text()
            ),
        )
    }
}

impl From<crate::config::UnknownName> for ApiError {
    fn from(e: crate::config::UnknownName) -> Self {
        Self::new(StatusCode::BAD_REQUEST, e.to_string())
    }
}

/// Checks a name a client sent against the plan in force (when there is one).
fn check_name(
    state: &AdminState,
    check: impl FnOnce(&crate::config::DialPlan) -> Result<(), crate::config::UnknownName>,
) -> ApiResult<()> {
    match &state.plan {
        Some(plan) => Ok(check(&plan.load())?),
        None => Ok(()),
    }
}

/// A claim or completion by someone who is not a manager of the plan: a well-formed
/// request naming an entity that does not exist (422), with the closest name.
fn known_manager(state: &AdminState, manager: &str) -> ApiResult<()> {
    check_name(state, |p| p.known_manager(manager.trim()).map(|_| ()))
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.message))
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self::new(e.status(), e.body_text())
    }
}

type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, Deserialize)]
pub struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
    /// `?week=1` asks for the current week (also the default without from/to).
    week: Option<String>,
    /// IANA zone overriding the server's for this request.
    tz: Option<String>,
}

impl PeriodQuery {
    fn period(&self, state: &AdminState) -> ApiResult<Period> {
        let tz = match &self.tz {
            Some(name) => reports::time_zone(Some(name))?,
            None => state.time_zone.clone(),
        };
        let now = Timestamp::now();
        if self
            .week
            .as_deref()
            .is_some_and(|w| w != "0" && w != "false")
        {
            if self.from.is_some() || self.to.is_some() {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "give either week=1 or from=&to=, not both",
                ));
            }
            return Ok(Period::week_of(now, tz)?);
        }
        let period = Period::from_args(self.from.as_deref(), self.to.as_deref(), now, tz)?;
        let days = period.end().duration_since(period.start()).as_hours() / 24;
        if days > i64::from(state.max_days) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "the period covers {days} days; at most {} per request ([server] report_max_days): ask for it in parts",
                    state.max_days
                ),
            ));
        }
        Ok(period)
    }
}

/// A permit for a heavy request, or 503 when [`super::HEAVY_AT_ONCE`] are running:
/// eight year-long reports at once once took 1.6 GB and delayed SIP answers.
fn heavy_permit(state: &AdminState) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
    state.heavy.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many report requests at once; retry in a moment",
        )
    })
}

/// A call record with its ring attempts.
#[derive(Debug, Serialize)]
pub struct CallWithRings {
    #[serde(flatten)]
    call: CallRecord,
    rings: Vec<RingAttempt>,
}

/// `GET /api/calls?from=DATE&to=DATE` (default: this week): calls that started in the
/// period, oldest first, each with its ring attempts.
pub async fn calls(
    State(state): State<AdminState>,
    query: Result<Query<PeriodQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<CallWithRings>>> {
    let Query(query) = query?;
    let period = query.period(&state)?;
    let _permit = heavy_permit(&state)?;
    let (start, end) = (period.start(), period.end());
    let out = state
        .store
        .query_async(move |s| {
            let calls = s.calls_between(start, end)?;
            // Ringing can run past the end of the last day.
            let ring_end = end
                .checked_add(jiff::SignedDuration::from_hours(24))
                .unwrap_or(end);
            let mut rings: HashMap<String, Vec<RingAttempt>> = HashMap::new();
            for r in s.ring_attempts_between(start, ring_end)? {
                rings.entry(r.call_id.clone()).or_default().push(r);
            }
            Ok(calls
                .into_iter()
                .map(|call| CallWithRings {
                    rings: rings.remove(&call.call_id).unwrap_or_default(),
                    call,
                })
                .collect())
        })
        .await?;
    Ok(Json(out))
}

/// `GET /api/reports?week=1` or `?from=&to=`: the report JSON of `switchboard report`.
pub async fn reports(
    State(state): State<AdminState>,
    query: Result<Query<PeriodQuery>, QueryRejection>,
) -> ApiResult<Json<reports::Report>> {
    let Query(query) = query?;
    let period = query.period(&state)?;
    let _permit = heavy_permit(&state)?;
    let now = Timestamp::now();
    let opts = match &state.plan {
        Some(p) => reports::queueing::ReportOptions::from_plan(&p.load()),
        None => reports::queueing::ReportOptions::default(),
    };
    let report = state
        .store
        .query_async(move |s| reports::generate_with(s, &period, now, &opts))
        .await?;
    Ok(Json(report))
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    department: Option<String>,
    status: Option<String>,
}

/// `GET /api/callbacks?department=&status=`: the queue, oldest first.
pub async fn list_callbacks(
    State(state): State<AdminState>,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = query?;
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(CallbackStatus::from_text(s).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("unknown status \"{s}\"; use open, claimed or done"),
            )
        })?),
    };
    let department = q.department.filter(|d| !d.is_empty());
    if let Some(d) = &department {
        check_name(&state, |p| p.known_department(d).map(|_| ()))?;
    }
    let list = state.store.list_callbacks(department, status).await?;
    Ok(Json(list).into_response())
}

/// `GET /api/callbacks/{id}`.
pub async fn get_callback(
    State(state): State<AdminState>,
    id: Result<Path<i64>, PathRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let found = state
        .store
        .query_async(move |s| {
            let Some(cb) = s.get_callback(id)? else {
                return Ok(None);
            };
            let dialback = super::queueing::story_for_request(s, id)?;
            Ok::<_, StoreError>(Some((cb, dialback)))
        })
        .await?;
    match found {
        // The request with its dial-back attempts, when a dial-back gave up and filed it.
        Some((cb, dialback)) => {
            let mut v = serde_json::to_value(cb).unwrap_or_default();
            if let (Some(obj), Some(story)) = (v.as_object_mut(), dialback) {
                obj.insert(
                    "dialback".into(),
                    serde_json::to_value(story).unwrap_or_default(),
                );
            }
            Ok(Json(v).into_response())
        }
        None => Err(StoreError::CallbackNotFound { id }.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct ClaimBody {
    manager: String,
}

#[derive(Debug, Deserialize)]
pub struct DoneBody {
    manager: String,
    outcome: String,
}

fn non_empty(field: &str, value: &str) -> ApiResult<()> {
    if value.trim().is_empty() {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("\"{field}\" must not be empty"),
        ))
    } else {
        Ok(())
    }
}

/// `POST /api/callbacks/{id}/claim` `{"manager": "andrew"}`: 200 with the request,
/// 409 when someone else got it first, 404 when there is no such request.
pub async fn claim(
    State(state): State<AdminState>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<ClaimBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let Json(body) = body?;
    non_empty("manager", &body.manager)?;
    known_manager(&state, &body.manager)?;
    let cb = state
        .store
        .claim_callback(id, body.manager.trim().to_owned(), Timestamp::now())
        .await?;
    Ok(Json(cb).into_response())
}

/// `POST /api/callbacks/{id}/done` `{"manager": "andrew", "outcome": "reached"}`.
pub async fn done(
    State(state): State<AdminState>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<DoneBody>, JsonRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let Json(body) = body?;
    non_empty("manager", &body.manager)?;
    known_manager(&state, &body.manager)?;
    non_empty("outcome", &body.outcome)?;
    let cb = state
        .store
        .complete_callback(
            id,
            body.manager.trim().to_owned(),
            body.outcome,
            Timestamp::now(),
        )
        .await?;
    Ok(Json(cb).into_response())
}

/// Resolves a stored recording path against the data directory, refusing anything
/// that ends up outside it (`..` components, absolute paths elsewhere, symlinks out).
async fn resolve_recording(data_dir: &FsPath, stored: &str) -> ApiResult<PathBuf> {
    let forbidden = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "the recording path is outside the data directory; refusing to serve it",
        )
    };
    let rel = FsPath::new(stored);
    if rel.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(forbidden());
    }
    let full = if rel.is_absolute() {
        rel.to_path_buf()
    } else {
        data_dir.join(rel)
    };
    let base = tokio::fs::canonicalize(data_dir).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "the data directory {} is unreadable: {e}",
                data_dir.display()
            ),
        )
    })?;
    let real = tokio::fs::canonicalize(&full)
        .await
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "the recording file is missing"))?;
    if real.starts_with(&base) {
        Ok(real)
    } else {
        Err(forbidden())
    }
}

/// `GET /api/callbacks/{id}/recording`: the WAV file as a download.
pub async fn recording(
    State(state): State<AdminState>,
    id: Result<Path<i64>, PathRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let cb = state
        .store
        .get_callback(id)
        .await?
        .ok_or(StoreError::CallbackNotFound { id })?;
    let stored = cb.recording_path.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("request {id} has no recording"),
        )
    })?;
    let path = resolve_recording(&state.data_dir, &stored).await?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("cannot read the recording: {e}"),
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"callback-{id}.wav\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /api/calls/{call_id}/recording`: a call's conversation recording
/// (`record = true`) as a WAV download (`?inline=1` to play it in a browser).
pub async fn call_recording(
    State(state): State<AdminState>,
    call_id: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Response> {
    let Path(call_id) = call_id?;
    let Query(query) = query?;
    let id = call_id.clone();
    let call = state
        .store
        .query_async(move |s| s.get_call(&id))
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no call {call_id}")))?;
    let stored = call.recording.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "this call was not recorded (record = true on its number or department)",
        )
    })?;
    let path = resolve_recording(&state.data_dir, &stored).await?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("cannot read the recording: {e}"),
        )
    })?;
    let disposition = if query.get("inline").is_some_and(|v| v != "0") {
        "inline".to_owned()
    } else {
        let safe: String = call
            .call_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(60)
            .collect();
        format!("attachment; filename=\"call-{safe}.wav\"")
    };
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /api/live`: the driver's snapshot of calls in progress.
pub async fn live(State(state): State<AdminState>) -> Json<serde_json::Value> {
    Json((state.live)())
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        super::metrics::render(),
    )
        .into_response()
}
