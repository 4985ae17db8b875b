//! Dial-backs in the endpoint: started when a queued caller hangs up to be called
//! back, put back after a restart in their old order, taken out by an admin, and the
//! live view of every queue for the dashboard.

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Endpoint, Output};
use crate::call::{ConnectInput, Dialback, Machine, Spawn};
use crate::config::DialPlan;
use crate::media::CallKey;
use crate::model::{CallbackReason, DialbackStatus, NewCallback, QueuedCallback, StoreWrite};

/// One department's queue right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSnapshot {
    pub department: String,
    /// Members who can take its calls now.
    pub signed_in: u32,
    /// In serving order.
    pub waiting: Vec<WaitingCaller>,
}

/// A caller waiting in a queue (on the line, or hung up to be called back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingCaller {
    pub position: usize,
    pub caller: String,
    /// The inbound call's Call-ID (the callback's id for a virtual entry).
    pub call_id: String,
    pub priority: u8,
    /// Hung up to be called back (keeps the place).
    pub callback: bool,
    pub since: Timestamp,
    pub waited_s: u64,
    /// The estimated wait, when someone is signed in.
    pub estimate_s: Option<u64>,
}

/// Every queue and every callback in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Queues {
    pub departments: Vec<QueueSnapshot>,
    /// Callers to be called back (waiting, being dialled, or parked for a retry).
    pub callbacks: Vec<QueuedCallback>,
}

/// Why a queued callback could not be taken out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    #[error("no queued callback {0}")]
    NotFound(String),
    #[error("callback {0} is being dialled right now")]
    Dialling(String),
}

impl Endpoint {
    /// Start what the last call asked for (its dial-back).
    pub(super) fn start_spawned(&mut self, _now: Instant, _wall: Timestamp) {
        while let Some(s) = self.spawn.pop_front() {
            match s {
                Spawn::Dialback { key, entry, plan } => {
                    self.calls.insert(
                        key,
                        Machine::Dialback(Box::new(Dialback::new(key, entry, plan))),
                    );
                }
            }
        }
    }

    /// Callbacks saved before a restart: back into their queues in the order the
    /// callers arrived, before any new call. Returns how many were restored.
    pub fn restore_callbacks(
        &mut self,
        now: Instant,
        wall: Timestamp,
        mut entries: Vec<QueuedCallback>,
        plan: Arc<DialPlan>,
    ) -> usize {
        entries.retain(|e| matches!(e.status, DialbackStatus::Waiting | DialbackStatus::Dialing));
        entries.sort_by(|a, b| (a.queued_at, &a.id).cmp(&(b.queued_at, &b.id)));
        let mut restored = 0;
        for mut entry in entries {
            if !plan.departments.contains_key(&entry.department) {
                tracing::warn!(
                    "the callback for {} waited in department {}, which the plan no longer has: \
                     filed as an open callback request",
                    entry.number,
                    entry.department
                );
                let request = NewCallback {
                    department: entry.department.clone(),
                    caller: entry.number.clone(),
                    dialled: entry.dialled.clone(),
                    source: entry.source.clone(),
                    at: entry.requested_at,
                    menu_path: Vec::new(),
                    reason: CallbackReason::DialbackFailed,
                    recording_path: None,
                    recording_secs: None,
                    recording_flag: None,
                };
                self.outputs
                    .push_back(Output::Store(Box::new(StoreWrite::DialbackFinished {
                        id: entry.id.clone(),
                        status: DialbackStatus::GaveUp,
                        at: wall,
                        request: Some(request),
                    })));
                continue;
            }
            // Cut off mid-dial by the stop: it waits again (that attempt is lost).
            entry.status = DialbackStatus::Waiting;
            self.next_key += 1;
            let key = CallKey(self.next_key);
            let not_before = entry.not_before.and_then(|nb| {
                let ahead = wall.duration_until(nb);
                std::time::Duration::try_from(ahead)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .map(|d| now + d)
            });
            tracing::info!(
                "restored the callback for {} in {} (waiting since {})",
                entry.number,
                entry.department,
                entry.queued_at
            );
            self.connect_queue.push_back(ConnectInput::Restore {
                call: key,
                plan: plan.clone(),
                department: entry.department.clone(),
                priority: entry.priority,
                since: entry.queued_at,
                not_before,
            });
            self.calls.insert(
                key,
                Machine::Dialback(Box::new(Dialback::new(key, entry, plan.clone()))),
            );
            restored += 1;
        }
        self.pump(now, wall);
        restored
    }

    /// Take a waiting callback out of its queue (an admin dealt with it by hand).
    pub fn cancel_callback(
        &mut self,
        now: Instant,
        wall: Timestamp,
        id: &str,
    ) -> Result<(), CancelError> {
        let key = self
            .calls
            .iter()
            .find(|(_, m)| m.as_dialback().is_some_and(|d| d.entry().id == id))
            .map(|(k, _)| *k)
            .ok_or_else(|| CancelError::NotFound(id.to_string()))?;
        let mut cancelled = false;
        self.with_call(now, wall, key, |m, ctx| {
            if let Some(d) = m.as_dialback_mut() {
                cancelled = d.cancel(ctx);
            }
        });
        self.pump(now, wall);
        if cancelled {
            Ok(())
        } else {
            Err(CancelError::Dialling(id.to_string()))
        }
    }

    /// Dial-backs in progress (waiting, dialling or parked).
    pub fn dialbacks(&self) -> usize {
        self.calls
            .values()
            .filter(|m| m.as_dialback().is_some())
            .count()
    }

    /// Every department's queue and every pending callback, for the dashboard.
    pub fn queues(&self, wall: Timestamp) -> Queues {
        let views = self.connector.queue_views(wall);
        let mut departments: Vec<QueueSnapshot> = Vec::new();
        let names: Vec<String> = match &self.plan {
            Some(p) => p.departments.keys().cloned().collect(),
            None => views.iter().map(|v| v.department.clone()).collect(),
        };
        for name in names {
            let view = views.iter().find(|v| v.department == name);
            let signed_in = match (&self.plan, view) {
                (_, Some(v)) => v.signed_in,
                (Some(p), None) => self.connector.signed_in(p, &name, wall),
                (None, None) => 0,
            };
            let waiting = view
                .map(|v| {
                    v.calls
                        .iter()
                        .map(|q| {
                            let (caller, call_id) = match self.calls.get(&q.call) {
                                Some(Machine::Inbound(c)) => {
                                    (c.info().caller.clone(), c.info().call_id.clone())
                                }
                                Some(Machine::Dialback(d)) => {
                                    (d.entry().number.clone(), d.entry().id.clone())
                                }
                                None => (String::new(), String::new()),
                            };
                            WaitingCaller {
                                position: q.position,
                                caller,
                                call_id,
                                priority: q.priority,
                                callback: q.is_virtual,
                                since: q.since,
                                waited_s: u64::try_from(wall.duration_since(q.since).as_secs())
                                    .unwrap_or(0),
                                estimate_s: q.estimate.secs(),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            departments.push(QueueSnapshot {
                department: name,
                signed_in,
                waiting,
            });
        }
        let mut callbacks: Vec<QueuedCallback> = self
            .calls
            .values()
            .filter_map(|m| m.as_dialback().map(|d| d.entry().clone()))
            .collect();
        callbacks.sort_by(|a, b| (a.queued_at, &a.id).cmp(&(b.queued_at, &b.id)));
        Queues {
            departments,
            callbacks,
        }
    }
}
