//! The dashboard in a real browser: headless Chromium loads the page from the router,
//! runs its script (which fetches `/api/dashboard` with the token) and dumps the DOM;
//! every figure, found by its `data-testid`, must equal the hand-worked value and the
//! `/api/reports` JSON for today. A screenshot goes to `target/tmp/dashboard.png`
//! (`$CARGO_TARGET_DIR/tmp/` when that is set).
//!
//! Needs Debian's `chromium` (`apt-get install -y --no-install-recommends chromium`,
//! done by `.ci/run`); like the real-peer tests it fails rather than skips without it.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{Router, chromium, ports, require, serial};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use switchboard::admin::dashboard::Dashboard;
use switchboard::admin::{self, AdminState};
use switchboard::reports::Report;
use switchboard::store::{
    CallOutcome, CallRecord, CallbackReason, NewCallback, RingAttempt, RingOutcome, SqliteStore,
    Store, StoreWorker,
};

const TOKEN: &str = "dash-secret-token-42";

// ---------------------------------------------------------------------------------
// Today's traffic, in the system time zone (the router's report zone).
//
// | id | local | caller | source  | dept    | outcome           | answered      | end  |
// |----|-------|--------|---------|---------|-------------------|---------------|------|
// | y1 | -1d 16:00 | +3910 | website | sales | missed        |               | +45  |
// | y2 | -1d 17:00 | +3911 | google  | sales | voicemail     | (callback done)| +50 |
// | d1 | 09:00 | +3901  | google  | sales   | answered          | andrew +10    | +130 |
// | d2 | 09:30 | +3902  | google  | sales   | answered          | elena +20     | +80  |
// | d3 | 10:15 | +3903  | website | sales   | answered          | andrew +30    | +330 |
// | d4 | 10:40 | +3904  | website | sales   | abandoned_ringing |               | +25  |
// | d5 | 11:05 | +3905  | google  | (none)  | abandoned_in_ivr  |               | +12  |
// | d6 | 11:20 | +3906  | google  | support | missed            |               | +40  |
// | d7 | 12:00 | +3907  | website | support | voicemail         |               | +60  |
// | d8 | 12:30 | +3908  | google  | support | answered          | bob +15       | +75  |
// | d9 | 13:00 | +3909  | google  | sales   | in_progress       | andrew +40    |      |
//
// Today: 9 calls; answered (a manager picked up) d1 d2 d3 d8 d9 = 5; missed 1 (d6);
// voicemail 1 (d7); abandoned 2 (d4 d5); failed 0.
// andrew: offered d1 d2 d3 d4 d9 = 5, answered 3, missed 1 (d2 no answer), answer
//   times 10 30 40 → median 30 s, talk 120 + 300 = 7:00.
// elena: offered d2 d3 d4 d6 = 4, answered 1, missed 1 (d6), median 20 s, talk 1:00.
// bob: offered d6 d7 d8 = 3, answered 1, missed 2 (d6 busy, d7), median 15 s, talk 1:00.
// Hours: 09 → 2 calls, 2 answered, median 10 s; 10 → 2, 1, 30 s; 11 → 2, 0, none;
//   12 → 2, 1, 15 s; 13 → 1, 1, 40 s.
// Missed not called back (7 days): y1 (callback claimed by elena), d4, d6, d7
//   (callback open, with a recording); y2 is out (its callback was closed after it).
// Callback queue (open/claimed): +3910 claimed by elena, +3907 open.
// ---------------------------------------------------------------------------------

/// Local `day` at `hh:mm` in `tz`.
fn local(day: Date, hh: i8, mm: i8, tz: &TimeZone) -> Timestamp {
    day.at(hh, mm, 0, 0)
        .to_zoned_datetime(tz.clone())
        .unwrap()
        .timestamp()
}

fn plus(ts: Timestamp, secs: i64) -> Timestamp {
    ts.checked_add(SignedDuration::from_secs(secs)).unwrap()
}

