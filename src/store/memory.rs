//! [`Store`] in plain collections, for unit tests of upper layers.
//!
//! It mirrors [`SqliteStore`](super::SqliteStore) exactly as far as the conformance suite
//! can see: same ordering, same errors, timestamps truncated to milliseconds. Nothing is
//! persisted, and it is not meant for production volumes (queries scan).

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;

use super::model::{
    AgentInterval, AgentStateKind, CallRecord, CallbackRequest, CallbackStatus, DialbackAttempt,
    DialbackStatus, MenuStep, NewCallback, PreviousInteraction, QueuedCallback, Registration,
    RingAttempt, Transfer, WebhookEvent, to_store_precision as p,
};
use super::{Store, StoreError};

/// An in-memory [`Store`].
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    calls: HashMap<String, CallRecord>,
    ring_attempts: Vec<RingAttempt>,
    callbacks: BTreeMap<i64, CallbackRequest>,
    last_callback_id: i64,
    registrations: BTreeMap<(String, String), Registration>,
    webhooks: BTreeMap<i64, WebhookEvent>,
    last_webhook_id: i64,
    queued: BTreeMap<String, QueuedCallback>,
    attempts: Vec<DialbackAttempt>,
    agents: BTreeMap<(String, AgentStateKind, String, Timestamp), AgentInterval>,
}

impl MemoryStore {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

fn steps(path: &[MenuStep]) -> Vec<MenuStep> {
    path.iter()
        .map(|s| MenuStep {
            at: p(s.at),
            ..s.clone()
        })
        .collect()
}

fn claim_or_complete_failure(cb: &CallbackRequest, manager: &str) -> StoreError {
    match cb.status {
        CallbackStatus::Done => StoreError::AlreadyDone {
            id: cb.id,
            by: cb.done_by.clone().unwrap_or_default(),
        },
        CallbackStatus::Claimed | CallbackStatus::Open => StoreError::AlreadyClaimed {
            id: cb.id,
            by: cb.claimed_by.clone().unwrap_or_else(|| manager.to_owned()),
        },
    }
}

impl Store for MemoryStore {
    fn upsert_call(&mut self, call: &CallRecord) -> Result<(), StoreError> {
        let stored = CallRecord {
            started_at: p(call.started_at),
            answered_at: call.answered_at.map(p),
            ended_at: call.ended_at.map(p),
            menu_path: steps(&call.menu_path),
            transfers: call
                .transfers
                .iter()
                .map(|t| Transfer {
                    at: p(t.at),
                    ..t.clone()
                })
                .collect(),
            ..call.clone()
        };
        self.calls.insert(call.call_id.clone(), stored);
        Ok(())
    }

    fn add_ring_attempt(&mut self, attempt: &RingAttempt) -> Result<(), StoreError> {
        if !self.calls.contains_key(&attempt.call_id) {
            return Err(StoreError::UnknownCall {
                call_id: attempt.call_id.clone(),
            });
        }
        self.ring_attempts.push(RingAttempt {
            started_at: p(attempt.started_at),
            ended_at: p(attempt.ended_at),
            ..attempt.clone()
        });
        Ok(())
    }

    fn get_call(&self, call_id: &str) -> Result<Option<CallRecord>, StoreError> {
        Ok(self.calls.get(call_id).cloned())
    }

    fn calls_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<CallRecord>, StoreError> {
        let (from, to) = (p(from), p(to));
        let mut calls: Vec<CallRecord> = self
            .calls
            .values()
            .filter(|c| c.started_at >= from && c.started_at < to)
            .cloned()
            .collect();
        calls.sort_by(|a, b| (a.started_at, &a.call_id).cmp(&(b.started_at, &b.call_id)));
        Ok(calls)
    }

    fn ring_attempts_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RingAttempt>, StoreError> {
        let (from, to) = (p(from), p(to));
        let mut attempts: Vec<RingAttempt> = self
            .ring_attempts
            .iter()
            .filter(|r| r.started_at >= from && r.started_at < to)
            .cloned()
            .collect();
        // Stable sort: ties stay in insertion order, like SQLite's `ORDER BY …, id`.
        attempts.sort_by_key(|r| r.started_at);
        Ok(attempts)
    }

