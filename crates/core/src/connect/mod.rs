//! The connect policy: whom a call rings, in which rounds, who waits in which queue and
//! in what order, and when a call gives up on people — one pure machine shared by the
//! live router and the simulator.
//!
//! The routing engine ([`crate::routing`]) answers *one* question at a time ("whom
//! would department X ring now?"). This machine owns everything around it: the
//! managers' load ([`Agents`]), each call's tried set, the departments' first-come,
//! first-served queues, callers waiting for their previous manager, and the deadlines
//! of those waits. It never polls: whenever a manager may have become free (a ring or a
//! conversation ended, wrap-up is over, a phone registered, a pause ended) it offers
//! them at once to the callers waiting by name, then to the heads of their
//! departments' queues, in order.
//!
//! Sans-IO like the layers below: inputs come with `now` (protocol time) and `wall`
//! (business time); outputs are [`ConnectOutput`]s drained with [`Connector::poll_output`]
//! and the next deadline is [`Connector::poll_timeout`]. Whoever executes the outputs —
//! the live call with real SIP legs, or the simulator with modelled managers — reports
//! back how each ring ended.
//!
//! One call's life in here:
//!
//! ```text
//!  handle_request ──▶ decide ──┬─▶ Ring{round} ──▶ ringing ──ring_ended (all)──▶ decide
//!                              │                      │ answered
//!                              │                      ▼
//!                              │                   (done: the call is bridged)
//!                              ├─▶ Wait{queue}  ──▶ queued ──manager free / deadline──▶ decide
//!                              ├─▶ Wait{manager}──▶ waiting for one manager ──free / deadline──▶ decide
//!                              └─▶ Failed{step}    (overflow, after hours, fallback: the
//!                                                   call's program continues with `step`)
//!  handle_left (caller hung up) removes the call from wherever it is.
//! ```
//!
//! Queued callers are told their place: whenever a queue changes, each waiting caller
//! whose position moved gets a [`ConnectOutput::Position`] with a fresh
//! [`WaitEstimate`] ([`estimate`]). A caller who asks to be called back instead of
//! waiting keeps their place as a *virtual* entry ([`ConnectInput::Virtualize`], see
//! `virtual_queue.rs`): when it reaches the head and a manager is free, the same
//! `Ring` output starts the dial-back.
//!
//! With several instances sharing managers ([`Connector::set_shared`]), a ring goes
//! through a claim first (`Ring{round}` becomes [`Claim::Ring`] answered by
//! [`ConnectInput::Claimed`]); see [`shared`].

pub mod estimate;
mod managers;
mod messages;
mod queue;
pub mod shared;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_shared;
#[cfg(test)]
mod tests_waiting;
mod virtual_queue;
mod waiting;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;

pub use estimate::{DepartmentStats, WaitEstimate};
pub use messages::{ConnectInput, ConnectOutput, ConnectTarget, Wait};
pub use queue::{Entry, Queue};
pub use shared::{CLAIM_TIMEOUT, Claim, ClaimManager, SharedSnapshot};
pub use waiting::{QueueView, QueuedCall};

use crate::agents::Agents;
use crate::config::DialPlan;
use crate::media::CallKey;
use crate::model::RingOutcome;
use crate::routing::{
    self, ManagerMiss, ManagerStates, Reason, Selection, Step, StrategyState, Tried, Why,
};

/// A wrap-up wake fires this much after the wrap-up ends, so the wall clock read when
/// it fires is past the end even if it and the monotonic clock disagree a little.
const WAKE_MARGIN: Duration = Duration::from_millis(10);

