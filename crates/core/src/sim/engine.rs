//! The discrete-event loop: a simulated world of callers (who listen, press keys, lose
//! patience, leave messages) and managers (who pick up or not, talk, sign in and out)
//! around a [`Switch`] — the simulator's [`CoreSwitch`], which runs the router's own
//! call logic, or the live endpoint itself in the equivalence test.
//!
//! The world only models people; every decision (menus, routing, whom to ring, the
//! queue, the outcome) is the switch's. Events are ordered by (time, sequence number),
//! so simultaneous events run in the order they were scheduled and a run is exactly
//! reproducible. Draws come from one random stream per call, in the order the call
//! needs them, so the same traffic behaves the same through every plan and switch.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

use super::model::{Arrival, MenuChoice, PriorManager, Reaction, Traffic};
pub use super::result::{CallResult, ManagerTotals, SimResult, Trace};
use super::rng::SimRng;
use super::switch::{CoreSwitch, Observed, RingId, Switch};
use crate::call::CallEvent;
use crate::config::DialPlan;
use crate::model::{CallOutcome, RingOutcome};
use crate::routing::PreviousInteraction;

/// Width of a bin of the queue-length curve.
pub const QUEUE_BIN_SECS: u64 = 300;
/// Salts the per-call stream that decides whether a caller takes the callback offer.
const CALLBACK_STREAM: u64 = 0x4341_4c4c_4241_434b;
/// How long after the traffic window a run may go on for dial-backs alone.
pub const LINGER_MS: u64 = 2 * 3600 * 1000;

/// A caller stuck in menu loops gives up after this many menus.
const MAX_MENU_STEPS: u32 = 50;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrive(usize),
    /// A key for the menu the caller entered `n`-th.
    Digit(usize, char, u32),
    /// Hanging up in the menu entered `n`-th.
    MenuHangup(usize, u32),
    /// Patience over, or the recorded hang-up of a replayed call.
    CallerGivesUp(usize),
    PromptDone(usize, u32),
    RecordingDone(usize, u32),
    PhoneAnswers(RingId),
    PhoneRejects(RingId, RejectKind),
    ManagerHangsUp(usize),
    Shift(usize, bool),
    /// The queued caller presses the callback key.
    CallbackKey(usize, char),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum RejectKind {
    Busy,
    Declined,
    Failed,
}

/// The world's view of one call.
struct Caller {
    rng: SimRng,
    menus_entered: u32,
    key_pos: usize,
    script_ring: usize,
    playing: Option<u32>,
    /// A menu was just entered, and what the caller will do in it: the next prompt list
    /// is the menu's (any prompts before it, then its own; a plan's menu always has a
    /// prompt), and the caller acts after hearing it.
    menu_next: Option<(MenuChoice, u32)>,
    /// Counted in the queue-length curve.
    waiting: bool,
    /// Waiting for people (patience applies).
    connecting: bool,
    /// Decided already whether to take the callback offer.
    offer_decided: bool,
    done: bool,
    result: CallResult,
}

struct World<'a> {
    plan: &'a DialPlan,
    traffic: &'a Traffic,
    t0: Instant,
    names: Vec<String>,
    index: HashMap<String, usize>,
    heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    now: u64,
    calls: Vec<Caller>,
    rings: HashMap<RingId, usize>,
    live_rings: HashSet<RingId>,
    history: HashMap<String, PreviousInteraction>,
    totals: Vec<ManagerTotals>,
    waiting: u32,
    bins: Vec<u32>,
    rings_made: u64,
}

/// Runs `traffic` through `plan` with the simulator's own switch. `progress(done,
/// total)` is called now and then with the number of arrivals processed.
pub fn simulate(
    plan: &DialPlan,
    traffic: &Traffic,
    progress: &mut dyn FnMut(usize, usize),
) -> SimResult {
    let mut switch = CoreSwitch::new(Arc::new(plan.clone()), traffic.seed)
        .with_callbacks(traffic.callbacks.clone());
    let mut r = run(plan, traffic, &mut switch, progress);
    r.callbacks = switch.callbacks;
    r.dialbacks = switch.dialback_totals;
    r
}

