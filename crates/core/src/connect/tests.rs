//! The connect policy on a virtual clock: rounds, failover, ring-all, the first-come,
//! first-served queue woken by events, waiting for one manager, deadlines, priority.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::*;
use crate::config::load_str;

const PLAN: &str = r#"
[[numbers]]
number = "1000"
action = "department:sales"

[departments.sales]
members = ["andrew", "elena"]
strategy = "round-robin"
ring_timeout_secs = 10
queue_timeout_secs = 60
max_waiting = 5
overflow = "voicemail:sales"

[departments.solo]
members = ["andrew"]
queue_timeout_secs = 60
overflow = "hangup"

[departments.wrap]
members = ["andrew"]
wrap_up_secs = 30
overflow = "hangup"

[departments.all]
members = ["andrew", "elena"]
strategy = "ring-all"
overflow = "hangup"

[voicemail.sales]

[managers.andrew]
contact = "sip:101@10.0.0.5:5060"

[managers.elena]
contact = "sip:102@10.0.0.6:5060"
"#;

pub(super) struct T {
    pub(super) c: Connector,
    pub(super) plan: Arc<DialPlan>,
    t0: Instant,
    pub(super) now: Instant,
    wall0: Timestamp,
}

impl T {
    pub(super) fn new() -> T {
        let plan = Arc::new(
            load_str(PLAN, Path::new("plan.toml"), None)
                .unwrap_or_else(|e| panic!("{e}"))
                .plan,
        );
        let now = Instant::now();
        T {
            c: Connector::new(7),
            plan,
            t0: now,
            now,
            wall0: "2026-11-23T10:00:00Z".parse().unwrap(),
        }
    }

    pub(super) fn wall(&self) -> Timestamp {
        let d = self.now - self.t0;
        self.wall0
            .checked_add(jiff::SignedDuration::try_from(d).unwrap())
            .unwrap()
    }

    pub(super) fn out(&mut self) -> Vec<ConnectOutput> {
        std::iter::from_fn(|| self.c.poll_output()).collect()
    }

    pub(super) fn request(&mut self, call: u64, dept: &str) -> Vec<ConnectOutput> {
        self.request_with(call, ConnectTarget::Department(dept.into()), 0)
    }

    pub(super) fn request_with(
        &mut self,
        call: u64,
        target: ConnectTarget,
        prio: u8,
    ) -> Vec<ConnectOutput> {
        let (now, wall, plan) = (self.now, self.wall(), self.plan.clone());
        self.c
            .handle_request(now, wall, CallKey(call), plan, target, prio);
        self.out()
    }

    pub(super) fn ended(&mut self, call: u64, m: &str, o: RingOutcome) -> Vec<ConnectOutput> {
        let (now, wall) = (self.now, self.wall());
        self.c.handle_ring_ended(now, wall, CallKey(call), m, o);
        self.out()
    }

    pub(super) fn answer(&mut self, call: u64, m: &str) {
        let (now, wall) = (self.now, self.wall());
        self.c.handle_answered(now, wall, CallKey(call), m);
    }

    pub(super) fn hang_up(&mut self, m: &str) -> Vec<ConnectOutput> {
        let (now, wall, plan) = (self.now, self.wall(), self.plan.clone());
        self.c.handle_talk_ended(now, wall, m, &plan);
        self.out()
    }

    /// Advance to `d` after the start, firing every deadline on the way.
    pub(super) fn at(&mut self, d: Duration) -> Vec<ConnectOutput> {
        let end = self.t0 + d;
        let mut out = Vec::new();
        while let Some(t) = self.c.poll_timeout() {
            if t > end {
                break;
            }
            self.now = t;
            let wall = self.wall();
            self.c.handle_timeout(t, wall);
            out.extend(self.out());
        }
        self.now = end;
        out
    }
}

