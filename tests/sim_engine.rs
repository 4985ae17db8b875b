//! The simulator against answers known in advance: exact waits for a single server
//! with fixed times, the Erlang-C formula for M/M/c, and the ring-all vs round-robin
//! difference with one slow manager.

use std::path::Path;

use switchboard::config::{DialPlan, load_str};
use switchboard::sim::{SimResult, TrafficFile, simulate};

fn plan(text: &str) -> DialPlan {
    load_str(text, Path::new("plan.toml"), None)
        .unwrap_or_else(|e| panic!("{e}"))
        .plan
}

fn run(plan: &DialPlan, traffic: &str, seed: u64) -> SimResult {
    let file =
        TrafficFile::parse(traffic, Path::new("traffic.toml")).unwrap_or_else(|e| panic!("{e}"));
    file.check(&[("plan", plan)])
        .unwrap_or_else(|e| panic!("{e}"));
    simulate(plan, &file.generate(seed), &mut |_, _| {})
}

fn department_plan(strategy: &str, members: &[&str], extra: &str) -> DialPlan {
    let list: Vec<String> = members.iter().map(|m| format!("\"{m}\"")).collect();
    let mut text = format!(
        "[[numbers]]\nnumber = \"100\"\naction = \"department:d\"\n\
         [departments.d]\nmembers = [{}]\nstrategy = \"{strategy}\"\nring_timeout_secs = 15\n\
         queue_timeout_secs = 1000000\nmax_waiting = 100000\n{extra}\n",
        list.join(", ")
    );
    for m in members {
        text.push_str(&format!("[managers.{m}]\ncontact = \"sip:{m}@10.0.0.1\"\n"));
    }
    plan(&text)
}

/// One manager, 2 s to pick up, 300 s talks, a call every 200 s: call k (from 0) is
/// answered at 2 + 302·k and arrived at 200·k, so it waited exactly 2 + 102·k seconds.
#[test]
fn single_server_fixed_times_gives_exact_waits() {
    let p = department_plan("ring-all", &["solo"], "");
    let traffic = r#"
date = "2026-12-01"
start = "09:00"
end = "09:16:40"
[arrivals]
mode = "even"
per_hour = { "09-10" = 18 }
[numbers]
"100" = 1
[manager_defaults]
answer_delay = { dist = "fixed", secs = 2 }
talk_time = { dist = "fixed", secs = 300 }
"#
    .replace("09:16:40", "09:17");
    // 09:00-09:17 → arrivals at 0, 200, 400, 600, 800, 1000 s.
    let r = run(&p, &traffic, 1);
    let waits: Vec<f64> = r.calls.iter().map(|c| c.answer_secs().unwrap()).collect();
    assert_eq!(waits, vec![2.0, 104.0, 206.0, 308.0, 410.0, 512.0]);
    let solo = &r.managers[0];
    assert_eq!((solo.calls, solo.talk_ms), (6, 1_800_000));
}

fn erlang_c(c: u32, a: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 0.0;
    for k in 0..c {
        if k > 0 {
            term *= a / f64::from(k);
        }
        sum += term;
    }
    let top = term * a / f64::from(c) * f64::from(c) / (f64::from(c) - a);
    top / (sum + top)
}

