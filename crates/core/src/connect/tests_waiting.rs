//! Queue positions, wait estimates and virtual entries on a virtual clock.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::*;
use crate::config::load_str;

/// `queue_timeout_secs` is `{timeout}`.
const PLAN: &str = r#"
[[numbers]]
number = "1000"
action = "department:solo"

[departments.solo]
members = ["andrew"]
queue_timeout_secs = {timeout}
wrap_up_secs = 30
overflow = "hangup"

[managers.andrew]
contact = "sip:101@10.0.0.5:5060"
"#;

struct T {
    c: Connector,
    plan: Arc<DialPlan>,
    now: Instant,
    wall: Timestamp,
}

impl T {
    fn new() -> T {
        T::with_timeout(60)
    }

    fn with_timeout(secs: u64) -> T {
        let text = PLAN.replace("{timeout}", &secs.to_string());
        T {
            c: Connector::new(1),
            plan: Arc::new(load_str(&text, Path::new("p.toml"), None).unwrap().plan),
            now: Instant::now(),
            wall: "2026-11-23T10:00:00Z".parse().unwrap(),
        }
    }

    fn out(&mut self) -> Vec<ConnectOutput> {
        std::iter::from_fn(|| self.c.poll_output()).collect()
    }

    fn request(&mut self, call: u64, prio: u8) -> Vec<ConnectOutput> {
        let t = ConnectTarget::Department("solo".into());
        self.c.handle_request(
            self.now,
            self.wall,
            CallKey(call),
            self.plan.clone(),
            t,
            prio,
        );
        self.out()
    }

    fn pass(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.wall = self
            .wall
            .checked_add(jiff::SignedDuration::from_secs(secs as i64))
            .unwrap();
        self.c.handle_timeout(self.now, self.wall);
    }
}

fn positions(out: &[ConnectOutput]) -> Vec<(u64, usize)> {
    out.iter()
        .filter_map(|o| match o {
            ConnectOutput::Position { call, position, .. } => Some((call.0, *position)),
            ConnectOutput::Wait {
                call,
                wait: Wait::Queue { position, .. },
                ..
            } => Some((call.0, *position)),
            _ => None,
        })
        .collect()
}

#[test]
fn places_move_up_with_a_fresh_estimate_from_the_departments_calls() {
    // Long enough that nobody overflows while Andrew talks.
    let mut t = T::with_timeout(600);
    // Andrew answers call 1 after 5 s of ringing and talks 115 s.
    t.request(1, 0);
    t.pass(5);
    t.c.handle_answered(t.now, t.wall, CallKey(1), "andrew");
    let out = t.request(2, 0);
    let est = out.iter().find_map(|o| match o {
        ConnectOutput::Wait {
            wait: Wait::Queue { estimate, .. },
            ..
        } => Some(*estimate),
        _ => None,
    });
    // No answered-and-ended call yet: default 180 s + 30 s wrap-up, one manager.
    assert_eq!(est, Some(WaitEstimate::Secs(210)));
    assert_eq!(positions(&t.request(3, 0)), vec![(3, 2)]);
    // A VIP arriving later goes first; the others move back.
    assert_eq!(positions(&t.request(4, 5)), vec![(4, 1), (2, 2), (3, 3)]);
    // Call 2 gives up: 3 moves up.
    t.c.handle_left(t.now, t.wall, CallKey(2));
    assert_eq!(positions(&t.out()), vec![(3, 2)]);
    // The talk ends after 115 s: a sample (5 s to answer + 115 s talk = 120 s).
    t.pass(115);
    let plan = t.plan.clone();
    t.c.handle_talk_ended(t.now, t.wall, "andrew", &plan);
    assert_eq!(
        t.c.stats("solo").and_then(DepartmentStats::mean_handle),
        Some(Duration::from_secs(120))
    );
    let views = t.c.queue_views(t.wall);
    assert_eq!(views.len(), 1);
    let v = &views[0];
    assert_eq!(v.signed_in, 1);
    let calls: Vec<(u64, usize, u8)> = v
        .calls
        .iter()
        .map(|q| (q.call.0, q.position, q.priority))
        .collect();
    assert_eq!(calls, vec![(4, 1, 5), (3, 2, 0)]);
    // Estimates now use the sample: (120 + 30) × position.
    assert_eq!(v.calls[1].estimate, WaitEstimate::Secs(300));
}

#[test]
fn a_virtual_entry_keeps_its_place_through_a_failed_attempt_and_has_no_deadline() {
    let mut t = T::new();
    t.request(1, 0);
    t.c.handle_answered(t.now, t.wall, CallKey(1), "andrew");
    t.request(2, 0);
    t.request(3, 0);
    // Caller 2 hangs up to be called back: re-keyed to 20, same place.
    t.c.handle_virtualize(t.now, t.wall, CallKey(2), CallKey(20));
    assert!(t.c.is_virtual(CallKey(20)));
    assert_eq!(t.c.queue("solo"), vec![CallKey(20), CallKey(3)]);
    // The queue timeout (60 s) passes: 3 overflows, 20 stays.
    t.pass(61);
    let out = t.out();
    assert!(
        out.iter()
            .any(|o| matches!(o, ConnectOutput::Failed { call, .. } if call.0 == 3))
    );
    assert_eq!(t.c.queue("solo"), vec![CallKey(20)]);
    // Andrew frees up (after wrap-up): the virtual entry is rung.
    let plan = t.plan.clone();
    t.c.handle_talk_ended(t.now, t.wall, "andrew", &plan);
    t.pass(31);
    let out = t.out();
    assert!(
        out.iter()
            .any(|o| matches!(o, ConnectOutput::Ring { call, .. } if call.0 == 20)),
        "{out:?}"
    );
    // He answers; the customer is busy: parked for 50 s (under the 60 s queue
    // timeout of the caller who arrives meanwhile), keeping its place ahead of them.
    t.c.handle_answered(t.now, t.wall, CallKey(20), "andrew");
    t.c.handle_talk_ended(t.now, t.wall, "andrew", &plan);
    t.c.handle_park(t.now, t.wall, CallKey(20), t.now + Duration::from_secs(50));
    t.request(5, 0);
    t.c.handle_answered(t.now, t.wall, CallKey(5), "andrew");
    t.request(6, 0);
    t.pass(51);
    t.out();
    assert_eq!(t.c.queue("solo"), vec![CallKey(20), CallKey(6)]);
    // Done: it leaves.
    t.c.handle_left(t.now, t.wall, CallKey(20));
    assert!(!t.c.is_connecting(CallKey(20)));
}

#[test]
fn restored_entries_wait_for_their_retry_time_then_queue_in_order() {
    let mut t = T::new();
    t.request(1, 0);
    t.c.handle_answered(t.now, t.wall, CallKey(1), "andrew");
    let plan = t.plan.clone();
    let since = t.wall;
    t.c.handle_restore(
        t.now,
        t.wall,
        CallKey(10),
        plan.clone(),
        "solo",
        0,
        since,
        None,
    );
    t.c.handle_restore(
        t.now,
        t.wall,
        CallKey(11),
        plan,
        "solo",
        0,
        since,
        Some(t.now + Duration::from_secs(30)),
    );
    assert_eq!(t.c.queue("solo"), vec![CallKey(10)]);
    t.pass(31);
    assert_eq!(t.c.queue("solo"), vec![CallKey(10), CallKey(11)]);
    // No positions are told to virtual entries (nobody listens).
    assert!(positions(&t.out()).is_empty());
}
