//! The simulator's dial-backs: a caller who took the callback offer keeps their
//! place as the connect policy's virtual entry (the same machine as live); when it is
//! their turn the modelled managers' phones ring like for any call, and the customer
//! answers with the traffic's `[callbacks] reach` chance. Busy/no answer is retried
//! with the plan's back-off, up to `[callbacks] attempts`, then counted as given up.

use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::{CoreSwitch, Observed, Ring, RingId, call_key};
use crate::call::ConnectInput;
use crate::connect::ConnectOutput;
use crate::model::RingOutcome;
use crate::sim::rng::SimRng;

/// Dial-back figures of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DialbackTotals {
    /// Callers who hung up to be called back.
    pub requested: u64,
    /// Dial-backs that reached the customer.
    pub connected: u64,
    /// Given up after every attempt (left as open callback requests).
    pub gave_up: u64,
    /// Dial-outs to customers.
    pub attempts: u64,
    /// Seconds from the request to the conversation, per connected dial-back.
    pub connect_secs: Vec<f64>,
}

#[derive(Debug)]
pub(super) enum DbState {
    Waiting,
    Ringing(Vec<RingId>),
    /// The manager answered; the customer rings until `until`.
    Dialing {
        manager: String,
        until: Instant,
        reached: bool,
    },
    Talking {
        manager: String,
        until: Instant,
    },
}

#[derive(Debug)]
pub(super) struct SimDialback {
    pub state: DbState,
    pub attempts: u32,
    pub rng: SimRng,
    pub requested: Instant,
}

impl SimDialback {
    pub fn deadline(&self) -> Option<Instant> {
        match &self.state {
            DbState::Dialing { until, .. } | DbState::Talking { until, .. } => Some(*until),
            _ => None,
        }
    }
}

/// Salts the per-call stream of dial-back draws.
const DIALBACK_STREAM: u64 = 0x4449_414c_4241_434b;

impl CoreSwitch {
    /// The caller hung up to be called back.
    pub(super) fn start_dialback(&mut self, now: Instant, call: usize) {
        self.queue.push_back(ConnectInput::Virtualize {
            call: call_key(call),
            new_key: call_key(call),
        });
        self.dialback_totals.requested += 1;
        self.dialbacks.insert(
            call,
            SimDialback {
                state: DbState::Waiting,
                attempts: 0,
                rng: SimRng::stream(self.seed ^ DIALBACK_STREAM, call as u64),
                requested: now,
            },
        );
    }

    /// A connect decision for a dial-back.
    pub(super) fn dialback_output(&mut self, now: Instant, call: usize, out: ConnectOutput) {
        let Some(mut d) = self.dialbacks.remove(&call) else {
            return;
        };
        match out {
            ConnectOutput::Ring {
                managers,
                ring_timeout,
                ..
            } => {
                let mut rings = match std::mem::replace(&mut d.state, DbState::Waiting) {
                    DbState::Ringing(r) => r,
                    _ => Vec::new(),
                };
                for m in managers {
                    self.next_ring += 1;
                    let ring = self.next_ring;
                    self.rings.insert(
                        ring,
                        Ring {
                            call,
                            manager: m.clone(),
                            until: now + ring_timeout,
                        },
                    );
                    rings.push(ring);
                    self.observed.push_back(Observed::Ring {
                        call,
                        ring,
                        manager: m,
                    });
                }
                d.state = DbState::Ringing(rings);
            }
            ConnectOutput::Failed { .. } => {
                d.state = DbState::Waiting;
                self.queue.push_back(ConnectInput::Park {
                    call: call_key(call),
                    until: now + self.plan.callbacks.retry,
                });
            }
            _ => {}
        }
        self.dialbacks.insert(call, d);
    }