/// Runs `traffic` through any [`Switch`] on a virtual clock.
pub fn run<S: Switch>(
    plan: &DialPlan,
    traffic: &Traffic,
    switch: &mut S,
    progress: &mut dyn FnMut(usize, usize),
) -> SimResult {
    let names: Vec<String> = plan.managers.keys().cloned().collect();
    let index = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i))
        .collect();
    let mut w = World {
        plan,
        traffic,
        // Only an origin for the switch's monotonic deadlines; nothing is timed by it.
        t0: Instant::now(),
        heap: BinaryHeap::new(),
        seq: 0,
        now: 0,
        calls: traffic
            .arrivals
            .iter()
            .enumerate()
            .map(|(i, a)| Caller::new(traffic.seed, i, a))
            .collect(),
        rings: HashMap::new(),
        live_rings: HashSet::new(),
        history: HashMap::new(),
        totals: names
            .iter()
            .map(|n| ManagerTotals {
                name: n.clone(),
                signed_in_ms: traffic.manager(n).signed_in_ms(traffic.window_ms),
                ..ManagerTotals::default()
            })
            .collect(),
        waiting: 0,
        bins: Vec::new(),
        rings_made: 0,
        names,
        index,
    };
    w.start_shifts(switch);
    for (i, a) in traffic.arrivals.iter().enumerate() {
        w.schedule(a.at_ms, Ev::Arrive(i));
        if let Some(after) = a.script.as_ref().and_then(|s| s.hangup_after_ms) {
            w.schedule(a.at_ms + after, Ev::CallerGivesUp(i));
        }
    }
    let total = traffic.arrivals.len();
    let step = (total / 100).max(1);
    let (mut arrived, mut events) = (0usize, 0u64);
    progress(0, total);
    loop {
        let next_ev = w.heap.peek().map(|Reverse((at, _, _))| *at);
        let next_sw = switch.poll_timeout().map(|t| w.ms_of(t));
        match (next_ev, next_sw) {
            (None, None) => break,
            // Every caller is gone and the day is long over: what is left are
            // dial-backs waiting for a manager (they would be served the next
            // morning); the run ends and reports them as still waiting.
            (None, Some(sw)) if sw > traffic.window_ms.saturating_add(LINGER_MS) => break,
            (ev, Some(sw)) if ev.is_none_or(|ev| sw <= ev) => {
                w.advance(sw);
                let (now, wall) = (w.instant(), w.wall());
                switch.timeout(now, wall);
            }
            _ => {
                let Some(Reverse((at, _, ev))) = w.heap.pop() else {
                    break;
                };
                w.advance(at);
                if matches!(ev, Ev::Arrive(_)) {
                    arrived += 1;
                    if arrived % step == 0 {
                        progress(arrived, total);
                    }
                }
                w.handle(switch, ev);
            }
        }
        events += 1;
        w.observe_all(switch);
    }
    progress(total, total);
    w.advance(w.now.max(traffic.window_ms));
    SimResult {
        calls: w.calls.into_iter().map(|c| c.result).collect(),
        managers: w.totals,
        queue_bins: w.bins,
        rings: w.rings_made,
        events,
        callbacks: 0,
        dialbacks: Default::default(),
    }
}

impl Caller {
    fn new(seed: u64, i: usize, a: &Arrival) -> Self {
        Caller {
            // A stream per call, distinct from the generator's (salted), so a call
            // draws the same choices and talk times whichever plan routes it.
            rng: SimRng::stream(seed ^ 0x5349_4D55_4C41_5445, i as u64),
            menus_entered: 0,
            key_pos: 0,
            script_ring: 0,
            playing: None,
            menu_next: None,
            waiting: false,
            connecting: false,
            offer_decided: false,
            done: false,
            result: CallResult {
                dialled: a.dialled.clone(),
                caller: a.caller.clone(),
                arrived_ms: a.at_ms,
                outcome: CallOutcome::InProgress,
                voicemail: None,
                wait_start_ms: None,
                answered_ms: None,
                answered_by: None,
                department: None,
                menus: Vec::new(),
                previous: None,
                overflowed: false,
                callback: false,
                record: a.record.clone(),
                trace: Vec::new(),
            },
        }
    }
}

fn secs_to_ms(secs: f64) -> u64 {
    if secs.is_finite() {
        (secs * 1000.0).round().max(0.0) as u64
    } else {
        u64::MAX / 4
    }
}

