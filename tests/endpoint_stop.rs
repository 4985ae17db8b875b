//! Stopping the router (SIGTERM) through the sans-IO endpoint on a virtual clock: the
//! drain (`[server] drain_secs`) refuses new calls with 503 while calls in progress go
//! on, then every call left is hung up (BYE, CANCEL, 503) and recorded as
//! `interrupted`; the endpoint says when it may exit.

mod flows;

use std::time::Duration;

use flows::*;
use switchboard::call::Outcome;
use switchboard::config::ServerConfig;
use switchboard::endpoint::{CallEvent, EndCause, HANG_UP_WAIT, StopMode};
use switchboard::model::CallOutcome;
use switchboard::store::CallbackReason;

const PLAN: &str = r#"
[[numbers]]
number = "1000"
source = "ads"
action = "department:sales"

[[numbers]]
number = "2000"
source = "main"
action = "menu:main"

[menus.main]
prompt = "main_menu"
options = { "1" = "department:sales" }
timeout_secs = 60

[departments.sales]
members = ["andrew"]
ring_timeout_secs = 20
overflow = "hangup"

[managers.andrew]
extension = "101"
contact = "sip:101@10.0.0.5:5060"
"#;

fn harness(drain_secs: u64) -> H {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.ep.set_server_config(ServerConfig {
        trunks: vec!["10.0.0.0/8".parse().unwrap()],
        drain_secs,
        ..ServerConfig::default()
    });
    h
}

fn stop(h: &mut H, mode: StopMode) {
    h.ep.handle_stop(h.now, h.wall, mode);
    h.drain();
}

/// A caller waits in the menu when the router is stopped (SIGTERM).
fn in_the_menu_when_stopped(drain_secs: u64) -> H {
    let mut h = harness(drain_secs);
    h.caller_answered("2000");
    h.take_to(TRUNK);
    stop(&mut h, StopMode::Drain);
    h
}

