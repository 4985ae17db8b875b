//! The policy itself: for a call, ring a department's next round, wait for a returning
//! caller's manager, queue, or give up; and the bookkeeping that follows a ring.

use super::*;

impl Connector {
    // ---- the policy ----------------------------------------------------------------

    /// Decide what `call` does now.
    pub(super) fn decide(&mut self, now: Instant, wall: Timestamp, call: CallKey) {
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

    pub(super) fn decide_department(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: CallKey,
        name: &str,
    ) {
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

    pub(super) fn decide_manager(
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
    pub(super) fn round_failed(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: CallKey,
        last: RingOutcome,
    ) {
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

    pub(super) fn ring(
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

    pub(super) fn give_up_on_manager(&mut self, call: CallKey, name: &str, how: ManagerMiss) {
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

    pub(super) fn fail(&mut self, call: CallKey, step: Step, reason: Reason) {
        if self.calls.get(&call).is_some_and(|a| a.is_virtual) {
            // The dial-back decides: park and retry later, or give up.
            self.hold(call, Phase::Held);
        } else {
            self.forget(call);
        }
        self.outputs
            .push_back(ConnectOutput::Failed { call, step, reason });
    }

    pub(super) fn leave_queue(&mut self, call: CallKey, department: &str) {
        if let Some(q) = self.queues.get_mut(department)
            && q.remove(call)
        {
            self.notice(Claim::LeftQueue { call });
        }
    }

    /// A notice for the shared state (shared mode only).
    pub(super) fn notice(&mut self, claim: Claim) {
        if self.shared {
            self.claims.push_back(claim);
        }
    }

    pub(super) fn stop_waiting_for(&mut self, call: CallKey, manager: &str) {
        if let Some(w) = self.waiting_for.get_mut(manager) {
            w.retain(|c| *c != call);
            if w.is_empty() {
                self.waiting_for.remove(manager);
            }
        }
    }

    /// Drop every trace of `call` (its timers are ignored when they fire).
    pub(super) fn forget(&mut self, call: CallKey) {
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

    pub(super) fn arm(&mut self, at: Instant, timer: Timer) {
        self.next_seq += 1;
        self.timers.insert((at, self.next_seq, timer));
    }
}
