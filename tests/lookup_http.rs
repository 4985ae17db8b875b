//! The CRM lookup (issue 14 item 2) against real HTTP servers inside the test and real
//! sipp peers: the owner the CRM names is rung first; a slow CRM and a failing one
//! make the call fall back to the normal route, logged and counted; answers are
//! cached.
mod common;
#[path = "support/receiver.rs"]
mod receiver;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use receiver::{Answer, Server};
use switchboard::store::{CallRecord, RingOutcome, SqliteStore, Store};

fn records(router: &Router) -> Vec<CallRecord> {
    let store = SqliteStore::open(router.db()).unwrap();
    store
        .calls_between(
            jiff::Timestamp::UNIX_EPOCH,
            jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1),
        )
        .unwrap()
}

fn plan(crm: &str, members: &str, andrew: &str, elena: &str) -> String {
    format!(
        "[lookup]\nurl = \"{crm}\"\ntimeout_ms = 300\ntoken = \"crm-token\"\n\
         [[numbers]]\nnumber = \"2000\"\naction = \"department:sales\"\n\
         [departments.sales]\nmembers = [{members}]\nstrategy = \"round-robin\"\n\
         ring_timeout_secs = 5\n\
         [managers.andrew]\nextension = \"101\"\ncontact = \"{andrew}\"\n\
         [managers.elena]\nextension = \"102\"\ncontact = \"{elena}\"\n"
    )
}

#[test]
fn the_crm_sends_the_caller_to_their_owner_first_and_is_asked_once() {
    let _g = serial();
    let p = ports();
    let crm = Server::start(|_| {
        Answer::ok(r#"{"owner": "andrew", "display_name": "Jane Doe", "tags": ["vip"]}"#)
    });
    let andrew = Phone::start_for(p, 0, "uas_answer.xml", 2, &["-d", "300"]);
    // Round-robin would start with elena; nobody answers there.
    let nobody = format!("sip:102@127.0.0.1:{}", p.phone(3).0);
    let router = Router::start(
        p,
        "",
        &plan(
            &crm.url("/lookup"),
            "\"elena\", \"andrew\"",
            &andrew.contact(),
            &nobody,
        ),
    );
    for _ in 0..2 {
        let res = sipp(p, "uac_listen.xml", "u1", &["-s", "2000", "-d", "4000"]);
        res.assert_ok(&router);
    }
    let messages = andrew.messages();
    andrew.wait().assert_ok(&router);
    let metrics = http_get(p, "/metrics");
    let recs = records(&router);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert_eq!(r.answered_by.as_deref(), Some("andrew"), "{r:?}");
        let store = SqliteStore::open(router.db()).unwrap();
        let rings: Vec<_> = store
            .ring_attempts_for_call(&r.call_id)
            .unwrap()
            .into_iter()
            .map(|a| (a.manager, a.outcome))
            .collect();
        assert_eq!(rings, vec![("andrew".to_string(), RingOutcome::Answered)]);
    }
    // The phone saw what the CRM said.
    assert!(
        messages.contains("X-Switchboard-Owner: andrew"),
        "{messages}"
    );
    assert!(messages.contains("X-Switchboard-Tags: vip"), "{messages}");
    assert!(
        messages.contains("From: \"Jane Doe\" <sip:5551234@"),
        "{messages}"
    );
    // Asked once with both numbers and the token; the second call used the cache.
    let asked = crm.seen();
    assert_eq!(asked.len(), 1, "{asked:?}");
    let line = &asked[0].request_line;
    assert!(
        line.starts_with("GET /lookup?caller=5551234&dialled=2000&call_id="),
        "{line}"
    );
    assert_eq!(asked[0].header("authorization"), Some("Bearer crm-token"));
    assert!(
        metrics.contains(r#"switchboard_lookups_total{result="answered"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"switchboard_lookups_total{result="cached"} 1"#),
        "{metrics}"
    );
}

#[test]
fn a_slow_crm_and_a_failing_crm_fall_back_to_the_normal_route() {
    let _g = serial();
    let p = ports();
    let calls = Arc::new(AtomicUsize::new(0));
    let n = Arc::clone(&calls);
    // First call: the CRM takes 2 s (the timeout is 300 ms); second: it fails.
    let crm = Server::start(move |_| match n.fetch_add(1, Ordering::SeqCst) {
        0 => Answer {
            status: 200,
            body: r#"{"owner": "andrew"}"#.into(),
            delay: Duration::from_secs(2),
        },
        _ => Answer {
            status: 500,
            body: "database down".into(),
            delay: Duration::ZERO,
        },
    });
    let elena = Phone::start_for(p, 0, "uas_answer.xml", 2, &["-d", "300"]);
    let nobody = format!("sip:101@127.0.0.1:{}", p.phone(3).0);
    let router = Router::start(
        p,
        "",
        &plan(&crm.url("/lookup"), "\"elena\"", &nobody, &elena.contact()),
    );
    for _ in 0..2 {
        let res = sipp(p, "uac_listen.xml", "u1", &["-s", "2000", "-d", "4000"]);
        res.assert_ok(&router);
    }
    elena.wait().assert_ok(&router);
    let metrics = http_get(p, "/metrics");
    let recs = records(&router);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        assert_eq!(
            r.answered_by.as_deref(),
            Some("elena"),
            "{r:?}\n{}",
            router.log()
        );
    }
    assert_eq!(crm.seen().len(), 2, "errors are not cached");
    let log = router.log();
    assert!(log.contains("failed: no answer within 300ms"), "{log}");
    assert!(
        log.contains("failed: the CRM answered 500: database down"),
        "{log}"
    );
    assert!(
        metrics.contains(r#"switchboard_lookups_total{result="timeout"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"switchboard_lookups_total{result="error"} 1"#),
        "{metrics}"
    );
}

#[test]
fn explain_lookup_shows_what_the_crm_answered_and_what_it_changes() {
    let crm = Server::start(|r| {
        if r.request_line.contains("caller=5551234") {
            Answer::ok(r#"{"owner": "andrew", "priority": 3, "tags": ["vip"]}"#)
        } else {
            Answer {
                status: 503,
                body: "maintenance".into(),
                delay: Duration::ZERO,
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nprompts_dir = \"{}\"\ndata_dir = \"{}\"\n{}",
            repo().join("prompts").display(),
            dir.path().join("data").display(),
            plan(
                &crm.url("/lookup"),
                "\"elena\", \"andrew\"",
                "sip:101@127.0.0.1:5999",
                "sip:102@127.0.0.1:5998"
            )
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let args = |from: &'static str| {
        [
            "explain", "--config", config, "--to", "2000", "--from", from, "--lookup",
        ]
    };
    let (ok, out, err) = switchboard(&args("5551234"));
    assert!(ok, "{out}{err}");
    println!("{out}");
    assert!(out.contains("answered in"), "{out}");
    assert!(out.contains("owner: andrew"), "{out}");
    assert!(out.contains("tags: vip"), "{out}");
    assert!(
        out.contains(
            "What it changes: without it the call would go to department \"sales\"; with it: \
             ring manager \"andrew\""
        ),
        "{out}"
    );
    assert!(out.contains("queue priority 3"), "{out}");
    assert!(
        out.contains("the CRM says andrew owns this caller"),
        "{out}"
    );

    let (ok, out, err) = switchboard(&args("5550000"));
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("failed after") && out.contains("the CRM answered 503: maintenance"),
        "{out}"
    );
    assert!(out.contains("=> department \"sales\""), "{out}");
}
