//! The live dashboard: a page served at `/` (and `/dashboard`) plus one JSON endpoint,
//! `GET /api/dashboard`, that gives the page everything it shows in one request.
//!
//! The page (HTML, JS, CSS in `dashboard/`) is compiled into the binary with
//! `include_str!`: no CDN, no build step, nothing to install next to the router. It is
//! served **without** authentication because it contains no data; the data endpoint is
//! behind the same bearer-token check as the rest of `/api/*`. The script takes the
//! token from a `#token=` URL fragment (never sent to the server, so it stays out of
//! access logs and `Referer` headers) or from a form, keeps it in `sessionStorage`
//! and sends it as `Authorization: Bearer`. A strict Content-Security-Policy (no
//! inline script, only same-origin requests) limits what injected data could do, and
//! the script only ever writes data with `textContent`, since caller numbers and
//! names come off the wire.
//!
//! The figures are a pure function ([`build`]) of the same records the reports use
//! (calls, ring attempts, the callback queue) plus the driver's live snapshot, so the
//! dashboard and `GET /api/reports` can never disagree: today's [`Report`] is
//! [`reports::build`] over today's period.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::reports::{self, MissedCall, Period, PeriodError, Report, nearest_rank, zone_name};
use crate::store::{
    CallRecord, CallbackReason, CallbackRequest, CallbackStatus, RingAttempt, StoreError,
};

use super::AdminState;

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const STYLE_CSS: &str = include_str!("dashboard/style.css");

/// Only same-origin script, style and requests; `blob:` media for recordings fetched
/// with the token; no framing (the page can claim nothing, but it shows customer data).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self'; media-src 'self' blob:; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// How many days (today included) of missed calls not called back the page lists:
/// a call missed last night matters as much as one missed this morning.
pub const MISSED_DAYS: u8 = 7;

/// The open routes: the page and its two assets. Merged next to `/healthz`.
pub fn pages() -> Router<AdminState> {
    Router::new()
        .route("/", get(index))
        .route("/dashboard", get(index))
        .route("/dashboard/app.js", get(app_js))
        .route("/dashboard/style.css", get(style_css))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // A new binary may ship a new page: always revalidate.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style_css() -> Response {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

/// Everything the page shows. Durations are whole milliseconds (`*_ms`) or seconds
/// (`*_s`), like the rest of the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub generated_at: Timestamp,
    /// Today, in the server's report time zone.
    pub date: Date,
    pub time_zone: String,
    pub summary: Summary,
    /// Today's report: exactly `GET /api/reports?from=DATE&to=DATE`.
    pub report: Report,
    /// Local hours 0..=23 of today.
    pub hours: Vec<HourRow>,
    /// First day of [`Dashboard::missed_not_called_back`] (today − 6 days).
    pub missed_since: Date,
    /// Missed calls not called back over the last [`MISSED_DAYS`] days, oldest first
    /// (the report's definition, over that longer period).
    pub missed_not_called_back: Vec<MissedCall>,
    /// Open and claimed callback requests, oldest first.
    pub callbacks: Vec<QueueRow>,
    /// Calls in progress, oldest first.
    pub live: Vec<LiveCall>,
    /// Alerts raised now (`[alerts]` in the plan): overdue callbacks, managers missing
    /// calls.
    #[serde(default)]
    pub alerts: Vec<crate::reports::alerts::Alert>,
    /// Each department's queue now: who waits, how long, at which position.
    #[serde(default)]
    pub queues: Vec<crate::endpoint::QueueSnapshot>,
    /// Callers to be called back (waiting, being dialled, or parked for a retry).
    #[serde(default)]
    pub dialbacks: Vec<crate::store::QueuedCallback>,
    /// Managers' presence, load and state (`GET /api/managers`).
    #[serde(default)]
    pub managers: serde_json::Value,
    /// Today's recorded conversations (`record = true`), newest first, at most
    /// [`RECORDINGS_SHOWN`].
    #[serde(default)]
    pub recordings: Vec<RecordedCall>,
}

/// How many recorded conversations the page lists.
pub const RECORDINGS_SHOWN: usize = 20;

/// A recorded conversation, playable from the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedCall {
    pub call_id: String,
    pub started_at: Timestamp,
    pub caller: String,
    pub answered_by: Option<String>,
    pub department: Option<String>,
    /// `GET` this (with the token) for the WAV.
    pub url: String,
}

