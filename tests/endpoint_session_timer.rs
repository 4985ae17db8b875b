//! RFC 4028 session timers and RFC 3261 §8.2.2.3 option tags through the sans-IO
//! endpoint on a virtual clock: a trunk that supports timers keeps its call by
//! refreshing it, a call whose trunk stops refreshing is hung up (on hold too, where
//! no RTP timeout can notice), a too-short timer gets 422, and a required extension
//! we lack gets 420.

mod flows;

use std::time::Duration;

use flows::*;
use switchboard::config::ServerConfig;
use switchboard::endpoint::{CallEvent, EndCause};
use switchboard::model::CallOutcome;

const TIMER: &str = "Supported: timer\r\nSession-Expires: 120;refresher=uac\r\nMin-SE: 90\r\n";

fn harness(session_expires_secs: u32) -> H {
    let mut h = H::new("10.0.0.0/8", WAITING_MENU);
    h.ep.set_server_config(ServerConfig {
        trunks: vec!["10.0.0.0/8".parse().unwrap()],
        session_expires_secs,
        ..ServerConfig::default()
    });
    h
}

/// The caller's call answered with `extra` in its INVITE, acknowledged; our 200.
fn answered(h: &mut H, extra: &str) -> String {
    let answers = h.caller_invites_with("2000", extra);
    let ok = answers
        .into_iter()
        .find(|m| m.starts_with("SIP/2.0 200"))
        .expect("answered");
    let ack = h.caller_request("ACK", 1, "");
    h.sip_from(TRUNK, &ack);
    h.take_to(TRUNK);
    ok
}

/// A re-INVITE from the caller with `sdp` and `extra` headers; our answer to it.
fn reinvite(h: &mut H, cseq: u32, extra: &str, sdp: &str) -> String {
    let req = h.caller_request_with_sdp("INVITE", cseq, extra, sdp);
    h.sip_from(TRUNK, &req);
    let ok = h
        .take_to(TRUNK)
        .into_iter()
        .find(|m| m.starts_with("SIP/2.0 "))
        .expect("an answer to the re-INVITE");
    let ack = h.caller_request("ACK", cseq, "");
    h.sip_from(TRUNK, &ack);
    ok
}

/// Whether we sent the trunk a BYE (retransmissions included) since the last look.
fn bye_to_trunk(h: &mut H) -> bool {
    h.take_to(TRUNK).iter().any(|m| m.starts_with("BYE "))
}

fn origin(msg: &str) -> String {
    msg.lines()
        .find(|l| l.starts_with("o="))
        .unwrap_or_default()
        .to_string()
}

fn ended_with(h: &H) -> Option<(EndCause, CallOutcome)> {
    h.events.iter().find_map(|e| match e {
        CallEvent::Ended { cause, outcome, .. } => Some((cause.clone(), outcome.outcome)),
        _ => None,
    })
}

#[test]
fn a_trunk_that_refreshes_keeps_its_call_and_one_that_stops_is_hung_up() {
    let mut h = harness(1800);
    let ok = answered(&mut h, TIMER);
    assert!(
        ok.contains("Session-Expires: 120;refresher=uac\r\n"),
        "{ok}"
    );
    assert!(ok.contains("Require: timer\r\n"), "{ok}");
    assert!(ok.contains("Supported: timer\r\n"), "{ok}");
    assert!(!ok.contains("replaces"), "we do not handle Replaces: {ok}");

    // A refresh at the half-way point (what the trunk's stack does): same SDP.
    h.advance(Duration::from_secs(60));
    let refreshed = reinvite(&mut h, 2, TIMER, CALLER_SDP);
    assert!(refreshed.starts_with("SIP/2.0 200"), "{refreshed}");
    assert!(
        refreshed.contains("Session-Expires: 120;refresher=uac\r\n"),
        "{refreshed}"
    );
    assert_eq!(
        origin(&refreshed),
        origin(&ok),
        "RFC 3264 §8: an unchanged answer keeps its version"
    );

    // 88 s after the refresh (120 − min(32, 120 / 3)) is the limit; nothing before.
    h.advance(Duration::from_secs(87));
    assert!(!bye_to_trunk(&mut h));
    assert_eq!(h.ep.active_calls(), 1);
    h.advance(Duration::from_secs(2));
    assert!(bye_to_trunk(&mut h), "BYE once the session expired");
    let (cause, outcome) = ended_with(&h).expect("the call ended");
    assert_eq!(cause, EndCause::SessionExpired);
    assert_eq!(outcome, CallOutcome::Failed);
}

