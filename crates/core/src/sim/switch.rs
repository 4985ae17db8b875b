//! What the simulated world talks to: a [`Switch`] takes calls, digits, answers and
//! hang-ups and reports what callers and phones would notice ([`Observed`]).
//!
//! [`CoreSwitch`] is the simulator's: it runs the very same call logic as the live
//! router — one [`Flow`] per call and the [`Connector`] — without SIP or RTP. The live
//! endpoint can be put behind the same trait (the equivalence test does it with real
//! SIP messages on a virtual clock), so a what-if run predicts what the router does.
//!
//! Order matters for reproducibility and for that equivalence: like the endpoint,
//! a switch carries every request a call makes to the connect policy first, then the
//! policy's decisions one at a time back to their calls, until both are quiet.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::call::plan::PlanProgram;
use crate::call::{CallEvent, CallInfo, ConnectInput, EndCause, Flow, FlowAction, RecordEnd};
use crate::config::DialPlan;
use crate::connect::{ConnectOutput, Connector};
use crate::media::CallKey;
use crate::model::RingOutcome;
use crate::routing::PreviousInteraction;

#[path = "switch_dialback.rs"]
mod dialback;
pub use dialback::DialbackTotals;

/// Identifies one phone ringing for one call.
pub type RingId = u64;

/// What the world notices of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// Prompts start playing to the caller (not the looping ringback or hold music).
    Play {
        call: usize,
        play_id: u32,
        prompts: usize,
    },
    StopPlayback {
        call: usize,
    },
    /// A manager's phone rings for `call`.
    Ring {
        call: usize,
        ring: RingId,
        manager: String,
    },
    /// It stopped ringing (cancelled, or the ring timeout).
    RingStopped {
        ring: RingId,
    },
    /// The caller is bridged to the manager who answered `ring`.
    Bridged {
        call: usize,
        ring: RingId,
        manager: String,
    },
    /// The caller is being recorded.
    Record {
        call: usize,
        record_id: u32,
    },
    /// A life event of the call.
    Event {
        call: usize,
        event: CallEvent,
    },
}

/// The router as the simulated world sees it.
pub trait Switch {
    /// Call `call` arrives; `history` is whom the caller spoke with before.
    fn arrive(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: usize,
        dialled: &str,
        caller: &str,
        history: Option<PreviousInteraction>,
    );
    fn digit(&mut self, now: Instant, wall: Timestamp, call: usize, digit: char);
    fn prompt_finished(&mut self, now: Instant, wall: Timestamp, call: usize, play_id: u32);
    fn recording_finished(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: usize,
        record_id: u32,
        duration: Duration,
    );
    fn caller_hangs_up(&mut self, now: Instant, wall: Timestamp, call: usize);
    fn phone_answers(&mut self, now: Instant, wall: Timestamp, ring: RingId);
    /// The phone refuses (busy, declined).
    fn phone_rejects(&mut self, now: Instant, wall: Timestamp, ring: RingId, outcome: RingOutcome);
    fn manager_hangs_up(&mut self, now: Instant, wall: Timestamp, call: usize);
    fn signed_in(&mut self, now: Instant, wall: Timestamp, manager: &str, on: bool);
    fn timeout(&mut self, now: Instant, wall: Timestamp);
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll(&mut self) -> Option<Observed>;
}

/// The connect policy's key for a simulated call.
pub fn call_key(call: usize) -> CallKey {
    CallKey(call as u64 + 1)
}

fn call_index(key: CallKey) -> usize {
    key.0.saturating_sub(1) as usize
}

#[derive(Debug)]
struct SimCall {
    flow: Flow,
    /// Phones ringing for it, in the order they were rung.
    rings: Vec<RingId>,
    bridged: Option<(RingId, String)>,
    ended: bool,
}

#[derive(Debug)]
struct Ring {
    call: usize,
    manager: String,
    until: Instant,
}

/// The simulator's switch: the live call logic without SIP.
#[derive(Debug)]
pub struct CoreSwitch {
    plan: Arc<DialPlan>,
    connector: Connector,
    calls: HashMap<usize, SimCall>,
    rings: HashMap<RingId, Ring>,
    next_ring: RingId,
    queue: VecDeque<ConnectInput>,
    observed: VecDeque<Observed>,
    /// Callback requests filed.
    pub callbacks: u64,
    seed: u64,
    /// Callers waiting to be called back, by call.
    dialbacks: HashMap<usize, dialback::SimDialback>,
    callback_model: super::model::CallbackModel,
    /// Dial-back figures.
    pub dialback_totals: DialbackTotals,
}

