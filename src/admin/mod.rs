//! The admin HTTP API (axum): call records, reports, the callback queue, recordings,
//! live calls, health and Prometheus metrics. Endpoint reference: `docs/admin.md`.
//!
//! Part of the I/O shell (it reads the clock for claim times and serves sockets); the
//! data comes through the [`StoreHandle`], so every query runs on the store thread and
//! no handler ever blocks the runtime on SQLite.
//!
//! # Security
//!
//! With `admin_token` set, every `/api/*` and `/metrics` request must carry
//! `Authorization: Bearer TOKEN` (401 otherwise); `/healthz` is always open. Without a
//! token the API is only allowed on a loopback address: [`serve`] (and [`bind`])
//! refuse anything else, because the API can claim callbacks and download recordings
//! of customers' voices. Without a token, requests must also name a loopback host
//! (or one of `[server] admin_hosts`) in `Host`, against DNS rebinding. Report and
//! call-list periods are bounded (`report_max_days`) and at most [`HEAVY_AT_ONCE`]
//! heavy requests run at once.

pub mod dashboard;
pub mod events;
mod handlers;
pub mod metrics;
pub mod queueing;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::tz::TimeZone;
use tokio::net::TcpListener;

use crate::config::DialPlan;
use crate::store::StoreHandle;

/// The live-calls snapshot, supplied by the driver (a JSON array).
pub type LiveFn = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// The alerts raised now (`[alerts]`), for the dashboard.
pub type AlertsFn = Arc<dyn Fn() -> Vec<crate::reports::alerts::Alert> + Send + Sync>;

/// Heavy requests (reports, call lists, the dashboard) served at once; more get 503.
pub const HEAVY_AT_ONCE: usize = 2;

