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

mod policy;

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
}
