//! Issue 13 with real peers: a queued sipp caller takes the callback offer (RFC 4733
//! keys), hears the number read back and the goodbye, and is hung up on keeping their
//! place; when the manager's sipp phone frees up it is rung first and answers (the
//! whisper plays); then the outbound trunk — a sipp UAS standing in for the PBX —
//! receives an INVITE for the caller's number (rewritten) with the configured caller
//! ID, answers, and the two are bridged until the customer hangs up. The call record,
//! the dial-back's story in the database and `GET /api/dialbacks/{id}` agree. A busy
//! customer is retried after the back-off, then left as an open callback request.
//!
//! The same flows step by step on a virtual clock (with a 407 challenge, VIPs, a
//! restart, refused numbers) are in `tests/queue_flows.rs`.
mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use switchboard::store::{
    CallOutcome, CallRecord, CustomerOutcome, DialbackStatus, SqliteStore, Store,
};

fn records(router: &Router) -> Vec<CallRecord> {
    let store = SqliteStore::open(router.db()).unwrap();
    store
        .calls_between(
            jiff::Timestamp::UNIX_EPOCH,
            jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1),
        )
        .unwrap()
}

/// A sipp caller in the background dialling 3000 from `number`, on the `i`-th sipp
/// port of the test; `extra` goes to sipp as is.
fn caller(
    p: Ports,
    i: u16,
    number: &str,
    scenario: &str,
    extra: &[&str],
) -> (Child, tempfile::TempDir) {
    let sipp = require("sipp", "sip-tester");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("callers.csv");
    std::fs::write(&csv, format!("SEQUENTIAL\n{number};1\n")).unwrap();
    let child = Command::new("timeout")
        .arg("60")
        .arg(sipp)
        .arg(format!("127.0.0.1:{}", p.sip))
        .arg("-sf")
        .arg(repo().join("tests/sipp").join(scenario))
        .args(["-t", "u1", "-i", "127.0.0.1", "-p"])
        .arg((p.sipp_sip + i).to_string())
        .args(["-mi", "127.0.0.1", "-mp"])
        .arg((p.sipp_media + i * 4).to_string())
        .args([
            "-s", "3000", "-m", "1", "-nostdin", "-timeout", "50s", "-inf",
        ])
        .arg(&csv)
        .args(["-trace_err", "-error_file"])
        .arg(dir.path().join("err.log"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (child, dir)
}

/// Wait for a background caller; on failure show its errors and the router's log.
fn wait_caller(who: &str, (mut child, dir): (Child, tempfile::TempDir), router: &Router) {
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "{who} failed:\n{}\nrouter log:\n{}",
        std::fs::read_to_string(dir.path().join("err.log")).unwrap_or_default(),
        router.log()
    );
}

/// Sofia (phone 0) is the only member of support; the trunk (phone 1) is the PBX.
fn plan(sofia: &Phone, pbx: &Phone, attempts: u32, whisper: bool) -> String {
    format!(
        r#"
[[numbers]]
number = "3000"
action = "department:support"

[departments.support]
members = ["sofia"]
queue_timeout_secs = 120
announce_secs = 30
callback_key = "5"
name_prompt = "dept_support"

[managers.sofia]
contact = "{}"

[outbound.pbx]
address = "127.0.0.1:{}"
caller_id = "+4930100"
caller_name = "ACME"
allowed_prefixes = ["555"]
rewrite = [{{ from = "555", to = "030555" }}]

[callbacks]
trunk = "pbx"
attempts = {attempts}
retry_secs = 3
whisper = {whisper}
"#,
        sofia.contact(),
        pbx.sip_port
    )
}

/// Caller A (5551) takes Sofia for `a_talks_ms`; caller B (5552) queues behind, presses
/// 5 after 4.5 s (once queued) and 1 four seconds later, and is hung up on after the goodbye.
fn a_talks_while_b_asks_for_a_callback(p: Ports, router: &Router, a_talks_ms: u32) {
    let a = caller(
        p,
        1,
        "5551",
        "uac_listen.xml",
        &["-d", &a_talks_ms.to_string()],
    );
    router.wait_for_log("sofia answered", Duration::from_secs(10));
    let pcap = |f: &str| repo().join("tests/data").join(f).display().to_string();
    let b = caller(
        p,
        2,
        "5552",
        "uac_callback.xml",
        &[
            "-key",
            "dtmf_pcap",
            &pcap("dtmf_101_5.pcap"),
            "-key",
            "confirm_pcap",
            &pcap("dtmf_101_1_ts40000.pcap"),
            "-d",
            "4000",
        ],
    );
    wait_caller("caller B", b, router);
    wait_caller("caller A", a, router);
}

#[test]
fn a_queued_caller_is_called_back_through_the_trunk_after_the_manager_answers() {
    let _g = serial();
    let p = ports();
    let sofia = Phone::start_for(p, 0, "uas_answer.xml", 2, &["-d", "200"]);
    let pbx = Phone::start(p, 1, "uas_customer.xml", &["-d", "3000"]);
    let mut router = Router::start(p, "", &plan(&sofia, &pbx, 2, true));
    a_talks_while_b_asks_for_a_callback(p, &router, 24_000);
    // The dial-back: Sofia first, then the customer through the trunk; the customer
    // hangs up after 3 s, which ends Sofia's leg too.
    let pbx_port = pbx.sip_port;
    let pbx = pbx.wait();
    pbx.assert_ok(&router);
    sofia.wait().assert_ok(&router);
    router.wait_for_log("the callback conversation ended", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    let log = router.log();

    // B heard their place, the number read back and the goodbye.
    let played = |prompt: &str| {
        log.lines()
            .any(|l| l.contains("playing") && l.contains(prompt))
    };
    for prompt in [
        "queue_position",
        "callback_will_call",
        "callback_queued",
        "whisper_callback_for",
    ] {
        assert!(played(prompt), "{prompt} was played:\n{log}");
    }
    // Sofia was rung for the callback before the customer was dialled.
    let rung = log.find("the callback's turn: ringing sofia first");
    let took = log.find("sofia took the callback");
    let dialled = log.find("the customer answered: connected to sofia");
    assert!(
        rung.is_some() && rung < took && took < dialled,
        "ring Sofia, she answers, then the customer:\n{log}"
    );

    // The PBX got the customer's number as it wants it, with our caller ID.
    let pbx_log = &pbx.output;
    assert!(
        pbx_log.contains(&format!("INVITE sip:0305552@127.0.0.1:{pbx_port} SIP/2.0")),
        "{pbx_log}"
    );
    assert!(
        pbx_log.contains("From: \"ACME\" <sip:+4930100@"),
        "{pbx_log}"
    );

    // The records: A answered by Sofia, B queued for a callback.
    let recs = records(&router);
    let b = recs
        .iter()
        .find(|r| r.caller == "5552")
        .expect("B's record");
    assert_eq!(b.outcome, CallOutcome::CallbackQueued, "{b:?}");
    let a = recs
        .iter()
        .find(|r| r.caller == "5551")
        .expect("A's record");
    assert_eq!(a.answered_by.as_deref(), Some("sofia"));
    // The dial-back's story: connected on the first attempt, by Sofia.
    let store = SqliteStore::open(router.db()).unwrap();
    let cb = store
        .get_queued_callback(&b.call_id)
        .unwrap()
        .expect("the dial-back is stored under B's Call-ID");
    assert_eq!(cb.number, "5552");
    assert_eq!(cb.department, "support");
    assert_eq!(cb.status, DialbackStatus::Connected, "{cb:?}");
    assert_eq!(cb.callback_id, None, "no request is left open");
    let attempts = store.dialback_attempts(&b.call_id).unwrap();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].manager, "sofia");
    assert_eq!(attempts[0].customer, CustomerOutcome::Answered);
    assert!(attempts[0].talk_ms.unwrap_or(0) >= 2000, "{attempts:?}");
    // The admin API tells the same story.
    let (status, body) = http(p, "GET", &format!("/api/dialbacks/{}", b.call_id), None);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"status\":\"connected\"") && body.contains("\"customer\":\"answered\""),
        "{body}"
    );
    router.stop();
}

