//! Figures per plan from a run, and the side-by-side table and JSON.

use serde::Serialize;

use super::engine::{QUEUE_BIN_SECS, SimResult};
use crate::config::DialPlan;
use crate::store::CallOutcome;

/// Upper edges (seconds) of the answer-time histogram bins; the last bin is open.
pub const ANSWER_BINS: [f64; 10] = [5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0];

/// One manager's load in one plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManagerLoad {
    pub name: String,
    pub calls: u32,
    pub talk_secs: f64,
    /// Talk time over signed-in time in the observed period, in percent.
    pub occupancy_pct: f64,
}

/// The figures of one plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanReport {
    pub plan: String,
    pub offered: u64,
    pub answered: u64,
    /// Calls the plan served and ended itself (announcements, menu goodbyes).
    pub completed_in_ivr: u64,
    pub abandoned_in_ivr: u64,
    pub abandoned_waiting: u64,
    /// Calls that ended with a voicemail message (each one lands on the callback list).
    pub voicemail: u64,
    /// Calls nobody took that ended without a message (after hours, overflow to a
    /// hang-up, a greeting hung up on); they land on the callback list too.
    pub missed: u64,
    /// Callback requests filed.
    pub callbacks: u64,
    /// Calls that reached a department's overflow action (queue timeout, full queue,
    /// nobody reachable).
    pub overflowed: u64,
    /// Seconds from reaching a department or manager to being answered.
    pub answer_secs_median: Option<f64>,
    pub answer_secs_p90: Option<f64>,
    pub answer_secs_mean: Option<f64>,
    /// Answered calls whose wait was below each edge of [`ANSWER_BINS`], then the rest.
    pub answer_histogram: Vec<u64>,
    /// Calls from callers with a previous conversation within the plan's lookback.
    pub returning_calls: u64,
    /// Of those, answered by that same manager.
    pub returning_to_previous: u64,
    pub returning_to_previous_pct: Option<f64>,
    pub managers: Vec<ManagerLoad>,
    /// Busiest minus quietest manager, in calls.
    pub load_spread_calls: u32,
    /// Population standard deviation of calls per manager.
    pub load_std_dev_calls: f64,
    pub max_waiting: u32,
    /// Most callers waiting in each bin of `queue_bin_secs`, from the start.
    pub queue_length: Vec<u32>,
    pub queue_bin_secs: u64,
    /// Managers rung (ring-all counts each member).
    pub rings: u64,
    /// Per department of the plan: calls offered to its people and the share
    /// answered within its `service_level_secs` (callers who took the callback offer
    /// are counted under `dialbacks`, not here).
    pub service_level: Vec<SimServiceLevel>,
    /// Callers who took the callback offer and how their dial-backs went.
    pub dialbacks: SimDialbacks,
}

/// One department's service level in a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimServiceLevel {
    pub department: String,
    pub threshold_secs: u64,
    pub offered: u64,
    pub answered_within: u64,
    /// `answered_within / offered` in per cent; `None` without offered calls.
    pub pct: Option<f64>,
}

/// Dial-back totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SimDialbacks {
    /// Callers who hung up to be called back.
    pub requested: u64,
    /// Dial-backs that reached the customer.
    pub connected: u64,
    /// Given up after every attempt (left as open callback requests).
    pub gave_up: u64,
    /// Dial-outs to customers.
    pub attempts: u64,
    /// Still waiting for a manager when the run ended (two hours after the traffic
    /// window, every caller gone).
    pub still_waiting: u64,
    /// Median seconds from the request to the conversation.
    pub connect_secs_median: Option<f64>,
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