struct C {
    id: &'static str,
    yesterday: bool,
    hh: i8,
    mm: i8,
    caller: &'static str,
    source: &'static str,
    dept: Option<&'static str>,
    outcome: CallOutcome,
    answered: Option<(&'static str, i64)>,
    ended: Option<i64>,
}

#[rustfmt::skip]
const CALLS: &[C] = &[
    C { id: "y1", yesterday: true,  hh: 16, mm: 0,  caller: "+3910", source: "website", dept: Some("sales"),   outcome: CallOutcome::Missed,           answered: None,                 ended: Some(45) },
    C { id: "y2", yesterday: true,  hh: 17, mm: 0,  caller: "+3911", source: "google",  dept: Some("sales"),   outcome: CallOutcome::Voicemail,        answered: None,                 ended: Some(50) },
    C { id: "d1", yesterday: false, hh: 9,  mm: 0,  caller: "+3901", source: "google",  dept: Some("sales"),   outcome: CallOutcome::Answered,         answered: Some(("andrew", 10)), ended: Some(130) },
    C { id: "d2", yesterday: false, hh: 9,  mm: 30, caller: "+3902", source: "google",  dept: Some("sales"),   outcome: CallOutcome::Answered,         answered: Some(("elena", 20)),  ended: Some(80) },
    C { id: "d3", yesterday: false, hh: 10, mm: 15, caller: "+3903", source: "website", dept: Some("sales"),   outcome: CallOutcome::Answered,         answered: Some(("andrew", 30)), ended: Some(330) },
    C { id: "d4", yesterday: false, hh: 10, mm: 40, caller: "+3904", source: "website", dept: Some("sales"),   outcome: CallOutcome::AbandonedRinging, answered: None,                 ended: Some(25) },
    C { id: "d5", yesterday: false, hh: 11, mm: 5,  caller: "+3905", source: "google",  dept: None,            outcome: CallOutcome::AbandonedInIvr,   answered: None,                 ended: Some(12) },
    C { id: "d6", yesterday: false, hh: 11, mm: 20, caller: "+3906", source: "google",  dept: Some("support"), outcome: CallOutcome::Missed,           answered: None,                 ended: Some(40) },
    C { id: "d7", yesterday: false, hh: 12, mm: 0,  caller: "+3907", source: "website", dept: Some("support"), outcome: CallOutcome::Voicemail,        answered: None,                 ended: Some(60) },
    C { id: "d8", yesterday: false, hh: 12, mm: 30, caller: "+3908", source: "google",  dept: Some("support"), outcome: CallOutcome::Answered,         answered: Some(("bob", 15)),    ended: Some(75) },
    C { id: "d9", yesterday: false, hh: 13, mm: 0,  caller: "+3909", source: "google",  dept: Some("sales"),   outcome: CallOutcome::InProgress,       answered: Some(("andrew", 40)), ended: None },
];

/// (call, manager, ring start s, ring end s after the call's start, outcome)
#[rustfmt::skip]
const RINGS: &[(&str, &str, i64, i64, RingOutcome)] = &[
    ("y1", "andrew", 5,  6,  RingOutcome::Declined),
    ("d1", "andrew", 5,  10, RingOutcome::Answered),
    ("d2", "andrew", 5,  15, RingOutcome::NoAnswer),
    ("d2", "elena",  15, 20, RingOutcome::Answered),
    ("d3", "andrew", 20, 30, RingOutcome::Answered),
    ("d3", "elena",  20, 30, RingOutcome::Cancelled),
    ("d4", "andrew", 5,  25, RingOutcome::Cancelled),
    ("d4", "elena",  5,  25, RingOutcome::Cancelled),
    ("d6", "elena",  5,  35, RingOutcome::NoAnswer),
    ("d6", "bob",    5,  6,  RingOutcome::Busy),
    ("d7", "bob",    5,  25, RingOutcome::NoAnswer),
    ("d8", "bob",    5,  15, RingOutcome::Answered),
    ("d9", "andrew", 30, 40, RingOutcome::Answered),
];

/// The router's report zone: the system's (the child inherits our environment).
fn zone() -> TimeZone {
    TimeZone::system()
}

/// Today in the router's zone, after making sure the day will not change under the
/// test (a run started in the last minute before midnight waits for the new day).
fn today() -> Date {
    let tz = zone();
    loop {
        let now = Timestamp::now().to_zoned_datetime(tz.clone());
        if now.hour() == 23 && now.minute() == 59 {
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        return now.date();
    }
}

struct Seeded {
    open_3907: i64,
    claimed_3910: i64,
}

fn record(c: &C, today: Date, tz: &TimeZone) -> CallRecord {
    let day = if c.yesterday {
        today.yesterday().unwrap()
    } else {
        today
    };
    let start = local(day, c.hh, c.mm, tz);
    CallRecord {
        call_id: c.id.into(),
        started_at: start,
        answered_at: c.answered.map(|(_, s)| plus(start, s)),
        ended_at: c.ended.map(|s| plus(start, s)),
        dialled: "5551000".into(),
        source: c.source.into(),
        caller: c.caller.into(),
        caller_name: None,
        menu_path: vec![],
        decision: "department".into(),
        reason: "test".into(),
        department: c.dept.map(Into::into),
        answered_by: c.answered.map(|(m, _)| m.into()),
        outcome: c.outcome,
        hangup_side: None,
        transfers: vec![],
        recording: None,
    }
}

fn new_callback(dept: &str, caller: &str, at: Timestamp) -> NewCallback {
    NewCallback {
        department: dept.into(),
        caller: caller.into(),
        dialled: "5551000".into(),
        source: "google".into(),
        at,
        menu_path: vec![],
        reason: CallbackReason::NobodyAnswered,
        recording_path: None,
        recording_secs: None,
        recording_flag: None,
    }
}

/// Writes today's traffic into `data/switchboard.db` (created) under `data`.
fn seed(data: &Path, today: Date) -> Seeded {
    let tz = zone();
    std::fs::create_dir_all(data.join("recordings")).unwrap();
    std::fs::write(data.join("recordings/cb-3907.wav"), b"RIFF").unwrap();
    let mut store = SqliteStore::open(data.join("switchboard.db")).unwrap();
    let calls: Vec<CallRecord> = CALLS.iter().map(|c| record(c, today, &tz)).collect();
    for c in &calls {
        store.upsert_call(c).unwrap();
    }
    for (id, manager, from, to, outcome) in RINGS {
        let start = calls.iter().find(|c| c.call_id == *id).unwrap().started_at;
        store
            .add_ring_attempt(&RingAttempt {
                call_id: (*id).into(),
                manager: (*manager).into(),
                started_at: plus(start, *from),
                ended_at: plus(start, *to),
                outcome: *outcome,
            })
            .unwrap();
    }
    let yesterday = today.yesterday().unwrap();
    let (claimed_3910, _) = store
        .add_or_update_callback(&new_callback(
            "sales",
            "+3910",
            local(yesterday, 16, 1, &tz),
        ))
        .unwrap();
    store
        .claim_callback(claimed_3910, "elena", local(yesterday, 16, 30, &tz))
        .unwrap();
    let (done_3911, _) = store
        .add_or_update_callback(&new_callback(
            "sales",
            "+3911",
            local(yesterday, 17, 1, &tz),
        ))
        .unwrap();
    store
        .complete_callback(done_3911, "andrew", "reached", local(yesterday, 18, 0, &tz))
        .unwrap();
    let mut vm = new_callback("support", "+3907", local(today, 12, 1, &tz));
    vm.reason = CallbackReason::AfterHours;
    vm.recording_path = Some("recordings/cb-3907.wav".into());
    vm.recording_secs = Some(4.5);
    let (open_3907, _) = store.add_or_update_callback(&vm).unwrap();
    Seeded {
        open_3907,
        claimed_3910,
    }
}

// ---------------------------------------------------------------------------------
// HTTP and the browser.

struct Reply {
    status: u16,
    head: String,
    body: String,
}

/// GET over plain HTTP/1.0 with an optional bearer token.
fn get(port: u16, path: &str, token: Option<&str>) -> Reply {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{auth}\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

fn wait_http(port: u16) {
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && get(port, "/healthz", None).status == 200
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the admin API never answered on port {port}");
}

/// The serialized DOM, searched by `data-testid` (no HTML parser needed: Chromium
/// writes attributes with double quotes and escapes text).
struct Dom(String);

impl Dom {
    fn load(url: &str) -> Dom {
        Dom(chromium(url, &["--dump-dom"]))
    }

    /// The opening tag carrying `data-testid="id"`, and the offset after it.
    fn tag(&self, id: &str) -> Option<(&str, usize)> {
        let needle = format!("data-testid=\"{id}\"");
        let at = self.0.find(&needle)?;
        let start = self.0.get(..at)?.rfind('<')?;
        let end = at + self.0.get(at..)?.find('>')?;
        Some((self.0.get(start..=end)?, end + 1))
    }

    fn has(&self, id: &str) -> bool {
        self.tag(id).is_some()
    }

    #[track_caller]
    fn text(&self, id: &str) -> String {
        let (_, after) = self
            .tag(id)
            .unwrap_or_else(|| panic!("no data-testid {id:?} in the page:\n{}", self.0));
        let rest = &self.0[after..];
        let text = &rest[..rest.find('<').unwrap_or(rest.len())];
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&nbsp;", "\u{a0}")
            .replace("&amp;", "&")
    }

    #[track_caller]
    fn attr(&self, id: &str, name: &str) -> String {
        let (tag, _) = self
            .tag(id)
            .unwrap_or_else(|| panic!("no data-testid {id:?} in the page:\n{}", self.0));
        let needle = format!(" {name}=\"");
        let at = tag
            .find(&needle)
            .unwrap_or_else(|| panic!("{id}: no {name} in {tag}"));
        let rest = &tag[at + needle.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    #[track_caller]
    fn value(&self, id: &str) -> String {
        self.attr(id, "data-value")
    }
}

fn opt(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Every figure the page shows for the seeded day, against the hand-worked values and
/// against today's `/api/reports`.
fn assert_figures(dom: &Dom, report: &Report, seeded: &Seeded) {
    assert_eq!(dom.attr("status", "data-state"), "ok", "{}", dom.0);

    // Tiles.
    for (id, want) in [
        ("calls-today", "9"),
        ("answered-today", "5"),
        ("missed-today", "1"),
        ("voicemail-today", "1"),
        ("abandoned-today", "2"),
        ("failed-today", "0"),
    ] {
        assert_eq!(dom.text(id), want, "{id}");
        assert_eq!(dom.value(id), want, "{id}");
    }
    let t = &report.totals;
    assert_eq!(dom.value("calls-today"), t.calls.to_string());
    assert_eq!(
        dom.value("answered-today"),
        (t.answered + t.in_progress).to_string()
    );
    assert_eq!(dom.value("missed-today"), t.missed.to_string());
    assert_eq!(dom.value("voicemail-today"), t.voicemail.to_string());
    assert_eq!(
        dom.value("abandoned-today"),
        (t.abandoned_in_ivr + t.abandoned_ringing).to_string()
    );

    // Managers: hand values, then each cell against the report JSON.
    #[rustfmt::skip]
    let want = [
        ("andrew", "5", "3", "1", "30 s", "0:07:00"),
        ("bob",    "3", "1", "2", "15 s", "0:01:00"),
        ("elena",  "4", "1", "1", "20 s", "0:01:00"),
    ];
    for (m, offered, answered, missed, median, talk) in want {
        let id = |f: &str| format!("manager-{m}-{f}");
        assert_eq!(dom.text(&id("offered")), offered, "{m} offered");
        assert_eq!(dom.text(&id("answered")), answered, "{m} answered");
        assert_eq!(dom.text(&id("missed")), missed, "{m} missed");
        assert_eq!(dom.text(&id("answer-median")), median, "{m} median");
        assert_eq!(dom.text(&id("talk")), talk, "{m} talk");
    }
    assert_eq!(report.per_manager.len(), 3);
    for row in &report.per_manager {
        let id = |f: &str| format!("manager-{}-{f}", row.manager);
        assert_eq!(dom.value(&id("offered")), row.offered.to_string());
        assert_eq!(dom.value(&id("answered")), row.answered.to_string());
        assert_eq!(dom.value(&id("missed")), row.missed.to_string());
        assert_eq!(dom.value(&id("answer-median")), opt(row.answer_ms_median));
        assert_eq!(dom.value(&id("talk")), row.talk_ms.to_string());
    }

    // The charts: one bar per hour, answered drawn inside.
    for h in 0..24 {
        assert!(dom.has(&format!("hour-{h:02}-calls")), "bar for hour {h}");
        assert!(
            dom.has(&format!("hour-{h:02}-answer")),
            "answer bar for hour {h}"
        );
    }
    #[rustfmt::skip]
    let hours = [(9, "2", "2", "10000"), (10, "2", "1", "30000"), (11, "2", "0", ""),
                 (12, "2", "1", "15000"), (13, "1", "1", "40000"), (8, "0", "0", "")];
    for (h, calls, answered, median) in hours {
        assert_eq!(dom.value(&format!("hour-{h:02}-calls")), calls, "hour {h}");
        assert_eq!(
            dom.value(&format!("hour-{h:02}-calls-part")),
            answered,
            "hour {h}"
        );
        assert_eq!(
            dom.value(&format!("hour-{h:02}-answer")),
            median,
            "hour {h}"
        );
    }

    // Missed calls not called back: the last 7 days.
    for (id, caller, outcome) in [
        ("y1", "+3910", "missed"),
        ("d4", "+3904", "abandoned ringing"),
        ("d6", "+3906", "missed"),
        ("d7", "+3907", "voicemail"),
    ] {
        assert_eq!(dom.text(&format!("missed-{id}-caller")), caller);
        assert_eq!(dom.text(&format!("missed-{id}-outcome")), outcome);
    }
    assert!(!dom.has("missed-y2"), "y2 was called back");
    assert!(
        !dom.has("missed-d5"),
        "abandoned in the menus is not a miss"
    );
    assert_eq!(
        dom.text("missed-y1-callback"),
        format!("#{} claimed by elena", seeded.claimed_3910)
    );
    assert_eq!(
        dom.text("missed-d7-callback"),
        format!("#{} open", seeded.open_3907)
    );
    // Today's part of the list is the report's list.
    for m in &report.missed_not_called_back {
        assert_eq!(dom.text(&format!("missed-{}-caller", m.call_id)), m.caller);
    }

    // The callback queue: pending requests only, with the recording link.
    let open = format!("callback-{}", seeded.open_3907);
    let claimed = format!("callback-{}", seeded.claimed_3910);
    assert_eq!(dom.text(&format!("{open}-caller")), "+3907");
    assert_eq!(dom.text(&format!("{open}-department")), "support");
    assert_eq!(dom.text(&format!("{open}-reason")), "after hours");
    assert_eq!(dom.text(&format!("{open}-status")), "open");
    assert_eq!(
        dom.attr(&format!("{open}-recording"), "href"),
        format!("/api/callbacks/{}/recording", seeded.open_3907)
    );
    assert_eq!(dom.text(&format!("{open}-recording")), "4.5 s");
    assert_eq!(dom.text(&format!("{claimed}-caller")), "+3910");
    assert_eq!(dom.text(&format!("{claimed}-status")), "claimed by elena");
    assert!(!dom.has(&format!("{claimed}-recording")));
    let age: u64 = dom.value(&format!("{claimed}-age")).parse().unwrap();
    assert!(age > 6 * 3600, "claimed request is from yesterday: {age} s");
}

#[test]
fn the_router_serves_the_dashboard_with_todays_figures() {
    let _g = serial();
    require("chromium", "chromium");
    let day = today();
    let dir = tempfile::tempdir().unwrap();
    let p = ports();
    let router = Router::start_in(dir, p, &format!("admin_token = \"{TOKEN}\""), "");
    // Seeded once the router runs: a call recorded in progress before the router
    // started would be one a crash cut off, closed as interrupted at start.
    let seeded = seed(&router.dir.path().join("data"), day);
    wait_http(p.http);

    // The page and its assets are open but hold no data; the data needs the token.
    for path in ["/", "/dashboard"] {
        let r = get(p.http, path, None);
        assert_eq!(r.status, 200, "{path}: {}", r.head);
        assert!(r.body.contains("/dashboard/app.js"), "{path}");
        assert!(!r.body.contains("+3901"));
        assert!(
            r.head
                .to_ascii_lowercase()
                .contains("content-security-policy: default-src 'none'"),
            "{}",
            r.head
        );
    }
    assert_eq!(get(p.http, "/dashboard/app.js", None).status, 200);
    assert_eq!(get(p.http, "/dashboard/style.css", None).status, 200);
    assert_eq!(get(p.http, "/api/dashboard", None).status, 401);
    assert_eq!(get(p.http, "/api/dashboard", Some("wrong")).status, 401);

    let r = get(p.http, "/api/dashboard", Some(TOKEN));
    assert_eq!(r.status, 200, "{}", r.body);
    let dash: Dashboard = serde_json::from_str(&r.body).unwrap();
    assert_eq!(dash.date, day);
    let r = get(
        p.http,
        &format!("/api/reports?from={day}&to={day}"),
        Some(TOKEN),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let report: Report = serde_json::from_str(&r.body).unwrap();
    assert_eq!(dash.report, report, "the dashboard's day is the report's");

    // In the browser, with the token in the fragment.
    let url = format!("http://127.0.0.1:{}/#token={TOKEN}", p.http);
    let dom = Dom::load(&url);
    assert_figures(&dom, &report, &seeded);
    assert_eq!(dom.text("live-count"), "0");
    assert!(dom.0.contains("no calls in progress"));

    // Without a token: the form, and no figures.
    let dom = Dom::load(&format!("http://127.0.0.1:{}/", p.http));
    assert_eq!(dom.attr("status", "data-state"), "auth", "{}", dom.0);
    assert!(!dom.has("manager-andrew"));
    assert!(!dom.0.contains("+3901"));
    assert!(
        !router.log().contains(TOKEN),
        "the token must never reach the server's log"
    );
}

/// Calls in progress come from the driver's snapshot; served in-process so the test
/// can supply one (a ringing call, a call in the menus and a talking one), then
/// screenshot the page for review.
#[test]
fn live_calls_and_screenshot() {
    let _g = serial();
    require("chromium", "chromium");
    let day = today();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let seeded = seed(&data, day);
    let store = SqliteStore::open(data.join("switchboard.db")).unwrap();
    let worker = StoreWorker::spawn(Box::new(store)).unwrap();

    let now = Timestamp::now();
    let live_call = |id: &str, caller: &str, secs: i64| CallRecord {
        call_id: id.into(),
        started_at: plus(now, -secs),
        answered_at: None,
        ended_at: None,
        dialled: "5551000".into(),
        source: "google".into(),
        caller: caller.into(),
        caller_name: None,
        menu_path: vec![],
        decision: String::new(),
        reason: String::new(),
        department: None,
        answered_by: None,
        outcome: CallOutcome::InProgress,
        hangup_side: None,
        transfers: vec![],
        recording: None,
    };
    let mut talking = live_call("L1", "+39555", 95);
    talking.caller_name = Some("Rossi <b>&</b>".into());
    talking.decision = "department:sales".into();
    talking.department = Some("sales".into());
    talking.answered_by = Some("andrew".into());
    talking.answered_at = Some(plus(now, -80));
    let mut ringing = live_call("L2", "+39556", 20);
    ringing.decision = "department:support".into();
    ringing.department = Some("support".into());
    ringing.source = "website".into();
    let menu = live_call("L3", "+39557", 5);
    let snapshot = serde_json::to_value(vec![talking, ringing, menu]).unwrap();
    let live: admin::LiveFn = Arc::new(move || snapshot.clone());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let state = AdminState::new(worker.handle(), &data)
        .with_token(Some(TOKEN.into()))
        .with_live(live)
        .with_time_zone(zone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(admin::serve(listener, state));
    wait_http(port);

    let report: Report = serde_json::from_str(
        &get(
            port,
            &format!("/api/reports?from={day}&to={day}"),
            Some(TOKEN),
        )
        .body,
    )
    .unwrap();
    let url = format!("http://127.0.0.1:{port}/dashboard#token={TOKEN}");
    let dom = Dom::load(&url);
    assert_figures(&dom, &report, &seeded);
    assert_eq!(dom.text("live-count"), "3");
    assert_eq!(dom.text("live-L1-caller"), "+39555 (Rossi <b>&</b>)");
    assert!(
        dom.0.contains("Rossi &lt;b&gt;&amp;&lt;/b&gt;"),
        "caller names are text, never markup"
    );
    assert_eq!(dom.text("live-L1-state"), "talking");
    assert_eq!(dom.text("live-L1-manager"), "andrew");
    assert_eq!(dom.text("live-L1-department"), "sales");
    let secs: u64 = dom.value("live-L1-duration").parse().unwrap();
    assert!((95..120).contains(&secs), "duration {secs}");
    assert!(dom.text("live-L1-duration").starts_with("1:"));
    assert_eq!(dom.text("live-L2-state"), "ringing");
    assert_eq!(dom.text("live-L2-source"), "website");
    assert_eq!(dom.text("live-L2-manager"), "—");
    assert_eq!(dom.text("live-L3-state"), "in menu");
    assert_eq!(dom.text("live-L3-department"), "—");

    // A screenshot for review, in cargo's scratch folder for integration tests
    // (`target/tmp/`, or `$CARGO_TARGET_DIR/tmp/`): never a path assumed relative to
    // the checkout, which is not there when CARGO_TARGET_DIR points elsewhere.
    let png: PathBuf = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&png);
    // `target/` is absent when CARGO_TARGET_DIR points elsewhere.
    std::fs::create_dir_all(png.parent().unwrap()).unwrap();
    chromium(
        &url,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,900",
            "--hide-scrollbars",
        ],
    );
    let len = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    println!("dashboard screenshot: {}", png.display());
    assert!(
        len > 1000,
        "{} missing or empty ({len} bytes)",
        png.display()
    );
    drop(rt);
    worker.shutdown().unwrap();
}
