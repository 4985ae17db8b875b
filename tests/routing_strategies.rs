//! Strategy fairness over 1,000 simulated calls. The simulation is the engine's
//! intended use outside live calls: state and time are explicit, so every run is exact.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use switchboard::config::{DialPlan, load_str};
use switchboard::routing::{ManagerStates, Selection, StrategyState, Tried, select_department};

const MEMBERS: [&str; 4] = ["a", "b", "c", "d"];

fn plan() -> DialPlan {
    let mut text = String::from("[[numbers]]\nnumber = \"*\"\naction = \"hangup\"\n");
    for s in [
        "ring-all",
        "round-robin",
        "least-recent",
        "fewest-calls",
        "longest-idle",
        "random",
        "skills",
    ] {
        text.push_str(&format!(
            "[departments.{s}]\nmembers = [\"a\", \"b\", \"c\", \"d\"]\nstrategy = \"{s}\"\nskills = [\"corporate\"]\nmax_waiting = 1000\n"
        ));
    }
    for m in MEMBERS {
        let skills = if m == "b" || m == "d" {
            "[\"corporate\"]"
        } else {
            "[]"
        };
        text.push_str(&format!("[managers.{m}]\nskills = {skills}\n"));
    }
    load_str(&text, Path::new("strategies.toml"), None)
        .unwrap_or_else(|e| panic!("{e}"))
        .plan
}

struct Sim {
    plan: DialPlan,
    states: ManagerStates,
    busy_until: BTreeMap<String, Timestamp>,
    now: Timestamp,
    strategy: StrategyState,
    picks: Vec<String>,
    queued: usize,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut states = ManagerStates::default();
        for m in MEMBERS {
            states.entry(m).registered = true;
        }
        Sim {
            plan: plan(),
            states,
            busy_until: BTreeMap::new(),
            now: "2026-03-02T08:00:00Z".parse().unwrap(),
            strategy: StrategyState::with_seed(seed),
            picks: Vec::new(),
            queued: 0,
        }
    }

    /// Calls arrive every `gap` seconds and last `duration(i)` seconds; the first
    /// manager offered answers. `check` sees each selection before it is applied.
    fn run(
        &mut self,
        dept: &str,
        calls: usize,
        gap: i64,
        duration: impl Fn(usize) -> i64,
        mut check: impl FnMut(&Sim, &[String], bool),
    ) {
        for i in 0..calls {
            self.now += SignedDuration::from_secs(gap);
            for (m, until) in &self.busy_until {
                let st = self.states.entry(m);
                if *until <= self.now && st.active_calls > 0 {
                    st.active_calls = 0;
                    st.last_call_end = Some(*until);
                }
            }
            let d = select_department(
                &self.plan,
                dept,
                self.now,
                &self.states,
                &mut self.strategy,
                &Tried::new(),
            );
            match d.selection {
                Selection::Ring {
                    managers,
                    all_at_once,
                    ..
                } => {
                    check(self, &managers, all_at_once);
                    let first = managers[0].clone();
                    let st = self.states.entry(&first);
                    st.active_calls = 1;
                    st.calls_today += 1;
                    self.busy_until.insert(
                        first.clone(),
                        self.now + SignedDuration::from_secs(duration(i)),
                    );
                    self.picks.push(first);
                }
                Selection::Queue { .. } => self.queued += 1,
                other => panic!("unexpected {other:?}: {}", d.reason),
            }
        }
    }

    fn counts(&self) -> BTreeMap<&str, usize> {
        let mut c = BTreeMap::new();
        for p in &self.picks {
            *c.entry(p.as_str()).or_insert(0) += 1;
        }
        c
    }

    fn assert_within(&self, what: &str, tolerance: f64) {
        let counts = self.counts();
        let expected = self.picks.len() as f64 / MEMBERS.len() as f64;
        assert_eq!(
            counts.len(),
            MEMBERS.len(),
            "{what}: someone never got a call: {counts:?}"
        );
        for (m, n) in &counts {
            let dev = (*n as f64 - expected).abs() / expected;
            assert!(
                dev <= tolerance,
                "{what}: {m} got {n}, expected {expected}±{}%: {counts:?}",
                tolerance * 100.0
            );
        }
    }
}

/// Overlapping calls of uneven length: 1–4 minutes, a call every 45 s.
fn uneven(i: usize) -> i64 {
    60 + (i as i64 * 37) % 180
}

