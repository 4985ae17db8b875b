//! Waiting: callers queued in a department or waiting for their previous manager, the
//! queue timeout, patience running out, and the wake-ups when a manager frees up.

use std::collections::VecDeque;
use std::time::Duration;

use super::{Ev, Phase, RingOrigin, SimOutcome};
use crate::config::Action;
use crate::routing::{Step, on_queue_timeout, resolve};

impl super::Sim<'_> {
    /// Returning caller: ring their manager if free, else wait up to `wait` for them.
    pub(super) fn try_manager(
        &mut self,
        c: usize,
        name: &str,
        ring_timeout: Duration,
        wait: Duration,
        fallback: Box<Step>,
    ) {
        if self.manager_free(name) {
            return self.start_ring(
                c,
                vec![name.to_string()],
                ring_timeout,
                RingOrigin::Manager(fallback),
            );
        }
        let Some(&m) = self.index.get(name) else {
            return self.enter_step(c, *fallback);
        };
        if wait.is_zero() {
            return self.enter_step(c, *fallback);
        }
        let call = self.call(c);
        call.phase = Phase::WaitingFor(m);
        call.wait_for = Some((ring_timeout, fallback));
        let e = self.bump(c);
        if let Some(w) = self.waiters.get_mut(m) {
            w.push(c);
        }
        self.set_waiting(1);
        self.schedule(
            self.now + wait.as_millis() as u64,
            Ev::ManagerWaitOver(c, e),
        );
    }

    /// Asks the engine, so "free" means exactly what routing means by it.
    pub(super) fn manager_free(&self, name: &str) -> bool {
        let d = resolve(
            self.plan,
            &Action::Manager(name.to_string()),
            self.ts(),
            &self.states,
        );
        matches!(d.step.target(), Step::Manager { .. })
    }

    pub(super) fn stop_waiting_for(&mut self, c: usize, m: usize) {
        if let Some(w) = self.waiters.get_mut(m) {
            w.retain(|x| *x != c);
        }
        self.set_waiting(-1);
    }

    pub(super) fn leave_queue(&mut self, c: usize, dept: &str) {
        if let Some(q) = self.queues.get_mut(dept) {
            q.retain(|x| *x != c);
        }
        self.set_waiting(-1);
    }

    pub(super) fn queue_timeout(&mut self, c: usize) {
        let now = self.now;
        let Some(call) = self.calls.get_mut(c) else {
            return;
        };
        let Some((dept, deadline)) = call.queue_deadline.clone() else {
            return;
        };
        if deadline != now || call.phase == Phase::Done {
            return;
        }
        if call.phase == Phase::Queued(dept.clone()) {
            self.leave_queue(c, &dept);
            self.overflow_from_queue(c, &dept);
        } else {
            // Ringing someone right now: if that fails, the next queue decision
            // overflows instead.
            call.queue_expired = true;
        }
    }

    pub(super) fn overflow_from_queue(&mut self, c: usize, dept: &str) {
        self.call(c).result.overflowed = true;
        self.bump(c);
        let d = on_queue_timeout(self.plan, dept, self.ts(), &self.states);
        self.enter_step(c, d.step);
    }

    pub(super) fn patience(&mut self, c: usize) {
        let phase = match self.calls.get(c) {
            Some(call) => call.phase.clone(),
            None => return,
        };
        match phase {
            Phase::Queued(dept) => self.leave_queue(c, &dept),
            Phase::WaitingFor(m) => self.stop_waiting_for(c, m),
            Phase::Ringing => {
                if let Some(r) = self.call(c).ring.take() {
                    self.release(&r.managers);
                }
            }
            Phase::Ivr | Phase::Talking | Phase::Done => return,
        }
        self.finish(c, SimOutcome::AbandonedWaiting);
    }

    /// Manager `m` may be free: first callers waiting for them by name, then the
    /// heads of their departments' queues, in order.
    pub(super) fn wake(&mut self, m: usize) {
        let Some(name) = self.names.get(m).cloned() else {
            return;
        };
        let waiting: Vec<usize> = self.waiters.get(m).cloned().unwrap_or_default();
        for c in waiting {
            if !self.manager_free(&name) {
                break;
            }
            self.stop_waiting_for(c, m);
            let (timeout, fallback) = self
                .call(c)
                .wait_for
                .take()
                .unwrap_or((Duration::from_secs(20), Box::new(Step::Hangup)));
            self.start_ring(
                c,
                vec![name.clone()],
                timeout,
                RingOrigin::Manager(fallback),
            );
        }
        let depts: Vec<String> = self
            .departments_of
            .get(m)
            .map(|(d, _)| d.clone())
            .unwrap_or_default();
        for dept in depts {
            while let Some(c) = self.queues.get_mut(&dept).and_then(VecDeque::pop_front) {
                self.set_waiting(-1);
                self.try_department(c, &dept, true);
                if self
                    .calls
                    .get(c)
                    .is_some_and(|x| x.phase == Phase::Queued(dept.clone()))
                {
                    break;
                }
            }
        }
    }
}