#[test]
fn a_busy_customer_is_retried_after_the_back_off_then_left_as_an_open_request() {
    let _g = serial();
    let p = ports();
    // Sofia takes A, then both dial-back attempts (told each time that the customer
    // was not reached); the PBX answers both with 486.
    let sofia = Phone::start_for(p, 0, "uas_answer.xml", 3, &["-d", "200"]);
    let pbx = Phone::start_for(p, 1, "uas_busy.xml", 2, &[]);
    let router = Router::start(p, "", &plan(&sofia, &pbx, 2, false));
    a_talks_while_b_asks_for_a_callback(p, &router, 24_000);
    router.wait_for_log(
        "the customer was not reached in 2 attempts",
        Duration::from_secs(20),
    );
    pbx.wait().assert_ok(&router);
    sofia.wait().assert_ok(&router);
    let log = router.log();
    assert!(
        log.contains("attempt 1 of 2 failed (Busy); next one in 3 s"),
        "{log}"
    );
    let recs = records(&router);
    let b = recs
        .iter()
        .find(|r| r.caller == "5552")
        .expect("B's record");
    let store = SqliteStore::open(router.db()).unwrap();
    let cb = store
        .get_queued_callback(&b.call_id)
        .unwrap()
        .expect("the dial-back");
    assert_eq!(cb.status, DialbackStatus::GaveUp, "{cb:?}");
    assert_eq!(cb.attempts, 2);
    let attempts = store.dialback_attempts(&b.call_id).unwrap();
    let outcomes: Vec<CustomerOutcome> = attempts.iter().map(|a| a.customer).collect();
    assert_eq!(outcomes, [CustomerOutcome::Busy, CustomerOutcome::Busy]);
    assert!(
        attempts.iter().all(|a| a.status == Some(486)),
        "{attempts:?}"
    );
    // The back-off held between the two attempts.
    let gap = attempts[1].started_at.duration_since(attempts[0].ended_at);
    assert!(gap >= jiff::SignedDuration::from_secs(3), "{attempts:?}");
    // Left as an open callback request for a person, with the attempts beside it.
    let id = cb.callback_id.expect("an open callback request");
    let (status, body) = http(p, "GET", &format!("/api/callbacks/{id}"), None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"open\""), "{body}");
    assert!(body.contains("\"caller\":\"5552\""), "{body}");
    assert!(body.contains("\"customer\":\"busy\""), "{body}");
}
