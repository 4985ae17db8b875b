//! A hand-built week of traffic shared by the report, CLI and HTTP tests (included with
//! `#[path]`; a subdirectory, so cargo does not build it as a test target of its own).
//! The expected figures are worked out by hand in `tests/reports_figures.rs`.
//!
//! The week is Monday 2026-03-02 .. Sunday 2026-03-08 (UTC). Managers: andrew, elena,
//! bob. Departments: sales, support, and one call that never reached a department.
#![allow(dead_code)]

use jiff::Timestamp;
use switchboard::store::{
    CallOutcome, CallRecord, CallbackReason, NewCallback, RingAttempt, RingOutcome, Store,
};

pub const FROM: &str = "2026-03-02";
pub const TO: &str = "2026-03-08";

/// `day` days after Monday 2026-03-02 at `hh:mm:ss` UTC (negative days go back).
pub fn at(day: i64, hms: &str) -> Timestamp {
    let base: Timestamp = format!("2026-03-02T{hms}Z").parse().unwrap();
    base.checked_add(jiff::SignedDuration::from_hours(24 * day))
        .unwrap()
}

pub fn plus(ts: Timestamp, secs: i64) -> Timestamp {
    ts.checked_add(jiff::SignedDuration::from_secs(secs))
        .unwrap()
}

