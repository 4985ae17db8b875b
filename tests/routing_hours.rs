//! Opening hours: range edges, daylight-saving changes, holidays, special dates and two
//! time zones. Instants are given in UTC so the DST tests show the offset moving.

use std::path::Path;

use jiff::Timestamp;
use switchboard::config::{DialPlan, load_str};
use switchboard::routing::{hours, is_open};

const PLAN: &str = r#"
[[numbers]]
number = "*"
action = "hangup"

[hours.berlin]
timezone = "Europe/Berlin"
monday = ["09:00-13:00", "14:00-18:00"]
tuesday = ["09:00-18:00"]
wednesday = ["09:00-18:00"]
thursday = ["09:00-18:00"]
friday = ["09:00-18:00"]
saturday = ["09:00-18:00"]
sunday = ["00:00-01:00", "01:30-24:00"]
holidays = ["2026-12-25"]
special = { "2026-12-24" = ["09:00-12:00"], "2026-12-31" = [] }

[hours.new_york]
timezone = "America/New_York"
monday = ["09:00-17:00"]
friday = ["09:00-17:00"]
"#;

fn plan() -> DialPlan {
    load_str(PLAN, Path::new("hours.toml"), None)
        .unwrap_or_else(|e| panic!("{e}"))
        .plan
}

fn utc(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn check(schedule: &str, cases: &[(&str, bool, &str)]) {
    let p = plan();
    let s = &p.hours[schedule];
    for (instant, open, why) in cases {
        assert_eq!(
            is_open(s, utc(instant)),
            *open,
            "{schedule} at {instant}: {why}"
        );
    }
}

#[test]
fn range_edges() {
    // Monday 2 March 2026, Berlin is UTC+1 (CET).
    check(
        "berlin",
        &[
            ("2026-03-02T07:59:59Z", false, "08:59:59 local"),
            ("2026-03-02T08:00:00Z", true, "09:00 local"),
            ("2026-03-02T11:59:59Z", true, "12:59:59 local"),
            ("2026-03-02T12:00:00Z", false, "13:00 local: lunch"),
            ("2026-03-02T13:00:00Z", true, "14:00 local"),
            ("2026-03-02T16:59:59Z", true, "17:59:59 local"),
            ("2026-03-02T17:00:00Z", false, "18:00 local"),
        ],
    );
}

#[test]
fn dst_europe_berlin() {
    // 29 March 2026: clocks go 02:00 → 03:00 (CET+1 → CEST+2). Ranges stay local.
    check(
        "berlin",
        &[
            ("2026-03-28T07:59:59Z", false, "Sat 08:59:59 CET"),
            ("2026-03-28T08:00:00Z", true, "Sat 09:00 CET"),
            ("2026-03-30T06:59:59Z", false, "Mon 08:59:59 CEST"),
            (
                "2026-03-30T07:00:00Z",
                true,
                "Mon 09:00 CEST, an hour earlier in UTC",
            ),
            ("2026-03-30T15:59:59Z", true, "Mon 17:59:59 CEST"),
            ("2026-03-30T16:00:00Z", false, "Mon 18:00 CEST"),
            // The change day itself: 00:30 open, 01:10 closed, 03:00 (right after the gap) open.
            ("2026-03-28T23:30:00Z", true, "Sun 00:30 CET"),
            ("2026-03-29T00:10:00Z", false, "Sun 01:10 CET"),
            ("2026-03-29T01:00:00Z", true, "Sun 03:00 CEST"),
            // 25 October 2026: back to CET.
            ("2026-10-26T07:59:59Z", false, "Mon 08:59:59 CET"),
            ("2026-10-26T08:00:00Z", true, "Mon 09:00 CET"),
        ],
    );
}

#[test]
fn dst_america_new_york() {
    // 8 March 2026: EST (UTC-5) → EDT (UTC-4).
    check(
        "new_york",
        &[
            ("2026-03-06T13:59:59Z", false, "Fri 08:59:59 EST"),
            ("2026-03-06T14:00:00Z", true, "Fri 09:00 EST"),
            ("2026-03-09T12:59:59Z", false, "Mon 08:59:59 EDT"),
            ("2026-03-09T13:00:00Z", true, "Mon 09:00 EDT"),
            ("2026-03-09T20:59:59Z", true, "Mon 16:59:59 EDT"),
            ("2026-03-09T21:00:00Z", false, "Mon 17:00 EDT"),
            (
                "2026-03-10T15:00:00Z",
                false,
                "Tuesday is not listed: closed",
            ),
        ],
    );
}

#[test]
fn holidays_and_special_dates() {
    check(
        "berlin",
        &[
            ("2026-12-25T10:00:00Z", false, "Friday, but a holiday"),
            (
                "2026-12-24T10:59:59Z",
                true,
                "Thursday 11:59:59, special hours 09-12",
            ),
            (
                "2026-12-24T11:00:00Z",
                false,
                "Thursday 12:00, special hours end (normally open to 18)",
            ),
            (
                "2026-12-31T10:00:00Z",
                false,
                "special date with no ranges: closed",
            ),
            ("2026-12-23T16:00:00Z", true, "an ordinary Wednesday, 17:00"),
        ],
    );
}

#[test]
fn two_time_zones_same_instant() {
    let p = plan();
    let (berlin, ny) = (&p.hours["berlin"], &p.hours["new_york"]);
    // Monday 2 March 2026.
    for (instant, b, n) in [
        ("2026-03-02T13:30:00Z", true, false), // 14:30 Berlin, 08:30 New York
        ("2026-03-02T15:00:00Z", true, true),  // 16:00 / 10:00
        ("2026-03-02T18:00:00Z", false, true), // 19:00 / 13:00
    ] {
        assert_eq!(
            (is_open(berlin, utc(instant)), is_open(ny, utc(instant))),
            (b, n),
            "{instant}"
        );
    }
    assert_eq!(
        hours::describe(berlin, utc("2026-03-02T18:00:00Z")),
        "closed at 19:00 Europe/Berlin (Monday hours 09:00-13:00, 14:00-18:00)"
    );
    assert_eq!(
        hours::describe(ny, utc("2026-03-02T18:00:00Z")),
        "open at 13:00 America/New_York (Monday hours 09:00-17:00)"
    );
}