/// How the caller's call ended, as its record will say.
fn outcome(h: &H) -> Outcome {
    h.events
        .iter()
        .find_map(|e| match e {
            CallEvent::Ended { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
        .expect("the call ended")
}

fn new_invite(call_id: &str, branch: &str) -> String {
    format!(
        "INVITE sip:2000@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch={branch}\r\nFrom: <sip:5559999@10.0.0.1>;tag=n1\r\nTo: <sip:2000@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:n@{TRUNK}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{CALLER_SDP}",
        CALLER_SDP.len()
    )
}

#[test]
fn a_stop_without_a_drain_hangs_up_with_bye_and_records_the_call_interrupted() {
    let mut h = in_the_menu_when_stopped(0);
    let bye = h.request_to(TRUNK, "BYE");
    assert!(header(&bye, "CSeq").ends_with("BYE"), "{bye}");
    assert_eq!(h.ended(), Some(EndCause::Stopped));
    assert_eq!(outcome(&h).outcome, CallOutcome::Interrupted);
    assert!(h.callbacks.is_empty(), "still in the menus: nobody owed");
    // Not stopped until the BYE is answered.
    assert!(h.ep.is_stopping() && !h.ep.is_stopped());
    h.sip_from(TRUNK, &reply(&bye, "200 OK", "t1", None));
    assert!(h.ep.is_stopped());
}

#[test]
fn a_drain_refuses_new_calls_and_pings_with_503_and_lets_calls_in_progress_finish() {
    let mut h = in_the_menu_when_stopped(30);
    assert!(h.take_to(TRUNK).is_empty(), "the call goes on");

    // A new call: 503 with Retry-After (RFC 3261 §21.5.4), never answered.
    h.sip_from(TRUNK, &new_invite("new-1", "z9hG4bKnew1"));
    let sent = h.take_to(TRUNK);
    let refused = sent
        .iter()
        .find(|m| m.starts_with("SIP/2.0 503"))
        .unwrap_or_else(|| panic!("{sent:#?}"));
    assert_eq!(header(refused, "Retry-After"), "30");
    assert!(!sent.iter().any(|m| m.starts_with("SIP/2.0 200")));
    // A proxy's OPTIONS ping: 503, so its dispatcher takes us out of the set.
    let options = format!(
        "OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKo1\r\nFrom: <sip:ping@10.0.0.1>;tag=o1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ping-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    h.advance(Duration::from_secs(10));
    h.sip_from(TRUNK, &options);
    let sent = h.take_to(TRUNK);
    let pong = sent
        .iter()
        .find(|m| header(m, "CSeq") == "1 OPTIONS")
        .unwrap_or_else(|| panic!("{sent:#?}"));
    assert!(pong.starts_with("SIP/2.0 503"), "{pong}");
    assert_eq!(header(pong, "Retry-After"), "20");

    // The caller in progress hangs up by themselves: an ordinary ending, and with
    // nothing left the stop is complete long before the drain's end.
    let bye = h.caller_request("BYE", 2, "");
    h.sip_from(TRUNK, &bye);
    assert_eq!(h.ended(), Some(EndCause::CallerHungUp));
    assert_eq!(outcome(&h).outcome, CallOutcome::AbandonedInIvr);
    assert!(h.ep.is_stopped());
}

#[test]
fn a_drain_that_runs_out_hangs_up_and_a_second_stop_does_not_wait_for_it() {
    let mut h = in_the_menu_when_stopped(30);
    h.advance(Duration::from_secs(29));
    assert!(h.take_to(TRUNK).is_empty());
    h.advance(Duration::from_secs(1));
    h.request_to(TRUNK, "BYE");
    assert_eq!(h.ended(), Some(EndCause::Stopped));

    // Another call, and a second SIGTERM during the drain: hung up at once.
    let mut h = in_the_menu_when_stopped(30);
    stop(&mut h, StopMode::Now);
    h.request_to(TRUNK, "BYE");
    // Nobody answers our BYE: stopped anyway once the wait is over.
    assert!(!h.ep.is_stopped());
    h.advance(HANG_UP_WAIT);
    assert!(h.ep.is_stopped());
}

#[test]
fn a_stop_hangs_up_both_sides_of_a_bridged_call_and_cancels_a_ringing_phone() {
    let mut h = harness(0);
    h.caller_calls("1000");
    let invite = h.request_to(ANDREW, "INVITE");
    h.sip_from(ANDREW, &reply(&invite, "180 Ringing", "a1", None));
    // Still ringing: the phone gets CANCEL, the caller BYE and a call back.
    stop(&mut h, StopMode::Now);
    h.request_to(ANDREW, "CANCEL");
    h.request_to(TRUNK, "BYE");
    assert_eq!(outcome(&h).outcome, CallOutcome::Interrupted);
    assert_eq!(
        h.callbacks.iter().map(|c| c.reason).collect::<Vec<_>>(),
        vec![CallbackReason::NobodyAnswered],
        "the waiting caller is called back"
    );

    // Bridged: BYE to both; the call was answered, and stays so.
    let mut h = harness(0);
    h.caller_calls("1000");
    let invite = h.request_to(ANDREW, "INVITE");
    h.sip_from(
        ANDREW,
        &reply(&invite, "200 OK", "a1", Some(&phone_sdp(30000, 0))),
    );
    h.request_to(ANDREW, "ACK");
    assert_eq!(h.connected().as_deref(), Some("andrew"));
    stop(&mut h, StopMode::Drain);
    let manager_bye = h.request_to(ANDREW, "BYE");
    let caller_bye = h.request_to(TRUNK, "BYE");
    let o = outcome(&h);
    assert_eq!(o.outcome, CallOutcome::Answered);
    assert_eq!(o.side, switchboard::model::Side::System);
    assert!(h.callbacks.is_empty());
    h.sip_from(TRUNK, &reply(&caller_bye, "200 OK", "t1", None));
    h.sip_from(ANDREW, &reply(&manager_bye, "200 OK", "a1", None));
    assert!(h.ep.is_stopped());
    // New calls are still refused while the process exits.
    h.sip_from(TRUNK, &new_invite("new-2", "z9hG4bKnew2"));
    assert!(h.take_to(TRUNK)[0].starts_with("SIP/2.0 503"));
}

#[test]
fn a_call_answered_but_not_yet_acknowledged_gets_its_bye_after_the_ack() {
    let mut h = harness(0);
    h.caller_invites("2000");
    // Our 200 is on its way, the caller's ACK is not here yet: no BYE before it
    // (RFC 3261 §15), and the stop waits.
    stop(&mut h, StopMode::Now);
    assert!(
        h.take_to(TRUNK).iter().all(|m| !m.starts_with("BYE ")),
        "no BYE before the ACK"
    );
    assert!(!h.ep.is_stopped());
    let ack = h.caller_request("ACK", 1, "");
    h.sip_from(TRUNK, &ack);
    let bye = h.request_to(TRUNK, "BYE");
    assert_eq!(h.ended(), Some(EndCause::Stopped));
    h.sip_from(TRUNK, &reply(&bye, "200 OK", "t1", None));
    assert!(h.ep.is_stopped());
}
