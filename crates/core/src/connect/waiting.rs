//! What queued callers are told and what the dashboard shows: positions, wait
//! estimates from each department's recent calls, and a view of every queue.

use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::estimate::{self, DepartmentStats, Sample, WaitEstimate};
use super::{ConnectOutput, Connector, Phase};
use crate::config::DialPlan;
use crate::media::CallKey;
use crate::routing::{ManagerStates, hours};

/// One department's queue as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueView {
    pub department: String,
    /// Waiting callers and virtual entries, in serving order.
    pub calls: Vec<QueuedCall>,
    /// Members who can take the queue's calls now (see [`estimate`]).
    pub signed_in: u32,
}

/// One waiting caller (or a virtual entry: a caller to be called back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedCall {
    pub call: CallKey,
    /// 1 = next.
    pub position: usize,
    pub priority: u8,
    /// The caller hung up to be called back.
    pub is_virtual: bool,
    /// When they asked to be connected.
    pub since: Timestamp,
    pub estimate: WaitEstimate,
}

impl Connector {
    /// Members of `department` who can take its queue's calls at `wall`: reachable
    /// (registered or a static contact), in their hours, not paused, not on
    /// do-not-disturb, signed in to the queue.
    pub fn signed_in(&self, plan: &DialPlan, department: &str, wall: Timestamp) -> u32 {
        let states = self.agents.states(wall);
        signed_in_with(plan, department, wall, &states)
    }

    /// Each department's recent calls (for the wait estimate).
    pub fn stats(&self, department: &str) -> Option<&DepartmentStats> {
        self.stats.get(department)
    }

    /// The estimate for `position` in `department`'s queue at `wall`.
    pub(super) fn estimate_for(
        &self,
        plan: &DialPlan,
        department: &str,
        position: usize,
        wall: Timestamp,
    ) -> WaitEstimate {
        let wrap_up = plan
            .departments
            .get(department)
            .map_or(Duration::ZERO, |d| d.wrap_up);
        let n = self.signed_in(plan, department, wall);
        estimate::estimate(position, self.stats.get(department), wrap_up, n)
    }

    /// Tell every waiting caller whose place moved their new position.
    pub(super) fn refresh_positions(&mut self, wall: Timestamp) {
        let mut moved: Vec<(CallKey, String, usize)> = Vec::new();
        for (department, q) in &self.queues {
            for (i, e) in q.entries().iter().enumerate() {
                let Some(a) = self.calls.get(&e.call) else {
                    continue;
                };
                let queued_here = matches!(&a.phase, Phase::Queued(d) if d == department);
                if queued_here && !a.is_virtual && a.position != i + 1 {
                    moved.push((e.call, department.clone(), i + 1));
                }
            }
        }
        if moved.is_empty() {
            return;
        }
        let states = self.agents.states(wall);
        for (call, department, position) in moved {
            let Some(a) = self.calls.get_mut(&call) else {
                continue;
            };
            a.position = position;
            let plan = a.plan.clone();
            let wrap_up = plan
                .departments
                .get(&department)
                .map_or(Duration::ZERO, |d| d.wrap_up);
            let n = signed_in_with(&plan, &department, wall, &states);
            let estimate = estimate::estimate(position, self.stats.get(&department), wrap_up, n);
            self.outputs.push_back(ConnectOutput::Position {
                call,
                department,
                position,
                estimate,
            });
        }
    }

    /// A manager answered `call`: remember the conversation for the department's
    /// handle-time sample.
    pub(super) fn note_answer(&mut self, now: Instant, call: CallKey, manager: &str) {
        let Some(a) = self.calls.get(&call) else {
            return;
        };
        let super::ConnectTarget::Department(d) = &a.target else {
            return;
        };
        let answer = a
            .ring_started
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        self.talking
            .entry(manager.to_string())
            .or_default()
            .push_back((d.clone(), now, answer));
    }

    /// A manager's conversation ended: one more sample of their department.
    pub(super) fn note_talk_ended(&mut self, now: Instant, manager: &str) {
        let Some(list) = self.talking.get_mut(manager) else {
            return;
        };
        let Some((department, answered, answer)) = list.pop_front() else {
            return;
        };
        if list.is_empty() {
            self.talking.remove(manager);
        }
        self.stats.entry(department).or_default().push(Sample {
            answer,
            talk: now.saturating_duration_since(answered),
        });
    }

    /// Every department with someone waiting, for the dashboard.
    pub fn queue_views(&self, wall: Timestamp) -> Vec<QueueView> {
        let states = self.agents.states(wall);
        let mut out = Vec::new();
        for (department, q) in &self.queues {
            let mut view = QueueView {
                department: department.clone(),
                calls: Vec::new(),
                signed_in: 0,
            };
            for (i, e) in q.entries().iter().enumerate() {
                let Some(a) = self.calls.get(&e.call) else {
                    continue;
                };
                let plan = &a.plan;
                if view.calls.is_empty() {
                    view.signed_in = signed_in_with(plan, department, wall, &states);
                }
                let wrap_up = plan
                    .departments
                    .get(department)
                    .map_or(Duration::ZERO, |d| d.wrap_up);
                view.calls.push(QueuedCall {
                    call: e.call,
                    position: i + 1,
                    priority: e.priority,
                    is_virtual: a.is_virtual,
                    since: a.since,
                    estimate: estimate::estimate(
                        i + 1,
                        self.stats.get(department),
                        wrap_up,
                        view.signed_in,
                    ),
                });
            }
            if !view.calls.is_empty() {
                out.push(view);
            }
        }
        out
    }
}

/// [`Connector::signed_in`] with the states already taken.
pub fn signed_in_with(
    plan: &DialPlan,
    department: &str,
    wall: Timestamp,
    states: &ManagerStates,
) -> u32 {
    let Some(d) = plan.departments.get(department) else {
        return 0;
    };
    d.members
        .iter()
        .filter_map(|m| plan.managers.get(m))
        .filter(|m| {
            let st = states.get(&m.name);
            let in_hours = m
                .hours
                .as_ref()
                .and_then(|h| plan.hours.get(h))
                .is_none_or(|s| hours::is_open(s, wall));
            in_hours
                && (m.contact.is_some() || st.registered)
                && !st.paused
                && !st.dnd
                && !st.signed_out_of.contains(department)
        })
        .count() as u32
}
