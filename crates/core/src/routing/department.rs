//! Whom a department rings: availability first (hours, registration, max calls,
//! wrap-up, already tried on this call), then the strategy orders the free members.

use std::cmp::Reverse;
use std::time::Duration;

use jiff::Timestamp;

use super::engine::{Availability, Env, Step};
use super::hours;
use super::reason::{Reason, Why};
use super::state::{ManagerState, ManagerStates, StrategyState, Tried};
use crate::config::{Department, DialPlan, Manager, Strategy};

/// What a department does with the call right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Ring `managers` in this order, each for `ring_timeout` (or all at once when
    /// `all_at_once`, for ring-all). On no answer, add the manager to `tried` and ask
    /// again: state may have changed meanwhile.
    Ring {
        managers: Vec<String>,
        all_at_once: bool,
        ring_timeout: Duration,
    },
    /// Everyone reachable is busy: hold the caller (play `hold_prompt`), ask again when
    /// a member frees up, and call [`on_queue_timeout`](super::on_queue_timeout) after
    /// `queue_timeout`.
    Queue {
        hold_prompt: Option<String>,
        queue_timeout: Duration,
    },
    /// Nobody can take the call (none signed in, all tried, queue full): the overflow
    /// action, already resolved. Why it overflowed is in the decision's
    /// [`Reason::overflow`].
    Overflow(Step),
    /// The department is closed: its after-hours action, already resolved.
    AfterHours(Step),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartmentDecision {
    pub selection: Selection,
    pub reason: Reason,
}

/// Chooses whom `department` rings now. `strategy` is updated (round-robin position,
/// last offers); `tried` holds the managers who already declined or did not answer on
/// this call and are never rung again for it.
pub fn select_department(
    plan: &DialPlan,
    department: &str,
    now: Timestamp,
    states: &ManagerStates,
    strategy: &mut StrategyState,
    tried: &Tried,
) -> DepartmentDecision {
    let env = Env { plan, states, now };
    let mut reasons = Reason::new();
    let Some(dept) = plan.departments.get(department) else {
        return DepartmentDecision {
            selection: Selection::Overflow(Step::Hangup),
            reason: Reason::one(Why::Missing {
                kind: "department",
                name: department.to_string(),
            }),
        };
    };
    let schedule = dept.hours.as_ref().and_then(|h| plan.hours.get(h));
    if let Some(s) = schedule.filter(|s| !hours::is_open(s, now)) {
        reasons.push(Why::DepartmentClosed {
            department: department.to_string(),
            state: hours::describe(s, now),
            action: dept.after_hours.clone(),
        });
        let step = env.resolve(&dept.after_hours, &mut reasons, 0);
        return DepartmentDecision {
            selection: Selection::AfterHours(step),
            reason: reasons,
        };
    }

    let mut free: Vec<Candidate<'_>> = Vec::new();
    let mut occupied: Vec<String> = Vec::new();
    let mut unreachable: Vec<String> = Vec::new();
    let mut already_tried: Vec<&str> = Vec::new();
    for (index, name) in dept.members.iter().enumerate() {
        let Some(manager) = plan.managers.get(name) else {
            continue;
        };
        if tried.contains(name) {
            already_tried.push(name);
            continue;
        }
        let state = states.get(name);
        let availability = if state.signed_out_of.contains(department) {
            Availability::SignedOut
        } else {
            env.availability(manager, &state, dept.wrap_up)
        };
        match availability {
            Availability::Free => free.push(Candidate {
                index,
                manager,
                state,
            }),
            a if a.is_occupied() => occupied.push(format!("{name} {a}")),
            a => unreachable.push(format!("{name} {a}")),
        }
    }

    if free.is_empty() {
        let overflow = |why: Why, reasons: &mut Reason| {
            reasons.push(why);
            Selection::Overflow(env.resolve(&dept.overflow, reasons, 0))
        };
        let selection = if occupied.is_empty() {
            let mut why = String::new();
            if dept.members.is_empty() {
                why.push_str(": it has no members");
            } else {
                let mut parts = unreachable;
                if !already_tried.is_empty() {
                    parts.push(format!(
                        "already tried on this call: {}",
                        already_tried.join(", ")
                    ));
                }
                why.push_str(&format!(" ({})", parts.join("; ")));
            }
            let why = Why::OverflowNobody {
                department: department.to_string(),
                detail: why,
                action: dept.overflow.clone(),
            };
            overflow(why, &mut reasons)
        } else {
            let waiting = states.queued(department);
            if waiting >= dept.max_waiting {
                let why = Why::OverflowQueueFull {
                    department: department.to_string(),
                    busy: occupied,
                    waiting,
                    max_waiting: dept.max_waiting,
                    action: dept.overflow.clone(),
                };
                overflow(why, &mut reasons)
            } else {
                reasons.push(Why::Queueing {
                    department: department.to_string(),
                    busy: occupied,
                    position: waiting + 1,
                    timeout_secs: dept.queue_timeout.as_secs(),
                });
                Selection::Queue {
                    hold_prompt: dept.hold_prompt.clone(),
                    queue_timeout: dept.queue_timeout,
                }
            }
        };
        return DepartmentDecision {
            selection,
            reason: reasons,
        };
    }

    let note = order(dept, &mut free, strategy);
    let managers: Vec<String> = free.iter().map(|c| c.manager.name.clone()).collect();
    if let Some(first) = managers.first() {
        strategy.sequence += 1;
        strategy
            .last_offered
            .insert((department.to_string(), first.clone()), strategy.sequence);
    }
    let all_at_once = dept.strategy == Strategy::RingAll;
    reasons.push(Why::Ringing {
        department: department.to_string(),
        strategy: dept.strategy.name(),
        note,
        all_at_once,
        managers: managers.clone(),
    });
    DepartmentDecision {
        selection: Selection::Ring {
            managers,
            all_at_once,
            ring_timeout: dept.ring_timeout,
        },
        reason: reasons,
    }
}

