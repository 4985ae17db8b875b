//! Every report figure for the hand-built week in `reports_fixture/mod.rs`, asserted
//! exactly, through a real SQLite file. The expected values are worked out by hand in
//! the comments, from the definitions in docs/admin.md.

#[path = "reports_fixture/mod.rs"]
mod fixture;

use jiff::civil::date;
use jiff::tz::TimeZone;
use switchboard::reports::{
    self, DayRow, DepartmentRow, ManagerRow, Period, Report, SourceRow, Totals,
};
use switchboard::store::{CallOutcome, CallbackStatus, SqliteStore};

fn week() -> Period {
    Period::parse_dates(fixture::FROM, fixture::TO, TimeZone::UTC).unwrap()
}

fn report_now() -> (Report, fixture::Callbacks) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path().join("switchboard.db")).unwrap();
    let cbs = fixture::seed(&mut store);
    // "Now" is well after the week, so c13 (Monday after) is seen.
    let now = fixture::at(30, "00:00:00");
    (reports::generate(&store, &week(), now).unwrap(), cbs)
}

#[test]
fn totals_days_and_sources() {
    let (r, _) = report_now();
    assert_eq!(r.period.from, date(2026, 3, 2));
    assert_eq!(r.period.to, date(2026, 3, 8));
    assert_eq!(r.period.time_zone, "UTC");
    // c0 (Sunday before) and c13 (Monday after) are outside the week: 13 calls.
    assert_eq!(
        r.totals,
        Totals {
            calls: 13,
            answered: 4, // c1 c2 c3 c8
            completed_in_ivr: 0,
            abandoned_in_ivr: 1,  // c5
            abandoned_ringing: 1, // c4
            voicemail: 2,         // c7 c10
            missed: 3,            // c6 c9 c14
            failed: 1,            // c11
            interrupted: 0,
            in_progress: 1, // c12 (answered, still talking)
            callback_queued: 0,
        }
    );
    let day = |d, calls, answered| DayRow {
        date: date(2026, 3, d),
        calls,
        answered,
    };
    assert_eq!(
        r.per_day,
        [
            day(2, 2, 2), // c1 c2
            day(3, 2, 1), // c3 c4
            day(4, 2, 0), // c5 c6
            day(5, 2, 1), // c7 c8
            day(6, 2, 0), // c9 c10
            day(7, 2, 0), // c11 c14
            day(8, 1, 1), // c12: answered counts a call in progress
        ]
    );
    assert_eq!(
        r.per_source,
        [
            SourceRow {
                source: "google".into(),
                calls: 8,    // c1 c2 c5 c6 c8 c9 c10 c12
                answered: 4, // c1 c2 c8 c12
            },
            SourceRow {
                source: "website".into(),
                calls: 5,    // c3 c4 c7 c11 c14
                answered: 1, // c3
            },
        ]
    );
}

#[test]
fn managers() {
    let (r, _) = report_now();
    assert_eq!(
        r.per_manager,
        [
            ManagerRow {
                manager: "andrew".into(),
                offered: 7,  // c1 c2 c3 c4 c9 c10 c12
                answered: 3, // c1 c3 c12
                missed: 3,   // c2 no answer, c9 declined, c10 no answer (c4 cancelled)
                // waits 10 s, 30 s, 40 s: rank ceil(1.5)=2 and ceil(2.7)=3
                answer_ms_median: Some(30_000),
                answer_ms_p90: Some(40_000),
                talk_ms: 420_000, // c1 120 s + c3 300 s; c12 has not ended
            },
            ManagerRow {
                manager: "bob".into(),
                offered: 4, // c6 c7 c8 c14
                answered: 1,
                missed: 3, // c6 busy, c7 and c14 no answer
                answer_ms_median: Some(15_000),
                answer_ms_p90: Some(15_000),
                talk_ms: 60_000,
            },
            ManagerRow {
                manager: "elena".into(),
                offered: 4, // c2 c3 c4 c6 (c13 is next week)
                answered: 1,
                missed: 1, // c6; c3 and c4 were cancelled
                answer_ms_median: Some(20_000),
                answer_ms_p90: Some(20_000),
                talk_ms: 60_000,
            },
        ]
    );
}

#[test]
fn departments() {
    let (r, _) = report_now();
    assert_eq!(
        r.per_department,
        [
            DepartmentRow {
                department: Some("sales".into()),
                calls: 7, // c1 c2 c3 c4 c9 c10 c12
                answered: 4,
                abandoned_in_ivr: 0,
                abandoned_ringing: 1,
                abandonment_rate: 1.0 / 7.0,
                // waits 10 20 [25 abandoned] 30 40 s: ranks 3 and 5
                wait_ms_median: Some(25_000),
                wait_ms_p90: Some(40_000),
            },
            DepartmentRow {
                department: Some("support".into()),
                calls: 5, // c6 c7 c8 c11 c14
                answered: 1,
                abandoned_in_ivr: 0,
                abandoned_ringing: 0,
                abandonment_rate: 0.0,
                wait_ms_median: Some(15_000),
                wait_ms_p90: Some(15_000),
            },
            DepartmentRow {
                department: None,
                calls: 1, // c5
                answered: 0,
                abandoned_in_ivr: 1,
                abandoned_ringing: 0,
                abandonment_rate: 1.0,
                wait_ms_median: Some(12_000),
                wait_ms_p90: Some(12_000),
            },
        ]
    );
}

