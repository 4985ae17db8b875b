//! `GET /api/events`: call events as they happen, as Server-Sent Events (the same JSON
//! as the webhook's, docs/integrations.md), for dashboards and integrations that keep
//! a connection open instead of receiving webhooks.
//!
//! `?types=call.answered,call.ended` (or `call.*`) filters. Each SSE message has the
//! event type as `event:`, a process-wide increasing number as `id:` and the JSON as
//! `data:`; a comment keeps idle connections open. A client that falls more than
//! [`crate::io::events::STREAM_BUFFER`] events behind gets an `event: lagged` message
//! saying how many it missed. At most [`MAX_STREAMS`] streams are open at once (503
//! beyond), so listeners cannot pile up.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::AdminState;
use crate::config::server::selects;

/// Event streams open at once.
pub const MAX_STREAMS: usize = 16;

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// Comma-separated event types (`call.*`, `*` allowed); all when absent.
    types: Option<String>,
}

pub async fn stream(State(state): State<AdminState>, query: Query<StreamQuery>) -> Response {
    let Some(tx) = state.events.clone() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"error": "no event stream in this process"})),
        )
            .into_response();
    };
    let Ok(permit) = state.streams.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "error": format!("{MAX_STREAMS} event streams are open already; close one")
            })),
        )
            .into_response();
    };
    let types: Vec<String> = query
        .types
        .as_deref()
        .unwrap_or("*")
        .split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    let rx = tx.subscribe();
    // The permit lives as long as the stream (the client's connection).
    let events =
        futures_util::stream::unfold((rx, types, permit), |(mut rx, types, permit)| async move {
            loop {
                let event = match rx.recv().await {
                    Ok(p) if selects(&types, p.event) => Event::default()
                        .event(p.event)
                        .id(p.id.to_string())
                        .data(p.json.as_str()),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(n)) => Event::default()
                        .event("lagged")
                        .data(serde_json::json!({ "missed": n }).to_string()),
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok::<_, Infallible>(event), (rx, types, permit)));
            }
        });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// The semaphore limiting open streams.
pub fn streams() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS))
}