/// What the caller does when the queue wait runs out: the department's overflow.
pub fn on_queue_timeout(
    plan: &DialPlan,
    department: &str,
    now: Timestamp,
    states: &ManagerStates,
) -> super::Decision {
    let env = Env { plan, states, now };
    let Some(dept) = plan.departments.get(department) else {
        return super::Decision {
            step: Step::Hangup,
            reason: Reason::one(Why::Missing {
                kind: "department",
                name: department.to_string(),
            }),
        };
    };
    let mut reasons = Reason::one(Why::QueueTimedOut {
        department: department.to_string(),
        secs: dept.queue_timeout.as_secs(),
        action: dept.overflow.clone(),
    });
    let step = env.resolve(&dept.overflow, &mut reasons, 0);
    super::Decision {
        step,
        reason: reasons,
    }
}

struct Candidate<'a> {
    /// Position in the department's member list: the tie-breaker everywhere, so equal
    /// candidates are always ordered the same way.
    index: usize,
    manager: &'a Manager,
    state: ManagerState,
}

/// Orders free members by the department's strategy; returns a note for the reason.
fn order(dept: &Department, free: &mut [Candidate<'_>], strategy: &mut StrategyState) -> String {
    // `None` (never had a call) sorts first: idle since forever.
    let idle_key = |c: &Candidate<'_>| (c.state.last_call_end, c.index);
    match dept.strategy {
        Strategy::RingAll => free.sort_by_key(|c| c.index),
        Strategy::RoundRobin => {
            let len = dept.members.len().max(1);
            let start = strategy.round_robin.get(&dept.name).copied().unwrap_or(0) % len;
            free.sort_by_key(|c| (c.index + len - start) % len);
            if let Some(first) = free.first() {
                strategy
                    .round_robin
                    .insert(dept.name.clone(), (first.index + 1) % len);
            }
        }
        Strategy::LeastRecent => free.sort_by_key(|c| {
            let key = (dept.name.clone(), c.manager.name.clone());
            (strategy.last_offered.get(&key).copied(), c.index)
        }),
        Strategy::FewestCalls => free.sort_by_key(|c| (c.state.calls_today, idle_key(c))),
        Strategy::LongestIdle => free.sort_by_key(idle_key),
        Strategy::Random => {
            // Fisher–Yates with the caller's seeded generator.
            for i in (1..free.len()).rev() {
                let j = strategy.below(i + 1);
                free.swap(i, j);
            }
        }
        Strategy::Skills => {
            let matched = |c: &Candidate<'_>| {
                dept.skills
                    .iter()
                    .filter(|s| c.manager.skills.contains(s))
                    .count()
            };
            free.sort_by_key(|c| (Reverse(matched(c)), idle_key(c)));
            let best = free.first().map(matched).unwrap_or(0);
            let wanted = dept.skills.len();
            return if wanted > 0 && best < wanted {
                format!(
                    ", nobody free has all of {}: best match first",
                    dept.skills.join(", ")
                )
            } else {
                String::new()
            };
        }
    }
    String::new()
}