impl CoreSwitch {
    /// `seed` seeds the `random` strategy.
    pub fn new(plan: Arc<DialPlan>, seed: u64) -> Self {
        CoreSwitch {
            plan,
            connector: Connector::new(seed),
            calls: HashMap::new(),
            rings: HashMap::new(),
            next_ring: 0,
            queue: VecDeque::new(),
            observed: VecDeque::new(),
            callbacks: 0,
            seed,
            dialbacks: HashMap::new(),
            callback_model: super::model::CallbackModel::default(),
            dialback_totals: DialbackTotals::default(),
        }
    }

    /// How customers answer dial-backs (the traffic's `[callbacks]`).
    pub fn with_callbacks(mut self, model: super::model::CallbackModel) -> Self {
        self.callback_model = model;
        self
    }

    /// A call's own deadline: its flow's, and its phones' ring timeouts.
    fn call_deadline(&self, c: &SimCall) -> Option<Instant> {
        let rings = c
            .rings
            .iter()
            .filter_map(|r| self.rings.get(r).map(|r| r.until))
            .min();
        [c.flow.poll_timeout(), rings].into_iter().flatten().min()
    }

    fn with_call(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: usize,
        f: impl FnOnce(&mut Self, &mut SimCall),
    ) {
        let Some(mut c) = self.calls.remove(&call) else {
            return;
        };
        f(self, &mut c);
        self.drain_flow(now, wall, call, &mut c);
        if !(c.ended && c.flow.is_finished()) {
            self.calls.insert(call, c);
        }
    }

    fn drain_flow(&mut self, now: Instant, wall: Timestamp, call: usize, c: &mut SimCall) {
        while let Some(action) = c.flow.poll_action() {
            match action {
                // Announcements (the looping prompts' id bit) are not listened to,
                // as on the router (the caller's model does not wait for them).
                FlowAction::Play {
                    play_id,
                    prompts,
                    looping: false,
                    ..
                } if play_id & crate::call::flow::WAIT_PLAY_BASE == 0 => {
                    self.observed.push_back(Observed::Play {
                        call,
                        play_id,
                        prompts: prompts.len(),
                    })
                }
                FlowAction::Play { .. } | FlowAction::StopRecording => {}
                FlowAction::StopPlayback => {
                    self.observed.push_back(Observed::StopPlayback { call })
                }
                FlowAction::Connect {
                    target,
                    plan,
                    priority,
                } => self.queue.push_back(ConnectInput::Request {
                    call: call_key(call),
                    plan,
                    target,
                    priority,
                }),
                FlowAction::LeaveConnect => self.queue.push_back(ConnectInput::Left {
                    call: call_key(call),
                }),
                FlowAction::Record { record_id, .. } => self
                    .observed
                    .push_back(Observed::Record { call, record_id }),
                FlowAction::Hangup { reason } => {
                    self.end(now, wall, call, c, EndCause::PlanEnded(reason))
                }
                FlowAction::Event(event) => {
                    self.observed.push_back(Observed::Event { call, event })
                }
                FlowAction::Callback(_) => self.callbacks += 1,
                FlowAction::VirtualQueue { .. } => self.start_dialback(now, call),
            }
        }
    }

    /// The call ends: out of the connect policy first, then its phones stop.
    fn end(
        &mut self,
        now: Instant,
        _wall: Timestamp,
        call: usize,
        c: &mut SimCall,
        cause: EndCause,
    ) {
        if c.ended {
            return;
        }
        c.ended = true;
        let _ = c.flow.handle_end(now, cause);
        // The flow's LeaveConnect goes out before the phones stop, as on the router.
        while let Some(action) = c.flow.poll_action() {
            match action {
                FlowAction::LeaveConnect => self.queue.push_back(ConnectInput::Left {
                    call: call_key(call),
                }),
                FlowAction::Event(event) => {
                    self.observed.push_back(Observed::Event { call, event })
                }
                FlowAction::Callback(_) => self.callbacks += 1,
                FlowAction::VirtualQueue { .. } => self.start_dialback(now, call),
                _ => {}
            }
        }
        // The media plane closes a message cut short at once.
        if let Some(id) = c.flow.recording_id() {
            c.flow.handle_recording_finished(
                now,
                _wall,
                id,
                std::path::PathBuf::from(format!("sim-{call}.wav")),
                Duration::ZERO,
                RecordEnd::Stopped,
                false,
                None,
            );
            while let Some(action) = c.flow.poll_action() {
                if let FlowAction::Callback(_) = action {
                    self.callbacks += 1;
                }
            }
        }
        for ring in std::mem::take(&mut c.rings) {
            if let Some(r) = self.rings.remove(&ring) {
                self.queue.push_back(ConnectInput::RingEnded {
                    call: call_key(call),
                    manager: r.manager,
                    outcome: RingOutcome::Cancelled,
                });
                self.observed.push_back(Observed::RingStopped { ring });
            }
        }
        if let Some((_, manager)) = c.bridged.take() {
            self.queue.push_back(ConnectInput::TalkEnded {
                manager,
                plan: self.plan.clone(),
            });
        }
    }

