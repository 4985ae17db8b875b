//! Table-driven tests of the routing engine against tests/config/engine.toml: source
//! routing, returning callers, menus, department availability, explain.

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use switchboard::config::{DialPlan, load_str};
use switchboard::routing::{
    CallContext, Decision, ManagerState, ManagerStates, MenuInput, MenuSession,
    PreviousInteraction, Selection, Step, StrategyState, Tried, explain, on_menu_input,
    on_queue_timeout, route_call, select_department,
};

fn plan() -> DialPlan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config/engine.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    load_str(&text, &path, None)
        .unwrap_or_else(|e| panic!("{e}"))
        .plan
}

/// Local wall-clock time in a zone → instant.
fn at(local: &str, tz: &str) -> Timestamp {
    format!("{local}[{tz}]")
        .parse::<jiff::ZonedDateTime>()
        .unwrap()
        .timestamp()
}

/// Monday 2 March 2026, 10:00 in Berlin: the office is open.
fn monday_10() -> Timestamp {
    at("2026-03-02T10:00:00", "Europe/Berlin")
}

fn registered() -> ManagerState {
    ManagerState {
        registered: true,
        ..Default::default()
    }
}

/// Everyone signed in and free.
fn all_free() -> ManagerStates {
    let mut s = ManagerStates::default();
    for m in ["andrew", "elena", "marco", "sofia"] {
        s.set(m, registered());
    }
    s
}

fn dept(name: &str) -> Step {
    Step::Department { name: name.into() }
}

fn route(
    to: &str,
    now: Timestamp,
    states: &ManagerStates,
    prev: Option<&PreviousInteraction>,
) -> Decision {
    route_call(
        &plan(),
        &CallContext::new(to, "+4930123456", now),
        states,
        prev,
    )
}

fn voicemail(mailbox: &str, greeting: Option<&str>) -> Step {
    Step::Voicemail {
        mailbox: mailbox.into(),
        greeting: greeting.map(str::to_string),
        max_duration: Duration::from_secs(120),
    }
}

fn main_menu(prompts: &[&str]) -> Step {
    Step::Menu {
        menu: "main".into(),
        prompts: prompts.iter().map(|s| s.to_string()).collect(),
        timeout: Duration::from_secs(5),
    }
}

#[test]
fn source_routing() {
    let states = all_free();
    let cases: &[(&str, Step, &str)] = &[
        (
            "+15551000",
            main_menu(&["main_menu"]),
            r#"number "+15551000" matched "+15551000" (source "main"); → menu:main"#,
        ),
        (
            "+1 555 2000",
            dept("sales"),
            r#"number "+1 555 2000" matched "+15552000" (source "google-ads"); → department:sales"#,
        ),
        (
            "+15559001",
            dept("support"),
            r#"number "+15559001" matched "+1555900*" (source "night-line"); → department:support"#,
        ),
        (
            "4711",
            Step::Hangup,
            r#"number "4711" matched the catch-all entry (source "other"); → hangup"#,
        ),
    ];
    for (to, step, reason) in cases {
        let d = route(to, monday_10(), &states, None);
        assert_eq!(&d.step, step, "{to}");
        assert_eq!(&d.reason.to_string(), reason, "{to}");
    }
}