    /// A phone rang for a dial-back and stopped (`answered`: the manager took it).
    pub(super) fn dialback_ring(
        &mut self,
        now: Instant,
        ring: RingId,
        outcome: Option<RingOutcome>,
    ) -> bool {
        let Some(call) = self.rings.get(&ring).map(|r| r.call) else {
            return false;
        };
        let Some(mut d) = self.dialbacks.remove(&call) else {
            return false;
        };
        let DbState::Ringing(mut rings) = std::mem::replace(&mut d.state, DbState::Waiting) else {
            // A ring the dial-back no longer waits for (its round ended another way):
            // drop it, or its deadline would come back at once forever.
            if let Some(r) = self.rings.remove(&ring) {
                self.observed.push_back(Observed::RingStopped { ring });
                self.queue.push_back(ConnectInput::RingEnded {
                    call: call_key(call),
                    manager: r.manager,
                    outcome: outcome.unwrap_or(RingOutcome::Cancelled),
                });
            }
            self.dialbacks.insert(call, d);
            return false;
        };
        let Some(r) = self.rings.remove(&ring) else {
            d.state = DbState::Ringing(rings);
            self.dialbacks.insert(call, d);
            return true;
        };
        rings.retain(|x| *x != ring);
        self.observed.push_back(Observed::RingStopped { ring });
        match outcome {
            Some(o) => {
                self.queue.push_back(ConnectInput::RingEnded {
                    call: call_key(call),
                    manager: r.manager,
                    outcome: o,
                });
                d.state = DbState::Ringing(rings);
            }
            None => {
                for other in rings {
                    if let Some(or) = self.rings.remove(&other) {
                        self.observed
                            .push_back(Observed::RingStopped { ring: other });
                        self.queue.push_back(ConnectInput::RingEnded {
                            call: call_key(call),
                            manager: or.manager,
                            outcome: RingOutcome::Cancelled,
                        });
                    }
                }
                self.queue.push_back(ConnectInput::Answered {
                    call: call_key(call),
                    manager: r.manager.clone(),
                });
                let model = self.callback_model.clone();
                let reached = d.rng.chance(model.reach);
                let ring_secs = self
                    .plan
                    .callback_trunk()
                    .map_or(Duration::from_secs(30), |t| t.ring_timeout);
                let wait = if reached {
                    Duration::from_secs_f64(model.answer_secs.max(0.0)).min(ring_secs)
                } else {
                    ring_secs
                };
                d.attempts += 1;
                self.dialback_totals.attempts += 1;
                d.state = DbState::Dialing {
                    manager: r.manager,
                    until: now + wait,
                    reached,
                };
            }
        }
        self.dialbacks.insert(call, d);
        true
    }

    /// Dial-back deadlines: the customer answers or not, a conversation ends;
    /// managers' ring timeouts.
    pub(super) fn dialback_timeout(&mut self, now: Instant, _wall: Timestamp) {
        let due: Vec<usize> = self
            .dialbacks
            .iter()
            .filter(|(_, d)| d.deadline().is_some_and(|t| t <= now))
            .map(|(c, _)| *c)
            .collect();
        let expired: Vec<RingId> = self
            .rings
            .iter()
            .filter(|(_, r)| r.until <= now && self.dialbacks.contains_key(&r.call))
            .map(|(k, _)| *k)
            .collect();
        for ring in expired {
            self.dialback_ring(now, ring, Some(RingOutcome::NoAnswer));
        }
        for call in due {
            let Some(mut d) = self.dialbacks.remove(&call) else {
                continue;
            };
            match std::mem::replace(&mut d.state, DbState::Waiting) {
                DbState::Dialing {
                    manager,
                    reached: true,
                    ..
                } => {
                    let talk = self.callback_model.talk_time.sample(&mut d.rng);
                    self.dialback_totals.connected += 1;
                    self.dialback_totals
                        .connect_secs
                        .push(now.saturating_duration_since(d.requested).as_secs_f64());
                    d.state = DbState::Talking {
                        manager,
                        until: now + Duration::from_secs_f64(talk.max(0.0)),
                    };
                    self.dialbacks.insert(call, d);
                }
                DbState::Talking { manager, .. } => {
                    self.queue.push_back(ConnectInput::TalkEnded {
                        manager,
                        plan: self.plan.clone(),
                    });
                    self.queue.push_back(ConnectInput::Left {
                        call: call_key(call),
                    });
                }
                DbState::Dialing { manager, .. } => {
                    self.queue.push_back(ConnectInput::TalkEnded {
                        manager,
                        plan: self.plan.clone(),
                    });
                    let policy = &self.plan.callbacks;
                    if d.attempts >= policy.attempts {
                        self.dialback_totals.gave_up += 1;
                        self.queue.push_back(ConnectInput::Left {
                            call: call_key(call),
                        });
                    } else {
                        self.queue.push_back(ConnectInput::Park {
                            call: call_key(call),
                            until: now + policy.backoff(d.attempts),
                        });
                        self.dialbacks.insert(call, d);
                    }
                }
                other => {
                    d.state = other;
                    self.dialbacks.insert(call, d);
                }
            }
        }
    }

    pub(super) fn dialback_deadline(&self) -> Option<Instant> {
        let own = self
            .dialbacks
            .values()
            .filter_map(SimDialback::deadline)
            .min();
        let rings = self
            .rings
            .values()
            .filter(|r| self.dialbacks.contains_key(&r.call))
            .map(|r| r.until)
            .min();
        [own, rings].into_iter().flatten().min()
    }
}