#[test]
fn a_call_on_hold_whose_trunk_died_is_hung_up_at_the_session_expiry() {
    let mut h = harness(1800);
    answered(&mut h, "Supported: timer\r\nSession-Expires: 90\r\n");
    h.advance(Duration::from_secs(10));
    let hold = CALLER_SDP.replace("o=trunk 1 1", "o=trunk 1 2") + "a=sendonly\r\n";
    let ok = reinvite(
        &mut h,
        2,
        "Supported: timer\r\nSession-Expires: 90\r\n",
        &hold,
    );
    assert!(ok.contains("a=recvonly"), "{ok}");
    // On hold nobody sends audio, so only the timer can tell the trunk is gone:
    // 90 − 30 = 60 s after the re-INVITE.
    h.advance(Duration::from_secs(59));
    assert!(!bye_to_trunk(&mut h));
    h.advance(Duration::from_secs(2));
    assert!(bye_to_trunk(&mut h));
    assert_eq!(h.ended(), Some(EndCause::SessionExpired));
}

#[test]
fn too_short_a_timer_is_refused_with_422_and_min_se() {
    let mut h = harness(1800);
    let answers = h.caller_invites_with("2000", "Supported: timer\r\nSession-Expires: 30\r\n");
    let refusal = answers
        .iter()
        .find(|m| m.starts_with("SIP/2.0 4"))
        .expect("a refusal");
    assert!(refusal.starts_with("SIP/2.0 422 "), "{refusal}");
    assert!(refusal.contains("Min-SE: 90\r\n"), "{refusal}");
    assert_eq!(h.ep.active_calls(), 0);
}

#[test]
fn a_required_extension_we_lack_is_refused_with_420() {
    let mut h = harness(1800);
    let answers = h.caller_invites_with(
        "2000",
        "Require: precondition, timer\r\nSupported: timer\r\n",
    );
    let refusal = answers
        .iter()
        .find(|m| m.starts_with("SIP/2.0 4"))
        .expect("a refusal");
    assert!(refusal.starts_with("SIP/2.0 420 "), "{refusal}");
    assert!(
        refusal.contains("Unsupported: precondition\r\n"),
        "{refusal}"
    );
    assert_eq!(h.ep.active_calls(), 0);

    // `Require: timer` alone is fine: we support it.
    let mut h = harness(1800);
    let ok = answered(&mut h, "Require: timer\r\nSession-Expires: 600\r\n");
    assert!(
        ok.contains("Session-Expires: 600;refresher=uac\r\n"),
        "{ok}"
    );

    // In a dialog too (a re-INVITE requiring preconditions): 420, and the call goes on.
    let refused = reinvite(&mut h, 2, "Require: precondition\r\n", CALLER_SDP);
    assert!(refused.starts_with("SIP/2.0 420 "), "{refused}");
    assert_eq!(h.ep.active_calls(), 1);
}

#[test]
fn no_timer_for_a_caller_without_support_or_when_turned_off() {
    // A proxy asked for a timer on behalf of a caller that does not support it: we
    // would have to refresh, which we do not, so the call gets no timer.
    let mut h = harness(1800);
    let ok = answered(&mut h, "Session-Expires: 90\r\n");
    assert!(!ok.contains("Session-Expires"), "{ok}");
    h.advance(Duration::from_secs(600));
    assert!(!bye_to_trunk(&mut h));
    assert_eq!(h.ep.active_calls(), 1);

    // `session_expires_secs = 0`: no timers at all, and none supported.
    let mut h = harness(0);
    let ok = answered(&mut h, TIMER);
    assert!(
        !ok.contains("Session-Expires") && !ok.contains("Supported"),
        "{ok}"
    );
    let mut h = harness(0);
    let answers = h.caller_invites_with("2000", "Require: timer\r\n");
    assert!(
        answers
            .iter()
            .any(|m| m.starts_with("SIP/2.0 420 ") && m.contains("Unsupported: timer")),
        "{answers:#?}"
    );
}