struct C {
    id: &'static str,
    day: i64,
    time: &'static str,
    caller: &'static str,
    source: &'static str,
    dept: Option<&'static str>,
    outcome: CallOutcome,
    /// (manager, seconds after start)
    answered: Option<(&'static str, i64)>,
    /// seconds after start
    ended: Option<i64>,
}

#[rustfmt::skip]
const CALLS: &[C] = &[
    C { id: "c0",  day: -1, time: "10:00:00", caller: "+391",  source: "google",  dept: Some("sales"),   outcome: CallOutcome::Answered,         answered: Some(("andrew", 5)),  ended: Some(65) },
    C { id: "c1",  day: 0,  time: "09:00:00", caller: "+391",  source: "google",  dept: Some("sales"),   outcome: CallOutcome::Answered,         answered: Some(("andrew", 10)), ended: Some(130) },
    C { id: "c2",  day: 0,  time: "10:00:00", caller: "+392",  source: "google",  dept: Some("sales"),   outcome: CallOutcome::Answered,         answered: Some(("elena", 20)),  ended: Some(80) },
    C { id: "c3",  day: 1,  time: "11:00:00", caller: "+393",  source: "website", dept: Some("sales"),   outcome: CallOutcome::Answered,         answered: Some(("andrew", 30)), ended: Some(330) },
    C { id: "c4",  day: 1,  time: "12:00:00", caller: "+394",  source: "website", dept: Some("sales"),   outcome: CallOutcome::AbandonedRinging, answered: None,             ended: Some(25) },
    C { id: "c5",  day: 2,  time: "13:00:00", caller: "+395",  source: "google",  dept: None,            outcome: CallOutcome::AbandonedInIvr,   answered: None,             ended: Some(12) },
    C { id: "c6",  day: 2,  time: "14:00:00", caller: "+396",  source: "google",  dept: Some("support"), outcome: CallOutcome::Missed,           answered: None,             ended: Some(40) },
    C { id: "c7",  day: 3,  time: "15:00:00", caller: "+397",  source: "website", dept: Some("support"), outcome: CallOutcome::Voicemail,        answered: None,             ended: Some(60) },
    C { id: "c8",  day: 3,  time: "16:00:00", caller: "+396",  source: "google",  dept: Some("support"), outcome: CallOutcome::Answered,         answered: Some(("bob", 15)),    ended: Some(75) },
    C { id: "c9",  day: 4,  time: "09:00:00", caller: "+398",  source: "google",  dept: Some("sales"),   outcome: CallOutcome::Missed,           answered: None,             ended: Some(45) },
    C { id: "c10", day: 4,  time: "10:00:00", caller: "+399",  source: "google",  dept: Some("sales"),   outcome: CallOutcome::Voicemail,        answered: None,             ended: Some(50) },
    C { id: "c11", day: 5,  time: "10:00:00", caller: "+390",  source: "website", dept: Some("support"), outcome: CallOutcome::Failed,           answered: None,             ended: Some(1) },
    C { id: "c14", day: 5,  time: "11:00:00", caller: "+3911", source: "website", dept: Some("support"), outcome: CallOutcome::Missed,           answered: None,             ended: Some(30) },
    C { id: "c12", day: 6,  time: "10:00:00", caller: "+3910", source: "google",  dept: Some("sales"),   outcome: CallOutcome::InProgress,       answered: Some(("andrew", 40)), ended: None },
    C { id: "c13", day: 7,  time: "10:00:00", caller: "+398",  source: "google",  dept: Some("sales"),   outcome: CallOutcome::Answered,         answered: Some(("elena", 8)),   ended: Some(68) },
];

/// (call, manager, ring start s, ring end s — after call start, outcome)
#[rustfmt::skip]
const RINGS: &[(&str, &str, i64, i64, RingOutcome)] = &[
    ("c0",  "andrew", 1,  5,  RingOutcome::Answered),
    ("c1",  "andrew", 5,  10, RingOutcome::Answered),
    ("c2",  "andrew", 5,  15, RingOutcome::NoAnswer),
    ("c2",  "elena",  15, 20, RingOutcome::Answered),
    ("c3",  "andrew", 20, 30, RingOutcome::Answered),
    ("c3",  "elena",  20, 30, RingOutcome::Cancelled),
    ("c4",  "andrew", 5,  25, RingOutcome::Cancelled),
    ("c4",  "elena",  5,  25, RingOutcome::Cancelled),
    ("c6",  "elena",  5,  35, RingOutcome::NoAnswer),
    ("c6",  "bob",    5,  6,  RingOutcome::Busy),
    ("c7",  "bob",    5,  25, RingOutcome::NoAnswer),
    ("c8",  "bob",    5,  15, RingOutcome::Answered),
    ("c9",  "andrew", 5,  6,  RingOutcome::Declined),
    ("c10", "andrew", 5,  25, RingOutcome::NoAnswer),
    ("c12", "andrew", 30, 40, RingOutcome::Answered),
    ("c14", "bob",    5,  25, RingOutcome::NoAnswer),
    ("c13", "elena",  2,  8,  RingOutcome::Answered),
];

pub fn calls() -> Vec<CallRecord> {
    CALLS
        .iter()
        .map(|c| {
            let start = at(c.day, c.time);
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
        })
        .collect()
}

pub fn rings() -> Vec<RingAttempt> {
    let calls = calls();
    RINGS
        .iter()
        .map(|(id, manager, from, to, outcome)| {
            let start = calls.iter().find(|c| c.call_id == *id).unwrap().started_at;
            RingAttempt {
                call_id: (*id).into(),
                manager: (*manager).into(),
                started_at: plus(start, *from),
                ended_at: plus(start, *to),
                outcome: *outcome,
            }
        })
        .collect()
}

/// Ids of the seeded callback requests.
#[derive(Debug, Clone, Copy)]
pub struct Callbacks {
    /// +397, support, open, with a recording at `recordings/cb-397.wav`.
    pub open_397: i64,
    /// +398, sales, claimed by elena.
    pub claimed_398: i64,
    /// +399, sales, done by andrew ("reached") on Friday 11:00.
    pub done_399: i64,
    /// +3911, support, claimed by elena.
    pub claimed_3911: i64,
}

fn new_callback(dept: &str, caller: &str, when: Timestamp) -> NewCallback {
    NewCallback {
        department: dept.into(),
        caller: caller.into(),
        dialled: "5551000".into(),
        source: "google".into(),
        at: when,
        menu_path: vec![],
        reason: CallbackReason::NobodyAnswered,
        recording_path: None,
        recording_secs: None,
        recording_flag: None,
    }
}

/// Writes every call, ring attempt and callback request into `store`.
pub fn seed(store: &mut dyn Store) -> Callbacks {
    for c in calls() {
        store.upsert_call(&c).unwrap();
    }
    for r in rings() {
        store.add_ring_attempt(&r).unwrap();
    }
    let mut with_rec = new_callback("support", "+397", at(3, "15:01:00"));
    with_rec.reason = CallbackReason::AfterHours;
    with_rec.recording_path = Some("recordings/cb-397.wav".into());
    with_rec.recording_secs = Some(4.5);
    let (open_397, _) = store.add_or_update_callback(&with_rec).unwrap();
    let (claimed_398, _) = store
        .add_or_update_callback(&new_callback("sales", "+398", at(4, "09:01:00")))
        .unwrap();
    store
        .claim_callback(claimed_398, "elena", at(4, "09:30:00"))
        .unwrap();
    let (done_399, _) = store
        .add_or_update_callback(&new_callback("sales", "+399", at(4, "10:01:00")))
        .unwrap();
    store
        .complete_callback(done_399, "andrew", "reached", at(4, "11:00:00"))
        .unwrap();
    let (claimed_3911, _) = store
        .add_or_update_callback(&new_callback("support", "+3911", at(5, "11:01:00")))
        .unwrap();
    store
        .claim_callback(claimed_3911, "elena", at(5, "12:00:00"))
        .unwrap();
    Callbacks {
        open_397,
        claimed_398,
        done_399,
        claimed_3911,
    }
}

/// The departments and managers of the seeded traffic, so names typed on the command
/// line are checked against them.
const PEOPLE: &str = r#"
[[numbers]]
number = "5551000"
action = "department:sales"

[[numbers]]
number = "5552000"
action = "department:support"

[departments.sales]
members = ["andrew", "elena"]

[departments.support]
members = ["elena", "bob"]

[managers.andrew]
extension = "101"
contact = "sip:101@127.0.0.1:5999"

[managers.elena]
extension = "102"
contact = "sip:102@127.0.0.1:5999"

[managers.bob]
extension = "103"
contact = "sip:103@127.0.0.1:5999"
"#;

/// A temp data dir with `switchboard.db` seeded, and a config file pointing at it.
pub struct DataDir {
    pub dir: tempfile::TempDir,
    pub config: std::path::PathBuf,
    pub callbacks: Callbacks,
}

impl DataDir {
    pub fn db(&self) -> std::path::PathBuf {
        self.dir.path().join("switchboard.db")
    }
}

pub fn seeded_data_dir() -> DataDir {
    let dir = tempfile::tempdir().unwrap();
    let mut store =
        switchboard::store::SqliteStore::open(dir.path().join("switchboard.db")).unwrap();
    let callbacks = seed(&mut store);
    drop(store);
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nprompts_dir = {:?}\ndata_dir = {:?}\n{PEOPLE}",
            concat!(env!("CARGO_MANIFEST_DIR"), "/prompts"),
            dir.path().display().to_string()
        ),
    )
    .unwrap();
    DataDir {
        dir,
        config,
        callbacks,
    }
}
