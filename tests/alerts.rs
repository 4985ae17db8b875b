//! Alerts for missed work (issue 6 item 5) against the router binary: a callback
//! request left too long and a manager missing calls are logged at WARN and exposed in
//! `/metrics`.
mod common;

use std::time::Duration;

use common::*;
use switchboard::store::{
    CallOutcome, CallRecord, CallbackReason, NewCallback, RingAttempt, RingOutcome, SqliteStore,
    Store,
};

const PLAN: &str = r#"
[[numbers]]
number = "*"
action = "department:sales"

[departments.sales]
members = ["andrew"]

[managers.andrew]
extension = "101"
contact = "sip:101@127.0.0.1:5999"

[alerts]
callback_within_hours = 2
manager_missed_per_day = 2
timezone = "UTC"
check_secs = 1
"#;

#[test]
fn overdue_callbacks_and_managers_missing_calls_raise_alerts() {
    let _g = serial();
    let p = ports();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    {
        let mut s = SqliteStore::open(dir.path().join("data/switchboard.db")).unwrap();
        let now = jiff::Timestamp::now();
        let three_hours_ago = now - jiff::SignedDuration::from_hours(3);
        s.add_or_update_callback(&NewCallback {
            department: "sales".into(),
            caller: "+4930123".into(),
            dialled: "1000".into(),
            source: "main".into(),
            at: three_hours_ago,
            menu_path: vec![],
            reason: CallbackReason::AfterHours,
            recording_path: None,
            recording_secs: None,
            recording_flag: None,
        })
        .unwrap();
        // Two calls andrew did not take, both today (UTC), a minute ago.
        for (i, outcome) in [RingOutcome::NoAnswer, RingOutcome::Declined]
            .into_iter()
            .enumerate()
        {
            let at = now - jiff::SignedDuration::from_secs(60 + i as i64);
            s.upsert_call(&CallRecord {
                call_id: format!("c{i}"),
                started_at: at,
                answered_at: None,
                ended_at: Some(at),
                dialled: "1000".into(),
                source: "main".into(),
                caller: "+4930555".into(),
                caller_name: None,
                menu_path: vec![],
                decision: "department:sales".into(),
                reason: String::new(),
                department: Some("sales".into()),
                answered_by: None,
                outcome: CallOutcome::Missed,
                hangup_side: None,
                transfers: vec![],
                recording: None,
            })
            .unwrap();
            s.add_ring_attempt(&RingAttempt {
                call_id: format!("c{i}"),
                manager: "andrew".into(),
                started_at: at,
                ended_at: at,
                outcome,
            })
            .unwrap();
        }
    }
    let mut router = Router::start_in(dir, p, "", PLAN);
    router.wait_for_log(
        "alert: andrew missed 2 calls today",
        Duration::from_secs(10),
    );
    router.wait_for_log("has not been called back", Duration::from_secs(10));
    // The gauges are published before the log lines; still, give a loaded machine time
    // rather than read once.
    let needles = [
        r#"switchboard_alerts_active{kind="callback_overdue"} 1"#,
        r#"switchboard_alerts_active{kind="manager_missed_calls"} 1"#,
    ];
    let start = std::time::Instant::now();
    let mut metrics = http_get(p, "/metrics");
    while !needles.iter().all(|n| metrics.contains(n)) && start.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(100));
        metrics = http_get(p, "/metrics");
    }
    // The dashboard shows them too.
    let dashboard = http_get(p, "/api/dashboard");
    let dom = chromium(&format!("http://127.0.0.1:{}/", p.http), &["--dump-dom"]);
    router.stop();
    assert!(
        dashboard.contains(r#""key":"manager:andrew""#),
        "{dashboard}"
    );
    assert!(
        dom.contains(r#"data-testid="alert-manager:andrew">andrew missed 2 calls today"#),
        "{dom}"
    );
    assert!(dom.contains(r#"data-testid="alert-callback:1""#), "{dom}");
    for needle in needles {
        assert!(metrics.contains(needle), "{needle} missing:\n{metrics}");
    }
    // Raised once, not on every check.
    assert_eq!(router.count("alert: andrew missed"), 1, "{}", router.log());
}
