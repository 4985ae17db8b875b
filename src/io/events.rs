//! Call events for the outside world: the core's typed [`CallEvent`]s as the JSON
//! documented in docs/integrations.md, for the webhook outbox (`webhook_events`) and
//! the admin API's Server-Sent Events stream (`GET /api/events`).
//!
//! Pure apart from the broadcast channel: [`Publisher::handle`] takes one event (and
//! the call's record as the driver's `Recorder` just updated it) and returns the JSON
//! events it makes, in order. Every event names the call (`call_id`, the SIP Call-ID of
//! the caller's leg, which is also the call record's id) and numbers it within the call
//! (`seq` from 1), so a receiver can stitch a call's events together and order them
//! even when a webhook retry delivers one late.
//!
//! Some event types are derived rather than one-to-one: `call.routed` is where the
//! call was sent (a department, a manager, a mailbox) with the routing reason and what
//! the CRM said; `call.left_queue` is inferred from what follows `call.queued` (rung,
//! timed out, hung up).

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::call::{CallEvent, CallKey, EndCause, LookupFailure};
use crate::model::{CallRecord, CrmAnswer};
use crate::routing::OverflowCause;

/// `json!` when the events' documents are wanted, `Null` (no allocation) when not.
macro_rules! body {
    ($bodies:expr, $($json:tt)+) => {
        if $bodies { json!($($json)+) } else { Value::Null }
    };
}

/// One event ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// Process-wide, increasing: the SSE `id`.
    pub id: u64,
    /// The event type (`call.answered`).
    pub event: &'static str,
    /// The JSON body.
    pub json: String,
}

/// What a receiver needs to know about a call between its events.
#[derive(Debug, Default)]
struct CallState {
    call_id: String,
    seq: u64,
    /// Waiting in a department's queue (`Some(department)`) or for one manager.
    waiting: Option<Waiting>,
    crm: Option<Value>,
    /// The call ended but its recording is still being closed.
    ended: bool,
    recording: bool,
}

#[derive(Debug, Clone)]
enum Waiting {
    Queue(String),
    Manager(String),
}

/// Turns call events into published JSON events and broadcasts them.
#[derive(Debug)]
pub struct Publisher {
    calls: HashMap<CallKey, CallState>,
    next_id: u64,
    tx: broadcast::Sender<Arc<Published>>,
}

/// How many events a slow SSE client may fall behind before it misses some (it is
/// told with a `lagged` event).
pub const STREAM_BUFFER: usize = 1024;

impl Default for Publisher {
    fn default() -> Self {
        Self::new()
    }
}

impl Publisher {
    pub fn new() -> Publisher {
        Publisher {
            calls: HashMap::new(),
            next_id: 0,
            tx: broadcast::channel(STREAM_BUFFER).0,
        }
    }

    /// The live stream (for the admin API).
    pub fn stream(&self) -> broadcast::Sender<Arc<Published>> {
        self.tx.clone()
    }

