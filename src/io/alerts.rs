//! The alert checker: every `[alerts] check_secs`, evaluate the plan's thresholds on
//! the callback queue and today's ring attempts (`reports::alerts`), log each new alert
//! at WARN (and its end at INFO), keep `switchboard_alerts_active{kind}` current, and
//! queue a webhook notification per new alert when a webhook is configured.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::webhook::Webhooks;
use crate::config::DialPlan;
use crate::reports::alerts::{Alert, AlertKind, evaluate, start_of_today};
use crate::store::{StoreHandle, StoreWrite};

/// The alerts raised now, shared with the admin API's dashboard.
pub type ActiveAlerts = Arc<ArcSwap<Vec<Alert>>>;

pub fn start(
    plan: Arc<ArcSwap<DialPlan>>,
    store: StoreHandle,
    webhooks: Option<Webhooks>,
    shared: ActiveAlerts,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut active: BTreeMap<String, Alert> = BTreeMap::new();
        loop {
            let policy = plan.load().alerts.clone();
            let enabled =
                policy.callback_within.is_some() || policy.manager_missed_per_day.is_some();
            if enabled {
                let now = jiff::Timestamp::now();
                let today = start_of_today(&policy, now);
                let data = tokio::try_join!(
                    store.list_callbacks(None, None),
                    store.ring_attempts_between(today, now + jiff::SignedDuration::from_mins(1)),
                );
                match data {
                    Ok((callbacks, attempts)) => {
                        let now_alerts = evaluate(&policy, &callbacks, &attempts, now);
                        let fresh: BTreeMap<String, Alert> =
                            now_alerts.into_iter().map(|a| (a.key.clone(), a)).collect();
                        // Visible (dashboard, /metrics) before it is logged: whoever
                        // reacts to the log line finds it there.
                        publish(&shared, &fresh);
                        for (key, alert) in &fresh {
                            if !active.contains_key(key) {
                                tracing::warn!(
                                    kind = alert.kind.as_str(),
                                    "alert: {}",
                                    alert.message
                                );
                                if policy.webhook
                                    && let Some(w) = &webhooks
                                    && w.selects("alert.raised")
                                {
                                    let payload = serde_json::json!({
                                        "event": "alert.raised",
                                        "kind": alert.kind,
                                        "key": alert.key,
                                        "message": alert.message,
                                        "at": now.to_string(),
                                    });
                                    store.write(StoreWrite::EnqueueWebhook {
                                        payload_json: payload.to_string(),
                                        now,
                                    });
                                    w.notify();
                                }
                            }
                        }
                        for (key, alert) in &active {
                            if !fresh.contains_key(key) {
                                tracing::info!(
                                    kind = alert.kind.as_str(),
                                    "alert cleared: {}",
                                    alert.message
                                );
                            }
                        }
                        active = fresh;
                    }
                    Err(e) => tracing::warn!("alert check failed: {e}"),
                }
            } else {
                active.clear();
            }
            publish(&shared, &active);
            tokio::select! {
                _ = tokio::time::sleep(policy.check_every) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// The alerts in force, for the dashboard and `switchboard_alerts_active{kind}`.
fn publish(shared: &ActiveAlerts, active: &BTreeMap<String, Alert>) {
    shared.store(Arc::new(active.values().cloned().collect()));
    for kind in [AlertKind::CallbackOverdue, AlertKind::ManagerMissedCalls] {
        let n = active.values().filter(|a| a.kind == kind).count();
        crate::admin::metrics::set_alerts_active(kind.as_str(), n);
    }
}