#[test]
fn round_robin_rotates_exactly() {
    let mut sim = Sim::new(1);
    sim.run("round-robin", 1000, 60, |_| 30, |_, _, _| {});
    let expected: Vec<&str> = MEMBERS.iter().cycle().take(1000).copied().collect();
    assert_eq!(sim.picks, expected);
    // With overlap it skips busy members but stays within 10% of even.
    let mut sim = Sim::new(1);
    sim.run("round-robin", 1000, 45, uneven, |_, _, _| {});
    sim.assert_within("round-robin under load", 0.10);
}

#[test]
fn least_recent_rotates_exactly_when_idle() {
    let mut sim = Sim::new(1);
    sim.run("least-recent", 1000, 60, |_| 30, |_, _, _| {});
    let expected: Vec<&str> = MEMBERS.iter().cycle().take(1000).copied().collect();
    assert_eq!(sim.picks, expected);
    let mut sim = Sim::new(1);
    sim.run("least-recent", 1000, 45, uneven, |_, _, _| {});
    sim.assert_within("least-recent under load", 0.10);
}

#[test]
fn fewest_calls_keeps_counts_level() {
    let mut sim = Sim::new(1);
    sim.run("fewest-calls", 1000, 45, uneven, |sim, offered, _| {
        // The first offered has the fewest calls among those offered.
        let calls = |m: &String| sim.states.get(m).calls_today;
        let min = offered.iter().map(calls).min().unwrap();
        assert_eq!(calls(&offered[0]), min);
    });
    let counts = sim.counts();
    let (lo, hi) = (
        counts.values().min().unwrap(),
        counts.values().max().unwrap(),
    );
    assert!(hi - lo <= 3, "fewest-calls spread too wide: {counts:?}");
}

#[test]
fn longest_idle_really_picks_the_longest_idle() {
    let mut sim = Sim::new(1);
    sim.run("longest-idle", 1000, 45, uneven, |sim, offered, _| {
        let ends: Vec<Option<Timestamp>> = offered
            .iter()
            .map(|m| sim.states.get(m).last_call_end)
            .collect();
        // Offered in order of idleness: never-called first, then earliest end.
        let mut sorted = ends.clone();
        sorted.sort();
        assert_eq!(ends, sorted, "offered {offered:?}");
        for m in MEMBERS {
            let st = sim.states.get(m);
            if st.active_calls == 0 && !offered.iter().any(|o| o == m) {
                panic!("free member {m} not offered");
            }
        }
    });
    sim.assert_within("longest-idle", 0.10);
}

#[test]
fn random_is_roughly_uniform_and_reproducible() {
    let mut sim = Sim::new(42);
    sim.run("random", 1000, 60, |_| 30, |_, _, _| {});
    sim.assert_within("random", 0.20);
    let mut again = Sim::new(42);
    again.run("random", 1000, 60, |_| 30, |_, _, _| {});
    assert_eq!(sim.picks, again.picks, "same seed, same calls");
    let mut other = Sim::new(43);
    other.run("random", 1000, 60, |_| 30, |_, _, _| {});
    assert_ne!(sim.picks, other.picks);
}

#[test]
fn ring_all_offers_every_free_member_at_once() {
    let mut sim = Sim::new(1);
    sim.run("ring-all", 1000, 45, uneven, |sim, offered, all_at_once| {
        assert!(all_at_once);
        let free: Vec<&str> = MEMBERS
            .iter()
            .copied()
            .filter(|m| sim.states.get(m).active_calls == 0)
            .collect();
        assert_eq!(offered, free.as_slice());
    });
}

#[test]
fn skills_prefers_skilled_members_and_falls_back() {
    let mut sim = Sim::new(1);
    let mut fallbacks = 0;
    sim.run("skills", 1000, 45, uneven, |sim, offered, _| {
        let skilled_free = ["b", "d"]
            .iter()
            .any(|m| sim.states.get(m).active_calls == 0);
        let first_skilled = offered[0] == "b" || offered[0] == "d";
        assert_eq!(first_skilled, skilled_free, "offered {offered:?}");
        if !skilled_free {
            fallbacks += 1;
        }
    });
    let counts = sim.counts();
    assert!(fallbacks > 0, "the load should force some fallbacks");
    // Skilled members share their calls evenly (longest idle among equals).
    let (b, d) = (counts["b"] as i64, counts["d"] as i64);
    assert!((b - d).abs() <= 20, "{counts:?}");
    assert!(
        counts["b"] > counts["a"] && counts["d"] > counts["c"],
        "{counts:?}"
    );
}
