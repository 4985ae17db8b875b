//! Stopping the router with calls in progress, against sipp: SIGTERM hangs up every
//! call with BYE and closes its record; with `[server] drain_secs` new calls get 503
//! while calls in progress go on, and a second SIGTERM hangs up at once.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// `(outcome, hangup_side, ended_at is set)` of every call, from the database.
fn calls(router: &Router) -> Vec<(String, Option<String>, bool)> {
    let db = rusqlite::Connection::open(router.db()).unwrap();
    let mut q = db
        .prepare("SELECT outcome, hangup_side, ended_at IS NOT NULL FROM calls")
        .unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn sigterm(router: &Router) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(router.pid().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// The caller of `ports` waits for our BYE (and answers it), on a thread.
fn caller_waiting_for_bye(ports: Ports) -> std::thread::JoinHandle<SippResult> {
    std::thread::spawn(move || sipp(ports, "uac_wait_bye.xml", "u1", &["-s", "2000"]))
}

#[test]
fn sigterm_hangs_up_a_call_in_progress_with_bye_and_closes_its_record() {
    let _serial = serial();
    let p = ports();
    let mut router = Router::start(p, "", WAITING_PLAN);
    let caller = caller_waiting_for_bye(p);
    router.wait_for_log("answered after", Duration::from_secs(10));
    let asked = Instant::now();
    router.stop();
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "no drain by default"
    );
    caller.join().unwrap().assert_ok(&router);
    let log = router.log();
    assert!(
        log.contains("stopping: hanging up 1 calls in progress"),
        "{log}"
    );
    assert!(
        log.contains("Switchboard was stopped → interrupted"),
        "{log}"
    );
    assert_eq!(
        calls(&router),
        vec![("interrupted".to_string(), Some("system".to_string()), true)]
    );
}

#[test]
fn a_drain_refuses_new_calls_with_503_and_a_second_sigterm_hangs_up() {
    let _serial = serial();
    let p = ports();
    let mut router = Router::start(p, "drain_secs = 60", WAITING_PLAN);
    assert_eq!(http(p, "GET", "/healthz", None), (200, "ok\n".to_string()));
    let caller = caller_waiting_for_bye(p);
    router.wait_for_log("answered after", Duration::from_secs(10));
    sigterm(&router);
    router.wait_for_log("new calls are refused (503)", Duration::from_secs(5));
    // Monitors see it going before it is gone.
    assert_eq!(
        http(p, "GET", "/healthz", None),
        (503, "stopping\n".to_string())
    );

    // A second caller (its own sipp ports within this test's slot) is refused.
    let late = Ports {
        sipp_sip: p.sipp_sip + 1,
        sipp_media: p.sipp_media + 10,
        ..p
    };
    sipp(late, "uac_expect_503.xml", "u1", &["-s", "2000"]).assert_ok(&router);
    assert!(router.is_running(), "the call in progress goes on");
    assert!(!caller.is_finished());

    // The second SIGTERM: the call is hung up now, the router exits.
    let asked = Instant::now();
    router.stop();
    assert!(asked.elapsed() < Duration::from_secs(3));
    caller.join().unwrap().assert_ok(&router);
    let log = router.log();
    assert!(log.contains("second stop signal"), "{log}");
    assert_eq!(
        calls(&router),
        vec![("interrupted".to_string(), Some("system".to_string()), true)],
        "the refused call was never a call"
    );
}