    fn ring_attempts_for_call(&self, call_id: &str) -> Result<Vec<RingAttempt>, StoreError> {
        let mut attempts: Vec<RingAttempt> = self
            .ring_attempts
            .iter()
            .filter(|r| r.call_id == call_id)
            .cloned()
            .collect();
        attempts.sort_by_key(|r| r.started_at);
        Ok(attempts)
    }

    fn last_interaction(
        &self,
        caller: &str,
        since: Timestamp,
    ) -> Result<Option<PreviousInteraction>, StoreError> {
        let since = p(since);
        Ok(self
            .calls
            .values()
            .filter(|c| c.caller == caller)
            .filter_map(|c| Some((c.answered_at?, c.answered_by.as_ref()?, &c.call_id)))
            .filter(|(at, _, _)| *at >= since)
            .max_by(|a, b| (a.0, a.2).cmp(&(b.0, b.2)))
            .map(|(at, manager, _)| PreviousInteraction {
                manager: manager.clone(),
                at,
            }))
    }

    fn add_or_update_callback(&mut self, req: &NewCallback) -> Result<(i64, bool), StoreError> {
        let at = p(req.at);
        let existing = self.callbacks.values_mut().find(|cb| {
            cb.department == req.department
                && cb.caller == req.caller
                && cb.status != CallbackStatus::Done
        });
        if let Some(cb) = existing {
            cb.dialled.clone_from(&req.dialled);
            cb.source.clone_from(&req.source);
            cb.updated_at = cb.updated_at.max(at);
            cb.menu_path = steps(&req.menu_path);
            cb.reason = req.reason;
            if req.recording_path.is_some() {
                cb.recording_path.clone_from(&req.recording_path);
                cb.recording_secs = req.recording_secs;
                cb.recording_flag.clone_from(&req.recording_flag);
            }
            cb.call_count = cb.call_count.saturating_add(1);
            return Ok((cb.id, false));
        }
        self.last_callback_id += 1;
        let id = self.last_callback_id;
        self.callbacks.insert(
            id,
            CallbackRequest {
                id,
                department: req.department.clone(),
                caller: req.caller.clone(),
                dialled: req.dialled.clone(),
                source: req.source.clone(),
                created_at: at,
                updated_at: at,
                menu_path: steps(&req.menu_path),
                reason: req.reason,
                recording_path: req.recording_path.clone(),
                recording_secs: req.recording_secs,
                recording_flag: req.recording_flag.clone(),
                status: CallbackStatus::Open,
                claimed_by: None,
                claimed_at: None,
                done_by: None,
                done_at: None,
                outcome: None,
                call_count: 1,
            },
        );
        Ok((id, true))
    }

    fn list_callbacks(
        &self,
        department: Option<&str>,
        status: Option<CallbackStatus>,
    ) -> Result<Vec<CallbackRequest>, StoreError> {
        let mut list: Vec<CallbackRequest> = self
            .callbacks
            .values()
            .filter(|cb| department.is_none_or(|d| cb.department == d))
            .filter(|cb| status.is_none_or(|s| cb.status == s))
            .cloned()
            .collect();
        list.sort_by_key(|cb| (cb.created_at, cb.id));
        Ok(list)
    }

    fn get_callback(&self, id: i64) -> Result<Option<CallbackRequest>, StoreError> {
        Ok(self.callbacks.get(&id).cloned())
    }

    fn claim_callback(
        &mut self,
        id: i64,
        manager: &str,
        now: Timestamp,
    ) -> Result<CallbackRequest, StoreError> {
        let cb = self
            .callbacks
            .get_mut(&id)
            .ok_or(StoreError::CallbackNotFound { id })?;
        if cb.status != CallbackStatus::Open {
            return Err(claim_or_complete_failure(cb, manager));
        }
        cb.status = CallbackStatus::Claimed;
        cb.claimed_by = Some(manager.to_owned());
        cb.claimed_at = Some(p(now));
        Ok(cb.clone())
    }

    fn complete_callback(
        &mut self,
        id: i64,
        manager: &str,
        outcome: &str,
        now: Timestamp,
    ) -> Result<CallbackRequest, StoreError> {
        let cb = self
            .callbacks
            .get_mut(&id)
            .ok_or(StoreError::CallbackNotFound { id })?;
        let allowed = match cb.status {
            CallbackStatus::Open => true,
            CallbackStatus::Claimed => cb.claimed_by.as_deref() == Some(manager),
            CallbackStatus::Done => false,
        };
        if !allowed {
            return Err(claim_or_complete_failure(cb, manager));
        }
        let now = p(now);
        cb.status = CallbackStatus::Done;
        cb.outcome = Some(outcome.to_owned());
        cb.done_by = Some(manager.to_owned());
        cb.done_at = Some(now);
        cb.claimed_by.get_or_insert_with(|| manager.to_owned());
        cb.claimed_at.get_or_insert(now);
        Ok(cb.clone())
    }