/// Today's totals as the page's tiles show them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub calls: u64,
    /// A manager picked up (including calls still being talked on), as in the report's
    /// per-day and per-manager figures.
    pub answered: u64,
    /// Served by the plan itself (announcements, a menu's goodbye): not abandoned.
    pub completed_in_ivr: u64,
    /// Routed to a department, nobody answered, no voicemail left.
    pub missed: u64,
    pub voicemail: u64,
    /// Abandoned in the menus plus abandoned while ringing.
    pub abandoned: u64,
    pub failed: u64,
    /// Calls in progress right now (the live snapshot).
    pub live: u64,
}

/// Calls that started in one local hour of today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourRow {
    pub hour: u8,
    pub calls: u64,
    pub answered: u64,
    /// Nearest-rank median of `answered_at - started_at` over the hour's answered calls.
    pub answer_ms_median: Option<u64>,
}

/// A pending callback request, with its age for sorting by urgency at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueRow {
    pub id: i64,
    pub department: String,
    pub caller: String,
    pub source: String,
    pub reason: CallbackReason,
    pub status: CallbackStatus,
    pub claimed_by: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// `now - created_at`, whole seconds (0 if the clock went back).
    pub age_s: u64,
    pub call_count: u32,
    /// A recording exists: fetch it from `/api/callbacks/{id}/recording`.
    pub has_recording: bool,
    pub recording_secs: Option<f64>,
    pub recording_flag: Option<String>,
}

/// Where a live call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveState {
    /// In the voice menus, no routing decision yet.
    Menu,
    /// Routed: managers' phones are ringing.
    Ringing,
    /// A manager picked up.
    Talking,
}

/// One call in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveCall {
    pub call_id: String,
    pub caller: String,
    pub caller_name: Option<String>,
    pub dialled: String,
    pub source: String,
    pub state: LiveState,
    pub department: Option<String>,
    /// Who is on the call (the manager who answered, or the last transfer target).
    pub manager: Option<String>,
    pub started_at: Timestamp,
    pub duration_s: u64,
}

impl LiveCall {
    #[must_use]
    pub fn from_record(rec: &CallRecord, now: Timestamp) -> Self {
        let state = if rec.answered_by.is_some() {
            LiveState::Talking
        } else if rec.decision.is_empty() {
            LiveState::Menu
        } else {
            LiveState::Ringing
        };
        // A transferred call is on whoever it was handed to last.
        let manager = rec
            .transfers
            .last()
            .map(|t| t.to.clone())
            .or_else(|| rec.answered_by.clone());
        Self {
            call_id: rec.call_id.clone(),
            caller: rec.caller.clone(),
            caller_name: rec.caller_name.clone(),
            dialled: rec.dialled.clone(),
            source: rec.source.clone(),
            state,
            department: rec.department.clone(),
            manager,
            started_at: rec.started_at,
            duration_s: secs_between(rec.started_at, now),
        }
    }
}

fn ms_between(from: Timestamp, to: Timestamp) -> u64 {
    u64::try_from(to.as_millisecond() - from.as_millisecond()).unwrap_or(0)
}

fn secs_between(from: Timestamp, to: Timestamp) -> u64 {
    ms_between(from, to) / 1000
}

/// Today and the first day of the missed-calls window, in `tz`.
pub fn periods(now: Timestamp, tz: &TimeZone) -> Result<(Period, Period), PeriodError> {
    let today = now.to_zoned_datetime(tz.clone()).date();
    let mut first = today;
    for _ in 1..MISSED_DAYS {
        first = first.yesterday().unwrap_or(first);
    }
    Ok((
        Period::dates(today, today, tz.clone())?,
        Period::dates(first, today, tz.clone())?,
    ))
}