impl PlanReport {
    pub fn from_result(plan: &str, dial_plan: &DialPlan, r: &SimResult) -> PlanReport {
        let count = |o: CallOutcome| r.calls.iter().filter(|c| c.outcome == o).count() as u64;
        let mut waits: Vec<f64> = r.calls.iter().filter_map(|c| c.answer_secs()).collect();
        waits.sort_by(f64::total_cmp);
        let mut histogram = vec![0u64; ANSWER_BINS.len() + 1];
        for w in &waits {
            let bin = ANSWER_BINS
                .iter()
                .position(|edge| w < edge)
                .unwrap_or(ANSWER_BINS.len());
            if let Some(h) = histogram.get_mut(bin) {
                *h += 1;
            }
        }
        let returning: Vec<_> = r.calls.iter().filter(|c| c.previous.is_some()).collect();
        let to_previous = returning
            .iter()
            .filter(|c| c.answered_by.is_some() && c.answered_by == c.previous)
            .count() as u64;
        let managers: Vec<ManagerLoad> = r
            .managers
            .iter()
            .map(|m| ManagerLoad {
                name: m.name.clone(),
                calls: m.calls,
                talk_secs: round2(m.talk_ms as f64 / 1000.0),
                occupancy_pct: if m.signed_in_ms == 0 {
                    0.0
                } else {
                    round2(m.talk_ms as f64 * 100.0 / m.signed_in_ms as f64)
                },
            })
            .collect();
        let calls: Vec<f64> = managers.iter().map(|m| f64::from(m.calls)).collect();
        let n = calls.len().max(1) as f64;
        let mean = calls.iter().sum::<f64>() / n;
        let var = calls.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / n;
        let max = managers.iter().map(|m| m.calls).max().unwrap_or(0);
        let min = managers.iter().map(|m| m.calls).min().unwrap_or(0);
        PlanReport {
            plan: plan.to_string(),
            offered: r.calls.len() as u64,
            answered: count(CallOutcome::Answered),
            completed_in_ivr: count(CallOutcome::CompletedInIvr),
            abandoned_in_ivr: count(CallOutcome::AbandonedInIvr),
            abandoned_waiting: count(CallOutcome::AbandonedRinging),
            voicemail: count(CallOutcome::Voicemail),
            missed: count(CallOutcome::Missed),
            callbacks: r.callbacks,
            overflowed: r.calls.iter().filter(|c| c.overflowed).count() as u64,
            answer_secs_median: percentile(&waits, 50.0).map(round2),
            answer_secs_p90: percentile(&waits, 90.0).map(round2),
            answer_secs_mean: (!waits.is_empty())
                .then(|| round2(waits.iter().sum::<f64>() / waits.len() as f64)),
            answer_histogram: histogram,
            returning_calls: returning.len() as u64,
            returning_to_previous: to_previous,
            returning_to_previous_pct: (!returning.is_empty())
                .then(|| round2(to_previous as f64 * 100.0 / returning.len() as f64)),
            managers,
            load_spread_calls: max - min,
            load_std_dev_calls: round2(var.sqrt()),
            max_waiting: r.queue_bins.iter().copied().max().unwrap_or(0),
            queue_length: r.queue_bins.clone(),
            queue_bin_secs: QUEUE_BIN_SECS,
            rings: r.rings,
            service_level: r
                .service_levels(dial_plan)
                .into_iter()
                .map(|sl| SimServiceLevel {
                    pct: sl.share().map(|v| round2(v * 100.0)),
                    department: sl.department,
                    threshold_secs: sl.threshold_secs,
                    offered: sl.offered,
                    answered_within: sl.answered_within,
                })
                .collect(),
            dialbacks: {
                let d = &r.dialbacks;
                let mut connect = d.connect_secs.clone();
                connect.sort_by(f64::total_cmp);
                SimDialbacks {
                    requested: d.requested,
                    connected: d.connected,
                    gave_up: d.gave_up,
                    attempts: d.attempts,
                    still_waiting: d.requested.saturating_sub(d.connected + d.gave_up),
                    connect_secs_median: percentile(&connect, 50.0).map(round2),
                }
            },
        }
    }
}

/// The JSON document: the seed and one report per plan, in command-line order.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub seed: u64,
    pub traffic: String,
    pub plans: Vec<PlanReport>,
}

