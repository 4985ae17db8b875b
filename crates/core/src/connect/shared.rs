//! Managers' state shared by several Switchboard instances (issue 15).
//!
//! Every instance runs its own connect policy for its own calls. What must hold across
//! instances is that a manager is never offered more calls than `max_calls` in total,
//! that wrap-up and pauses hold whichever instance set them, and that a department's
//! callers are served first come, first served whatever instance they called. The
//! policy cannot know that alone, so in shared mode ([`super::Connector::shared`]) it
//! asks before it rings:
//!
//! ```text
//!  decide ──▶ Claim::Ring{id, managers} ──(driver: one PostgreSQL transaction)──▶
//!      ConnectInput::Claimed{id, granted, refused}
//!          granted ≠ ∅ ─▶ ConnectOutput::Ring{granted}     (the call rings them)
//!          granted = ∅ ─▶ the refused count as taken elsewhere; decide again
//!                          (another free manager, or the queue)
//!  no answer within CLAIM_TIMEOUT ─▶ as if every manager was refused
//! ```
//!
//! The rest are notices the driver applies without answering (ring ended, answered,
//! talk ended, joined or left a department queue, pause): they keep the shared rows
//! true so other instances' claims see this instance's load. Every second the driver
//! reads what the *other* instances hold ([`SharedSnapshot`]) and hands it in with
//! [`super::Connector::handle_snapshot`], which also wakes waiting callers whose
//! managers may have become free elsewhere.
//!
//! Single-instance mode never emits any of this: no claim round trip, no snapshot.
//! How the driver keeps these promises in PostgreSQL (row locks per manager, leases
//! per instance) is `store::shared` in the application.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::agents::Elsewhere;
use crate::media::CallKey;

/// How long a call waits for the answer to a ring claim before it treats every
/// manager as refused (the database is slow or gone).
pub const CLAIM_TIMEOUT: Duration = Duration::from_secs(3);

/// One manager a ring claim asks for, with the limits the claim must check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimManager {
    pub manager: String,
    /// Refused when the manager already holds this many rings and talks, anywhere.
    pub max_calls: u32,
    /// Refused while a conversation of theirs ended less than this long ago, anywhere.
    pub wrap_up: Duration,
}

/// Work on the shared managers' state, for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// May `call` ring these managers now? Answer with [`super::ConnectInput::Claimed`]
    /// carrying the same `id`. A manager is granted when they hold fewer than
    /// `max_calls` rings and talks on all instances, are not paused, are out of
    /// wrap-up, and (for a department call) no caller of that department who came
    /// earlier (or has a higher priority) is waiting on another instance.
    Ring {
        id: u64,
        call: CallKey,
        managers: Vec<ClaimManager>,
        department: Option<String>,
        priority: u8,
    },
    /// A granted ring ended without a conversation: its claim is released.
    RingEnded { call: CallKey, manager: String },
    /// A granted ring was answered: its claim becomes a talk.
    Answered { call: CallKey, manager: String },
    /// A conversation ended: one talk claim released, the manager's last call end set.
    TalkEnded { manager: String },
    /// `call` waits in `department`'s queue (first come, first served across instances:
    /// the driver keeps the time it first joined).
    Queued {
        call: CallKey,
        department: String,
        priority: u8,
    },
    /// `call` left the queue it was in (rung, gave up, hung up).
    LeftQueue { call: CallKey },
    /// A manager was paused (`Some(reason)`) or unpaused (`None`) on this instance.
    Pause {
        manager: String,
        reason: Option<String>,
    },
}

/// What the other instances hold now, read by the driver every second.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedSnapshot {
    pub managers: BTreeMap<String, Elsewhere>,
}

use std::time::Instant;

use jiff::Timestamp;

use super::{ConnectOutput, Connector, Phase};

impl Connector {
    /// The answer to ring claim `id` of `call`: ring who was granted; count the refused
    /// as taken elsewhere (until the next snapshot) and decide again when nobody was.
    pub fn handle_claimed(
        &mut self,
        now: Instant,
        wall: Timestamp,
        id: u64,
        call: CallKey,
        granted: Vec<String>,
        refused: Vec<String>,
    ) {
        let current = self
            .calls
            .get(&call)
            .is_some_and(|a| matches!(&a.phase, Phase::Claiming { id: i, .. } if *i == id));
        if !current {
            // The caller left, or the claim timed out meanwhile: give back what was
            // granted, so the managers are not held by a call that will never ring.
            for manager in granted {
                self.claims.push_back(Claim::RingEnded { call, manager });
            }
            return;
        }
        if !refused.is_empty() {
            tracing::debug!(?refused, "managers taken on another instance");
        }
        self.settle_claim(now, wall, call, granted);
    }

    /// Ends `call`'s claim: ring the `granted` part of its round, undo the local
    /// reservation of the rest.
    pub(super) fn settle_claim(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: CallKey,
        granted: Vec<String>,
    ) {
        let Some(a) = self.calls.get_mut(&call) else {
            return;
        };
        let Phase::Claiming {
            managers,
            ring_timeout,
            department,
            reason,
            ..
        } = std::mem::replace(&mut a.phase, Phase::Deciding)
        else {
            return;
        };
        let plan = a.plan.clone();
        let (ringing, refused): (Vec<String>, Vec<String>) =
            managers.into_iter().partition(|m| granted.contains(m));
        for m in &refused {
            self.agents.ring_ended(m);
            let max_calls = plan.managers.get(m).map_or(1, |x| x.max_calls);
            self.agents.taken_elsewhere(m, max_calls);
        }
        if ringing.is_empty() {
            return self.decide(now, wall, call);
        }
        if let Some(d) = &department {
            self.leave_queue(call, d);
        }
        if let Some(a) = self.calls.get_mut(&call) {
            a.phase = Phase::Ringing(ringing.iter().cloned().collect());
            a.ring_started = Some(now);
            a.position = 0;
        }
        self.outputs.push_back(ConnectOutput::Ring {
            call,
            managers: ringing,
            ring_timeout,
            department,
            reason,
        });
    }

    /// What the other instances hold now. Callers waiting here are offered again, in
    /// order: a manager may have become free elsewhere (a ring or talk ended, wrap-up
    /// or a pause is over, an earlier caller on another instance was served).
    pub fn handle_snapshot(&mut self, now: Instant, wall: Timestamp, snapshot: &SharedSnapshot) {
        self.agents.set_elsewhere(&snapshot.managers);
        let managers: Vec<String> = self.waiting_for.keys().cloned().collect();
        for m in managers {
            self.wake(now, wall, &m);
        }
        let departments: Vec<String> = self
            .queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(d, _)| d.clone())
            .collect();
        for d in departments {
            self.offer_department(now, wall, &d);
        }
    }
}