/// Builds the dashboard, pure.
///
/// - `calls`, `rings`: at least everything that started in the missed-calls window
///   (`window`); pass calls up to `now`, as [`reports::generate`] does, so a missed
///   caller answered later is seen.
/// - `callbacks`: the whole queue (any status).
/// - `live`: the driver's snapshot of calls in progress.
#[must_use]
pub fn build(
    now: Timestamp,
    today: &Period,
    window: &Period,
    calls: &[CallRecord],
    rings: &[RingAttempt],
    callbacks: &[CallbackRequest],
    live: &[CallRecord],
) -> Dashboard {
    let report = reports::build(today, calls, rings, callbacks);
    let missed = reports::build(window, calls, rings, callbacks).missed_not_called_back;
    let t = &report.totals;
    let summary = Summary {
        calls: t.calls,
        answered: report.per_day.iter().map(|d| d.answered).sum(),
        completed_in_ivr: t.completed_in_ivr,
        missed: t.missed,
        voicemail: t.voicemail,
        abandoned: t.abandoned_in_ivr + t.abandoned_ringing,
        // A call cut off by a crash failed, as far as the caller is concerned.
        failed: t.failed + t.interrupted,
        live: live.len() as u64,
    };

    let mut per_hour: Vec<(u64, u64, Vec<u64>)> = vec![(0, 0, Vec::new()); 24];
    for call in calls.iter().filter(|c| today.contains(c.started_at)) {
        let hour = call
            .started_at
            .to_zoned_datetime(today.time_zone().clone())
            .hour();
        let Some(slot) = usize::try_from(hour).ok().and_then(|h| per_hour.get_mut(h)) else {
            continue;
        };
        slot.0 += 1;
        if call.answered_by.is_some() {
            slot.1 += 1;
            if let Some(at) = call.answered_at {
                slot.2.push(ms_between(call.started_at, at));
            }
        }
    }
    let hours = per_hour
        .into_iter()
        .zip(0u8..)
        .map(|((calls, answered, mut waits), hour)| {
            waits.sort_unstable();
            HourRow {
                hour,
                calls,
                answered,
                answer_ms_median: nearest_rank(&waits, 50),
            }
        })
        .collect();

    let mut queue: Vec<&CallbackRequest> = callbacks
        .iter()
        .filter(|cb| cb.status != CallbackStatus::Done)
        .collect();
    queue.sort_by_key(|cb| (cb.created_at, cb.id));
    let callbacks = queue
        .into_iter()
        .map(|cb| QueueRow {
            id: cb.id,
            department: cb.department.clone(),
            caller: cb.caller.clone(),
            source: cb.source.clone(),
            reason: cb.reason,
            status: cb.status,
            claimed_by: cb.claimed_by.clone(),
            created_at: cb.created_at,
            updated_at: cb.updated_at,
            age_s: secs_between(cb.created_at, now),
            call_count: cb.call_count,
            has_recording: cb.recording_path.is_some(),
            recording_secs: cb.recording_secs,
            recording_flag: cb.recording_flag.clone(),
        })
        .collect();

    let mut live: Vec<LiveCall> = live.iter().map(|r| LiveCall::from_record(r, now)).collect();
    live.sort_by_key(|c| c.started_at);

    let mut recorded: Vec<&CallRecord> = calls
        .iter()
        .filter(|c| today.contains(c.started_at) && c.recording.is_some() && c.ended_at.is_some())
        .collect();
    recorded.sort_by_key(|c| std::cmp::Reverse(c.started_at));
    let recordings = recorded
        .into_iter()
        .take(RECORDINGS_SHOWN)
        .map(|c| RecordedCall {
            call_id: c.call_id.clone(),
            started_at: c.started_at,
            caller: c.caller.clone(),
            answered_by: c.answered_by.clone(),
            department: c.department.clone(),
            url: format!("/api/calls/{}/recording", percent(&c.call_id)),
        })
        .collect();

    Dashboard {
        generated_at: now,
        date: today.from(),
        time_zone: zone_name(today.time_zone()),
        summary,
        report,
        hours,
        missed_since: window.from(),
        missed_not_called_back: missed,
        callbacks,
        live,
        alerts: Vec::new(),
        queues: Vec::new(),
        dialbacks: Vec::new(),
        managers: serde_json::Value::Null,
        recordings,
    }
}