/// One call being connected.
#[derive(Debug)]
struct Attempt {
    plan: Arc<DialPlan>,
    target: ConnectTarget,
    /// Managers who declined or did not answer this call: never rung again for it.
    tried: Tried,
    /// Arrival order (first come, first served).
    seq: u64,
    priority: u8,
    phase: Phase,
    /// The department queue's deadline, from the first time the call queued there;
    /// it holds across rounds rung from the queue, so the total wait is bounded.
    queue_deadline: Option<Instant>,
    /// How long a caller waits for one busy manager, from the first time they waited.
    wait_deadline: Option<Instant>,
    /// The queue position last reported to the call (0: none).
    position: usize,
    /// When the call asked to be connected (or joined the queue, for a restored
    /// virtual entry): the dashboard's "waiting since".
    since: Timestamp,
    /// The caller hung up to be called back: a place in the queue without a caller.
    is_virtual: bool,
    /// When the current round started ringing (the answer-time sample).
    ring_started: Option<Instant>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Being decided right now.
    Deciding,
    /// The managers of the current round that are still ringing.
    Ringing(BTreeSet<String>),
    Queued(String),
    WaitingFor(String),
    /// A virtual entry whose dial-back is running (a manager answered).
    Dialing,
    /// A virtual entry nobody can take now (`Failed` was output): out of the queue,
    /// keeping its place, until parked or left.
    Held,
    /// A virtual entry waiting for its retry time.
    Parked,
    /// Shared mode: waiting for the answer to ring claim `id` (the round to ring once
    /// granted). A department call keeps its queue place meanwhile.
    Claiming {
        id: u64,
        managers: Vec<String>,
        ring_timeout: Duration,
        department: Option<String>,
        reason: Reason,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    QueueDeadline(CallKey),
    WaitDeadline(CallKey),
    /// A manager's wrap-up ends.
    Wake(String),
    /// A parked virtual entry's back-off is over.
    Retry(CallKey),
    /// A ring claim was not answered in time.
    ClaimDeadline(CallKey, u64),
}

/// The connect policy for every call of one Switchboard (or one simulation).
#[derive(Debug)]
pub struct Connector {
    agents: Agents,
    strategy: StrategyState,
    calls: HashMap<CallKey, Attempt>,
    queues: BTreeMap<String, Queue>,
    /// Manager → callers waiting for them by name, in arrival order.
    waiting_for: BTreeMap<String, Vec<CallKey>>,
    timers: BTreeSet<(Instant, u64, Timer)>,
    outputs: VecDeque<ConnectOutput>,
    next_seq: u64,
    /// Each department's recent answered calls, for wait estimates.
    stats: BTreeMap<String, DepartmentStats>,
    /// Conversations in progress per manager: (department, answered at, ring-to-answer),
    /// oldest first; a talk's end makes a sample.
    talking: BTreeMap<String, VecDeque<(String, Instant, Duration)>>,
    /// Several instances share the managers: claims before rings, notices after.
    shared: bool,
    claims: VecDeque<Claim>,
}

impl Connector {
    /// `seed` seeds the `random` strategy, so runs are reproducible.
    pub fn new(seed: u64) -> Self {
        Connector {
            agents: Agents::new(),
            strategy: StrategyState::with_seed(seed),
            calls: HashMap::new(),
            queues: BTreeMap::new(),
            waiting_for: BTreeMap::new(),
            timers: BTreeSet::new(),
            outputs: VecDeque::new(),
            next_seq: 0,
            stats: BTreeMap::new(),
            talking: BTreeMap::new(),
            shared: false,
            claims: VecDeque::new(),
        }
    }

    /// Share managers with other instances: every ring is claimed first and every
    /// change of a manager's load is reported through [`Connector::poll_claim`].
    pub fn set_shared(&mut self, on: bool) {
        self.shared = on;
    }

    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// The next claim or notice for the shared state (never any in single-instance
    /// mode).
    #[must_use]
    pub fn poll_claim(&mut self) -> Option<Claim> {
        self.claims.pop_front()
    }

    pub fn agents(&self) -> &Agents {
        &self.agents
    }

    /// The engine's view of everyone at `wall`, with the queue lengths.
    pub fn states(&self, wall: Timestamp) -> ManagerStates {
        let mut states = self.agents.states(wall);
        states.queued = self
            .queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(d, q)| (d.clone(), q.len() as u32))
            .collect();
        states
    }

    /// The callers waiting in `department`, in serving order.
    pub fn queue(&self, department: &str) -> Vec<CallKey> {
        self.queues
            .get(department)
            .map(Queue::calls)
            .unwrap_or_default()
    }

