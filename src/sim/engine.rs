//! The discrete-event loop: calls arrive, walk the menus, ring, queue, talk and end on
//! a virtual clock, and every routing decision comes from the production engine
//! ([`route_call`], [`on_menu_input`], [`select_department`], [`on_queue_timeout`]).
//! The simulator only models what the call layer will do around those decisions
//! (ringing, answering, holding, hanging up) and keeps [`ManagerStates`] and
//! [`StrategyState`] the way production does: active calls up on answer, down with
//! `last_call_end` on hang-up, `calls_today` counted on answer.
//!
//! Events are ordered by (time, sequence number), so simultaneous events run in the
//! order they were scheduled and a run is exactly reproducible.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

mod waiting;

use super::model::{Arrival, MenuChoice, PriorManager, Traffic};
pub use super::result::{CallResult, ManagerTotals, SimOutcome, SimResult};
use super::rng::SimRng;
use crate::config::{Action, DialPlan};
use crate::routing::{
    CallContext, ManagerStates, MenuInput, MenuSession, PreviousInteraction, Selection, Step,
    StrategyState, Tried, on_menu_input, route_call, select_department,
};

/// Width of a bin of the queue-length curve.
pub const QUEUE_BIN_SECS: u64 = 300;
/// A caller stuck in menu loops gives up after this many menus.
const MAX_MENU_STEPS: u32 = 50;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrive(usize),
    MenuDone(usize, u32),
    PlayDone(usize, u32),
    Answer(usize, u32),
    RingTimeout(usize, u32),
    ManagerWaitOver(usize, u32),
    QueueTimeout(usize),
    Patience(usize),
    CallEnd(usize, usize),
    Wake(usize),
    Shift(usize, bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Ivr,
    Ringing,
    Queued(String),
    WaitingFor(usize),
    Talking,
    Done,
}

/// Where a ring came from, i.e. what a failed ring leads to.
#[derive(Debug, Clone)]
enum RingOrigin {
    Department(String),
    Manager(Box<Step>),
}

#[derive(Debug, Clone)]
struct Ring {
    managers: Vec<String>,
    winner: Option<usize>,
    origin: RingOrigin,
}

struct CallSim {
    rng: SimRng,
    session: MenuSession,
    tried: Tried,
    phase: Phase,
    epoch: u32,
    pending: Option<Step>,
    choice: MenuChoice,
    key_pos: usize,
    menu_steps: u32,
    ring: Option<Ring>,
    /// Returning-caller wait: ring timeout and fallback once the manager frees up.
    wait_for: Option<(Duration, Box<Step>)>,
    queue_deadline: Option<(String, u64)>,
    queue_expired: bool,
    result: CallResult,
}

struct Sim<'a> {
    plan: &'a DialPlan,
    traffic: &'a Traffic,
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// Manager → (departments they are in, distinct wrap-up times).
    departments_of: Vec<(Vec<String>, BTreeSet<u64>)>,
    states: ManagerStates,
    strategy: StrategyState,
    heap: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    now: u64,
    calls: Vec<CallSim>,
    queues: BTreeMap<String, VecDeque<usize>>,
    waiters: Vec<Vec<usize>>,
    history: HashMap<String, PreviousInteraction>,
    totals: Vec<ManagerTotals>,
    waiting: u32,
    bins: Vec<u32>,
    rings: u64,
}

