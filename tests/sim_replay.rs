//! Replaying recorded calls through the plan that routed them reproduces their routing
//! decisions (menus walked, department reached).

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use switchboard::config::load;
use switchboard::sim::cli::{SimulateArgs, replay_matches, run};
use switchboard::sim::{ReplayOptions, replay, simulate};
use switchboard::store::{CallOutcome, CallRecord, MenuStep, SqliteStore, Store};

/// (dialled, keys pressed in menu "main", recorded department). "" is a timeout; the
/// plan retries once, so a lone timeout leaves the caller in the menu (they hung up).
const CALLS: [(&str, &[&str], Option<&str>); 6] = [
    ("+15551000", &["1"], Some("sales")),
    ("+15551000", &["2"], Some("support")),
    ("+15552000", &[], Some("sales")),
    ("+15551000", &["9", "2"], Some("support")),
    ("+15551000", &["", "1"], Some("sales")),
    ("+15551000", &[""], None),
];

fn record(i: usize, at: Timestamp) -> CallRecord {
    let (dialled, keys, dept) = CALLS[i % CALLS.len()];
    CallRecord {
        call_id: format!("call-{i}"),
        started_at: at,
        answered_at: None,
        ended_at: Some(at + SignedDuration::from_secs(60)),
        dialled: dialled.into(),
        source: String::new(),
        // Distinct callers: returning-caller routing follows the *simulated* conversations,
        // and these recorded calls were never answered.
        caller: format!("+4930{i:04}"),
        caller_name: None,
        menu_path: keys
            .iter()
            .map(|k| MenuStep {
                menu: "main".into(),
                digits: (*k).into(),
                at,
            })
            .collect(),
        decision: String::new(),
        reason: String::new(),
        department: dept.map(String::from),
        answered_by: None,
        outcome: CallOutcome::Missed,
        hangup_side: None,
        transfers: Vec::new(),
        recording: None,
    }
}

#[test]
fn replay_reproduces_recorded_routes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchboard.db");
    let mut store = SqliteStore::open(&db).unwrap();
    // Tuesday 2026-12-01, 09:00 Berlin: inside the plan's office hours.
    let start: Timestamp = "2026-12-01T08:00:00Z".parse().unwrap();
    let n = 60;
    for i in 0..n {
        let at = start + SignedDuration::from_secs(97 * i as i64);
        store.upsert_call(&record(i, at)).unwrap();
    }
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/plan-round-robin.toml");
    let plan = load(&config).unwrap().plan;
    let opts = ReplayOptions {
        from: start,
        to: start + SignedDuration::from_hours(3),
        lookback: plan.history.lookback,
        seed: 1,
    };
    let traffic = replay(&store, &opts, None).unwrap();
    assert_eq!(traffic.arrivals.len(), n);
    let result = simulate(&plan, &traffic, &mut |_, _| {});
    for (i, call) in result.calls.iter().enumerate() {
        let rec = record(i, start);
        let menus: Vec<String> = call.menus.iter().map(|(m, _)| m.clone()).collect();
        let recorded: Vec<String> = rec.menu_path.iter().map(|s| s.menu.clone()).collect();
        assert_eq!(call.department, rec.department, "call {i}");
        assert_eq!(menus, recorded, "call {i}");
        assert_eq!(call.arrived_ms, 97_000 * i as u64);
    }
    let m = replay_matches(&result);
    assert_eq!((m.routed_alike, m.total), (n, n));

    // The same through the command's code path, as JSON.
    drop(store);
    let args = SimulateArgs {
        configs: vec![config],
        traffic: None,
        replay_db: Some(db),
        from: Some("2026-12-01T08:00:00Z".into()),
        to: Some("2026-12-01T11:00:00Z".into()),
        format: switchboard::sim::cli::Format::Json,
        html: None,
        seed: Some(1),
        progress: false,
    };
    let json: serde_json::Value = serde_json::from_str(&run(&args).unwrap()).unwrap();
    assert_eq!(json["plans"][0]["offered"], n);
    assert_eq!(json["plans"][0]["abandoned_in_ivr"], n / CALLS.len());
}