#[test]
fn number_hours_and_department_hours() {
    let states = all_free();
    let night = at("2026-03-02T22:00:00", "Europe/Berlin");
    let d = route("+15559001", night, &states, None);
    assert_eq!(
        d.step,
        Step::Play {
            prompt: "closed".into(),
            then: Box::new(voicemail("support", None))
        }
    );
    assert_eq!(
        d.reason.to_string(),
        r#"number "+15559001" matched "+1555900*" (source "night-line"); the number is closed at 22:00 Europe/Berlin (Monday hours 09:00-13:00, 14:00-18:00) → after hours: play:closed -> voicemail:support"#
    );
    let d = route("+15552000", night, &states, None);
    assert_eq!(
        d.step,
        Step::Play {
            prompt: "closed".into(),
            then: Box::new(voicemail("sales", Some("voicemail_greeting")))
        }
    );
    assert!(
        d.reason
            .to_string()
            .contains(r#"department "sales" is closed at 22:00 Europe/Berlin"#),
        "{}",
        d.reason
    );
}

#[test]
fn returning_caller() {
    let now = monday_10();
    let days_ago = |d: i64| now - jiff::SignedDuration::from_hours(24 * d);
    let andrew = |d| PreviousInteraction {
        manager: "andrew".into(),
        at: days_ago(d),
    };
    let sofia = PreviousInteraction {
        manager: "sofia".into(),
        at: days_ago(1),
    };
    let mut busy = all_free();
    busy.entry("andrew").active_calls = 1;
    let mut offline = all_free();
    offline.set("elena", ManagerState::default());
    let elena = PreviousInteraction {
        manager: "elena".into(),
        at: days_ago(2),
    };
    let free = all_free();
    let to_andrew = |wait: u64| Step::Manager {
        name: "andrew".into(),
        ring_timeout: Duration::from_secs(20),
        wait: Duration::from_secs(wait),
        fallback: Box::new(dept("sales")),
    };
    let prefix = r#"number "+15552000" matched "+15552000" (source "google-ads"); "#;
    let cases: Vec<(&str, &str, PreviousInteraction, &ManagerStates, Step, String)> = vec![
        ("found", "+15552000", andrew(3), &free, to_andrew(20), format!("{prefix}returning caller: spoke with andrew 3 days ago")),
        ("too old", "+15552000", andrew(45), &free, dept("sales"), format!("{prefix}returning caller: last spoke with andrew 45 days ago, longer ago than the 30-day lookback; normal routing; → department:sales")),
        ("busy: wait then fall back", "+15552000", andrew(1), &busy, to_andrew(20), format!("{prefix}returning caller: spoke with andrew 1 day ago; andrew is busy (1 of 1 calls), waiting up to 20 s, then department:sales")),
        ("off hours: fall back at once", "+15552000", sofia, &free, dept("sales"), format!("{prefix}returning caller: spoke with sofia 1 day ago, but sofia is off hours; falling back at once → department:sales")),
        ("offline: fall back at once", "+15552000", elena, &offline, dept("sales"), format!("{prefix}returning caller: spoke with elena 2 days ago, but elena is not signed in (no phone registered); falling back at once → department:sales")),
        ("history off for this number", "+15553000", andrew(3), &free, dept("sales"), r#"number "+15553000" matched "+15553000" (source "newsletter"); caller spoke with andrew 3 days ago, but returning-caller routing is off for this call; → department:sales"#.to_string()),
    ];
    for (what, to, prev, states, step, reason) in cases {
        let d = route(to, now, states, Some(&prev));
        assert_eq!(d.step, step, "{what}");
        assert_eq!(d.reason.to_string(), reason, "{what}");
    }
}

#[test]
fn menus_walk_by_digits() {
    let states = all_free();
    let ctx =
        |digits: &str| CallContext::new("+15551000", "+4930", monday_10()).with_digits(digits);
    let p = plan();
    let support_menu = Step::Menu {
        menu: "support".into(),
        prompts: vec!["support".into()],
        timeout: Duration::from_secs(5),
    };
    let cases: &[(&str, Step, &str)] = &[
        (
            "1",
            dept("sales"),
            r#"menu "main": caller pressed 1 → department:sales"#,
        ),
        (
            "2",
            support_menu.clone(),
            r#"menu "main": caller pressed 2 → menu:support"#,
        ),
        (
            "21",
            dept("support"),
            r#"menu "support": caller pressed 1 → department:support"#,
        ),
        (
            "2*",
            main_menu(&["main_menu"]),
            r#"menu "support": caller pressed * → back to menu "main""#,
        ),
        (
            "2*1",
            dept("sales"),
            r#"menu "main": caller pressed 1 → department:sales"#,
        ),
        (
            "22",
            main_menu(&["main_menu"]),
            r#"menu "support": caller pressed 2 → menu:main"#,
        ),
        (
            "9",
            main_menu(&["main_menu"]),
            r#"menu "main": caller pressed 9 → repeat the menu"#,
        ),
        (
            "7",
            main_menu(&["invalid", "main_menu"]),
            r#"menu "main": 7 is not an option (try 2 of 3); playing the menu again"#,
        ),
        (
            "77",
            main_menu(&["invalid", "main_menu"]),
            r#"menu "main": 7 is not an option (try 3 of 3); playing the menu again"#,
        ),
        (
            "777",
            Step::Play {
                prompt: "goodbye".into(),
                then: Box::new(Step::Hangup),
            },
            r#"menu "main": 7 is not an option; no valid choice after 3 tries → play:goodbye -> hangup"#,
        ),
        (
            "771",
            dept("sales"),
            r#"menu "main": caller pressed 1 → department:sales"#,
        ),
        (
            "0",
            Step::Manager {
                name: "andrew".into(),
                ring_timeout: Duration::from_secs(20),
                wait: Duration::ZERO,
                fallback: Box::new(voicemail("sales", Some("voicemail_greeting"))),
            },
            r#"menu "main": caller pressed 0 → manager:andrew"#,
        ),
    ];
    for (digits, step, reason) in cases {
        let d = route_call(&p, &ctx(digits), &states, None);
        assert_eq!(&d.step, step, "digits {digits}");
        assert_eq!(&d.reason.to_string(), reason, "digits {digits}");
    }
}

#[test]
fn menu_timeouts_and_session() {
    let p = plan();
    let states = all_free();
    let mut s = MenuSession::new();
    s.enter("main");
    let d = on_menu_input(&p, &mut s, MenuInput::Timeout, monday_10(), &states);
    assert_eq!(d.step, main_menu(&["timeout", "main_menu"]));
    assert_eq!(
        d.reason.to_string(),
        r#"menu "main": no key within 5 s (try 2 of 3); playing the menu again"#
    );
    assert_eq!(s.failures(), 1);
    // A valid key into a sub-menu resets the count and extends the path.
    let d = on_menu_input(&p, &mut s, MenuInput::Digit('2'), monday_10(), &states);
    assert!(matches!(d.step, Step::Menu { ref menu, .. } if menu == "support"));
    assert_eq!(s.path(), ["main".to_string(), "support".to_string()]);
    assert_eq!(s.failures(), 0);
    // "back" at the top menu replays it.
    let mut top = MenuSession::new();
    top.enter("support");
    let d = on_menu_input(&p, &mut top, MenuInput::Digit('*'), monday_10(), &states);
    assert!(
        d.reason.to_string().contains("this is the first menu"),
        "{}",
        d.reason
    );
    // Menu cycles do not grow the path.
    let d = on_menu_input(&p, &mut s, MenuInput::Digit('2'), monday_10(), &states);
    assert_eq!(d.step, main_menu(&["main_menu"]));
    assert_eq!(s.path(), ["main".to_string()]);
    // Busy direct manager → their unavailable action.
    let mut busy = all_free();
    busy.entry("andrew").active_calls = 1;
    let d = on_menu_input(&p, &mut s, MenuInput::Digit('0'), monday_10(), &busy);
    assert_eq!(d.step, voicemail("sales", Some("voicemail_greeting")));
    assert_eq!(
        d.reason.to_string(),
        r#"menu "main": caller pressed 0 → manager:andrew; manager "andrew" is busy (1 of 1 calls) → voicemail:sales"#
    );
}

fn select(states: &ManagerStates, tried: &[&str]) -> (Selection, String) {
    let tried: Tried = tried.iter().map(|s| s.to_string()).collect();
    let d = select_department(
        &plan(),
        "sales",
        monday_10(),
        states,
        &mut StrategyState::default(),
        &tried,
    );
    (d.selection, d.reason.to_string())
}

fn ring(names: &[&str]) -> Selection {
    Selection::Ring {
        managers: names.iter().map(|s| s.to_string()).collect(),
        all_at_once: false,
        ring_timeout: Duration::from_secs(20),
    }
}

#[test]
fn department_availability() {
    let now = monday_10();
    let mut wrap = all_free();
    wrap.entry("elena").last_call_end = Some(now - jiff::SignedDuration::from_secs(10));
    let mut at_max = all_free();
    at_max.entry("andrew").active_calls = 1;
    at_max.entry("marco").active_calls = 1; // max_calls = 2: still free
    let mut nobody = ManagerStates::default();
    nobody.entry("andrew").paused = true;
    let mut all_busy = all_free();
    for (m, calls) in [("andrew", 1), ("elena", 1), ("marco", 2)] {
        all_busy.entry(m).active_calls = calls;
    }
    let mut queue_full = all_busy.clone();
    queue_full.queued.insert("sales".into(), 2);
    let queue = Selection::Queue {
        hold_prompt: Some("hold_music".into()),
        queue_timeout: Duration::from_secs(120),
    };
    let vm = || Selection::Overflow(voicemail("sales", Some("voicemail_greeting")));
    let cases: Vec<(&str, ManagerStates, Vec<&str>, Selection, &str)> = vec![
        (
            "everyone free",
            all_free(),
            vec![],
            ring(&["andrew", "elena", "marco"]),
            r#"department "sales" (round-robin): ringing in order: andrew, elena, marco"#,
        ),
        (
            "wrap-up excluded",
            wrap,
            vec![],
            ring(&["andrew", "marco"]),
            r#"department "sales" (round-robin): ringing in order: andrew, marco"#,
        ),
        (
            "max calls respected",
            at_max,
            vec![],
            ring(&["elena", "marco"]),
            r#"department "sales" (round-robin): ringing in order: elena, marco"#,
        ),
        (
            "tried never re-rung",
            all_free(),
            vec!["andrew", "elena"],
            ring(&["marco"]),
            r#"department "sales" (round-robin): ringing in order: marco"#,
        ),
        (
            "all busy: queue",
            all_busy,
            vec![],
            queue,
            r#"everyone in department "sales" is busy (andrew busy (1 of 1 calls), elena busy (1 of 1 calls), marco busy (2 of 2 calls)); queueing as caller 1 for up to 120 s"#,
        ),
        (
            "queue full: overflow",
            queue_full,
            vec![],
            vm(),
            r#"everyone in department "sales" is busy (andrew busy (1 of 1 calls), elena busy (1 of 1 calls), marco busy (2 of 2 calls)) and the queue is full (2 waiting, max_waiting = 2) → overflow: voicemail:sales"#,
        ),
        (
            "nobody signed in",
            nobody,
            vec![],
            vm(),
            r#"nobody in department "sales" can take the call (andrew paused; elena not signed in (no phone registered); marco not signed in (no phone registered)) → overflow: voicemail:sales"#,
        ),
        (
            "everyone tried",
            all_free(),
            vec!["andrew", "elena", "marco"],
            vm(),
            r#"nobody in department "sales" can take the call (already tried on this call: andrew, elena, marco) → overflow: voicemail:sales"#,
        ),
    ];
    for (what, states, tried, selection, reason) in cases {
        let (got, why) = select(&states, &tried);
        assert_eq!(got, selection, "{what}");
        assert_eq!(why, reason, "{what}");
    }
}

#[test]
fn department_after_hours_and_queue_timeout() {
    let p = plan();
    let xmas = at("2026-12-25T10:00:00", "Europe/Berlin");
    let d = select_department(
        &p,
        "sales",
        xmas,
        &all_free(),
        &mut StrategyState::default(),
        &Tried::new(),
    );
    assert!(matches!(
        d.selection,
        Selection::AfterHours(Step::Play { .. })
    ));
    assert_eq!(
        d.reason.to_string(),
        r#"department "sales" is closed at 10:00 Europe/Berlin (a holiday, closed all day) → after hours: play:closed -> voicemail:sales"#
    );
    let d = on_queue_timeout(&p, "sales", monday_10(), &all_free());
    assert_eq!(d.step, voicemail("sales", Some("voicemail_greeting")));
    assert_eq!(
        d.reason.to_string(),
        r#"waited 120 s in the "sales" queue → overflow: voicemail:sales"#
    );
}

#[test]
fn explain_prints_the_path() {
    let p = plan();
    let ctx = CallContext::new("+15551000", "+4930", monday_10()).with_digits("21");
    let e = explain(&p, &ctx, &all_free(), None);
    let text = e.to_string();
    let expected = r#"1. number "+15551000" matched "+15551000" (source "main"); → menu:main
   => menu "main": play main_menu, then wait 5 s for a key
2. menu "main": caller pressed 2 → menu:support
   => menu "support": play support, then wait 5 s for a key
3. menu "support": caller pressed 1 → department:support
   => department "support"
   department "support" (longest-idle): ringing in order: elena, marco
"#;
    assert_eq!(text, expected);
    // A menu still waiting lists its options; surplus keys are reported.
    let e = explain(
        &p,
        &CallContext::new("+15551000", "+4930", monday_10()),
        &all_free(),
        None,
    );
    assert!(e.to_string().contains("waits for a key: 0 → manager:andrew, 1 → department:sales, 2 → menu:support, 9 → repeat"), "{e}");
    let e = explain(
        &p,
        &CallContext::new("+15552000", "+4930", monday_10()).with_digits("12"),
        &all_free(),
        None,
    );
    assert!(e.to_string().contains(r#"keys "12" were not used"#), "{e}");
}