#[test]
fn missed_calls_not_called_back() {
    let (r, cbs) = report_now();
    // c6: +396 answered later (c8). c9: +398 answered next Monday (c13).
    // c10: +399's request was closed after the call. Left: c4, c7, c14.
    let rows: Vec<_> = r
        .missed_not_called_back
        .iter()
        .map(|m| {
            (
                m.call_id.as_str(),
                m.caller.as_str(),
                m.outcome,
                m.callback_id,
                m.callback_status,
                m.claimed_by.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "c4",
                "+394",
                CallOutcome::AbandonedRinging,
                None,
                None,
                None
            ),
            (
                "c7",
                "+397",
                CallOutcome::Voicemail,
                Some(cbs.open_397),
                Some(CallbackStatus::Open),
                None
            ),
            (
                "c14",
                "+3911",
                CallOutcome::Missed,
                Some(cbs.claimed_3911),
                Some(CallbackStatus::Claimed),
                Some("elena")
            ),
        ]
    );
    assert_eq!(
        r.missed_not_called_back[0].started_local,
        "2026-03-03 12:00"
    );
}

#[test]
fn a_report_run_during_the_week_does_not_see_the_future() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path().join("switchboard.db")).unwrap();
    let cbs = fixture::seed(&mut store);
    // Run at the end of Sunday: c13 has not happened, so +398 still waits (claimed).
    let r = reports::generate(&store, &week(), week().end()).unwrap();
    let c9 = r
        .missed_not_called_back
        .iter()
        .find(|m| m.call_id == "c9")
        .unwrap();
    assert_eq!(c9.callback_id, Some(cbs.claimed_398));
    assert_eq!(c9.claimed_by.as_deref(), Some("elena"));
    assert_eq!(r.missed_not_called_back.len(), 4);
}

#[test]
fn pure_build_matches_generate_and_json_round_trips() {
    let (from_store, _) = report_now();
    let calls = fixture::calls();
    let rings = fixture::rings();
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path().join("x.db")).unwrap();
    fixture::seed(&mut store);
    let callbacks = switchboard::store::Store::list_callbacks(&store, None, None).unwrap();
    let built = reports::build(&week(), &calls, &rings, &callbacks);
    assert_eq!(built, from_store);
    let json = serde_json::to_string(&built).unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, built);
}

#[test]
fn day_buckets_follow_the_time_zone() {
    // In Asia/Tokyo (UTC+9) c12 (Sunday 10:00 UTC = 19:00 JST) stays on Sunday, but
    // the week starts at Sunday 15:00 UTC, so c0 (Sunday before, 10:00 UTC = 19:00
    // JST) is still outside and c13 (Monday 10:00 UTC = 19:00 JST) is outside too.
    let tz = TimeZone::get("Asia/Tokyo").unwrap();
    let p = Period::parse_dates(fixture::FROM, fixture::TO, tz).unwrap();
    let r = reports::build(&p, &fixture::calls(), &fixture::rings(), &[]);
    assert_eq!(r.totals.calls, 13);
    // Shift everything to Los Angeles (UTC-8): Monday 09:00 UTC is Monday 01:00.
    let tz = TimeZone::get("America/Los_Angeles").unwrap();
    let p = Period::parse_dates("2026-03-01", "2026-03-01", tz).unwrap();
    let r = reports::build(&p, &fixture::calls(), &fixture::rings(), &[]);
    // Sunday 2026-03-01 in LA runs 08:00Z Sunday .. 08:00Z Monday: only c0.
    assert_eq!(r.totals.calls, 1);
    assert_eq!(r.per_manager[0].manager, "andrew");
    assert_eq!(r.per_manager[0].answer_ms_median, Some(5_000));
}

#[test]
fn text_and_csv_output() {
    let (r, _) = report_now();
    let csv = reports::render_report(&r, reports::Format::Csv);
    assert!(csv.starts_with("# totals\ncalls,answered,"), "{csv}");
    assert!(
        csv.contains("# managers\nmanager,offered,answered,missed,answer_median_s,answer_p90_s,talk_s,paused_s\nandrew,7,3,3,30.000,40.000,420.000,0.000\n"),
        "{csv}"
    );
    assert!(
        csv.contains("sales,7,4,0,1,0.1429,25.000,40.000\n"),
        "{csv}"
    );
    assert!(
        csv.contains("(none),1,0,1,0,1.0000,12.000,12.000\n"),
        "{csv}"
    );
    let table = reports::render_report(&r, reports::Format::Table);
    assert!(table.starts_with("Switchboard report 2026-03-02 .. 2026-03-08 (UTC)\n"));
    assert!(
        table.contains(
            "  andrew         7         3       3            30.0s         40.0s    0:07:00  0:00:00\n"
        ),
        "{table}"
    );
    assert!(table.contains("14.3%"), "{table}");
}