    /// Every department with callers waiting.
    pub fn queues(&self) -> impl Iterator<Item = (&str, &Queue)> {
        self.queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(d, q)| (d.as_str(), q))
    }

    /// Whether `call` is being connected (ringing, queued or waiting).
    pub fn is_connecting(&self, call: CallKey) -> bool {
        self.calls.contains_key(&call)
    }

    #[must_use]
    pub fn poll_output(&mut self) -> Option<ConnectOutput> {
        self.outputs.pop_front()
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _, _)| *at)
    }

    // ---- inputs: calls -------------------------------------------------------------

    /// Apply one input (the queued form of the `handle_*` methods below).
    pub fn handle(&mut self, now: Instant, wall: Timestamp, input: ConnectInput) {
        match input {
            ConnectInput::Request {
                call,
                plan,
                target,
                priority,
            } => self.handle_request(now, wall, call, plan, target, priority),
            ConnectInput::RingEnded {
                call,
                manager,
                outcome,
            } => self.handle_ring_ended(now, wall, call, &manager, outcome),
            ConnectInput::Answered { call, manager } => {
                self.handle_answered(now, wall, call, &manager)
            }
            ConnectInput::Left { call } => self.handle_left(now, wall, call),
            ConnectInput::TalkEnded { manager, plan } => {
                self.handle_talk_ended(now, wall, &manager, &plan)
            }
            ConnectInput::Virtualize { call, new_key } => {
                self.handle_virtualize(now, wall, call, new_key)
            }
            ConnectInput::Restore {
                call,
                plan,
                department,
                priority,
                since,
                not_before,
            } => self.handle_restore(
                now,
                wall,
                call,
                plan,
                &department,
                priority,
                since,
                not_before,
            ),
            ConnectInput::Park { call, until } => self.handle_park(now, wall, call, until),
            ConnectInput::Claimed {
                id,
                call,
                granted,
                refused,
            } => self.handle_claimed(now, wall, id, call, granted, refused),
        }
    }

    /// A call asks to be connected to `target` (priority: higher is served first).
    pub fn handle_request(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: CallKey,
        plan: Arc<DialPlan>,
        target: ConnectTarget,
        priority: u8,
    ) {
        self.forget(call);
        self.next_seq += 1;
        let department = match &target {
            ConnectTarget::Department(d) => Some(d.clone()),
            ConnectTarget::Manager { .. } => None,
        };
        self.calls.insert(
            call,
            Attempt {
                plan,
                target,
                tried: Tried::new(),
                seq: self.next_seq,
                priority,
                phase: Phase::Deciding,
                queue_deadline: None,
                wait_deadline: None,
                position: 0,
                since: wall,
                is_virtual: false,
                ring_started: None,
            },
        );
        // Those already waiting go first: a caller arriving just as a manager frees up
        // does not jump ahead of one who has been waiting.
        if let Some(d) = department
            && self.queues.get(&d).is_some_and(|q| !q.is_empty())
        {
            self.offer_department(now, wall, &d);
        }
        self.decide(now, wall, call);
        self.refresh_positions(wall);
    }

    /// A manager's phone stopped ringing for `call` without a conversation.
    /// `Cancelled` means we stopped it (someone else answered, the caller left) and
    /// never counts against them.
    pub fn handle_ring_ended(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: CallKey,
        manager: &str,
        outcome: RingOutcome,
    ) {
        self.agents.ring_ended(manager);
        self.notice(Claim::RingEnded {
            call,
            manager: manager.to_string(),
        });
        let mut round_over = false;
        if let Some(a) = self.calls.get_mut(&call)
            && let Phase::Ringing(pending) = &mut a.phase
            && pending.remove(manager)
            && outcome != RingOutcome::Cancelled
        {
            a.tried.insert(manager.to_string());
            round_over = pending.is_empty();
        }
        if round_over {
            self.round_failed(now, wall, call, outcome);
        }
        self.wake(now, wall, manager);
        self.refresh_positions(wall);
    }

    /// `manager` answered `call`: the call is connected and leaves this machine. The
    /// other phones of its round are reported as `Cancelled` when they stop.
    pub fn handle_answered(&mut self, now: Instant, wall: Timestamp, call: CallKey, manager: &str) {
        self.agents.answered(manager);
        self.notice(Claim::Answered {
            call,
            manager: manager.to_string(),
        });
        self.note_answer(now, call, manager);
        if self.calls.get(&call).is_some_and(|a| a.is_virtual) {
            // The dial-back goes on: the entry leaves the queue but is kept until the
            // attempt's outcome (a retry keeps its place).
            self.hold(call, Phase::Dialing);
        } else {
            self.forget(call);
        }
        self.refresh_positions(wall);
    }

    /// The caller hung up (or the call moved on): out of every queue and wait. Ringing
    /// phones are reported separately as `Cancelled`.
    pub fn handle_left(&mut self, _now: Instant, wall: Timestamp, call: CallKey) {
        self.forget(call);
        self.refresh_positions(wall);
    }

    /// A manager's conversation ended (hang-up or transfer): wrap-up starts now, per
    /// department as `plan` sets it.
    pub fn handle_talk_ended(
        &mut self,
        now: Instant,
        wall: Timestamp,
        manager: &str,
        plan: &DialPlan,
    ) {
        self.agents.talk_ended(manager, wall);
        self.note_talk_ended(now, manager);
        self.notice(Claim::TalkEnded {
            manager: manager.to_string(),
        });
        let wraps: BTreeSet<Duration> = plan
            .departments
            .values()
            .filter(|d| d.members.iter().any(|m| m == manager) && !d.wrap_up.is_zero())
            .map(|d| d.wrap_up)
            .collect();
        for w in wraps {
            self.arm(now + w + WAKE_MARGIN, Timer::Wake(manager.to_string()));
        }
        self.wake(now, wall, manager);
        self.refresh_positions(wall);
    }

    pub fn handle_timeout(&mut self, now: Instant, wall: Timestamp) {
        while let Some((at, _, _)) = self.timers.first() {
            if *at > now {
                break;
            }
            let Some((_, _, timer)) = self.timers.pop_first() else {
                break;
            };
            match timer {
                Timer::QueueDeadline(call) => {
                    if self
                        .calls
                        .get(&call)
                        .is_some_and(|a| matches!(a.phase, Phase::Queued(_)) && !a.is_virtual)
                    {
                        self.decide(now, wall, call);
                    }
                    // Ringing: the round finishes, and the next decision overflows.
                }
                Timer::WaitDeadline(call) => {
                    if let Some(a) = self.calls.get(&call)
                        && let Phase::WaitingFor(m) = &a.phase
                    {
                        let m = m.clone();
                        self.stop_waiting_for(call, &m);
                        self.give_up_on_manager(call, &m, ManagerMiss::WaitOver);
                    }
                }
                Timer::Wake(manager) => self.wake(now, wall, &manager),
                Timer::Retry(call) => self.retry(now, wall, call),
                Timer::ClaimDeadline(call, id) => {
                    let pending = self.calls.get(&call).is_some_and(
                        |a| matches!(&a.phase, Phase::Claiming { id: i, .. } if *i == id),
                    );
                    if pending {
                        tracing::warn!(
                            "no answer from the shared state within {} s: not ringing anyone for this call now",
                            CLAIM_TIMEOUT.as_secs()
                        );
                        self.settle_claim(now, wall, call, Vec::new());
                    }
                }
            }
        }
        self.refresh_positions(wall);
    }

    // ---- the policy ----------------------------------------------------------------

    /// Decide what `call` does now.
    fn decide(&mut self, now: Instant, wall: Timestamp, call: CallKey) {
        let Some(target) = self.calls.get(&call).map(|a| a.target.clone()) else {
            return;
        };
        match target {
            ConnectTarget::Department(name) => self.decide_department(now, wall, call, &name),
            ConnectTarget::Manager {
                name,
                ring_timeout,
                wait,
                ..
            } => self.decide_manager(now, wall, call, &name, ring_timeout, wait),
        }
    }

    fn decide_department(&mut self, now: Instant, wall: Timestamp, call: CallKey, name: &str) {
        let mut states = self.states(wall);
        // The engine counts the *others* waiting (max_waiting).
        if self
            .queues
            .get(name)
            .is_some_and(|q| q.position(call).is_some())
            && let Some(n) = states.queued.get_mut(name)
        {
            *n = n.saturating_sub(1);
        }
        let Some(a) = self.calls.get(&call) else {
            return;
        };
        let d =
            routing::select_department(&a.plan, name, wall, &states, &mut self.strategy, &a.tried);
        match d.selection {
            Selection::Ring {
                managers,
                all_at_once,
                ring_timeout,
            } => {
                let round: Vec<String> = if all_at_once {
                    managers
                } else {
                    managers.into_iter().take(1).collect()
                };
                // Shared mode: the call keeps its queue place until its claim is granted.
                if !self.shared {
                    self.leave_queue(call, name);
                }
                let department = Some(name.to_string());
                self.ring(now, call, round, ring_timeout, department, d.reason);
            }
            Selection::Queue {
                hold_prompt,
                queue_timeout,
            } => {
                let Some(a) = self.calls.get_mut(&call) else {
                    return;
                };
                if !a.is_virtual && a.queue_deadline.is_some_and(|t| t <= now) {
                    let plan = a.plan.clone();
                    self.leave_queue(call, name);
                    let states = self.states(wall);
                    let dec = routing::on_queue_timeout(&plan, name, wall, &states);
                    return self.fail(call, dec.step, dec.reason);
                }
                // A virtual entry has no caller on hold: no deadline, it waits for
                // its turn however long that takes.
                let fresh_deadline = a.queue_deadline.is_none() && !a.is_virtual;
                let deadline = *a.queue_deadline.get_or_insert(now + queue_timeout);
                a.phase = Phase::Queued(name.to_string());
                let is_virtual = a.is_virtual;
                let entry = Entry {
                    call,
                    priority: a.priority,
                    seq: a.seq,
                };
                if fresh_deadline {
                    self.arm(deadline, Timer::QueueDeadline(call));
                }
                let queue = self.queues.entry(name.to_string()).or_default();
                let already = queue.position(call).is_some();
                let position = queue.insert(entry);
                if !already {
                    self.notice(Claim::Queued {
                        call,
                        department: name.to_string(),
                        priority: entry.priority,
                    });
                }
                if !already && !is_virtual {
                    let estimate = match self.calls.get(&call).map(|a| a.plan.clone()) {
                        Some(plan) => self.estimate_for(&plan, name, position, wall),
                        None => WaitEstimate::Unknown,
                    };
                    if let Some(a) = self.calls.get_mut(&call) {
                        a.position = position;
                    }
                    self.outputs.push_back(ConnectOutput::Wait {
                        call,
                        wait: Wait::Queue {
                            department: name.to_string(),
                            position,
                            hold_prompt,
                            estimate,
                        },
                        reason: d.reason,
                    });
                }
            }
            Selection::Overflow(step) | Selection::AfterHours(step) => {
                self.leave_queue(call, name);
                self.fail(call, step, d.reason);
            }
        }
    }

    fn decide_manager(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: CallKey,
        name: &str,
        ring_timeout: Duration,
        wait: Duration,
    ) {
        let states = self.states(wall);
        let Some(a) = self.calls.get_mut(&call) else {
            return;
        };
        if a.tried.contains(name) {
            return self.give_up_on_manager(call, name, ManagerMiss::DidNotAnswer);
        }
        let availability = routing::manager_availability(&a.plan, name, &states, wall);
        match availability {
            Some(routing::Availability::Free) => {
                self.stop_waiting_for(call, name);
                let reason = Reason::new();
                self.ring(
                    now,
                    call,
                    vec![name.to_string()],
                    ring_timeout,
                    None,
                    reason,
                );
            }
            Some(av) if av.is_occupied() => {
                let fresh = a.wait_deadline.is_none();
                let deadline = *a.wait_deadline.get_or_insert(now + wait);
                if now >= deadline {
                    self.stop_waiting_for(call, name);
                    let how = if wait.is_zero() {
                        ManagerMiss::Unavailable(av.to_string())
                    } else {
                        ManagerMiss::WaitOver
                    };
                    return self.give_up_on_manager(call, name, how);
                }
                a.phase = Phase::WaitingFor(name.to_string());
                if fresh {
                    self.arm(deadline, Timer::WaitDeadline(call));
                }
                let waiters = self.waiting_for.entry(name.to_string()).or_default();
                if !waiters.contains(&call) {
                    waiters.push(call);
                    self.outputs.push_back(ConnectOutput::Wait {
                        call,
                        wait: Wait::Manager {
                            name: name.to_string(),
                        },
                        reason: Reason::one(Why::ManagerUnavailable {
                            manager: name.to_string(),
                            availability: av.to_string(),
                            action: crate::config::Action::Manager(name.to_string()),
                        }),
                    });
                }
            }
            Some(av) => {
                self.stop_waiting_for(call, name);
                self.give_up_on_manager(call, name, ManagerMiss::Unavailable(av.to_string()));
            }
            None => self.give_up_on_manager(
                call,
                name,
                ManagerMiss::Unavailable("not in the dial plan".into()),
            ),
        }
    }

    /// Every phone of the round ended without an answer.
    fn round_failed(&mut self, now: Instant, wall: Timestamp, call: CallKey, last: RingOutcome) {
        let Some(a) = self.calls.get_mut(&call) else {
            return;
        };
        a.phase = Phase::Deciding;
        match a.target.clone() {
            ConnectTarget::Department(_) => self.decide(now, wall, call),
            ConnectTarget::Manager { name, .. } => {
                let how = if last == RingOutcome::Failed {
                    ManagerMiss::Unreachable
                } else {
                    ManagerMiss::DidNotAnswer
                };
                self.give_up_on_manager(call, &name, how);
            }
        }
    }

    fn ring(
        &mut self,
        now: Instant,
        call: CallKey,
        managers: Vec<String>,
        ring_timeout: Duration,
        department: Option<String>,
        reason: Reason,
    ) {
        let Some(a) = self.calls.get_mut(&call) else {
            return;
        };
        a.ring_started = Some(now);
        a.position = 0;
        for m in &managers {
            self.agents.ring_started(m);
        }
        if self.shared {
            self.next_seq += 1;
            let id = self.next_seq;
            let wrap_up = department
                .as_deref()
                .and_then(|d| a.plan.departments.get(d))
                .map(|d| d.wrap_up)
                .unwrap_or_default();
            let claim = Claim::Ring {
                id,
                call,
                managers: managers
                    .iter()
                    .map(|m| ClaimManager {
                        manager: m.clone(),
                        max_calls: a.plan.managers.get(m).map_or(1, |x| x.max_calls),
                        wrap_up,
                    })
                    .collect(),
                department: department.clone(),
                priority: a.priority,
            };
            a.phase = Phase::Claiming {
                id,
                managers: managers.clone(),
                ring_timeout,
                department,
                reason,
            };
            self.claims.push_back(claim);
            self.arm(now + CLAIM_TIMEOUT, Timer::ClaimDeadline(call, id));
            return;
        }
        a.phase = Phase::Ringing(managers.iter().cloned().collect());
        self.outputs.push_back(ConnectOutput::Ring {
            call,
            managers,
            ring_timeout,
            department,
            reason,
        });
    }

    fn give_up_on_manager(&mut self, call: CallKey, name: &str, how: ManagerMiss) {
        let Some(a) = self.calls.get(&call) else {
            return;
        };
        let ConnectTarget::Manager { fallback, .. } = &a.target else {
            return;
        };
        let step = (**fallback).clone();
        let reason = Reason::one(Why::ManagerMissed {
            manager: name.to_string(),
            how,
            fallback: step.to_string(),
        });
        self.fail(call, step, reason);
    }

    fn fail(&mut self, call: CallKey, step: Step, reason: Reason) {
        if self.calls.get(&call).is_some_and(|a| a.is_virtual) {
            // The dial-back decides: park and retry later, or give up.
            self.hold(call, Phase::Held);
        } else {
            self.forget(call);
        }
        self.outputs
            .push_back(ConnectOutput::Failed { call, step, reason });
    }

    fn leave_queue(&mut self, call: CallKey, department: &str) {
        if let Some(q) = self.queues.get_mut(department)
            && q.remove(call)
        {
            self.notice(Claim::LeftQueue { call });
        }
    }

    /// A notice for the shared state (shared mode only).
    fn notice(&mut self, claim: Claim) {
        if self.shared {
            self.claims.push_back(claim);
        }
    }

    fn stop_waiting_for(&mut self, call: CallKey, manager: &str) {
        if let Some(w) = self.waiting_for.get_mut(manager) {
            w.retain(|c| *c != call);
            if w.is_empty() {
                self.waiting_for.remove(manager);
            }
        }
    }

    /// Drop every trace of `call` (its timers are ignored when they fire).
    fn forget(&mut self, call: CallKey) {
        let Some(a) = self.calls.remove(&call) else {
            return;
        };
        match &a.phase {
            Phase::Queued(d) => self.leave_queue(call, d),
            Phase::WaitingFor(m) => self.stop_waiting_for(call, m),
            Phase::Ringing(_)
            | Phase::Deciding
            | Phase::Dialing
            | Phase::Held
            | Phase::Parked
            | Phase::Claiming { .. } => {}
        }
        if let ConnectTarget::Department(d) = &a.target {
            self.leave_queue(call, d);
        }
    }

    fn arm(&mut self, at: Instant, timer: Timer) {
        self.next_seq += 1;
        self.timers.insert((at, self.next_seq, timer));
    }
}