/// Runs `traffic` through `plan`. `progress(done, total)` is called now and then with
/// the number of arrivals processed.
pub fn simulate(
    plan: &DialPlan,
    traffic: &Traffic,
    progress: &mut dyn FnMut(usize, usize),
) -> SimResult {
    let names: Vec<String> = plan.managers.keys().cloned().collect();
    let index: HashMap<String, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i))
        .collect();
    let mut departments_of = vec![(Vec::new(), BTreeSet::new()); names.len()];
    for d in plan.departments.values() {
        for m in &d.members {
            if let Some(entry) = index.get(m).and_then(|i| departments_of.get_mut(*i)) {
                entry.0.push(d.name.clone());
                if !d.wrap_up.is_zero() {
                    entry.1.insert(d.wrap_up.as_millis() as u64);
                }
            }
        }
    }
    let mut sim = Sim {
        plan,
        traffic,
        departments_of,
        states: ManagerStates::default(),
        strategy: StrategyState::with_seed(traffic.seed),
        heap: BinaryHeap::new(),
        seq: 0,
        now: 0,
        calls: Vec::with_capacity(traffic.arrivals.len()),
        queues: BTreeMap::new(),
        waiters: vec![Vec::new(); names.len()],
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
        rings: 0,
        names,
        index,
    };
    sim.start_shifts();
    for (i, a) in traffic.arrivals.iter().enumerate() {
        sim.calls.push(CallSim::new(traffic.seed, i, a));
        sim.schedule(a.at_ms, Ev::Arrive(i));
    }
    let total = traffic.arrivals.len();
    let step = (total / 100).max(1);
    let (mut arrived, mut events) = (0usize, 0u64);
    progress(0, total);
    while let Some(Reverse((at, _, ev))) = sim.heap.pop() {
        sim.advance(at);
        events += 1;
        if matches!(ev, Ev::Arrive(_)) {
            arrived += 1;
            if arrived % step == 0 {
                progress(arrived, total);
            }
        }
        sim.handle(ev);
    }
    progress(total, total);
    sim.advance(sim.now.max(traffic.window_ms));
    SimResult {
        calls: sim.calls.into_iter().map(|c| c.result).collect(),
        managers: sim.totals,
        queue_bins: sim.bins,
        rings: sim.rings,
        events,
    }
}

impl CallSim {
    fn new(seed: u64, i: usize, a: &Arrival) -> Self {
        CallSim {
            // A stream per call, distinct from the generator's (salted), so a call
            // draws the same choices and talk times whichever plan routes it.
            rng: SimRng::stream(seed ^ 0x5349_4D55_4C41_5445, i as u64),
            session: MenuSession::new(),
            tried: Tried::new(),
            phase: Phase::Ivr,
            epoch: 0,
            pending: None,
            choice: MenuChoice::Hangup,
            key_pos: 0,
            menu_steps: 0,
            ring: None,
            wait_for: None,
            queue_deadline: None,
            queue_expired: false,
            result: CallResult {
                dialled: a.dialled.clone(),
                caller: a.caller.clone(),
                arrived_ms: a.at_ms,
                outcome: SimOutcome::PlanHangup,
                wait_start_ms: None,
                answered_ms: None,
                answered_by: None,
                department: None,
                menus: Vec::new(),
                previous: None,
                overflowed: false,
                record: a.record.clone(),
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

impl Sim<'_> {
    fn schedule(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, ev)));
    }