    /// A phone stopped ringing without a conversation.
    fn ring_over(&mut self, call: usize, c: &mut SimCall, ring: RingId, outcome: RingOutcome) {
        c.rings.retain(|r| *r != ring);
        if let Some(r) = self.rings.remove(&ring) {
            self.queue.push_back(ConnectInput::RingEnded {
                call: call_key(call),
                manager: r.manager,
                outcome,
            });
            self.observed.push_back(Observed::RingStopped { ring });
        }
    }

    /// Carry requests to the connect policy and its decisions back, until quiet.
    fn pump(&mut self, now: Instant, wall: Timestamp) {
        loop {
            while let Some(input) = self.queue.pop_front() {
                self.connector.handle(now, wall, input);
            }
            let Some(out) = self.connector.poll_output() else {
                if self.queue.is_empty() {
                    break;
                }
                continue;
            };
            let call = call_index(out.call());
            if self.dialbacks.contains_key(&call) && !self.calls.contains_key(&call) {
                self.dialback_output(now, call, out);
                continue;
            }
            self.with_call(now, wall, call, |sw, c| {
                sw.connect_output(now, wall, call, c, out)
            });
        }
    }

    fn connect_output(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: usize,
        c: &mut SimCall,
        out: ConnectOutput,
    ) {
        if c.ended {
            return;
        }
        if let ConnectOutput::Ring {
            managers,
            ring_timeout,
            ..
        } = &out
        {
            for m in managers {
                self.next_ring += 1;
                let ring = self.next_ring;
                self.rings.insert(
                    ring,
                    Ring {
                        call,
                        manager: m.clone(),
                        until: now + *ring_timeout,
                    },
                );
                c.rings.push(ring);
                self.observed.push_back(Observed::Ring {
                    call,
                    ring,
                    manager: m.clone(),
                });
            }
        }
        c.flow.handle_connect(now, wall, out);
    }
}

impl Switch for CoreSwitch {
    fn arrive(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: usize,
        dialled: &str,
        caller: &str,
        history: Option<PreviousInteraction>,
    ) {
        let info = CallInfo {
            call_id: format!("sim-{call}"),
            caller: caller.to_string(),
            caller_name: None,
            dialled: dialled.to_string(),
            started_at: wall,
        };
        let prompts = self.plan.prompts.clone();
        let program = PlanProgram::new(self.plan.clone(), Box::new(move |p| prompts.contains(p)));
        let flow = Flow::new(call_key(call), info, Box::new(program), now);
        let history = flow.wants_history().and(history);
        let mut c = SimCall {
            flow,
            rings: Vec::new(),
            bridged: None,
            ended: false,
        };
        let states = self.connector.states(wall);
        c.flow.start(now, wall, &states, history);
        self.drain_flow(now, wall, call, &mut c);
        self.calls.insert(call, c);
        self.pump(now, wall);
    }

    fn digit(&mut self, now: Instant, wall: Timestamp, call: usize, digit: char) {
        let states = self.connector.states(wall);
        self.with_call(now, wall, call, |_, c| {
            c.flow.handle_digit(now, wall, &states, digit)
        });
        self.pump(now, wall);
    }

    fn prompt_finished(&mut self, now: Instant, wall: Timestamp, call: usize, play_id: u32) {
        self.with_call(now, wall, call, |_, c| {
            c.flow.handle_playback_finished(now, wall, play_id)
        });
        self.pump(now, wall);
    }