/// What every handler can reach. Cheap to clone (all shared).
#[derive(Clone)]
pub struct AdminState {
    pub store: StoreHandle,
    /// Bearer token required on `/api/*` and `/metrics`; `None` (or empty) = no auth.
    pub token: Option<String>,
    /// Snapshot of the calls in progress for `GET /api/live`.
    pub live: LiveFn,
    /// Recordings are only served from inside this directory.
    pub data_dir: PathBuf,
    /// Zone for report days and `from`/`to` dates (the system zone by default).
    pub time_zone: TimeZone,
    /// Alerts raised now, shown on the dashboard.
    pub alerts: AlertsFn,
    /// Managers' presence and load for `GET /api/managers`.
    pub managers: LiveFn,
    /// The dial plan in force: manager and department names a client sends are checked
    /// against it (`None` in tests that have no plan: names are not checked).
    pub plan: Option<Arc<ArcSwap<DialPlan>>>,
    /// The longest report/call-list period one request may ask for, in days.
    pub max_days: u32,
    /// Host names accepted without a token besides loopback names (DNS rebinding).
    pub hosts: Arc<Vec<String>>,
    /// Permits for heavy requests (see [`HEAVY_AT_ONCE`]).
    pub heavy: Arc<tokio::sync::Semaphore>,
    /// Every queue and pending callback now (`GET /api/queues`).
    pub queues: LiveFn,
    /// Commands to the running router (managers' states, callbacks); `None` when the
    /// API runs without a router (tests of the store side).
    pub commands: Option<tokio::sync::mpsc::UnboundedSender<crate::io::queueing::AdminCommand>>,
    /// Call events as they happen, for `GET /api/events` (`None`: no stream).
    pub events: Option<tokio::sync::broadcast::Sender<Arc<crate::io::events::Published>>>,
    /// Permits for open event streams ([`events::MAX_STREAMS`]).
    pub streams: Arc<tokio::sync::Semaphore>,
    /// Whether the router is stopping (draining or hanging up): `/healthz` then
    /// answers 503, so a load balancer or monitor sees it going before it is gone.
    pub stopping: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl fmt::Debug for AdminState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminState")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl AdminState {
    /// No token, an empty live snapshot, the system time zone.
    #[must_use]
    pub fn new(store: StoreHandle, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            store,
            token: None,
            live: Arc::new(|| serde_json::Value::Array(Vec::new())),
            data_dir: data_dir.into(),
            time_zone: TimeZone::system(),
            alerts: Arc::new(Vec::new),
            managers: Arc::new(|| serde_json::Value::Array(Vec::new())),
            plan: None,
            max_days: 366,
            hosts: Arc::new(Vec::new()),
            heavy: Arc::new(tokio::sync::Semaphore::new(HEAVY_AT_ONCE)),
            stopping: Arc::new(|| false),
            queues: Arc::new(|| serde_json::json!({"departments": [], "callbacks": []})),
            commands: None,
            events: None,
            streams: events::streams(),
        }
    }

    /// The live queues (`GET /api/queues`, the dashboard).
    #[must_use]
    pub fn with_queues(mut self, queues: LiveFn) -> Self {
        self.queues = queues;
        self
    }

    /// Where managers' state changes and callback cancellations go.
    #[must_use]
    pub fn with_commands(
        mut self,
        tx: tokio::sync::mpsc::UnboundedSender<crate::io::queueing::AdminCommand>,
    ) -> Self {
        self.commands = Some(tx);
        self
    }

    /// The call events stream (`GET /api/events`).
    #[must_use]
    pub fn with_events(
        mut self,
        events: tokio::sync::broadcast::Sender<Arc<crate::io::events::Published>>,
    ) -> Self {
        self.events = Some(events);
        self
    }

    /// Whether the router is stopping (see [`AdminState::stopping`]).
    #[must_use]
    pub fn with_stopping(mut self, stopping: Arc<dyn Fn() -> bool + Send + Sync>) -> Self {
        self.stopping = stopping;
        self
    }

    /// `[server] report_max_days`.
    #[must_use]
    pub fn with_max_days(mut self, days: u32) -> Self {
        self.max_days = days.max(1);
        self
    }

    /// `[server] admin_hosts`.
    #[must_use]
    pub fn with_hosts(mut self, hosts: Vec<String>) -> Self {
        self.hosts = Arc::new(hosts);
        self
    }

    /// The dial plan in force: claims and completions only by its managers.
    #[must_use]
    pub fn with_plan(mut self, plan: Arc<ArcSwap<DialPlan>>) -> Self {
        self.plan = Some(plan);
        self
    }

    #[must_use]
    pub fn with_managers(mut self, managers: LiveFn) -> Self {
        self.managers = managers;
        self
    }

    #[must_use]
    pub fn with_alerts(mut self, alerts: AlertsFn) -> Self {
        self.alerts = alerts;
        self
    }

    #[must_use]
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    #[must_use]
    pub fn with_live(mut self, live: LiveFn) -> Self {
        self.live = live;
        self
    }

    #[must_use]
    pub fn with_time_zone(mut self, tz: TimeZone) -> Self {
        self.time_zone = tz;
        self
    }

    fn token(&self) -> Option<&str> {
        self.token.as_deref().filter(|t| !t.is_empty())
    }
}

/// Why the admin API could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "refusing to serve the admin API on {addr} without a token: it is not a loopback address; set admin_token in [server] or listen on 127.0.0.1"
    )]
    Unprotected { addr: SocketAddr },
    #[error("cannot listen for the admin API on {addr}: {source}; is another process using it?")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the admin API listener has no local address: {source}")]
    LocalAddr { source: std::io::Error },
    #[error("the admin API server failed: {source}")]
    Serve { source: std::io::Error },
}

/// Refuses a non-loopback listen address unless a (non-empty) token is configured.
pub fn check_exposure(addr: SocketAddr, token: Option<&str>) -> Result<(), AdminError> {
    if addr.ip().is_loopback() || token.is_some_and(|t| !t.is_empty()) {
        Ok(())
    } else {
        Err(AdminError::Unprotected { addr })
    }
}

/// Checks exposure and binds: the startup step, so a bad configuration fails at once.
pub async fn bind(addr: SocketAddr, token: Option<&str>) -> Result<TcpListener, AdminError> {
    check_exposure(addr, token)?;
    TcpListener::bind(addr)
        .await
        .map_err(|source| AdminError::Bind { addr, source })
}

