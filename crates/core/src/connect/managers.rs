//! The connect policy's inputs about managers: registrations, pauses, signing in to
//! and out of queues, do-not-disturb. Each may free a manager, who is then offered
//! at once to the callers waiting for them.

use std::time::Instant;

use jiff::Timestamp;

use super::{Claim, Connector, Phase};
use crate::agents::Pause;

impl Connector {
    // ---- inputs: managers ----------------------------------------------------------

    /// A manager's registrations now last until `until` (`None`: none left).
    pub fn handle_registered(
        &mut self,
        now: Instant,
        wall: Timestamp,
        manager: &str,
        until: Option<Timestamp>,
    ) {
        let before = self.agents.get(manager).and_then(|a| a.registered_until);
        self.agents.set_registered_until(manager, until);
        if until.is_some() && before.is_none_or(|b| b <= wall) {
            self.wake(now, wall, manager);
        }
        self.refresh_positions(wall);
    }

    pub fn handle_pause(&mut self, _now: Instant, wall: Timestamp, manager: &str, reason: &str) {
        self.agents.pause(manager, reason, wall);
        self.notice(Claim::Pause {
            manager: manager.to_string(),
            reason: Some(reason.to_string()),
        });
    }

    /// Returns the pause that ended.
    pub fn handle_unpause(
        &mut self,
        now: Instant,
        wall: Timestamp,
        manager: &str,
    ) -> Option<Pause> {
        let pause = self.agents.unpause(manager);
        self.notice(Claim::Pause {
            manager: manager.to_string(),
            reason: None,
        });
        self.wake(now, wall, manager);
        self.refresh_positions(wall);
        pause
    }

    /// Signed in to (or out of) every queue.
    pub fn handle_signed_in(&mut self, now: Instant, wall: Timestamp, manager: &str, on: bool) {
        self.agents.set_signed_in(manager, on);
        if on {
            self.wake(now, wall, manager);
        }
        self.refresh_positions(wall);
    }

    /// Signed in to (or out of) one department's queue; returns whether it changed.
    pub fn handle_signed_in_to(
        &mut self,
        now: Instant,
        wall: Timestamp,
        manager: &str,
        department: &str,
        on: bool,
    ) -> bool {
        let changed = self.agents.set_signed_in_to(manager, department, on);
        if on && changed {
            self.wake(now, wall, manager);
        }
        self.refresh_positions(wall);
        changed
    }

    /// Do not disturb on or off; returns when it had been turned on, when it ends.
    pub fn handle_dnd(
        &mut self,
        now: Instant,
        wall: Timestamp,
        manager: &str,
        on: bool,
    ) -> Option<Timestamp> {
        let since = self.agents.set_dnd(manager, on, wall);
        if !on {
            self.wake(now, wall, manager);
        }
        self.refresh_positions(wall);
        since
    }

    /// `manager` may be free: first the callers waiting for them by name, then the
    /// queues of their departments, each in serving order.
    pub(super) fn wake(&mut self, now: Instant, wall: Timestamp, manager: &str) {
        let waiters = self.waiting_for.get(manager).cloned().unwrap_or_default();
        for call in waiters {
            self.decide(now, wall, call);
        }
        let departments: Vec<String> = self
            .queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .filter(|(d, q)| {
                q.entries().first().is_some_and(|e| {
                    self.calls.get(&e.call).is_some_and(|a| {
                        a.plan
                            .departments
                            .get(*d)
                            .is_some_and(|dept| dept.members.iter().any(|m| m == manager))
                    })
                })
            })
            .map(|(d, _)| d.clone())
            .collect();
        for d in departments {
            self.offer_department(now, wall, &d);
        }
    }

    /// Offer the department's free managers to its waiting callers, in order. A caller
    /// who cannot use them (already tried them) keeps their place; the next one may.
    pub(super) fn offer_department(&mut self, now: Instant, wall: Timestamp, department: &str) {
        let waiting = self.queue(department);
        for call in waiting {
            let still_queued = self
                .calls
                .get(&call)
                .is_some_and(|a| a.phase == Phase::Queued(department.to_string()));
            if still_queued {
                self.decide(now, wall, call);
            }
        }
    }
}
