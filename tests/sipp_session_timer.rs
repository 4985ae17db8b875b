//! RFC 4028 session timers and RFC 3261 §8.2.2.3 option tags against sipp as the
//! trunk: a 90 s timer is agreed and refreshed, and once the trunk stops refreshing
//! a call it put on hold (no audio to time out) the router hangs up 60 s after the
//! last refresh and records the call as failed; a trunk that requires preconditions
//! (`Require: precondition`, RFC 3312) gets 420 naming it.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_call_on_hold_the_trunk_stops_refreshing_is_hung_up_at_the_session_expiry() {
    let _serial = serial();
    let p = ports();
    let router = Router::start(p, "", WAITING_PLAN);
    let started = Instant::now();
    sipp(
        p,
        "uac_session_timer.xml",
        "u1",
        &["-s", "2000", "-timeout", "90s"],
    )
    .assert_ok(&router);
    // 1 s before the refresh, then 60 s to the BYE (90 − 30).
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(60) && took < Duration::from_secs(70),
        "the BYE came after {took:?}"
    );
    let log = router.log();
    assert!(
        log.contains("session timer: the caller's side refreshes every 90 s at most"),
        "{log}"
    );
    assert!(
        log.contains("no session refresh from the caller's side within 90 s"),
        "{log}"
    );
    assert!(
        log.contains("the caller's side stopped refreshing the session → failed"),
        "{log}"
    );
    // The record is written by the store thread a moment after the log line.
    let db = rusqlite::Connection::open(router.db()).unwrap();
    let record = || -> (String, Option<String>) {
        db.query_row("SELECT outcome, hangup_side FROM calls", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
    };
    let until = Instant::now() + Duration::from_secs(5);
    while record().0 == "in_progress" && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (outcome, side) = record();
    assert_eq!(
        (outcome.as_str(), side.as_deref()),
        ("failed", Some("system"))
    );
}

#[test]
fn a_trunk_requiring_preconditions_gets_420_naming_it() {
    let _serial = serial();
    let p = ports();
    let router = Router::start(p, "", WAITING_PLAN);
    sipp(p, "uac_expect_420.xml", "u1", &["-s", "2000"]).assert_ok(&router);
    let log = router.log();
    assert!(
        log.contains("INVITE refused with 420: it requires precondition (not supported)"),
        "{log}"
    );
    let db = rusqlite::Connection::open(router.db()).unwrap();
    let calls: i64 = db
        .query_row("SELECT COUNT(*) FROM calls", [], |r| r.get(0))
        .unwrap();
    assert_eq!(calls, 0, "a refused INVITE is no call");
}