    fn save_registration(&mut self, reg: &Registration) -> Result<(), StoreError> {
        self.registrations.insert(
            (reg.manager.clone(), reg.contact_uri.clone()),
            Registration {
                registered_at: p(reg.registered_at),
                expires_at: p(reg.expires_at),
                ..reg.clone()
            },
        );
        Ok(())
    }

    fn remove_registration(
        &mut self,
        manager: &str,
        contact_uri: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .registrations
            .remove(&(manager.to_owned(), contact_uri.to_owned()))
            .is_some())
    }

    fn registrations(&self) -> Result<Vec<Registration>, StoreError> {
        Ok(self.registrations.values().cloned().collect())
    }

    fn remove_expired_registrations(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        let now = p(now);
        let before = self.registrations.len();
        self.registrations.retain(|_, r| r.expires_at > now);
        Ok(before - self.registrations.len())
    }

    fn enqueue_webhook(&mut self, payload_json: &str, now: Timestamp) -> Result<i64, StoreError> {
        self.last_webhook_id += 1;
        let id = self.last_webhook_id;
        let now = p(now);
        self.webhooks.insert(
            id,
            WebhookEvent {
                id,
                payload_json: payload_json.to_owned(),
                attempts: 0,
                next_attempt_at: now,
                created_at: now,
            },
        );
        Ok(id)
    }

    fn due_webhooks(&self, now: Timestamp, limit: usize) -> Result<Vec<WebhookEvent>, StoreError> {
        let now = p(now);
        let mut due: Vec<WebhookEvent> = self
            .webhooks
            .values()
            .filter(|w| w.next_attempt_at <= now)
            .cloned()
            .collect();
        due.sort_by_key(|w| (w.next_attempt_at, w.id));
        due.truncate(limit);
        Ok(due)
    }

    fn mark_webhook_delivered(&mut self, id: i64) -> Result<(), StoreError> {
        self.webhooks.remove(&id);
        Ok(())
    }

    fn purge_before(&mut self, cutoff: Timestamp) -> Result<super::Purged, StoreError> {
        let cutoff = p(cutoff);
        let mut purged = super::Purged::default();
        let old: Vec<String> = self
            .calls
            .values()
            .filter(|c| c.started_at < cutoff)
            .map(|c| c.call_id.clone())
            .collect();
        for id in &old {
            self.calls.remove(id);
        }
        purged.calls = old.len();
        let before = self.ring_attempts.len();
        self.ring_attempts
            .retain(|r| r.started_at >= cutoff && !old.contains(&r.call_id));
        purged.ring_attempts = before - self.ring_attempts.len();
        let before = self.callbacks.len();
        self.callbacks.retain(|_, cb| {
            !(cb.status == CallbackStatus::Done && cb.done_at.unwrap_or(cb.updated_at) < cutoff)
        });
        purged.callbacks = before - self.callbacks.len();
        let before = self.webhooks.len();
        self.webhooks.retain(|_, w| w.created_at >= cutoff);
        purged.webhooks = before - self.webhooks.len();
        let before = self.queued.len();
        self.queued.retain(|_, q| {
            matches!(q.status, DialbackStatus::Waiting | DialbackStatus::Dialing)
                || q.updated_at >= cutoff
        });
        purged.dialbacks = before - self.queued.len();
        let queued = &self.queued;
        self.attempts
            .retain(|a| queued.contains_key(&a.callback_id));
        let before = self.agents.len();
        self.agents
            .retain(|_, i| i.ended_at.is_none_or(|e| e >= cutoff));
        purged.agent_states = before - self.agents.len();
        Ok(purged)
    }