/// A call id as one URL path segment (Call-IDs hold `@`, and may hold `/`).
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The driver's live snapshot as records; entries of another shape are skipped (the
/// snapshot is the driver's business, the page must not fail because of one).
fn live_records(snapshot: serde_json::Value) -> Vec<CallRecord> {
    match snapshot {
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        _ => Vec::new(),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// `GET /api/dashboard`: the page's data (behind the token like all of `/api/*`).
pub async fn data(State(state): State<AdminState>) -> Response {
    let Ok(_permit) = state.heavy.clone().try_acquire_owned() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many report requests at once; retry in a moment".into(),
        );
    };
    let now = Timestamp::now();
    let (today, window) = match periods(now, &state.time_zone) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let live = live_records((state.live)());
    let opts = match &state.plan {
        Some(p) => reports::queueing::ReportOptions::from_plan(&p.load()),
        None => reports::queueing::ReportOptions::default(),
    };
    let result = state
        .store
        .query_async(move |s| {
            let until = now.max(window.end());
            let calls = s.calls_between(window.start(), until)?;
            let rings = s.ring_attempts_between(window.start(), until)?;
            let callbacks = s.list_callbacks(None, None)?;
            let mut d = build(now, &today, &window, &calls, &rings, &callbacks, &live);
            // As `GET /api/reports` for today: managers' states and service level.
            let intervals = s.agent_intervals_between(today.start(), today.end())?;
            d.report.manager_states = reports::queueing::manager_states(&today, &intervals, now);
            d.report.service_level = reports::queueing::service_levels(&today, &calls, &opts);
            Ok::<_, StoreError>(d)
        })
        .await;
    match result {
        Ok(mut d) => {
            d.alerts = (state.alerts)();
            if let Ok(q) = serde_json::from_value::<crate::endpoint::Queues>((state.queues)()) {
                d.queues = q.departments;
                d.dialbacks = q.callbacks;
            }
            d.managers = (state.managers)();
            Json(d).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "dashboard: store query failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CallOutcome, Transfer};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn call(id: &str, start: &str, answered: Option<(&str, i64)>) -> CallRecord {
        let started_at = ts(start);
        CallRecord {
            call_id: id.into(),
            started_at,
            answered_at: answered.map(|(_, s)| {
                started_at
                    .checked_add(jiff::SignedDuration::from_secs(s))
                    .unwrap()
            }),
            ended_at: None,
            dialled: "5551000".into(),
            source: "google".into(),
            caller: "+391".into(),
            caller_name: None,
            menu_path: vec![],
            decision: String::new(),
            reason: String::new(),
            department: None,
            answered_by: answered.map(|(m, _)| m.into()),
            outcome: CallOutcome::InProgress,
            hangup_side: None,
            transfers: vec![],
            recording: None,
        }
    }

    #[test]
    fn live_state_and_manager() {
        let now = ts("2026-03-02T10:01:30Z");
        let mut c = call("a", "2026-03-02T10:00:00Z", None);
        assert_eq!(LiveCall::from_record(&c, now).state, LiveState::Menu);
        assert_eq!(LiveCall::from_record(&c, now).duration_s, 90);
        c.decision = "department:sales".into();
        assert_eq!(LiveCall::from_record(&c, now).state, LiveState::Ringing);
        c.answered_by = Some("andrew".into());
        let l = LiveCall::from_record(&c, now);
        assert_eq!(l.state, LiveState::Talking);
        assert_eq!(l.manager.as_deref(), Some("andrew"));
        c.transfers.push(Transfer {
            from: "andrew".into(),
            to: "elena".into(),
            at: now,
        });
        assert_eq!(
            LiveCall::from_record(&c, now).manager.as_deref(),
            Some("elena")
        );
    }

    #[test]
    fn hours_and_window_in_the_zone() {
        let tz = TimeZone::get("Europe/Rome").unwrap();
        // 23:30 UTC on 1 March is 00:30 on 2 March in Rome (UTC+1).
        let now = ts("2026-03-02T09:00:00Z");
        let (today, window) = periods(now, &tz).unwrap();
        assert_eq!(today.from(), jiff::civil::date(2026, 3, 2));
        assert_eq!(window.from(), jiff::civil::date(2026, 2, 24));
        let calls = [
            call("a", "2026-03-01T23:30:00Z", Some(("andrew", 10))),
            call("b", "2026-03-02T08:10:00Z", Some(("elena", 30))),
            call("c", "2026-03-02T08:20:00Z", Some(("elena", 20))),
            call("d", "2026-03-02T08:40:00Z", None),
            call("old", "2026-03-01T20:00:00Z", None),
        ];
        let d = build(now, &today, &window, &calls, &[], &[], &calls[1..2]);
        assert_eq!(d.hours.len(), 24);
        let h0 = &d.hours[0];
        assert_eq!(
            (h0.calls, h0.answered, h0.answer_ms_median),
            (1, 1, Some(10_000))
        );
        let h9 = &d.hours[9];
        assert_eq!(
            (h9.calls, h9.answered, h9.answer_ms_median),
            (3, 2, Some(20_000))
        );
        assert_eq!(d.summary.calls, 4);
        assert_eq!(d.summary.answered, 3);
        assert_eq!(d.summary.live, 1);
        assert_eq!(d.time_zone, "Europe/Rome");
        assert_eq!(d.live[0].state, LiveState::Talking);
    }

    #[test]
    fn odd_live_entries_are_skipped() {
        let good = serde_json::to_value(call("a", "2026-03-02T10:00:00Z", None)).unwrap();
        let v = serde_json::json!([{"call_id": "x", "state": "ringing"}, good]);
        let recs = live_records(v);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].call_id, "a");
        assert!(live_records(serde_json::json!({"not": "an array"})).is_empty());
    }
}