impl World<'_> {
    fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, ev)));
    }

    fn instant(&self) -> Instant {
        self.t0 + Duration::from_millis(self.now)
    }

    /// A deadline as milliseconds from the start, rounded up (never early).
    fn ms_of(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.t0);
        u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
    }

    fn wall(&self) -> Timestamp {
        let ms = i64::try_from(self.now).unwrap_or(i64::MAX);
        self.traffic
            .origin
            .checked_add(SignedDuration::from_millis(ms))
            .unwrap_or(self.traffic.origin)
    }

    /// Moves the clock, carrying the current queue length into the bins passed.
    fn advance(&mut self, to: u64) {
        let bin = (to / 1000 / QUEUE_BIN_SECS) as usize;
        while self.bins.len() <= bin {
            self.bins.push(self.waiting);
        }
        self.now = to.max(self.now);
    }

    fn set_waiting(&mut self, c: usize, on: bool) {
        let Some(call) = self.calls.get_mut(c) else {
            return;
        };
        if call.waiting == on {
            return;
        }
        call.waiting = on;
        if on {
            self.waiting += 1;
        } else {
            self.waiting = self.waiting.saturating_sub(1);
        }
        let bin = (self.now / 1000 / QUEUE_BIN_SECS) as usize;
        if let Some(b) = self.bins.get_mut(bin) {
            *b = (*b).max(self.waiting);
        }
    }

    fn trace(&mut self, c: usize, t: Trace) {
        let now = self.now;
        if let Some(call) = self.calls.get_mut(c) {
            call.result.trace.push((now, t));
        }
    }

    fn start_shifts<S: Switch>(&mut self, switch: &mut S) {
        let (now, wall) = (self.instant(), self.wall());
        for i in 0..self.names.len() {
            let Some(name) = self.names.get(i).cloned() else {
                continue;
            };
            let model = self.traffic.manager(&name);
            switch.signed_in(now, wall, &name, model.signed_in_at(0));
            for (a, b) in model.shifts.clone().unwrap_or_default() {
                if a > 0 {
                    self.schedule(a, Ev::Shift(i, true));
                }
                self.schedule(b, Ev::Shift(i, false));
            }
        }
    }

    fn live(&self, c: usize) -> bool {
        self.calls.get(c).is_some_and(|x| !x.done)
    }

    fn handle<S: Switch>(&mut self, sw: &mut S, ev: Ev) {
        let (now, wall) = (self.instant(), self.wall());
        match ev {
            Ev::Arrive(c) => {
                let Some(a) = self.traffic.arrivals.get(c) else {
                    return;
                };
                let history = self.previous(c, &a.caller);
                sw.arrive(now, wall, c, &a.dialled, &a.caller, history);
            }
            Ev::Digit(c, k, n) => {
                if self.live(c) && self.calls.get(c).is_some_and(|x| x.menus_entered == n) {
                    sw.digit(now, wall, c, k);
                }
            }
            Ev::MenuHangup(c, n) => {
                if self.live(c) && self.calls.get(c).is_some_and(|x| x.menus_entered == n) {
                    sw.caller_hangs_up(now, wall, c);
                }
            }
            Ev::CallerGivesUp(c) => {
                let scripted = self.traffic.arrivals.get(c).is_some_and(|a| {
                    a.script
                        .as_ref()
                        .is_some_and(|s| s.hangup_after_ms.is_some())
                });
                let waiting = self
                    .calls
                    .get(c)
                    .is_some_and(|x| x.connecting || (scripted && x.result.answered_ms.is_none()));
                if self.live(c) && waiting {
                    sw.caller_hangs_up(now, wall, c);
                }
            }
            Ev::PromptDone(c, id) => {
                if self.live(c) && self.calls.get(c).is_some_and(|x| x.playing == Some(id)) {
                    if let Some(x) = self.calls.get_mut(c) {
                        x.playing = None;
                    }
                    sw.prompt_finished(now, wall, c, id);
                }
            }
            Ev::RecordingDone(c, id) => {
                if self.live(c) {
                    let len = Duration::from_millis(secs_to_ms(self.traffic.message_secs));
                    sw.recording_finished(now, wall, c, id, len);
                }
            }
            Ev::PhoneAnswers(ring) => {
                if self.live_rings.contains(&ring) {
                    sw.phone_answers(now, wall, ring);
                }
            }
            Ev::PhoneRejects(ring, kind) => {
                if self.live_rings.contains(&ring) {
                    let outcome = match kind {
                        RejectKind::Busy => RingOutcome::Busy,
                        RejectKind::Declined => RingOutcome::Declined,
                        RejectKind::Failed => RingOutcome::Failed,
                    };
                    sw.phone_rejects(now, wall, ring, outcome);
                }
            }
            Ev::ManagerHangsUp(c) => {
                if self.live(c) {
                    sw.manager_hangs_up(now, wall, c);
                }
            }
            Ev::Shift(m, on) => {
                if let Some(name) = self.names.get(m).cloned() {
                    sw.signed_in(now, wall, &name, on);
                }
            }
            Ev::CallbackKey(c, key) => {
                if self.live(c) && self.calls.get(c).is_some_and(|x| x.connecting && x.waiting) {
                    sw.digit(now, wall, c, key);
                }
            }
        }
    }

    /// Whom the caller spoke with last, and whether it is within the lookback.
    fn previous(&mut self, c: usize, caller: &str) -> Option<PreviousInteraction> {
        let previous = self.history.get(caller).cloned().or_else(|| {
            self.traffic.prior.get(caller).and_then(|(who, at)| {
                let manager = match who {
                    PriorManager::Named(n) => n.clone(),
                    PriorManager::Pick(v) => {
                        let n = self.names.len().max(1) as u64;
                        self.names.get((v % n) as usize)?.clone()
                    }
                };
                Some(PreviousInteraction { manager, at: *at })
            })
        });
        let lookback = i64::try_from(self.plan.history.lookback.as_secs()).unwrap_or(i64::MAX);
        if let Some(p) = &previous
            && self.wall().duration_since(p.at).as_secs() <= lookback
            && let Some(call) = self.calls.get_mut(c)
        {
            call.result.previous = Some(p.manager.clone());
        }
        previous
    }

    fn observe_all<S: Switch>(&mut self, sw: &mut S) {
        while let Some(o) = sw.poll() {
            self.observe(o);
        }
    }

    fn observe(&mut self, o: Observed) {
        match o {
            Observed::Play {
                call,
                play_id,
                prompts,
            } => {
                let mut menu = None;
                if let Some(x) = self.calls.get_mut(call) {
                    x.playing = Some(play_id);
                    menu = x.menu_next.take();
                }
                let play_ms = secs_to_ms(self.traffic.play_secs);
                let len = match menu {
                    Some((choice, n)) => {
                        // The prompts before a type-ahead menu play in one list with the
                        // menu's own, which comes last (call::ivr).
                        let before = play_ms * prompts.saturating_sub(1) as u64;
                        let listen = secs_to_ms(self.traffic.menu_secs);
                        let heard = self.now + before;
                        match choice {
                            MenuChoice::Key(k) => {
                                self.schedule(heard + listen, Ev::Digit(call, k, n));
                            }
                            // Silence: the menu's own timer decides.
                            MenuChoice::Timeout => {}
                            MenuChoice::Hangup => {
                                self.schedule(heard + listen / 2, Ev::MenuHangup(call, n));
                            }
                        }
                        before + listen
                    }
                    None => play_ms * prompts.max(1) as u64,
                };
                self.schedule(self.now + len, Ev::PromptDone(call, play_id));
            }
            Observed::StopPlayback { call } => {
                if let Some(x) = self.calls.get_mut(call) {
                    x.playing = None;
                }
            }
            Observed::Ring {
                call,
                ring,
                manager,
            } => {
                self.rings_made += 1;
                self.set_waiting(call, false);
                self.trace(call, Trace::Rung(manager.clone()));
                self.rings.insert(ring, call);
                self.live_rings.insert(ring);
                match self.reaction(call, &manager) {
                    Reaction::Answer(ms) => self.schedule(self.now + ms, Ev::PhoneAnswers(ring)),
                    Reaction::Reject(outcome, ms) => {
                        let kind = match outcome {
                            RingOutcome::Busy => RejectKind::Busy,
                            RingOutcome::Declined => RejectKind::Declined,
                            _ => RejectKind::Failed,
                        };
                        self.schedule(self.now + ms, Ev::PhoneRejects(ring, kind));
                    }
                    Reaction::NoAnswer => {}
                }
            }
            Observed::RingStopped { ring } => {
                self.live_rings.remove(&ring);
            }
            Observed::Bridged {
                call,
                ring,
                manager,
            } => {
                self.live_rings.remove(&ring);
                let talk = self.talk_ms(call, &manager);
                if let Some(t) = self
                    .index
                    .get(&manager)
                    .and_then(|m| self.totals.get_mut(*m))
                {
                    t.calls += 1;
                    t.talk_ms += talk;
                }
                self.schedule(self.now + talk, Ev::ManagerHangsUp(call));
            }
            Observed::Record { call, record_id } => {
                let len = secs_to_ms(self.traffic.message_secs);
                self.schedule(self.now + len, Ev::RecordingDone(call, record_id));
            }
            Observed::Event { call, event } => self.event(call, event),
        }
    }

    fn event(&mut self, c: usize, event: CallEvent) {
        let now = self.now;
        match event {
            CallEvent::MenuEntered { menu, .. } => self.menu_entered(c, &menu),
            CallEvent::MenuChoice { menu, input, .. } => {
                if let Some(x) = self.calls.get_mut(c) {
                    let choice = input
                        .chars()
                        .next()
                        .map_or(MenuChoice::Timeout, MenuChoice::Key);
                    x.result.menus.push((menu, choice));
                }
            }
            CallEvent::Decision { reason, .. } => {
                if let Some(x) = self.calls.get_mut(c) {
                    if reason.overflow().is_some() {
                        x.result.overflowed = true;
                    }
                    // A decision while connecting: the connect failed and the plan
                    // goes on (overflow, fallback).
                    if x.connecting {
                        x.connecting = false;
                        self.set_waiting(c, false);
                    }
                }
            }
            CallEvent::Connecting { department, .. } => {
                let patience = self
                    .traffic
                    .arrivals
                    .get(c)
                    .map_or(f64::INFINITY, |a| a.patience_secs);
                let scripted = self
                    .traffic
                    .arrivals
                    .get(c)
                    .is_some_and(|a| a.script.is_some());
                let Some(x) = self.calls.get_mut(c) else {
                    return;
                };
                x.connecting = true;
                // As in the call record: the department the call was last handed to.
                if department.is_some() {
                    x.result.department = department;
                }
                if x.result.wait_start_ms.is_none() {
                    x.result.wait_start_ms = Some(now);
                    if patience.is_finite() && !scripted {
                        self.schedule(now + secs_to_ms(patience), Ev::CallerGivesUp(c));
                    }
                }
            }
            CallEvent::Queued {
                department,
                position,
                ..
            } => {
                self.set_waiting(c, true);
                self.callback_offer(c, &department);
                self.trace(c, Trace::Queued(department, position));
            }
            CallEvent::CallbackQueued { .. } => {
                if let Some(x) = self.calls.get_mut(c) {
                    x.result.callback = true;
                }
            }
            CallEvent::WaitingFor { manager, .. } => {
                self.set_waiting(c, true);
                self.trace(c, Trace::WaitingFor(manager));
            }
            CallEvent::Connected { manager, .. } => {
                self.trace(c, Trace::Answered(manager.clone()));
                let wall = self.wall();
                let Some(x) = self.calls.get_mut(c) else {
                    return;
                };
                x.connecting = false;
                if x.result.answered_ms.is_none() {
                    x.result.answered_ms = Some(now);
                    x.result.answered_by = Some(manager.clone());
                    let caller = x.result.caller.clone();
                    self.history
                        .insert(caller, PreviousInteraction { manager, at: wall });
                }
            }
            CallEvent::Voicemail { mailbox, .. } => {
                if let Some(x) = self.calls.get_mut(c) {
                    if x.result.department.is_none() {
                        x.result.department = Some(mailbox.clone());
                    }
                    x.result.voicemail = Some(mailbox);
                    x.connecting = false;
                }
            }
            CallEvent::Ended { outcome, .. } => {
                self.set_waiting(c, false);
                self.trace(c, Trace::Ended(outcome.outcome));
                if let Some(x) = self.calls.get_mut(c) {
                    x.result.outcome = outcome.outcome;
                    x.done = true;
                    x.connecting = false;
                }
            }
            _ => {}
        }
    }

    /// A queue that offers a callback: does this caller take it (the traffic's
    /// `[callbacks] share`), and when? Drawn from a stream of its own, so the caller's
    /// other draws stay the same whether or not the plan offers callbacks.
    fn callback_offer(&mut self, c: usize, department: &str) {
        let model = &self.traffic.callbacks;
        if model.share <= 0.0 {
            return;
        }
        let key = self
            .plan
            .departments
            .get(department)
            .and_then(|d| d.queue.callback_key)
            .filter(|_| self.plan.callback_trunk().is_some());
        let Some(key) = key else {
            return;
        };
        let seed = self.traffic.seed;
        let Some(x) = self.calls.get_mut(c) else {
            return;
        };
        if std::mem::replace(&mut x.offer_decided, true) {
            return;
        }
        let mut rng = SimRng::stream(seed ^ CALLBACK_STREAM, c as u64);
        if rng.chance(model.share) {
            let at = self.now + secs_to_ms(model.after_secs);
            self.schedule(at, Ev::CallbackKey(c, key));
        }
    }

    /// The caller hears a menu: what do they do, and when?
    fn menu_entered(&mut self, c: usize, menu: &str) {
        let traffic = self.traffic;
        let options: Vec<char> = self
            .plan
            .menus
            .get(menu)
            .map(|m| {
                m.options
                    .iter()
                    .filter(|(_, a)| {
                        !matches!(
                            a,
                            crate::config::Action::Repeat | crate::config::Action::Back
                        )
                    })
                    .map(|(k, _)| *k)
                    .collect()
            })
            .unwrap_or_default();
        let keys = traffic.arrivals.get(c).and_then(|a| a.keys.as_ref());
        let Some(x) = self.calls.get_mut(c) else {
            return;
        };
        x.menus_entered += 1;
        let n = x.menus_entered;
        let choice = if x.menus_entered > MAX_MENU_STEPS {
            MenuChoice::Hangup
        } else if let Some(keys) = keys {
            let k = keys.get(x.key_pos).copied();
            x.key_pos += 1;
            k.unwrap_or(MenuChoice::Hangup)
        } else {
            match traffic.menus.get(menu) {
                Some(choices) if !choices.is_empty() => {
                    let weights: Vec<f64> = choices.iter().map(|(_, w)| *w).collect();
                    let i = x.rng.weighted(&weights);
                    choices.get(i).map_or(MenuChoice::Timeout, |(ch, _)| *ch)
                }
                _ => options
                    .get(x.rng.below(options.len()))
                    .map_or(MenuChoice::Timeout, |k| MenuChoice::Key(*k)),
            }
        };
        x.menu_next = Some((choice, n));
    }

    /// How a phone reacts: the recorded reaction when replaying the same ring, else
    /// drawn from the manager's model.
    fn reaction(&mut self, c: usize, manager: &str) -> Reaction {
        let scripted = self
            .traffic
            .arrivals
            .get(c)
            .and_then(|a| a.script.as_ref())
            .and_then(|s| {
                let i = self.calls.get(c)?.script_ring;
                s.rings
                    .get(i)
                    .filter(|(m, _)| m == manager)
                    .map(|(_, r)| *r)
            });
        if let Some(r) = scripted {
            if let Some(x) = self.calls.get_mut(c) {
                x.script_ring += 1;
            }
            return r;
        }
        let model = self.traffic.manager(manager);
        let Some(x) = self.calls.get_mut(c) else {
            return Reaction::NoAnswer;
        };
        let answers = x.rng.chance(model.answer_probability);
        let delay = secs_to_ms(model.answer_delay.sample(&mut x.rng));
        if answers {
            Reaction::Answer(delay)
        } else {
            Reaction::NoAnswer
        }
    }

    fn talk_ms(&mut self, c: usize, manager: &str) -> u64 {
        if let Some(ms) = self
            .traffic
            .arrivals
            .get(c)
            .and_then(|a| a.script.as_ref())
            .and_then(|s| s.talk_ms)
        {
            return ms;
        }
        let model = self.traffic.manager(manager);
        self.calls
            .get_mut(c)
            .map_or(0, |x| secs_to_ms(model.talk_time.sample(&mut x.rng)))
    }
}