    fn recording_finished(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: usize,
        record_id: u32,
        duration: Duration,
    ) {
        self.with_call(now, wall, call, |_, c| {
            c.flow.handle_recording_finished(
                now,
                wall,
                record_id,
                std::path::PathBuf::from(format!("sim-{call}.wav")),
                duration,
                RecordEnd::Digit('#'),
                false,
                None,
            )
        });
        self.pump(now, wall);
    }

    fn caller_hangs_up(&mut self, now: Instant, wall: Timestamp, call: usize) {
        self.with_call(now, wall, call, |sw, c| {
            sw.end(now, wall, call, c, EndCause::CallerHungUp)
        });
        self.pump(now, wall);
    }

    fn phone_answers(&mut self, now: Instant, wall: Timestamp, ring: RingId) {
        if self.dialback_ring(now, ring, None) {
            return self.pump(now, wall);
        }
        let Some(call) = self.rings.get(&ring).map(|r| r.call) else {
            return;
        };
        self.with_call(now, wall, call, |sw, c| {
            let Some(r) = sw.rings.remove(&ring) else {
                return;
            };
            // Ring-all: everyone else stops ringing, then the answer counts.
            for other in std::mem::take(&mut c.rings) {
                if other != ring {
                    sw.ring_over(call, c, other, RingOutcome::Cancelled);
                }
            }
            sw.queue.push_back(ConnectInput::Answered {
                call: call_key(call),
                manager: r.manager.clone(),
            });
            c.flow.handle_answered(&r.manager);
            c.bridged = Some((ring, r.manager.clone()));
            sw.observed.push_back(Observed::Bridged {
                call,
                ring,
                manager: r.manager,
            });
        });
        self.pump(now, wall);
    }

    fn phone_rejects(&mut self, now: Instant, wall: Timestamp, ring: RingId, outcome: RingOutcome) {
        if self.dialback_ring(now, ring, Some(outcome)) {
            return self.pump(now, wall);
        }
        let Some(call) = self.rings.get(&ring).map(|r| r.call) else {
            return;
        };
        self.with_call(now, wall, call, |sw, c| {
            sw.ring_over(call, c, ring, outcome)
        });
        self.pump(now, wall);
    }

    fn manager_hangs_up(&mut self, now: Instant, wall: Timestamp, call: usize) {
        self.with_call(now, wall, call, |sw, c| {
            if let Some((_, manager)) = c.bridged.take() {
                sw.queue.push_back(ConnectInput::TalkEnded {
                    manager,
                    plan: sw.plan.clone(),
                });
                sw.end(now, wall, call, c, EndCause::ManagerHungUp);
            }
        });
        self.pump(now, wall);
    }

    fn signed_in(&mut self, now: Instant, wall: Timestamp, manager: &str, on: bool) {
        // A simulated manager's phone is registered while they work: plans whose
        // managers have no static contact rely on registrations, and the simulator has
        // no phones to send them (without this nobody was ever rung, see
        // tests/sim_cli.rs).
        let until = on.then_some(Timestamp::MAX);
        self.connector.handle_registered(now, wall, manager, until);
        self.connector.handle_signed_in(now, wall, manager, on);
        self.pump(now, wall);
    }

    fn timeout(&mut self, now: Instant, wall: Timestamp) {
        // Calls first, in deadline then key order (as the endpoint does), then the
        // connect policy's own deadlines.
        let due: BTreeSet<(Instant, usize)> = self
            .calls
            .iter()
            .filter_map(|(k, c)| self.call_deadline(c).map(|t| (t, *k)))
            .filter(|(t, _)| *t <= now)
            .collect();
        for (_, call) in due {
            let states = self.connector.states(wall);
            self.with_call(now, wall, call, |sw, c| {
                c.flow.handle_timeout(now, wall, &states);
                let expired: Vec<RingId> = c
                    .rings
                    .iter()
                    .copied()
                    .filter(|r| sw.rings.get(r).is_some_and(|r| r.until <= now))
                    .collect();
                for ring in expired {
                    sw.ring_over(call, c, ring, RingOutcome::NoAnswer);
                }
            });
        }
        self.dialback_timeout(now, wall);
        self.connector.handle_timeout(now, wall);
        self.pump(now, wall);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let calls = self
            .calls
            .values()
            .filter_map(|c| self.call_deadline(c))
            .min();
        [
            calls,
            self.connector.poll_timeout(),
            self.dialback_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn poll(&mut self) -> Option<Observed> {
        self.observed.pop_front()
    }
}
