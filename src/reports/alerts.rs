//! Alerts for missed work (issue 6 item 5): a callback request not done within the
//! plan's hours, a manager who missed too many calls today. A pure function of the
//! callback queue, today's ring attempts and `now`, so the thresholds are tested on
//! hand-built data; the driver runs it periodically and logs, counts and notifies.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::AlertPolicy;
use crate::store::{CallbackRequest, CallbackStatus, RingAttempt, RingOutcome};

/// One active alert. `key` identifies it across checks (raise once, clear once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    pub key: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    CallbackOverdue,
    ManagerMissedCalls,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::CallbackOverdue => "callback_overdue",
            AlertKind::ManagerMissedCalls => "manager_missed_calls",
        }
    }
}

/// The start of `now`'s day in the policy's time zone.
pub fn start_of_today(policy: &AlertPolicy, now: Timestamp) -> Timestamp {
    now.to_zoned_datetime(policy.timezone.clone())
        .start_of_day()
        .map_or(now, |z| z.timestamp())
}

/// The alerts that hold at `now`. `attempts` should cover at least today.
pub fn evaluate(
    policy: &AlertPolicy,
    callbacks: &[CallbackRequest],
    attempts: &[RingAttempt],
    now: Timestamp,
) -> Vec<Alert> {
    let mut out = Vec::new();
    if let Some(within) = policy.callback_within {
        let within = jiff::SignedDuration::try_from(within).unwrap_or(jiff::SignedDuration::MAX);
        for cb in callbacks
            .iter()
            .filter(|c| c.status != CallbackStatus::Done)
        {
            let waited = now.duration_since(cb.created_at);
            if waited >= within {
                out.push(Alert {
                    kind: AlertKind::CallbackOverdue,
                    key: format!("callback:{}", cb.id),
                    message: format!(
                        "{} called {} ({}) {} h ago and has not been called back (request {}, {})",
                        cb.caller,
                        cb.department,
                        cb.reason.as_str(),
                        waited.as_hours(),
                        cb.id,
                        cb.status.as_str()
                    ),
                });
            }
        }
    }
    if let Some(limit) = policy.manager_missed_per_day {
        let today = start_of_today(policy, now);
        let mut missed: std::collections::BTreeMap<&str, u32> = Default::default();
        for a in attempts.iter().filter(|a| {
            a.started_at >= today
                && matches!(a.outcome, RingOutcome::NoAnswer | RingOutcome::Declined)
        }) {
            *missed.entry(a.manager.as_str()).or_default() += 1;
        }
        for (manager, n) in missed {
            if n >= limit {
                out.push(Alert {
                    kind: AlertKind::ManagerMissedCalls,
                    key: format!("manager:{manager}"),
                    message: format!(
                        "{manager} missed {n} calls today (did not answer or declined; alert at {limit})"
                    ),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CallbackReason;
    use std::time::Duration;

    fn cb(id: i64, created: &str, status: CallbackStatus) -> CallbackRequest {
        let at: Timestamp = created.parse().unwrap();
        CallbackRequest {
            id,
            department: "sales".into(),
            caller: "+4930123".into(),
            dialled: "1000".into(),
            source: "main".into(),
            created_at: at,
            updated_at: at,
            menu_path: vec![],
            reason: CallbackReason::AfterHours,
            recording_path: None,
            recording_secs: None,
            recording_flag: None,
            status,
            claimed_by: None,
            claimed_at: None,
            done_by: None,
            done_at: None,
            outcome: None,
            call_count: 1,
        }
    }

    fn ring(manager: &str, at: &str, outcome: RingOutcome) -> RingAttempt {
        let at: Timestamp = at.parse().unwrap();
        RingAttempt {
            call_id: "c".into(),
            manager: manager.into(),
            started_at: at,
            ended_at: at,
            outcome,
        }
    }

    #[test]
    fn overdue_callbacks_and_managers_missing_calls() {
        let policy = AlertPolicy {
            callback_within: Some(Duration::from_secs(4 * 3600)),
            manager_missed_per_day: Some(2),
            timezone: jiff::tz::TimeZone::get("Europe/Berlin").unwrap(),
            ..AlertPolicy::default()
        };
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        let callbacks = [
            cb(1, "2026-11-23T07:59:00Z", CallbackStatus::Open), // 4 h 1 min: overdue
            cb(2, "2026-11-23T08:01:00Z", CallbackStatus::Open), // 3 h 59 min: not yet
            cb(3, "2026-11-22T08:00:00Z", CallbackStatus::Done), // done: never
            cb(4, "2026-11-23T01:00:00Z", CallbackStatus::Claimed), // claimed, not done
        ];
        let attempts = [
            // Berlin's day started at 2026-11-22T23:00Z.
            ring("andrew", "2026-11-22T22:59:00Z", RingOutcome::NoAnswer), // yesterday
            ring("andrew", "2026-11-23T09:00:00Z", RingOutcome::NoAnswer),
            ring("andrew", "2026-11-23T10:00:00Z", RingOutcome::Declined),
            ring("elena", "2026-11-23T10:00:00Z", RingOutcome::NoAnswer),
            ring("elena", "2026-11-23T10:05:00Z", RingOutcome::Busy), // busy is not missed
        ];
        let alerts = evaluate(&policy, &callbacks, &attempts, now);
        let keys: Vec<&str> = alerts.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, vec!["callback:1", "callback:4", "manager:andrew"]);
        assert_eq!(
            alerts[2].message,
            "andrew missed 2 calls today (did not answer or declined; alert at 2)"
        );
        assert!(evaluate(&AlertPolicy::default(), &callbacks, &attempts, now).is_empty());
    }
}