impl Comparison {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// One row per figure, one column per plan, aligned.
    pub fn to_table(&self) -> String {
        let opt = |v: Option<f64>, unit: &str| v.map_or("-".into(), |v| format!("{v:.1}{unit}"));
        let pct = |part: u64, whole: u64| {
            if whole == 0 {
                format!("{part}")
            } else {
                format!("{part} ({:.1}%)", part as f64 * 100.0 / whole as f64)
            }
        };
        let mut rows: Vec<(String, Vec<String>)> = Vec::new();
        let mut row = |label: &str, f: &dyn Fn(&PlanReport) -> String| {
            rows.push((label.to_string(), self.plans.iter().map(f).collect()));
        };
        row("calls offered", &|p| p.offered.to_string());
        row("answered", &|p| pct(p.answered, p.offered));
        row("abandoned in IVR", &|p| pct(p.abandoned_in_ivr, p.offered));
        row("abandoned waiting", &|p| {
            pct(p.abandoned_waiting, p.offered)
        });
        row("voicemail message", &|p| pct(p.voicemail, p.offered));
        row("missed (no message)", &|p| pct(p.missed, p.offered));
        row("served by the IVR", &|p| pct(p.completed_in_ivr, p.offered));
        row("callback requests", &|p| p.callbacks.to_string());
        row("reached overflow", &|p| pct(p.overflowed, p.offered));
        row("called back (took the offer)", &|p| {
            let d = &p.dialbacks;
            format!(
                "{} ({} reached, {} left open, {} waiting)",
                d.requested, d.connected, d.gave_up, d.still_waiting
            )
        });
        row("time to answer median", &|p| {
            opt(p.answer_secs_median, " s")
        });
        row("time to answer p90", &|p| opt(p.answer_secs_p90, " s"));
        row("time to answer mean", &|p| opt(p.answer_secs_mean, " s"));
        row("returning → previous manager", &|p| {
            format!(
                "{}/{} ({})",
                p.returning_to_previous,
                p.returning_calls,
                opt(p.returning_to_previous_pct, "%")
            )
        });
        row("most callers waiting", &|p| p.max_waiting.to_string());
        row("managers rung", &|p| p.rings.to_string());
        row("load spread (max-min calls)", &|p| {
            p.load_spread_calls.to_string()
        });
        row("load std dev (calls)", &|p| {
            format!("{:.2}", p.load_std_dev_calls)
        });
        let mut departments: Vec<&str> = Vec::new();
        for p in &self.plans {
            for sl in &p.service_level {
                if !departments.contains(&sl.department.as_str()) {
                    departments.push(&sl.department);
                }
            }
        }
        for d in departments {
            rows.push((
                format!("  service level {d}"),
                self.plans
                    .iter()
                    .map(
                        |p| match p.service_level.iter().find(|sl| sl.department == d) {
                            Some(sl) => format!(
                                "{} ≤ {} s ({}/{})",
                                sl.pct.map_or("-".into(), |v| format!("{v:.1}%")),
                                sl.threshold_secs,
                                sl.answered_within,
                                sl.offered
                            ),
                            None => "-".into(),
                        },
                    )
                    .collect(),
            ));
        }
        let mut names: Vec<&str> = Vec::new();
        for p in &self.plans {
            for m in &p.managers {
                if !names.contains(&m.name.as_str()) {
                    names.push(&m.name);
                }
            }
        }
        names.sort_unstable();
        for name in names {
            let label = format!("  {name}: calls / talk / occ.");
            rows.push((
                label,
                self.plans
                    .iter()
                    .map(|p| match p.managers.iter().find(|m| m.name == name) {
                        Some(m) => format!(
                            "{} / {:.0} min / {:.0}%",
                            m.calls,
                            m.talk_secs / 60.0,
                            m.occupancy_pct
                        ),
                        None => "-".into(),
                    })
                    .collect(),
            ));
        }
        let header: Vec<String> = self.plans.iter().map(|p| p.plan.clone()).collect();
        let label_w = rows
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        let widths: Vec<usize> = (0..header.len())
            .map(|i| {
                rows.iter()
                    .filter_map(|(_, v)| v.get(i))
                    .chain(header.get(i))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        let line = |label: &str, cells: &[String], out: &mut String| {
            out.push_str(label);
            out.push_str(&" ".repeat(label_w - label.chars().count()));
            for (cell, w) in cells.iter().zip(&widths) {
                out.push_str("  ");
                out.push_str(&" ".repeat(w - cell.chars().count()));
                out.push_str(cell);
            }
            out.push('\n');
        };
        line("", &header, &mut out);
        for (label, cells) in &rows {
            line(label, cells, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&v, 50.0), Some(5.0));
        assert_eq!(percentile(&v, 90.0), Some(9.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[3.0], 90.0), Some(3.0));
    }
}