    fn save_queued_callback(&mut self, cb: &QueuedCallback) -> Result<(), StoreError> {
        let callback_id = self.queued.get(&cb.id).and_then(|q| q.callback_id);
        let stored = QueuedCallback {
            queued_at: p(cb.queued_at),
            requested_at: p(cb.requested_at),
            not_before: cb.not_before.map(p),
            updated_at: p(cb.updated_at),
            callback_id,
            ..cb.clone()
        };
        self.queued.insert(cb.id.clone(), stored);
        Ok(())
    }

    fn queued_callbacks(&self) -> Result<Vec<QueuedCallback>, StoreError> {
        let mut v: Vec<QueuedCallback> = self
            .queued
            .values()
            .filter(|q| matches!(q.status, DialbackStatus::Waiting | DialbackStatus::Dialing))
            .cloned()
            .collect();
        v.sort_by(|a, b| (a.queued_at, &a.id).cmp(&(b.queued_at, &b.id)));
        Ok(v)
    }

    fn get_queued_callback(&self, id: &str) -> Result<Option<QueuedCallback>, StoreError> {
        Ok(self.queued.get(id).cloned())
    }

    fn queued_callback_for_request(
        &self,
        callback_id: i64,
    ) -> Result<Option<QueuedCallback>, StoreError> {
        Ok(self
            .queued
            .values()
            .filter(|q| q.callback_id == Some(callback_id))
            .max_by_key(|q| q.updated_at)
            .cloned())
    }

    fn add_dialback_attempt(&mut self, a: &DialbackAttempt) -> Result<(), StoreError> {
        if !self.queued.contains_key(&a.callback_id) {
            return Err(StoreError::QueuedCallbackNotFound {
                id: a.callback_id.clone(),
            });
        }
        self.attempts.push(DialbackAttempt {
            started_at: p(a.started_at),
            ended_at: p(a.ended_at),
            ..a.clone()
        });
        Ok(())
    }

    fn dialback_attempts(&self, id: &str) -> Result<Vec<DialbackAttempt>, StoreError> {
        let mut v: Vec<DialbackAttempt> = self
            .attempts
            .iter()
            .filter(|a| a.callback_id == id)
            .cloned()
            .collect();
        v.sort_by_key(|a| a.started_at);
        Ok(v)
    }

    fn finish_queued_callback(
        &mut self,
        id: &str,
        status: DialbackStatus,
        at: Timestamp,
        request: Option<&NewCallback>,
    ) -> Result<Option<i64>, StoreError> {
        if !self.queued.contains_key(id) {
            return Err(StoreError::QueuedCallbackNotFound { id: id.to_string() });
        }
        let filed = match request {
            Some(r) => Some(self.add_or_update_callback(r)?.0),
            None => None,
        };
        if let Some(q) = self.queued.get_mut(id) {
            q.status = status;
            q.updated_at = p(at);
            if filed.is_some() {
                q.callback_id = filed;
            }
        }
        Ok(filed)
    }

    fn save_agent_interval(&mut self, i: &AgentInterval) -> Result<(), StoreError> {
        let started = p(i.started_at);
        self.agents.insert(
            (i.manager.clone(), i.kind, i.detail.clone(), started),
            AgentInterval {
                started_at: started,
                ended_at: i.ended_at.map(p),
                ..i.clone()
            },
        );
        Ok(())
    }

    fn agent_intervals_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<AgentInterval>, StoreError> {
        let (from, to) = (p(from), p(to));
        let mut v: Vec<AgentInterval> = self
            .agents
            .values()
            .filter(|i| i.started_at < to && i.ended_at.is_none_or(|e| e > from))
            .cloned()
            .collect();
        v.sort_by(|a, b| {
            (a.started_at, &a.manager, a.kind, &a.detail).cmp(&(
                b.started_at,
                &b.manager,
                b.kind,
                &b.detail,
            ))
        });
        Ok(v)
    }

    fn open_agent_intervals(&self) -> Result<Vec<AgentInterval>, StoreError> {
        Ok(self
            .agent_intervals_between(Timestamp::MIN, Timestamp::MAX)?
            .into_iter()
            .filter(|i| i.ended_at.is_none())
            .collect())
    }

    fn reschedule_webhook(
        &mut self,
        id: i64,
        next_at: Timestamp,
        attempts: u32,
    ) -> Result<(), StoreError> {
        let w = self
            .webhooks
            .get_mut(&id)
            .ok_or(StoreError::WebhookNotFound { id })?;
        w.next_attempt_at = p(next_at);
        w.attempts = attempts;
        Ok(())
    }
}
