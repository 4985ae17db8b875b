//! The admin API of issue 13: managers' states (pause with a reason, unpause,
//! do-not-disturb, sign in/out of queues), the live queues, and the dial-back story of
//! a callback. State changes go to the core task as commands and answer once applied.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::endpoint::AgentCommand;
use crate::io::queueing::AdminCommand;
use crate::store::{DialbackAttempt, QueuedCallback, StoreError};

use super::AdminState;

fn err(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

/// Sends `cmd` to the core and waits for its answer.
async fn send(
    state: &AdminState,
    make: impl FnOnce(tokio::sync::oneshot::Sender<Result<(), String>>) -> AdminCommand,
) -> Result<(), Response> {
    let Some(tx) = &state.commands else {
        return Err(err(
            StatusCode::SERVICE_UNAVAILABLE,
            "the router is not running in this process",
        ));
    };
    let (reply, rx) = tokio::sync::oneshot::channel();
    tx.send(make(reply))
        .map_err(|_| err(StatusCode::SERVICE_UNAVAILABLE, "the router has stopped"))?;
    match rx.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(err(StatusCode::UNPROCESSABLE_ENTITY, e)),
        Err(_) => Err(err(
            StatusCode::SERVICE_UNAVAILABLE,
            "the router has stopped",
        )),
    }
}

#[derive(Debug, Deserialize)]
pub struct PauseBody {
    reason: String,
}

#[derive(Debug, Deserialize)]
pub struct OnBody {
    on: bool,
}

#[derive(Debug, Deserialize)]
pub struct SignInBody {
    /// `None`: every queue of theirs.
    department: Option<String>,
    on: bool,
}

async fn agent(state: &AdminState, manager: String, command: AgentCommand) -> Response {
    if let Some(plan) = &state.plan
        && let Err(e) = plan.load().known_manager(manager.trim())
    {
        return err(StatusCode::NOT_FOUND, e.to_string());
    }
    let manager = manager.trim().to_string();
    let name = manager.clone();
    match send(state, move |reply| AdminCommand::Agent {
        manager,
        command,
        reply,
    })
    .await
    {
        Ok(()) => {
            let all = (state.managers)();
            let me = all
                .as_array()
                .and_then(|a| a.iter().find(|m| m["name"] == name.as_str()).cloned())
                .unwrap_or(serde_json::Value::Null);
            Json(me).into_response()
        }
        Err(r) => r,
    }
}

/// `POST /api/managers/{name}/pause` `{"reason": "lunch"}`.
pub async fn pause(
    State(state): State<AdminState>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<PauseBody>, JsonRejection>,
) -> Response {
    let (Ok(Path(name)), Ok(Json(body))) = (name, body) else {
        return err(
            StatusCode::BAD_REQUEST,
            "send {\"reason\": \"lunch\"} to /api/managers/NAME/pause",
        );
    };
    agent(
        &state,
        name,
        AgentCommand::Pause {
            reason: body.reason,
        },
    )
    .await
}

/// `POST /api/managers/{name}/unpause`.
pub async fn unpause(
    State(state): State<AdminState>,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(name)) = name else {
        return err(StatusCode::BAD_REQUEST, "no manager name");
    };
    agent(&state, name, AgentCommand::Unpause).await
}

/// `POST /api/managers/{name}/dnd` `{"on": true}`.
pub async fn dnd(
    State(state): State<AdminState>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<OnBody>, JsonRejection>,
) -> Response {
    let (Ok(Path(name)), Ok(Json(body))) = (name, body) else {
        return err(
            StatusCode::BAD_REQUEST,
            "send {\"on\": true} or {\"on\": false}",
        );
    };
    agent(&state, name, AgentCommand::DoNotDisturb { on: body.on }).await
}

/// `POST /api/managers/{name}/signin` `{"department": "sales", "on": false}`.
pub async fn signin(
    State(state): State<AdminState>,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<SignInBody>, JsonRejection>,
) -> Response {
    let (Ok(Path(name)), Ok(Json(body))) = (name, body) else {
        return err(
            StatusCode::BAD_REQUEST,
            "send {\"department\": \"sales\", \"on\": true} (department null: every queue)",
        );
    };
    agent(
        &state,
        name,
        AgentCommand::SignIn {
            department: body.department.filter(|d| !d.trim().is_empty()),
            on: body.on,
        },
    )
    .await
}

/// `GET /api/queues`: every department's queue (who waits, for how long, at which
/// position, the estimate) and every pending callback.
pub async fn queues(State(state): State<AdminState>) -> Response {
    Json((state.queues)()).into_response()
}

/// `POST /api/queue/callbacks/{id}/cancel`: take a waiting callback out of its queue
/// (someone dealt with it by hand). A dial-back in progress is not cut off (409).
pub async fn cancel(
    State(state): State<AdminState>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(id)) = id else {
        return err(StatusCode::BAD_REQUEST, "no callback id");
    };
    match send(&state, move |reply| AdminCommand::CancelCallback {
        id,
        reply,
    })
    .await
    {
        Ok(()) => Json(serde_json::json!({ "cancelled": true })).into_response(),
        Err(r) => {
            // Not found / dialling: conflict rather than a bad entity.
            let (parts, body) = r.into_parts();
            let status = if parts.status == StatusCode::UNPROCESSABLE_ENTITY {
                StatusCode::CONFLICT
            } else {
                parts.status
            };
            (status, body).into_response()
        }
    }
}

/// A dial-back's whole story.
#[derive(Debug, serde::Serialize)]
pub struct DialbackStory {
    #[serde(flatten)]
    pub callback: QueuedCallback,
    pub attempts: Vec<DialbackAttempt>,
}

/// `GET /api/dialbacks/{id}`: a callback from the virtual queue with its attempts.
pub async fn dialback(
    State(state): State<AdminState>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(id)) = id else {
        return err(StatusCode::BAD_REQUEST, "no callback id");
    };
    let r = state
        .store
        .query_async(move |s| {
            let Some(callback) = s.get_queued_callback(&id)? else {
                return Ok(None);
            };
            let attempts = s.dialback_attempts(&id)?;
            Ok::<_, StoreError>(Some(DialbackStory { callback, attempts }))
        })
        .await;
    match r {
        Ok(Some(story)) => Json(story).into_response(),
        Ok(None) => err(StatusCode::NOT_FOUND, "no such dial-back"),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The dial-back that filed callback request `id`, with its attempts (for
/// `GET /api/callbacks/{id}`).
pub fn story_for_request(
    s: &dyn crate::store::Store,
    id: i64,
) -> Result<Option<DialbackStory>, StoreError> {
    let Some(callback) = s.queued_callback_for_request(id)? else {
        return Ok(None);
    };
    let attempts = s.dialback_attempts(&callback.id)?;
    Ok(Some(DialbackStory { callback, attempts }))
}
