//! The driver's part of issue 13: commands from the admin API to the core (managers'
//! states, taking a callback out of the queue), putting back the virtual queue and the
//! managers' open states after a restart, the live queue snapshot for the dashboard,
//! and the queue metrics.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jiff::Timestamp;
use jiff::civil::Date;
use tokio::sync::oneshot;

use crate::admin::metrics;
use crate::config::DialPlan;
use crate::endpoint::{AgentCommand, Endpoint, Queues};
use crate::store::{CallOutcome, CallRecord, StoreHandle, StoreWrite};

/// The queues as last published by the core task (every second).
pub type QueueSnapshot = Arc<ArcSwap<Queues>>;

/// What the admin API asks the core to do; the answer comes back on `reply`.
#[derive(Debug)]
pub enum AdminCommand {
    /// Pause, unpause, do-not-disturb, sign in/out for `manager`.
    Agent {
        manager: String,
        command: AgentCommand,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Take a waiting callback out of its queue.
    CancelCallback {
        id: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// Carry out one admin command on the endpoint.
pub fn handle_command(endpoint: &mut Endpoint, cmd: AdminCommand) {
    let (now, wall) = (Instant::now(), Timestamp::now());
    match cmd {
        AdminCommand::Agent {
            manager,
            command,
            reply,
        } => {
            let r = endpoint
                .agent_command(now, wall, &manager, &command)
                .map_err(|e| e.to_string());
            let _ = reply.send(r);
        }
        AdminCommand::CancelCallback { id, reply } => {
            let r = endpoint
                .cancel_callback(now, wall, &id)
                .map_err(|e| e.to_string());
            let _ = reply.send(r);
        }
    }
}

/// After a restart: managers' open states (pauses, do-not-disturb, sign-outs) and the
/// callers waiting to be called back, in their old order, before any call comes in.
pub async fn restore(endpoint: &mut Endpoint, store: &StoreHandle, plan: Arc<DialPlan>) {
    let (now, wall) = (Instant::now(), Timestamp::now());
    match store.query_async(|s| s.open_agent_intervals()).await {
        Ok(open) if !open.is_empty() => {
            tracing::info!("restoring {} managers' states", open.len());
            endpoint.restore_agent_states(now, wall, open);
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot read managers' states: {e}"),
    }
    match store.query_async(|s| s.queued_callbacks()).await {
        Ok(waiting) if !waiting.is_empty() => {
            let n = endpoint.restore_callbacks(now, wall, waiting, plan);
            tracing::info!("{n} callers waiting to be called back keep their places");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot read the callback queue: {e}"),
    }
}

/// Today's service level per department, for the `/metrics` gauge.
#[derive(Debug, Default)]
pub struct ServiceLevelTally {
    day: Option<Date>,
    /// Department → (offered, answered within).
    counts: BTreeMap<String, (u64, u64)>,
}

impl ServiceLevelTally {
    /// A call record ended: count it when it was offered to a department's people.
    pub fn record(&mut self, plan: &DialPlan, rec: &CallRecord) {
        let Some(department) = rec.decision.strip_prefix("department:") else {
            return;
        };
        if rec.outcome == CallOutcome::CallbackQueued {
            return;
        }
        let threshold = plan
            .departments
            .get(department)
            .map_or(Duration::from_secs(20), |d| d.queue.service_level);
        let offered = rec
            .menu_path
            .iter()
            .map(|s| s.at)
            .max()
            .unwrap_or(rec.started_at)
            .max(rec.started_at);
        let within = rec.answered_at.is_some_and(|at| {
            at.duration_since(offered).as_millis() <= threshold.as_millis() as i128
        });
        let today = rec
            .started_at
            .to_zoned_datetime(jiff::tz::TimeZone::system())
            .date();
        if self.day != Some(today) {
            self.day = Some(today);
            self.counts.clear();
        }
        let c = self.counts.entry(department.to_string()).or_default();
        c.0 += 1;
        c.1 += u64::from(within);
        let share = c.1 as f64 / c.0 as f64;
        metrics::count_service_level(department, within, share);
    }
}

/// Queue and manager gauges from the published snapshots.
pub fn publish_gauges(queues: &Queues, managers: &[crate::endpoint::ManagerStatus]) {
    for q in &queues.departments {
        let callbacks = q.waiting.iter().filter(|w| w.callback).count();
        metrics::set_queue(&q.department, q.waiting.len(), callbacks, q.signed_in);
    }
    for state in [
        "offline", "free", "ringing", "talking", "wrap_up", "paused", "dnd",
    ] {
        metrics::set_managers(state, managers.iter().filter(|m| m.state == state).count());
    }
}

/// Metrics for the store writes the core hands over.
pub fn count_write(w: &StoreWrite) {
    match w {
        StoreWrite::QueueCallback(cb) if cb.attempts == 0 && cb.requested_at == cb.updated_at => {
            metrics::count_callback_requested();
        }
        StoreWrite::DialbackAttempt(a) => metrics::count_dialback_attempt(a.customer.as_str()),
        _ => {}
    }
}