/// M/M/3 with offered load A = 2 Erlang (ρ = 2/3): 1200 calls/h, exponential talks of
/// 6 s, pick-up at once. Erlang C: P(wait) = 4/9, mean wait = P(wait)/(cμ − λ) = 2.67 s.
/// Over a simulated day (~28 800 calls) P(wait) lands within 5 % and the mean wait
/// within 10 % (relative) of the formula; the test checks three seeds (seen: P(wait)
/// 0.452/0.444/0.444, mean wait 2.84/2.69/2.69 s).
#[test]
fn mm3_matches_erlang_c() {
    let p = department_plan("longest-idle", &["a", "b", "c"], "");
    let traffic = r#"
date = "2026-12-01"
[arrivals]
per_hour = { "00-24" = 1200 }
[numbers]
"100" = 1
[manager_defaults]
answer_delay = { dist = "fixed", secs = 0 }
talk_time = { dist = "exponential", mean = 6 }
"#;
    let (c, mu, lambda) = (3u32, 1.0 / 6.0, 1200.0 / 3600.0);
    let pw = erlang_c(c, lambda / mu);
    assert!((pw - 4.0 / 9.0).abs() < 1e-12);
    let wq = pw / (f64::from(c) * mu - lambda);
    for seed in [1, 2, 3] {
        let r = run(&p, traffic, seed);
        let waits: Vec<f64> = r.calls.iter().filter_map(|c| c.answer_secs()).collect();
        assert_eq!(waits.len(), r.calls.len(), "every call is answered");
        let n = waits.len() as f64;
        let p_wait = waits.iter().filter(|w| **w > 0.0).count() as f64 / n;
        let mean = waits.iter().sum::<f64>() / n;
        eprintln!(
            "seed {seed}: {n} calls, P(wait) {p_wait:.4} (Erlang C {pw:.4}), mean wait {mean:.3} s ({wq:.3} s)"
        );
        assert!(
            (p_wait - pw).abs() / pw < 0.05,
            "seed {seed}: P(wait) {p_wait} vs {pw}"
        );
        assert!(
            (mean - wq).abs() / wq < 0.10,
            "seed {seed}: mean wait {mean} vs {wq}"
        );
    }
}

/// Three free managers, one of whom takes 12 s to pick up (the others 3 s). Round-robin
/// hands every third call to the slow one; ring-all rings everyone and the first to pick
/// up wins, so every call is answered in 3 s.
#[test]
fn ring_all_beats_round_robin_with_a_slow_manager() {
    let traffic = r#"
date = "2026-12-01"
start = "09:00"
end = "17:00"
[arrivals]
mode = "even"
per_hour = { "09-17" = 30 }
[numbers]
"100" = 1
[manager_defaults]
answer_delay = { dist = "fixed", secs = 3 }
talk_time = { dist = "fixed", secs = 60 }
[managers.slow]
answer_delay = { dist = "fixed", secs = 12 }
"#;
    let mean = |r: &SimResult| {
        let w: Vec<f64> = r.calls.iter().filter_map(|c| c.answer_secs()).collect();
        w.iter().sum::<f64>() / w.len() as f64
    };
    let members = ["slow", "fast1", "fast2"];
    let rr = run(&department_plan("round-robin", &members, ""), traffic, 7);
    let all = run(&department_plan("ring-all", &members, ""), traffic, 7);
    assert_eq!(rr.calls.len(), 240);
    assert!(all.calls.iter().all(|c| c.answer_secs() == Some(3.0)));
    assert_eq!(mean(&all), 3.0);
    assert_eq!(mean(&rr), 6.0, "(12 + 3 + 3) / 3");
    let slow_rr = rr.managers.iter().find(|m| m.name == "slow").unwrap();
    assert_eq!(slow_rr.calls, 80);
    assert!(
        all.managers
            .iter()
            .find(|m| m.name == "slow")
            .unwrap()
            .calls
            == 0
    );
}

/// Wrap-up and queue timeout come from the plan: a caller queued behind a long call
/// overflows to voicemail after queue_timeout_secs.
#[test]
fn queue_timeout_overflows_to_voicemail() {
    let mut text = String::from(
        "[[numbers]]\nnumber = \"100\"\naction = \"department:d\"\n\
         [departments.d]\nmembers = [\"solo\"]\nqueue_timeout_secs = 30\noverflow = \"voicemail:d\"\n\
         [managers.solo]\ncontact = \"sip:solo@10.0.0.1\"\n[voicemail.d]\n",
    );
    text.push('\n');
    let p = plan(&text);
    let traffic = r#"
date = "2026-12-01"
start = "09:00"
end = "09:02"
[arrivals]
mode = "even"
per_hour = { "09-10" = 60 }
[numbers]
"100" = 1
[manager_defaults]
answer_delay = { dist = "fixed", secs = 1 }
talk_time = { dist = "fixed", secs = 600 }
"#;
    let r = run(&p, traffic, 1);
    assert_eq!(r.calls.len(), 2);
    assert_eq!(r.calls[0].answer_secs(), Some(1.0));
    assert_eq!(
        r.calls[1].outcome,
        switchboard::store::CallOutcome::Voicemail
    );
    assert_eq!(r.calls[1].voicemail.as_deref(), Some("d"));
    assert!(r.calls[1].overflowed);
}