    /// Calls being followed (a leak check).
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Whether anyone reads the events' JSON now: an SSE client of `GET /api/events`.
    /// (Webhooks are the driver's to know.) Without readers the core still gets each
    /// event's type, for the metrics, but no document is built: at 1,000 calls/s the
    /// JSON was 7 % of the signalling thread's time (issue 16).
    pub fn listening(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// The JSON events `ev` makes (also broadcast to the stream's listeners). With
    /// `bodies` false (nobody reads them, see [`Self::listening`]) each event comes back
    /// with an empty `json` and nothing is broadcast; the per-call state (sequence
    /// numbers, queue, CRM answer) is kept all the same, so a reader who arrives
    /// mid-call sees it numbered right.
    pub fn handle(
        &mut self,
        wall: Timestamp,
        ev: &CallEvent,
        rec: Option<&CallRecord>,
        bodies: bool,
    ) -> Vec<Arc<Published>> {
        let key = ev.key();
        if let CallEvent::Started { info, .. } = ev {
            self.calls.insert(
                key,
                CallState {
                    call_id: info.call_id.clone(),
                    ..CallState::default()
                },
            );
        }
        let Some(state) = self.calls.get_mut(&key) else {
            return Vec::new();
        };
        let mut made: Vec<(&'static str, Value)> = Vec::new();
        let left = |made: &mut Vec<(&'static str, Value)>, w: Waiting, reason: &str| {
            let (department, manager) = match w {
                Waiting::Queue(d) => (Some(d), None),
                Waiting::Manager(m) => (None, Some(m)),
            };
            made.push((
                "call.left_queue",
                body!(bodies, {"department": department, "manager": manager, "reason": reason}),
            ));
        };
        match ev {
            CallEvent::Started { info, .. } => made.push((
                "call.started",
                body!(bodies, {
                    "caller": info.caller,
                    "caller_name": info.caller_name,
                    "dialled": info.dialled,
                    "source": rec.map(|r| r.source.as_str()).unwrap_or_default(),
                    "started_at": info.started_at,
                }),
            )),
            CallEvent::LookedUp {
                answer, failure, ..
            } => {
                state.crm = Some(crm_json(answer.as_ref(), *failure));
            }
            CallEvent::Connecting {
                target, department, ..
            } => made.push((
                "call.routed",
                body!(bodies, {
                    "target": target,
                    "department": department,
                    "reason": rec.map(|r| r.reason.as_str()).unwrap_or_default(),
                    "crm": state.crm,
                }),
            )),
            CallEvent::Voicemail { mailbox, .. } => made.push((
                "call.routed",
                body!(bodies, {
                    "target": format!("voicemail:{mailbox}"),
                    "department": rec.and_then(|r| r.department.as_deref()),
                    "reason": rec.map(|r| r.reason.as_str()).unwrap_or_default(),
                    "crm": state.crm,
                }),
            )),
            CallEvent::Queued {
                department,
                position,
                ..
            } => {
                state.waiting = Some(Waiting::Queue(department.clone()));
                made.push((
                    "call.queued",
                    body!(bodies, {"department": department, "position": position, "manager": null}),
                ));
            }
            CallEvent::CallbackQueued {
                department, number, ..
            } => {
                // The caller hangs up keeping their place: they leave the live queue as
                // a caller and a dial-back takes over (issue 13).
                if let Some(w) = state.waiting.take() {
                    left(&mut made, w, "callback");
                }
                made.push((
                    "call.callback_queued",
                    body!(bodies, {"department": department, "number": number}),
                ));
            }
            CallEvent::WaitingFor { manager, .. } => {
                state.waiting = Some(Waiting::Manager(manager.clone()));
                made.push((
                    "call.queued",
                    body!(bodies, {"department": null, "position": null, "manager": manager}),
                ));
            }
            CallEvent::Ringing {
                manager,
                department,
                ..
            } => {
                if let Some(w) = state.waiting.take() {
                    left(&mut made, w, "offered");
                }
                made.push((
                    "call.ringing",
                    body!(bodies, {"manager": manager, "department": department}),
                ));
            }
            CallEvent::RingEnded {
                manager, outcome, ..
            } => made.push((
                "call.ring_ended",
                body!(bodies, {"manager": manager, "outcome": outcome}),
            )),
            CallEvent::Decision { reason, .. } => {
                if let Some(w) = state.waiting.take() {
                    let why = match reason.overflow() {
                        Some(OverflowCause::QueueTimeout) => "timeout",
                        _ => "moved_on",
                    };
                    left(&mut made, w, why);
                }
            }
            CallEvent::Connected { manager, .. } => made.push((
                "call.answered",
                body!(bodies, {
                    "manager": manager,
                    "department": rec.and_then(|r| r.department.as_deref()),
                    "answered_at": rec.and_then(|r| r.answered_at),
                }),
            )),
            CallEvent::Transferred { from, to, .. } => {
                made.push(("call.transferred", body!(bodies, {"from": from, "to": to})))
            }
            CallEvent::RecordingStarted { .. } => state.recording = true,
            CallEvent::Recorded {
                path,
                duration,
                error,
                ..
            } => {
                state.recording = false;
                made.push((
                    "call.recorded",
                    body!(bodies, {
                        "recording": path.display().to_string(),
                        "duration_secs": duration.as_secs_f64(),
                        "error": error,
                    }),
                ));
            }
            CallEvent::Ended {
                cause,
                duration,
                outcome,
                ..
            } => {
                if let Some(w) = state.waiting.take() {
                    left(&mut made, w, "hung_up");
                }
                state.ended = true;
                made.push((
                    "call.ended",
                    body!(bodies, {
                        "cause": cause_name(cause),
                        "cause_text": cause.to_string(),
                        "outcome": outcome.outcome,
                        "hangup_side": outcome.side,
                        "callback": outcome.callback,
                        "duration_secs": duration.as_secs_f64(),
                        "record": rec,
                    }),
                ));
            }
            CallEvent::Answered { .. }
            | CallEvent::MenuEntered { .. }
            | CallEvent::MenuChoice { .. } => {}
        }
        let call_id = state.call_id.clone();
        let mut out = Vec::with_capacity(made.len());
        for (event, mut body) in made {
            state.seq += 1;
            if !bodies {
                // Nobody reads the JSON: count the event, skip the document.
                self.next_id += 1;
                out.push(Arc::new(Published {
                    id: self.next_id,
                    event,
                    json: String::new(),
                }));
                continue;
            }
            if let Value::Object(map) = &mut body {
                let mut env = serde_json::Map::new();
                env.insert("event".into(), json!(event));
                env.insert("call_id".into(), json!(call_id));
                env.insert("seq".into(), json!(state.seq));
                env.insert("at".into(), json!(wall));
                env.append(map);
                body = Value::Object(env);
            }
            self.next_id += 1;
            let p = Arc::new(Published {
                id: self.next_id,
                event,
                json: body.to_string(),
            });
            // Nobody listening is fine.
            let _ = self.tx.send(p.clone());
            out.push(p);
        }
        if state.ended && !state.recording {
            self.calls.remove(&key);
        }
        out
    }
}

/// The CRM's answer as events show it.
fn crm_json(answer: Option<&CrmAnswer>, failure: Option<LookupFailure>) -> Value {
    json!({
        "answer": answer,
        "failure": failure.map(LookupFailure::as_str),
    })
}

/// The stable name of why a call ended.
pub fn cause_name(cause: &EndCause) -> &'static str {
    match cause {
        EndCause::CallerHungUp => "caller_hung_up",
        EndCause::CallerCancelled => "caller_cancelled",
        EndCause::ManagerHungUp => "manager_hung_up",
        EndCause::PlanEnded(_) => "plan_ended",
        EndCause::RtpTimeout => "rtp_timeout",
        EndCause::NoAck => "no_ack",
        EndCause::SessionExpired => "session_expired",
        EndCause::Rejected(_) => "rejected",
        EndCause::MediaFailed(_) => "media_failed",
        EndCause::Stopped => "stopped",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::call::{CallInfo, Outcome};
    use crate::model::{CallOutcome, RingOutcome, Side};
    use crate::routing::{Reason, Why};

    fn events(p: &mut Publisher, evs: &[CallEvent]) -> Vec<Value> {
        let wall: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        evs.iter()
            .flat_map(|e| p.handle(wall, e, None, true))
            .map(|p| serde_json::from_str(&p.json).unwrap())
            .collect()
    }

    /// A call from "1" to "2" that started at the epoch.
    fn short_call(call_id: &str) -> CallInfo {
        CallInfo {
            call_id: call_id.into(),
            caller: "1".into(),
            caller_name: None,
            dialled: "2".into(),
            started_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_queued_call_leaves_the_queue_when_rung_and_ends() {
        let key = CallKey(1);
        let info = CallInfo {
            call_id: "abc@trunk".into(),
            caller: "+15551234".into(),
            caller_name: None,
            dialled: "2000".into(),
            started_at: "2026-11-23T10:00:00Z".parse().unwrap(),
        };
        let mut p = Publisher::new();
        let mut rx = p.stream().subscribe();
        let got = events(
            &mut p,
            &[
                CallEvent::Started { key, info },
                CallEvent::Answered { key },
                CallEvent::Connecting {
                    key,
                    target: "department:sales".into(),
                    department: Some("sales".into()),
                },
                CallEvent::Queued {
                    key,
                    department: "sales".into(),
                    position: 1,
                },
                CallEvent::Ringing {
                    key,
                    manager: "andrew".into(),
                    department: Some("sales".into()),
                },
                CallEvent::RingEnded {
                    key,
                    manager: "andrew".into(),
                    outcome: RingOutcome::Answered,
                },
                CallEvent::Connected {
                    key,
                    manager: "andrew".into(),
                },
                CallEvent::Ended {
                    key,
                    cause: EndCause::CallerHungUp,
                    duration: Duration::from_secs(30),
                    outcome: Outcome {
                        outcome: CallOutcome::Answered,
                        side: Side::Caller,
                        callback: None,
                    },
                },
            ],
        );
        let names: Vec<&str> = got.iter().map(|v| v["event"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "call.started",
                "call.routed",
                "call.queued",
                "call.left_queue",
                "call.ringing",
                "call.ring_ended",
                "call.answered",
                "call.ended"
            ]
        );
        assert!(got.iter().all(|v| v["call_id"] == "abc@trunk"));
        let seqs: Vec<u64> = got.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
        assert_eq!(got[3]["reason"], "offered");
        assert_eq!(got[7]["cause"], "caller_hung_up");
        assert_eq!(got[7]["outcome"], "answered");
        assert!(p.is_empty(), "the call is forgotten once it ended");
        assert_eq!(rx.try_recv().unwrap().event, "call.started");
    }

    #[test]
    fn a_queue_timeout_is_told_apart_from_moving_on() {
        let key = CallKey(2);
        let info = short_call("q");
        let mut p = Publisher::new();
        let timeout = Reason::one(Why::QueueTimedOut {
            department: "sales".into(),
            secs: 60,
            action: crate::config::Action::Hangup,
        });
        let got = events(
            &mut p,
            &[
                CallEvent::Started { key, info },
                CallEvent::Queued {
                    key,
                    department: "sales".into(),
                    position: 2,
                },
                CallEvent::Decision {
                    key,
                    reason: timeout,
                },
            ],
        );
        assert_eq!(got[2]["event"], "call.left_queue");
        assert_eq!(got[2]["reason"], "timeout");
        assert_eq!(got[2]["department"], "sales");
    }

    /// With nobody reading, the events are still typed and counted but no JSON is
    /// built; a reader who arrives mid-call gets the call's events numbered on.
    #[test]
    fn without_readers_no_json_is_built_and_numbering_goes_on() {
        let key = CallKey(3);
        let info = short_call("late");
        let wall = Timestamp::UNIX_EPOCH;
        let mut p = Publisher::new();
        assert!(!p.listening());
        let quiet = p.handle(wall, &CallEvent::Started { key, info }, None, false);
        assert_eq!(quiet.len(), 1);
        assert_eq!(quiet[0].event, "call.started");
        assert!(quiet[0].json.is_empty());

        let mut rx = p.stream().subscribe();
        assert!(p.listening());
        let ev = CallEvent::Ringing {
            key,
            manager: "andrew".into(),
            department: None,
        };
        let got = p.handle(wall, &ev, None, true);
        let v: Value = serde_json::from_str(&got[0].json).unwrap();
        assert_eq!(v["event"], "call.ringing");
        assert_eq!(v["call_id"], "late");
        assert_eq!(v["seq"], 2, "numbered after the event nobody read");
        assert_eq!(rx.try_recv().unwrap().event, "call.ringing");
    }
}
