//! The figures: pure functions from records to a [`Report`].
//!
//! Every definition here is the one documented in `docs/admin.md`; keep the two in
//! step. Durations are whole milliseconds (the store's precision), so tests can assert
//! exact values.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::store::{
    CallOutcome, CallRecord, CallbackRequest, CallbackStatus, RingAttempt, RingOutcome,
};

use super::period::{Period, zone_name};

/// Everything a report shows. Its serde form is the JSON of `report --format json`
/// and of `GET /api/reports`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub period: PeriodInfo,
    pub totals: Totals,
    pub per_day: Vec<DayRow>,
    pub per_source: Vec<SourceRow>,
    pub per_manager: Vec<ManagerRow>,
    pub per_department: Vec<DepartmentRow>,
    pub missed_not_called_back: Vec<MissedCall>,
    /// Each manager's time paused (per reason), on do-not-disturb and signed out.
    #[serde(default)]
    pub manager_states: Vec<super::queueing::ManagerStateRow>,
    /// Each department's service level per day.
    #[serde(default)]
    pub service_level: Vec<super::queueing::ServiceLevelRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodInfo {
    /// First day, inclusive.
    pub from: Date,
    /// Last day, inclusive.
    pub to: Date,
    pub time_zone: String,
    /// The instant range queried: `[start, end)`.
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Calls that started in the period, by final outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub calls: u64,
    pub answered: u64,
    /// Served by the plan itself (announcements, a menu's goodbye): not abandoned.
    pub completed_in_ivr: u64,
    pub abandoned_in_ivr: u64,
    pub abandoned_ringing: u64,
    pub voicemail: u64,
    pub missed: u64,
    pub failed: u64,
    /// Calls cut off by a crash (closed on the next start).
    #[serde(default)]
    pub interrupted: u64,
    pub in_progress: u64,
    /// The caller hung up to be called back (the queue's callback offer).
    #[serde(default)]
    pub callback_queued: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayRow {
    pub date: Date,
    pub calls: u64,
    pub answered: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRow {
    pub source: String,
    pub calls: u64,
    pub answered: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerRow {
    pub manager: String,
    /// Distinct calls this manager was rung for (or answered).
    pub offered: u64,
    /// Calls this manager answered (`answered_by`), ended or still in progress.
    pub answered: u64,
    /// Offered calls where one of their ring attempts ended `no_answer`, `busy` or
    /// `declined` and they did not answer the call.
    pub missed: u64,
    /// Nearest-rank median of `answered_at - started_at` over the calls they answered.
    pub answer_ms_median: Option<u64>,
    /// Nearest-rank 90th percentile of the same.
    pub answer_ms_p90: Option<u64>,
    /// Sum of `ended_at - answered_at` over the ended calls they answered.
    pub talk_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepartmentRow {
    /// `None` for calls that never reached a department (e.g. abandoned in the menus).
    pub department: Option<String>,
    /// Calls routed to the department (its offered calls).
    pub calls: u64,
    pub answered: u64,
    pub abandoned_in_ivr: u64,
    pub abandoned_ringing: u64,
    /// `(abandoned_in_ivr + abandoned_ringing) / calls`.
    pub abandonment_rate: f64,
    /// Nearest-rank median of the wait: `answered_at - started_at` for answered calls,
    /// `ended_at - started_at` for abandoned ones (other outcomes have no wait sample).
    pub wait_ms_median: Option<u64>,
    pub wait_ms_p90: Option<u64>,
}

/// A missed call that nobody has dealt with yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissedCall {
    pub call_id: String,
    pub started_at: Timestamp,
    /// `started_at` in the report's time zone, `YYYY-MM-DD HH:MM`.
    pub started_local: String,
    pub caller: String,
    pub source: String,
    pub department: Option<String>,
    pub outcome: CallOutcome,
    /// The caller's pending (open or claimed) callback request, if any.
    pub callback_id: Option<i64>,
    pub callback_status: Option<CallbackStatus>,
    pub claimed_by: Option<String>,
}

/// The nearest-rank percentile of ascending `sorted` values: the value at 1-based rank
/// `ceil(p / 100 × n)` (at least 1). Always an observed value; `None` for no values.
/// The median is `p = 50`, i.e. the lower middle value for an even count.
#[must_use]
pub fn nearest_rank(sorted: &[u64], p: u32) -> Option<u64> {
    let n = sorted.len();
    let p = usize::try_from(p.min(100)).unwrap_or(100);
    let rank = (p * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

fn ms_between(from: Timestamp, to: Timestamp) -> u64 {
    u64::try_from(to.as_millisecond() - from.as_millisecond()).unwrap_or(0)
}

fn percentiles(mut values: Vec<u64>) -> (Option<u64>, Option<u64>) {
    values.sort_unstable();
    (nearest_rank(&values, 50), nearest_rank(&values, 90))
}

fn count_outcome(totals: &mut Totals, outcome: CallOutcome) {
    let slot = match outcome {
        CallOutcome::Answered => &mut totals.answered,
        CallOutcome::CompletedInIvr => &mut totals.completed_in_ivr,
        CallOutcome::AbandonedInIvr => &mut totals.abandoned_in_ivr,
        CallOutcome::AbandonedRinging => &mut totals.abandoned_ringing,
        CallOutcome::Voicemail => &mut totals.voicemail,
        CallOutcome::Missed => &mut totals.missed,
        CallOutcome::Failed => &mut totals.failed,
        CallOutcome::Interrupted => &mut totals.interrupted,
        CallOutcome::InProgress => &mut totals.in_progress,
        CallOutcome::CallbackQueued => &mut totals.callback_queued,
    };
    *slot += 1;
}

#[derive(Default)]
struct ManagerAcc<'a> {
    offered: BTreeSet<&'a str>,
    answered: u64,
    missed_candidates: BTreeSet<&'a str>,
    answer_ms: Vec<u64>,
    talk_ms: u64,
}

#[derive(Default)]
struct DepartmentAcc {
    calls: u64,
    answered: u64,
    abandoned_in_ivr: u64,
    abandoned_ringing: u64,
    wait_ms: Vec<u64>,
}

/// Builds the report for `period`.
///
/// - `calls`: at least every call that started in the period. Calls outside it are not
///   counted; calls that started *after* it are only used to tell whether a missed
///   caller was later answered (pass calls up to now for that to see the present).
/// - `rings`: ring attempts; only those of calls in the period count.
/// - `callbacks`: the callback queue (any status), to tell which missed calls were
///   called back and to show the pending request.
#[must_use]
pub fn build(
    period: &Period,
    calls: &[CallRecord],
    rings: &[RingAttempt],
    callbacks: &[CallbackRequest],
) -> Report {
    let in_period: Vec<&CallRecord> = calls
        .iter()
        .filter(|c| period.contains(c.started_at))
        .collect();
    let by_id: HashMap<&str, &CallRecord> =
        in_period.iter().map(|c| (c.call_id.as_str(), *c)).collect();

    let mut totals = Totals::default();
    let mut per_day: BTreeMap<Date, (u64, u64)> = period.days().map(|d| (d, (0, 0))).collect();
    let mut per_source: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut managers: BTreeMap<&str, ManagerAcc<'_>> = BTreeMap::new();
    let mut departments: BTreeMap<Option<&str>, DepartmentAcc> = BTreeMap::new();

    for call in &in_period {
        // "Answered" means a manager picked up (answered_by is set), whether the call
        // has ended yet (outcome answered) or is still going (in_progress).
        let answered = u64::from(call.answered_by.is_some());
        totals.calls += 1;
        count_outcome(&mut totals, call.outcome);
        let day = per_day
            .entry(period.local_date(call.started_at))
            .or_default();
        day.0 += 1;
        day.1 += answered;
        let src = per_source.entry(call.source.as_str()).or_default();
        src.0 += 1;
        src.1 += answered;

        if let Some(manager) = &call.answered_by {
            let acc = managers.entry(manager.as_str()).or_default();
            acc.offered.insert(&call.call_id);
            acc.answered += 1;
            if let Some(at) = call.answered_at {
                acc.answer_ms.push(ms_between(call.started_at, at));
                if let Some(end) = call.ended_at {
                    acc.talk_ms += ms_between(at, end);
                }
            }
        }

        let dept = departments.entry(call.department.as_deref()).or_default();
        dept.calls += 1;
        if answered == 1 {
            dept.answered += 1;
            if let Some(at) = call.answered_at {
                dept.wait_ms.push(ms_between(call.started_at, at));
            }
        }
        match call.outcome {
            CallOutcome::AbandonedInIvr | CallOutcome::AbandonedRinging => {
                if call.outcome == CallOutcome::AbandonedInIvr {
                    dept.abandoned_in_ivr += 1;
                } else {
                    dept.abandoned_ringing += 1;
                }
                if let Some(end) = call.ended_at {
                    dept.wait_ms.push(ms_between(call.started_at, end));
                }
            }
            _ => {}
        }
    }

    for ring in rings {
        let Some(call) = by_id.get(ring.call_id.as_str()) else {
            continue;
        };
        let acc = managers.entry(ring.manager.as_str()).or_default();
        acc.offered.insert(&call.call_id);
        let answered_by_them = call.answered_by.as_deref() == Some(ring.manager.as_str());
        if !answered_by_them
            && matches!(
                ring.outcome,
                RingOutcome::NoAnswer | RingOutcome::Busy | RingOutcome::Declined
            )
        {
            acc.missed_candidates.insert(&call.call_id);
        }
    }

    let per_manager = managers
        .into_iter()
        .map(|(manager, acc)| {
            let (answer_ms_median, answer_ms_p90) = percentiles(acc.answer_ms);
            ManagerRow {
                manager: manager.to_owned(),
                offered: acc.offered.len() as u64,
                answered: acc.answered,
                missed: acc.missed_candidates.len() as u64,
                answer_ms_median,
                answer_ms_p90,
                talk_ms: acc.talk_ms,
            }
        })
        .collect();

    // Named departments first (alphabetically), then the calls that reached none.
    let mut per_department: Vec<DepartmentRow> = departments
        .into_iter()
        .map(|(department, acc)| {
            let (wait_ms_median, wait_ms_p90) = percentiles(acc.wait_ms);
            let abandoned = acc.abandoned_in_ivr + acc.abandoned_ringing;
            DepartmentRow {
                department: department.map(str::to_owned),
                calls: acc.calls,
                answered: acc.answered,
                abandoned_in_ivr: acc.abandoned_in_ivr,
                abandoned_ringing: acc.abandoned_ringing,
                abandonment_rate: if acc.calls == 0 {
                    0.0
                } else {
                    abandoned as f64 / acc.calls as f64
                },
                wait_ms_median,
                wait_ms_p90,
            }
        })
        .collect();
    per_department.sort_by_key(|d| d.department.is_none());

    Report {
        period: PeriodInfo {
            from: period.from(),
            to: period.to(),
            time_zone: zone_name(period.time_zone()),
            start: period.start(),
            end: period.end(),
        },
        totals,
        per_day: per_day
            .into_iter()
            .map(|(date, (calls, answered))| DayRow {
                date,
                calls,
                answered,
            })
            .collect(),
        per_source: per_source
            .into_iter()
            .map(|(source, (calls, answered))| SourceRow {
                source: source.to_owned(),
                calls,
                answered,
            })
            .collect(),
        per_manager,
        per_department,
        missed_not_called_back: missed_not_called_back(period, &in_period, calls, callbacks),
        manager_states: Vec::new(),
        service_level: Vec::new(),
    }
}

/// Missed calls (`missed`, `voicemail`, `abandoned_ringing`) in the period whose caller
/// was neither answered on a later call nor called back (a `done` request closed at or
/// after the missed call started).
fn missed_not_called_back(
    period: &Period,
    in_period: &[&CallRecord],
    all_calls: &[CallRecord],
    callbacks: &[CallbackRequest],
) -> Vec<MissedCall> {
    // Each caller's latest answered call start: one pass instead of a scan per call.
    let mut last_answered: HashMap<&str, Timestamp> = HashMap::new();
    for call in all_calls.iter().filter(|c| c.answered_by.is_some()) {
        let slot = last_answered
            .entry(call.caller.as_str())
            .or_insert(call.started_at);
        *slot = (*slot).max(call.started_at);
    }
    in_period
        .iter()
        .filter(|c| {
            matches!(
                c.outcome,
                CallOutcome::Missed | CallOutcome::Voicemail | CallOutcome::AbandonedRinging
            )
        })
        .filter(|c| {
            last_answered
                .get(c.caller.as_str())
                .is_none_or(|at| *at <= c.started_at)
        })
        .filter(|c| {
            !callbacks.iter().any(|cb| {
                cb.caller == c.caller
                    && cb.status == CallbackStatus::Done
                    && cb.done_at.is_some_and(|at| at >= c.started_at)
            })
        })
        .map(|c| {
            // The caller's most recently updated request that is still pending.
            let pending = callbacks
                .iter()
                .filter(|cb| cb.caller == c.caller && cb.status != CallbackStatus::Done)
                .max_by_key(|cb| (cb.updated_at, cb.id));
            MissedCall {
                call_id: c.call_id.clone(),
                started_at: c.started_at,
                started_local: c
                    .started_at
                    .to_zoned_datetime(period.time_zone().clone())
                    .strftime("%Y-%m-%d %H:%M")
                    .to_string(),
                caller: c.caller.clone(),
                source: c.source.clone(),
                department: c.department.clone(),
                outcome: c.outcome,
                callback_id: pending.map(|cb| cb.id),
                callback_status: pending.map(|cb| cb.status),
                claimed_by: pending.and_then(|cb| cb.claimed_by.clone()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_matches_the_definition() {
        let v = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        assert_eq!(nearest_rank(&v, 50), Some(50));
        assert_eq!(nearest_rank(&v, 90), Some(90));
        assert_eq!(nearest_rank(&v, 91), Some(100));
        assert_eq!(nearest_rank(&v, 0), Some(10));
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        assert_eq!(nearest_rank(&[1, 2], 50), Some(1));
        assert_eq!(nearest_rank(&[1, 2, 3], 50), Some(2));
        assert_eq!(nearest_rank(&[], 50), None);
    }
}