/// The API's routes. `/healthz` is open; everything else passes the token check.
pub fn router(state: AdminState) -> Router {
    let protected = Router::new()
        .route("/api/calls", get(handlers::calls))
        .route("/api/reports", get(handlers::reports))
        .route("/api/callbacks", get(handlers::list_callbacks))
        .route("/api/callbacks/{id}", get(handlers::get_callback))
        .route("/api/callbacks/{id}/claim", post(handlers::claim))
        .route("/api/callbacks/{id}/done", post(handlers::done))
        .route("/api/callbacks/{id}/recording", get(handlers::recording))
        .route("/api/live", get(handlers::live))
        .route("/api/events", get(events::stream))
        .route(
            "/api/calls/{call_id}/recording",
            get(handlers::call_recording),
        )
        .route(
            "/api/managers",
            get(|State(s): State<AdminState>| async move { axum::Json((s.managers)()) }),
        )
        .route("/api/dashboard", get(dashboard::data))
        .route("/api/queues", get(queueing::queues))
        .route("/api/queue/callbacks/{id}/cancel", post(queueing::cancel))
        .route("/api/dialbacks/{id}", get(queueing::dialback))
        .route("/api/managers/{name}/pause", post(queueing::pause))
        .route("/api/managers/{name}/unpause", post(queueing::unpause))
        .route("/api/managers/{name}/dnd", post(queueing::dnd))
        .route("/api/managers/{name}/signin", post(queueing::signin))
        .route("/metrics", get(handlers::metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(healthz))
        // The dashboard page holds no data (its script fetches /api/dashboard).
        .merge(dashboard::pages())
        .merge(protected)
        .layer(middleware::from_fn_with_state(state.clone(), check_host))
        .with_state(state)
}

/// `ok`, or 503 `stopping` once a stop has begun (SIGTERM: new calls are refused).
async fn healthz(State(state): State<AdminState>) -> Response {
    if (state.stopping)() {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping\n").into_response()
    } else {
        "ok\n".into_response()
    }
}

/// Without a token, only requests addressed to a loopback name (or a configured
/// `admin_hosts` name) are served: a web page on this machine that rebinds its own
/// domain to 127.0.0.1 (DNS rebinding) sends its own name in `Host` and is refused.
async fn check_host(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    if state.token().is_some() {
        return next.run(req).await;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or("")
        .to_owned();
    if host_allowed(&host, &state.hosts) {
        return next.run(req).await;
    }
    (
        StatusCode::FORBIDDEN,
        axum::Json(serde_json::json!({
            "error": format!(
                "Host \"{host}\" is not a loopback name: set admin_token, or add the name to [server] admin_hosts"
            )
        })),
    )
        .into_response()
}

/// `localhost`, `*.localhost`, a loopback IP (v4 or `[::1]`), with or without a port,
/// or one of `extra` (case-insensitive).
#[must_use]
pub fn host_allowed(host: &str, extra: &[String]) -> bool {
    let host = host.trim();
    let name = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name)
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() {
        return false;
    }
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || extra.iter().any(|h| h.eq_ignore_ascii_case(&name))
}

/// Serves until the process ends. Fails at once (before accepting anything) when the
/// listener is not on loopback and no token is set.
pub async fn serve(listener: TcpListener, state: AdminState) -> Result<(), AdminError> {
    serve_with_shutdown(listener, state, std::future::pending()).await
}

/// [`serve`], stopping gracefully when `shutdown` completes.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AdminError> {
    let addr = listener
        .local_addr()
        .map_err(|source| AdminError::LocalAddr { source })?;
    check_exposure(addr, state.token())?;
    tracing::info!(%addr, auth = state.token().is_some(), "admin API listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| AdminError::Serve { source })
}

async fn require_token(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    let Some(token) = state.token() else {
        return next.run(req).await;
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => next.run(req).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({
                "error": "missing or wrong token: send Authorization: Bearer <admin_token>"
            })),
        )
            .into_response(),
    }
}

/// Compares without an early exit, so response time does not reveal how much of a
/// guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    switchboard_core::registrar::digest::constant_time_eq(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure_rules() {
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let lo6: SocketAddr = "[::1]:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(check_exposure(lo, None).is_ok());
        assert!(check_exposure(lo6, None).is_ok());
        assert!(check_exposure(any, Some("s3cret")).is_ok());
        let e = check_exposure(any, Some("")).unwrap_err();
        assert!(e.to_string().contains("set admin_token"), "{e}");
    }

    #[test]
    fn token_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