#[test]
fn a_caller_that_supports_timers_but_asks_for_none_gets_none() {
    // Imposing one would cut every long call of a gateway that only refreshes the
    // timers it asked for.
    let mut h = harness(1800);
    let ok = answered(&mut h, "Supported: timer\r\n");
    assert!(!ok.contains("Session-Expires"), "{ok}");
    h.advance(Duration::from_secs(4000));
    assert!(!bye_to_trunk(&mut h));
    // An OPTIONS ping lists what we support, and nothing we do not.
    let options = h
        .caller_request("OPTIONS", 5, "")
        .replace(&format!(";tag={}", h.caller_tag), "");
    h.sip_from(TRUNK, &options);
    let answer = h.take_to(TRUNK).pop().expect("an answer to OPTIONS");
    assert!(answer.contains("Supported: timer\r\n"), "{answer}");
}

#[test]
fn a_refresh_by_update_is_taken_too_though_update_is_not_in_our_allow() {
    let mut h = harness(1800);
    let ok = answered(&mut h, "Supported: timer\r\nSession-Expires: 90\r\n");
    assert!(!header(&ok, "Allow").contains("UPDATE"), "{ok}");
    h.advance(Duration::from_secs(40));
    let update = h.caller_request("UPDATE", 2, "Supported: timer\r\nSession-Expires: 90\r\n");
    h.sip_from(TRUNK, &update);
    let answer = h
        .take_to(TRUNK)
        .into_iter()
        .find(|m| m.starts_with("SIP/2.0 "))
        .expect("an answer to the UPDATE");
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    assert!(
        answer.contains("Session-Expires: 90;refresher=uac\r\n"),
        "{answer}"
    );
    assert!(!answer.contains("m=audio"), "no offer, no answer: {answer}");
    // The session now runs from the UPDATE: 40 + 60 s, not 60 s from the answer.
    h.advance(Duration::from_secs(59));
    assert!(!bye_to_trunk(&mut h));
    h.advance(Duration::from_secs(2));
    assert!(bye_to_trunk(&mut h));
}

#[test]
fn a_trunk_requiring_100rel_is_answered_with_no_provisional_but_100() {
    // RFC 3262 §3 asks that every provisional response but 100 be reliable: we send
    // none, so the ring before the answer is silent and the call goes ahead.
    let mut h = H::new("10.0.0.0/8", WAITING_MENU);
    h.ep.set_server_config(ServerConfig {
        trunks: vec!["10.0.0.0/8".parse().unwrap()],
        ring_before_answer_ms: 2000,
        ..ServerConfig::default()
    });
    let answers = h.caller_invites_with("2000", "Require: 100rel\r\nSupported: 100rel\r\n");
    assert!(
        answers
            .iter()
            .all(|m| !m.starts_with("SIP/2.0 18") && !m.starts_with("SIP/2.0 4")),
        "{answers:#?}"
    );
    h.advance(Duration::from_secs(2));
    assert!(
        h.take_to(TRUNK)
            .iter()
            .any(|m| m.starts_with("SIP/2.0 200")),
        "answered after the ring"
    );
    // Without the requirement the ring is a 180, as before.
    let mut h = H::new("10.0.0.0/8", WAITING_MENU);
    h.ep.set_server_config(ServerConfig {
        trunks: vec!["10.0.0.0/8".parse().unwrap()],
        ring_before_answer_ms: 2000,
        ..ServerConfig::default()
    });
    let answers = h.caller_invites_with("2000", "Supported: 100rel\r\n");
    assert!(
        answers.iter().any(|m| m.starts_with("SIP/2.0 180")),
        "{answers:#?}"
    );
}