pub(super) fn ring(out: &[ConnectOutput]) -> Vec<(u64, Vec<String>)> {
    out.iter()
        .filter_map(|o| match o {
            ConnectOutput::Ring { call, managers, .. } => Some((call.0, managers.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub(super) fn queued_at(out: &[ConnectOutput]) -> Vec<(u64, usize)> {
    out.iter()
        .filter_map(|o| match o {
            ConnectOutput::Wait {
                call,
                wait: Wait::Queue { position, .. },
                ..
            } => Some((call.0, *position)),
            _ => None,
        })
        .collect()
}

/// Andrew answers call 1 in "solo", so he is busy.
fn andrew_busy(t: &mut T) {
    assert_eq!(ring(&t.request(1, "solo")), vec![(1, names(&["andrew"]))]);
    t.answer(1, "andrew");
}

#[test]
fn no_answer_fails_over_then_everyone_tried_overflows() {
    let mut t = T::new();
    assert_eq!(ring(&t.request(1, "sales")), vec![(1, names(&["andrew"]))]);
    let out = t.ended(1, "andrew", RingOutcome::NoAnswer);
    assert_eq!(ring(&out), vec![(1, names(&["elena"]))]);
    let out = t.ended(1, "elena", RingOutcome::Busy);
    let [ConnectOutput::Failed { step, reason, .. }] = &out[..] else {
        panic!("{out:?}")
    };
    assert!(matches!(step, Step::Voicemail { mailbox, .. } if mailbox == "sales"));
    assert_eq!(
        reason.overflow(),
        Some(routing::OverflowCause::NobodyAvailable)
    );
    assert!(!t.c.is_connecting(CallKey(1)));
    // Nobody is left ringing or talking.
    let st = t.c.states(t.wall());
    assert_eq!(
        st.get("andrew").active_calls + st.get("elena").active_calls,
        0
    );
}

#[test]
fn queued_callers_are_served_first_come_first_served_the_moment_a_manager_frees() {
    let mut t = T::new();
    andrew_busy(&mut t);
    assert_eq!(queued_at(&t.request(2, "solo")), vec![(2, 1)]);
    t.now += Duration::from_millis(700);
    assert_eq!(queued_at(&t.request(3, "solo")), vec![(3, 2)]);
    t.now += Duration::from_millis(700);
    assert_eq!(queued_at(&t.request(4, "solo")), vec![(4, 3)]);
    assert_eq!(t.c.queue("solo"), vec![CallKey(2), CallKey(3), CallKey(4)]);
    // Andrew hangs up: the head is rung within the same event, no polling.
    let out = t.hang_up("andrew");
    assert_eq!(ring(&out), vec![(2, names(&["andrew"]))]);
    t.answer(2, "andrew");
    assert_eq!(ring(&t.hang_up("andrew")), vec![(3, names(&["andrew"]))]);
    t.answer(3, "andrew");
    assert_eq!(ring(&t.hang_up("andrew")), vec![(4, names(&["andrew"]))]);
}

#[test]
fn a_caller_arriving_as_a_manager_frees_does_not_jump_the_queue() {
    // Free first, then the newcomer in the same instant.
    let mut t = T::new();
    andrew_busy(&mut t);
    t.request(2, "solo");
    assert_eq!(ring(&t.hang_up("andrew")), vec![(2, names(&["andrew"]))]);
    assert_eq!(queued_at(&t.request(3, "solo")), vec![(3, 1)]);
    // The newcomer first, then the free event in the same instant.
    let mut t = T::new();
    andrew_busy(&mut t);
    t.request(2, "solo");
    assert_eq!(queued_at(&t.request(3, "solo")), vec![(3, 2)]);
    assert_eq!(ring(&t.hang_up("andrew")), vec![(2, names(&["andrew"]))]);
}

#[test]
fn a_queued_caller_rung_without_answer_keeps_their_place() {
    let mut t = T::new();
    // Elena busy in sales, andrew busy too.
    t.request(1, "sales");
    t.answer(1, "andrew");
    t.request(2, "sales");
    t.answer(2, "elena");
    t.request(3, "sales");
    t.request(4, "sales");
    assert_eq!(t.c.queue("sales"), vec![CallKey(3), CallKey(4)]);
    // Andrew frees and rings for 3, who gets no answer from him...
    assert_eq!(ring(&t.hang_up("andrew")), vec![(3, names(&["andrew"]))]);
    let out = t.ended(3, "andrew", RingOutcome::NoAnswer);
    // ...so 3 goes back to the head (andrew is tried for 3), and 4 gets andrew.
    assert_eq!(queued_at(&out), vec![(3, 1)]);
    assert_eq!(ring(&out), vec![(4, names(&["andrew"]))]);
    assert_eq!(t.c.queue("sales"), vec![CallKey(3)]);
}

#[test]
fn the_queue_timeout_overflows_and_a_full_queue_overflows_at_once() {
    let mut t = T::new();
    andrew_busy(&mut t);
    t.request(2, "solo");
    let out = t.at(Duration::from_secs(60));
    let [ConnectOutput::Failed { call, reason, .. }] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(*call, CallKey(2));
    assert_eq!(
        reason.overflow(),
        Some(routing::OverflowCause::QueueTimeout)
    );
    // sales: max_waiting 5.
    let mut t = T::new();
    t.request(1, "sales");
    t.answer(1, "andrew");
    t.request(2, "sales");
    t.answer(2, "elena");
    for c in 3..8 {
        assert_eq!(queued_at(&t.request(c, "sales")).len(), 1);
    }
    let out = t.request(8, "sales");
    let [ConnectOutput::Failed { reason, .. }] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(reason.overflow(), Some(routing::OverflowCause::QueueFull));
}

#[test]
fn ring_all_rings_everyone_and_the_losers_free_up() {
    let mut t = T::new();
    assert_eq!(
        ring(&t.request(1, "all")),
        vec![(1, names(&["andrew", "elena"]))]
    );
    t.answer(1, "elena");
    t.ended(1, "andrew", RingOutcome::Cancelled);
    let st = t.c.states(t.wall());
    assert_eq!(st.get("andrew").active_calls, 0);
    assert_eq!(
        (st.get("elena").active_calls, st.get("elena").calls_today),
        (1, 1)
    );
}

#[test]
fn wrap_up_ends_by_itself_and_wakes_the_queue() {
    let mut t = T::new();
    andrew_busy(&mut t);
    t.request(2, "wrap");
    assert!(ring(&t.hang_up("andrew")).is_empty(), "in wrap-up for 30 s");
    assert!(ring(&t.at(Duration::from_secs(29))).is_empty());
    let out = t.at(Duration::from_secs(31));
    assert_eq!(ring(&out), vec![(2, names(&["andrew"]))]);
}

fn returning(wait: u64) -> ConnectTarget {
    ConnectTarget::Manager {
        name: "andrew".into(),
        ring_timeout: Duration::from_secs(15),
        wait: Duration::from_secs(wait),
        fallback: Box::new(Step::Department {
            name: "sales".into(),
        }),
    }
}

#[test]
fn a_returning_caller_waits_for_their_manager_then_falls_back() {
    let mut t = T::new();
    andrew_busy(&mut t);
    let out = t.request_with(2, returning(30), 0);
    assert!(
        matches!(&out[..], [ConnectOutput::Wait { wait: Wait::Manager { name }, .. }] if name == "andrew")
    );
    assert_eq!(ring(&t.hang_up("andrew")), vec![(2, names(&["andrew"]))]);
    // He does not answer: the fallback.
    let out = t.ended(2, "andrew", RingOutcome::NoAnswer);
    let [ConnectOutput::Failed { step, reason, .. }] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(
        step,
        &Step::Department {
            name: "sales".into()
        }
    );
    assert_eq!(
        reason.to_string(),
        "andrew did not take the call → department \"sales\""
    );
    // Busy for the whole wait.
    let mut t = T::new();
    andrew_busy(&mut t);
    t.request_with(2, returning(30), 0);
    let out = t.at(Duration::from_secs(30));
    let [ConnectOutput::Failed { reason, .. }] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(
        reason.to_string(),
        "waited for andrew to be free → department \"sales\""
    );
}

#[test]
fn a_vip_arriving_later_is_served_before_earlier_callers() {
    let mut t = T::new();
    andrew_busy(&mut t);
    t.request(2, "solo");
    t.request(3, "solo");
    let out = t.request_with(4, ConnectTarget::Department("solo".into()), 9);
    assert_eq!(queued_at(&out), vec![(4, 1)]);
    assert_eq!(ring(&t.hang_up("andrew")), vec![(4, names(&["andrew"]))]);
}

#[test]
fn a_caller_who_hangs_up_leaves_the_queue() {
    let mut t = T::new();
    andrew_busy(&mut t);
    t.request(2, "solo");
    t.request(3, "solo");
    let (now, wall) = (t.now, t.wall());
    t.c.handle_left(now, wall, CallKey(2));
    assert_eq!(t.c.queue("solo"), vec![CallKey(3)]);
    assert_eq!(ring(&t.hang_up("andrew")), vec![(3, names(&["andrew"]))]);
    // The left call's deadline fires into nothing.
    assert!(t.at(Duration::from_secs(120)).is_empty());
}

#[test]
fn a_phone_registering_wakes_its_departments_queue() {
    let mut t = T::new();
    // Andrew busy, elena "offline" is not possible with a static contact: pause her.
    t.request(1, "sales");
    t.answer(1, "andrew");
    let (now, wall) = (t.now, t.wall());
    t.c.handle_pause(now, wall, "elena", "lunch");
    assert_eq!(queued_at(&t.request(2, "sales")), vec![(2, 1)]);
    let (now, wall) = (t.now, t.wall());
    let pause = t.c.handle_unpause(now, wall, "elena");
    assert_eq!(pause.map(|p| p.reason), Some("lunch".into()));
    assert_eq!(ring(&t.out()), vec![(2, names(&["elena"]))]);
}