    fn ts(&self) -> Timestamp {
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

    fn set_waiting(&mut self, delta: i32) {
        self.waiting = self.waiting.saturating_add_signed(delta);
        let bin = (self.now / 1000 / QUEUE_BIN_SECS) as usize;
        if let Some(b) = self.bins.get_mut(bin) {
            *b = (*b).max(self.waiting);
        }
    }

    fn start_shifts(&mut self) {
        for i in 0..self.names.len() {
            let Some(name) = self.names.get(i).cloned() else {
                continue;
            };
            let model = self.traffic.manager(&name);
            let on = model.signed_in_at(0);
            let st = self.states.entry(&name);
            st.registered = on;
            st.paused = !on;
            let ranges = model.shifts.clone().unwrap_or_default();
            for (a, b) in ranges {
                if a > 0 {
                    self.schedule(a, Ev::Shift(i, true));
                }
                self.schedule(b, Ev::Shift(i, false));
            }
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Arrive(c) => self.arrive(c),
            Ev::MenuDone(c, e) if self.live(c, e) => self.menu_done(c),
            Ev::PlayDone(c, e) if self.live(c, e) => {
                if let Some(step) = self.call(c).pending.take() {
                    self.enter_step(c, step);
                }
            }
            Ev::Answer(c, e) if self.live(c, e) => self.answer(c),
            Ev::RingTimeout(c, e) if self.live(c, e) => {
                let ring = self.call(c).ring.take();
                if let Some(r) = ring {
                    self.release(&r.managers);
                    self.ring_failed(c, r.managers, r.origin);
                }
            }
            Ev::ManagerWaitOver(c, e) if self.live(c, e) => {
                if let Phase::WaitingFor(m) = self.call(c).phase {
                    self.stop_waiting_for(c, m);
                    let fallback = self.call(c).wait_for.take().map(|(_, f)| *f);
                    self.enter_step(c, fallback.unwrap_or(Step::Hangup));
                }
            }
            Ev::QueueTimeout(c) => self.queue_timeout(c),
            Ev::Patience(c) => self.patience(c),
            Ev::CallEnd(c, m) => self.call_end(c, m),
            Ev::Wake(m) => self.wake(m),
            Ev::Shift(m, on) => {
                if let Some(name) = self.names.get(m).cloned() {
                    let st = self.states.entry(&name);
                    st.registered = on;
                    st.paused = !on;
                    if on {
                        self.wake(m);
                    }
                }
            }
            _ => {}
        }
    }

    fn call(&mut self, c: usize) -> &mut CallSim {
        // Indices come from our own event queue, never from input.
        &mut self.calls[c]
    }

    /// Is this event still current for the call (nothing happened to it since)?
    fn live(&self, c: usize, epoch: u32) -> bool {
        self.calls
            .get(c)
            .is_some_and(|call| call.epoch == epoch && call.phase != Phase::Done)
    }

    fn bump(&mut self, c: usize) -> u32 {
        let call = self.call(c);
        call.epoch += 1;
        call.epoch
    }

    fn arrive(&mut self, c: usize) {
        let now = self.ts();
        let (dialled, caller) = {
            let r = &self.call(c).result;
            (r.dialled.clone(), r.caller.clone())
        };
        let previous = self.history.get(&caller).cloned().or_else(|| {
            self.traffic.prior.get(&caller).and_then(|(who, at)| {
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
            && now.duration_since(p.at).as_secs() <= lookback
        {
            self.call(c).result.previous = Some(p.manager.clone());
        }
        let ctx = CallContext::new(&dialled, &caller, now);
        let d = route_call(self.plan, &ctx, &self.states, previous.as_ref());
        self.enter_step(c, d.step);
    }

    fn enter_step(&mut self, c: usize, step: Step) {
        match step {
            Step::Menu { menu, timeout, .. } => self.enter_menu(c, &menu, timeout),
            Step::Play { then, .. } => {
                self.call(c).pending = Some(*then);
                self.call(c).phase = Phase::Ivr;
                let e = self.bump(c);
                let at = self.now + secs_to_ms(self.traffic.play_secs);
                self.schedule(at, Ev::PlayDone(c, e));
            }
            Step::Department { name } => {
                let call = self.call(c);
                if call.result.department.is_none() {
                    call.result.department = Some(name.clone());
                }
                self.begin_wait(c);
                self.try_department(c, &name, false);
            }
            Step::Manager {
                name,
                ring_timeout,
                wait,
                fallback,
            } => {
                self.begin_wait(c);
                self.try_manager(c, &name, ring_timeout, wait, fallback);
            }
            Step::Voicemail { mailbox, .. } => self.finish(c, SimOutcome::Voicemail(mailbox)),
            Step::Hangup => self.finish(c, SimOutcome::PlanHangup),
        }
    }

    fn enter_menu(&mut self, c: usize, menu: &str, timeout: Duration) {
        let traffic = self.traffic;
        let options: Vec<char> = self
            .plan
            .menus
            .get(menu)
            .map(|m| {
                m.options
                    .iter()
                    .filter(|(_, a)| !matches!(a, Action::Repeat | Action::Back))
                    .map(|(k, _)| *k)
                    .collect()
            })
            .unwrap_or_default();
        let call = self.call(c);
        call.session.enter(menu);
        call.phase = Phase::Ivr;
        call.menu_steps += 1;
        let keys = traffic.arrivals.get(c).and_then(|a| a.keys.as_ref());
        let choice = if call.menu_steps > MAX_MENU_STEPS {
            MenuChoice::Hangup
        } else if let Some(keys) = keys {
            let k = keys.get(call.key_pos).copied();
            call.key_pos += 1;
            k.unwrap_or(MenuChoice::Hangup)
        } else {
            match traffic.menus.get(menu) {
                Some(choices) if !choices.is_empty() => {
                    let weights: Vec<f64> = choices.iter().map(|(_, w)| *w).collect();
                    let i = call.rng.weighted(&weights);
                    choices.get(i).map_or(MenuChoice::Timeout, |(ch, _)| *ch)
                }
                _ => options
                    .get(call.rng.below(options.len()))
                    .map_or(MenuChoice::Timeout, |k| MenuChoice::Key(*k)),
            }
        };
        call.choice = choice;
        let listen = secs_to_ms(traffic.menu_secs);
        let delay = match choice {
            MenuChoice::Key(_) => listen,
            MenuChoice::Timeout => listen + timeout.as_millis() as u64,
            MenuChoice::Hangup => listen / 2,
        };
        let e = self.bump(c);
        self.schedule(self.now + delay, Ev::MenuDone(c, e));
    }

    fn menu_done(&mut self, c: usize) {
        let now = self.ts();
        let plan = self.plan;
        let states = &self.states;
        let call = &mut self.calls[c];
        let input = match call.choice {
            MenuChoice::Hangup => return self.finish(c, SimOutcome::AbandonedInIvr),
            MenuChoice::Key(k) => MenuInput::Digit(k),
            MenuChoice::Timeout => MenuInput::Timeout,
        };
        if let Some(menu) = call.session.current() {
            call.result.menus.push((menu.to_string(), call.choice));
        }
        let d = on_menu_input(plan, &mut call.session, input, now, states);
        self.enter_step(c, d.step);
    }

    /// The caller starts waiting for a person: patience runs from here.
    fn begin_wait(&mut self, c: usize) {
        let now = self.now;
        let patience = self
            .traffic
            .arrivals
            .get(c)
            .map_or(f64::INFINITY, |a| a.patience_secs);
        let call = self.call(c);
        if call.result.wait_start_ms.is_none() {
            call.result.wait_start_ms = Some(now);
            if patience.is_finite() {
                self.schedule(now + secs_to_ms(patience), Ev::Patience(c));
            }
        }
    }

    fn try_department(&mut self, c: usize, dept: &str, front: bool) {
        let waiting = self.queues.get(dept).map_or(0, |q| q.len() as u32);
        self.states.queued.insert(dept.to_string(), waiting);
        let now = self.ts();
        let call = &self.calls[c];
        let d = select_department(
            self.plan,
            dept,
            now,
            &self.states,
            &mut self.strategy,
            &call.tried,
        );
        match d.selection {
            Selection::Ring {
                managers,
                all_at_once,
                ring_timeout,
            } => {
                let managers = if all_at_once {
                    managers
                } else {
                    managers.into_iter().take(1).collect()
                };
                self.start_ring(
                    c,
                    managers,
                    ring_timeout,
                    RingOrigin::Department(dept.into()),
                );
            }
            Selection::Queue { queue_timeout, .. } => {
                let fresh = self
                    .call(c)
                    .queue_deadline
                    .as_ref()
                    .map(|(d, _)| d.as_str())
                    != Some(dept);
                if fresh {
                    let deadline = self.now + queue_timeout.as_millis() as u64;
                    let call = self.call(c);
                    call.queue_deadline = Some((dept.to_string(), deadline));
                    call.queue_expired = false;
                    self.schedule(deadline, Ev::QueueTimeout(c));
                }
                if self.call(c).queue_expired {
                    return self.overflow_from_queue(c, dept);
                }
                let q = self.queues.entry(dept.to_string()).or_default();
                if front {
                    q.push_front(c);
                } else {
                    q.push_back(c);
                }
                self.call(c).phase = Phase::Queued(dept.to_string());
                self.bump(c);
                self.set_waiting(1);
            }
            Selection::Overflow(step) => {
                self.call(c).result.overflowed = true;
                self.enter_step(c, step);
            }
            Selection::AfterHours(step) => self.enter_step(c, step),
        }
    }

    /// Rings `managers` (one, or all at once) and schedules the first answer or the
    /// ring timeout. Whether and when each would answer is drawn from their model.
    fn start_ring(
        &mut self,
        c: usize,
        managers: Vec<String>,
        timeout: Duration,
        origin: RingOrigin,
    ) {
        let timeout_ms = timeout.as_millis() as u64;
        let traffic = self.traffic;
        let call = &mut self.calls[c];
        let mut winner: Option<(u64, usize)> = None;
        for (i, m) in managers.iter().enumerate() {
            let model = traffic.manager(m);
            let answers = call.rng.chance(model.answer_probability);
            let delay = secs_to_ms(model.answer_delay.sample(&mut call.rng));
            if answers && delay < timeout_ms && winner.is_none_or(|(d, _)| delay < d) {
                winner = Some((delay, i));
            }
        }
        self.rings += managers.len() as u64;
        // A ringing phone is a call leg in progress: it counts against max_calls, so
        // the same person is not offered two callers at once.
        for m in &managers {
            self.states.entry(m).active_calls += 1;
        }
        let call = self.call(c);
        call.ring = Some(Ring {
            managers,
            winner: winner.map(|(_, i)| i),
            origin,
        });
        call.phase = Phase::Ringing;
        let e = self.bump(c);
        match winner {
            Some((delay, _)) => self.schedule(self.now + delay, Ev::Answer(c, e)),
            None => self.schedule(self.now + timeout_ms, Ev::RingTimeout(c, e)),
        }
    }

    fn answer(&mut self, c: usize) {
        let Some(ring) = self.call(c).ring.take() else {
            return;
        };
        let winner = ring.winner.and_then(|i| ring.managers.get(i)).cloned();
        let m = winner.as_ref().and_then(|n| self.index.get(n).copied());
        let (Some(name), Some(m)) = (winner, m) else {
            self.release(&ring.managers);
            return self.ring_failed(c, ring.managers, ring.origin);
        };
        if self.states.get(&name).paused {
            // Signed out while it rang: no answer.
            self.release(&ring.managers);
            return self.ring_failed(c, vec![name], ring.origin);
        }
        let losers: Vec<String> = ring.managers.into_iter().filter(|n| *n != name).collect();
        self.release(&losers);
        // The ring's active call becomes the conversation.
        self.states.entry(&name).calls_today += 1;
        let now = self.now;
        let talk = secs_to_ms(
            self.traffic
                .manager(&name)
                .talk_time
                .sample(&mut self.calls[c].rng),
        );
        let call = self.call(c);
        call.phase = Phase::Talking;
        call.result.answered_ms = Some(now);
        call.result.answered_by = Some(name);
        call.result.outcome = SimOutcome::Answered;
        self.bump(c);
        if let Some(t) = self.totals.get_mut(m) {
            t.calls += 1;
            t.talk_ms += talk;
        }
        self.schedule(now + talk, Ev::CallEnd(c, m));
    }

    /// Ringing stopped for these managers without a conversation: free the line and
    /// let waiting callers have them (as a scheduled event, after the current one).
    fn release(&mut self, managers: &[String]) {
        for name in managers {
            let st = self.states.entry(name);
            st.active_calls = st.active_calls.saturating_sub(1);
            if let Some(&m) = self.index.get(name) {
                self.schedule(self.now, Ev::Wake(m));
            }
        }
    }

    fn ring_failed(&mut self, c: usize, rung: Vec<String>, origin: RingOrigin) {
        match origin {
            RingOrigin::Department(dept) => {
                self.call(c).tried.extend(rung);
                self.try_department(c, &dept, false);
            }
            RingOrigin::Manager(fallback) => self.enter_step(c, *fallback),
        }
    }

    fn call_end(&mut self, c: usize, m: usize) {
        let Some(name) = self.names.get(m).cloned() else {
            return;
        };
        let now = self.ts();
        let st = self.states.entry(&name);
        st.active_calls = st.active_calls.saturating_sub(1);
        st.last_call_end = Some(now);
        let call = self.call(c);
        call.phase = Phase::Done;
        let caller = call.result.caller.clone();
        let answered = call.result.answered_ms.unwrap_or(0);
        let at = self
            .traffic
            .origin
            .checked_add(SignedDuration::from_millis(
                i64::try_from(answered).unwrap_or(0),
            ))
            .unwrap_or(now);
        self.history
            .insert(caller, PreviousInteraction { manager: name, at });
        self.wake(m);
        let wraps: Vec<u64> = self
            .departments_of
            .get(m)
            .map(|(_, w)| w.iter().copied().collect())
            .unwrap_or_default();
        for w in wraps {
            self.schedule(self.now + w, Ev::Wake(m));
        }
    }

    fn finish(&mut self, c: usize, outcome: SimOutcome) {
        let call = self.call(c);
        call.result.outcome = outcome;
        call.phase = Phase::Done;
        call.epoch += 1;
    }
}
