//! The virtual queue: callers who hung up to be called back keep their place.
//!
//! ```text
//!  queued ──Virtualize──▶ virtual, queued ──manager free: Ring──▶ ringing ──answered──▶ Dialing
//!                            ▲   (no deadline)                      │ no answer: next round       │
//!                            │                                      ▼                             │
//!                            └──── retry time ◀── Parked ◀──Park── Held (Failed: nobody now) ◀────┘
//!                                                                 (Park after a failed attempt)
//!  Left (connected, given up, cancelled) forgets the entry.
//! ```
//! A virtual entry keeps its arrival number (`seq`) through every retry, so it goes
//! back to the place first come, first served gives it, not to the end. Its executor
//! (the live dial-back, or the simulator) decides retries and giving up; this machine
//! only keeps the place.

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;

use super::{Attempt, ConnectTarget, Connector, Phase, Timer};
use crate::config::DialPlan;
use crate::media::CallKey;
use crate::routing::Tried;

impl Connector {
    /// The caller hung up to be called back: the entry keeps its place, from now on
    /// under `new_key` (the dial-back's).
    pub fn handle_virtualize(
        &mut self,
        _now: Instant,
        wall: Timestamp,
        call: CallKey,
        new_key: CallKey,
    ) {
        if let Some(mut a) = self.calls.remove(&call) {
            a.is_virtual = true;
            a.queue_deadline = None;
            a.wait_deadline = None;
            for q in self.queues.values_mut() {
                q.rekey(call, new_key);
            }
            self.calls.insert(new_key, a);
        }
        self.refresh_positions(wall);
    }

    /// A virtual entry from before a restart. Restore them in `since` order before
    /// new calls arrive, so they keep their places.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_restore(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: CallKey,
        plan: Arc<DialPlan>,
        department: &str,
        priority: u8,
        since: Timestamp,
        not_before: Option<Instant>,
    ) {
        self.forget(call);
        self.next_seq += 1;
        self.calls.insert(
            call,
            Attempt {
                plan,
                target: ConnectTarget::Department(department.to_string()),
                tried: Tried::new(),
                seq: self.next_seq,
                priority,
                phase: Phase::Deciding,
                queue_deadline: None,
                wait_deadline: None,
                position: 0,
                since,
                is_virtual: true,
                ring_started: None,
            },
        );
        match not_before {
            Some(t) if t > now => {
                if let Some(a) = self.calls.get_mut(&call) {
                    a.phase = Phase::Parked;
                }
                self.arm(t, Timer::Retry(call));
            }
            _ => self.decide(now, wall, call),
        }
        self.refresh_positions(wall);
    }

    /// A dial-back attempt failed (or nobody could take it): wait until `until`, then
    /// take the old place again. Managers tried before may be rung again.
    pub fn handle_park(&mut self, now: Instant, wall: Timestamp, call: CallKey, until: Instant) {
        if !self.calls.get(&call).is_some_and(|a| a.is_virtual) {
            return;
        }
        self.hold(call, Phase::Parked);
        if let Some(a) = self.calls.get_mut(&call) {
            a.tried = Tried::new();
        }
        if until <= now {
            self.retry(now, wall, call);
        } else {
            self.arm(until, Timer::Retry(call));
        }
        self.refresh_positions(wall);
    }

    /// Out of the queue (and any wait) but kept, in `phase`.
    pub(super) fn hold(&mut self, call: CallKey, phase: Phase) {
        let Some(a) = self.calls.get(&call) else {
            return;
        };
        let department = match &a.target {
            ConnectTarget::Department(d) => Some(d.clone()),
            ConnectTarget::Manager { .. } => None,
        };
        if let Some(d) = department {
            self.leave_queue(call, &d);
        }
        if let Some(a) = self.calls.get_mut(&call) {
            a.phase = phase;
            a.position = 0;
        }
    }

    /// A parked entry's back-off is over: decide again, at its old place.
    pub(super) fn retry(&mut self, now: Instant, wall: Timestamp, call: CallKey) {
        let parked = self
            .calls
            .get(&call)
            .is_some_and(|a| a.is_virtual && a.phase == Phase::Parked);
        if parked {
            if let Some(a) = self.calls.get_mut(&call) {
                a.phase = Phase::Deciding;
            }
            self.decide(now, wall, call);
        }
    }

    /// Whether `call` is a virtual entry (a caller to be called back).
    pub fn is_virtual(&self, call: CallKey) -> bool {
        self.calls.get(&call).is_some_and(|a| a.is_virtual)
    }
}
