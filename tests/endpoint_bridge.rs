//! Bridged call flows through the sans-IO endpoint on a virtual clock: the caller's
//! leg, the outbound legs to managers' phones, failover, ring-all, transfer. Every
//! SIP message either side sends is checked as text.

mod flows;

use std::time::Duration;

use flows::*;
use switchboard::call::{CallKey, MediaCommand, MediaEvent};
use switchboard::endpoint::{CallEvent, EndCause};
use switchboard::store::{CallbackReason, RingOutcome};

const PLAN: &str = r#"
[[numbers]]
number = "1000"
source = "google-ads"
action = "department:sales"

[[numbers]]
number = "2000"
source = "vip"
action = "department:team"

[[numbers]]
number = "3000"
source = "support-line"
action = "department:support"

[departments.sales]
members = ["andrew", "elena"]
strategy = "round-robin"
ring_timeout_secs = 10
overflow = "hangup"

[departments.team]
members = ["andrew", "elena"]
strategy = "ring-all"
ring_timeout_secs = 15
overflow = "hangup"

[departments.support]
members = ["sofia"]
overflow = "hangup"

[managers.andrew]
extension = "101"
name = "Andrew Smith"
contact = "sip:101@10.0.0.5:5060"

[managers.elena]
extension = "102"
contact = "sip:102@10.0.0.6:5060"

[managers.sofia]
extension = "104"
contact = "sip:104@10.0.0.7:5060"

[transfer]
code = "*2"
keys = { "3" = "department:support" }
"#;

#[test]
fn a_department_call_rings_the_first_member_and_bridges_on_answer() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.caller_calls("1000");
    let invite = h.request_to(ANDREW, "INVITE");
    assert!(
        invite.starts_with("INVITE sip:101@10.0.0.5:5060 SIP/2.0"),
        "{invite}"
    );
    // The phone shows who calls and why.
    assert_eq!(
        header(&invite, "From").split(";tag").next().unwrap(),
        "\"Alice\" <sip:5551234@127.0.0.1:5060>"
    );
    assert_eq!(
        header(&invite, "P-Asserted-Identity"),
        "\"Alice\" <sip:5551234@127.0.0.1:5060>"
    );
    assert_eq!(header(&invite, "X-Switchboard-Source"), "google-ads");
    assert_eq!(header(&invite, "X-Switchboard-Department"), "sales");
    assert_eq!(header(&invite, "X-Switchboard-Dialled"), "1000");
    assert_eq!(header(&invite, "X-Switchboard-Call-ID"), "caller-1");
    assert!(
        invite.contains("m=audio") && invite.contains("RTP/AVP 0 8 101"),
        "caller's law first: {invite}"
    );
    assert_eq!(
        h.last_play().unwrap().1,
        vec!["ringback"],
        "the caller hears ringback"
    );

    h.sip_from(ANDREW, &reply(&invite, "180 Ringing", "a1", None));
    h.sip_from(
        ANDREW,
        &reply(&invite, "200 OK", "a1", Some(&phone_sdp(30000, 0))),
    );
    let ack = h.request_to(ANDREW, "ACK");
    assert!(
        ack.starts_with("ACK sip:phone@10.0.0.5:5060 SIP/2.0"),
        "{ack}"
    );
    assert!(header(&ack, "CSeq").starts_with("1 ACK"));
    assert_eq!(h.connected().as_deref(), Some("andrew"));
    let caller = h.caller_key();
    let (leg, remote) = h
        .media
        .iter()
        .find_map(|m| match m {
            MediaCommand::Open { call, params, .. } if *call != caller => {
                Some((*call, params.remote))
            }
            _ => None,
        })
        .expect("the manager's leg media is opened");
    assert_eq!(remote, Some("10.0.0.5:30000".parse().unwrap()));
    assert!(
        h.media
            .contains(&MediaCommand::Bridge { a: caller, b: leg })
    );
    assert_eq!(
        h.attempts,
        vec![("andrew".to_string(), RingOutcome::Answered)]
    );
    let state = |h: &H, name: &str| {
        h.ep.manager_status(&h.plan, h.wall)
            .into_iter()
            .find(|m| m.name == name)
            .map(|m| m.state)
    };
    assert_eq!(state(&h, "andrew"), Some("talking"));
    assert_eq!(
        state(&h, "elena"),
        Some("free"),
        "static contact: reachable"
    );

    // A retransmitted 200 (our ACK was lost) is ACKed again.
    h.sip_from(
        ANDREW,
        &reply(&invite, "200 OK", "a1", Some(&phone_sdp(30000, 0))),
    );
    assert!(h.take_to(ANDREW).iter().any(|m| m.starts_with("ACK ")));

    // The caller hangs up: the manager's leg gets BYE.
    let bye = h.caller_request("BYE", 2, "");
    h.sip_from(TRUNK, &bye);
    assert!(h.take_to(TRUNK)[0].starts_with("SIP/2.0 200 OK"));
    let bye = h.request_to(ANDREW, "BYE");
    h.sip_from(ANDREW, &reply(&bye, "200 OK", "a1", None));
    assert_eq!(h.ended(), Some(EndCause::CallerHungUp));
    assert!(h.media.contains(&MediaCommand::Close { call: leg }));
    assert_eq!(state(&h, "andrew"), Some("free"));
    h.assert_clean();
}

#[test]
fn no_answer_fails_over_to_the_next_member_and_busy_everywhere_overflows() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.caller_calls("1000");
    let first = h.request_to(ANDREW, "INVITE");
    h.sip_from(ANDREW, &reply(&first, "180 Ringing", "a1", None));
    h.advance(Duration::from_secs(10));
    // Andrew's 10 s are up: CANCEL him, ring Elena.
    let cancel = h.request_to(ANDREW, "CANCEL");
    let second = h.request_to(ELENA, "INVITE");
    h.sip_from(ANDREW, &reply(&cancel, "200 OK", "a1", None));
    h.sip_from(ANDREW, &reply(&first, "487 Request Terminated", "a1", None));
    assert!(
        h.take_to(ANDREW).iter().any(|m| m.starts_with("ACK ")),
        "non-2xx ACK by the transaction"
    );
    // Elena is busy: nobody left → the department's overflow (hang up).
    h.sip_from(ELENA, &reply(&second, "486 Busy Here", "e1", None));
    assert_eq!(
        h.attempts,
        vec![
            ("andrew".to_string(), RingOutcome::NoAnswer),
            ("elena".to_string(), RingOutcome::Busy)
        ]
    );
    // The caller is told their request was received, then the call ends; the request
    // is in the sales callback queue.
    let (play, prompts) = h.last_play().unwrap();
    assert_eq!(prompts, vec!["callback_confirm", "goodbye"]);
    h.finish_play(play);
    let bye = h.request_to(TRUNK, "BYE");
    h.sip_from(TRUNK, &reply(&bye, "200 OK", "t1", None));
    assert!(matches!(h.ended(), Some(EndCause::PlanEnded(_))));
    assert_eq!(h.connected(), None);
    assert_eq!(h.callbacks.len(), 1);
    assert_eq!(h.callbacks[0].department, "sales");
    assert_eq!(h.callbacks[0].reason, CallbackReason::NobodyAnswered);
    assert_eq!(h.callbacks[0].caller, "5551234");
    assert_eq!(h.callbacks[0].source, "google-ads");
    h.assert_clean();
}

#[test]
fn ring_all_bridges_the_first_to_answer_and_cancels_the_others() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    let (to_andrew, to_elena) = ring_all_ringing(&mut h);
    h.sip_from(ELENA, &reply(&to_elena, "180 Ringing", "e1", None));
    h.sip_from(
        ELENA,
        &reply(&to_elena, "200 OK", "e1", Some(&phone_sdp(31000, 8))),
    );
    assert_eq!(h.connected().as_deref(), Some("elena"));
    let cancel = h.request_to(ANDREW, "CANCEL");
    // RFC 3326: Andrew's phone is told a colleague took it, and files no missed call.
    assert_eq!(
        header(&cancel, "Reason"),
        "SIP;cause=200;text=\"Call completed elsewhere\""
    );
    h.sip_from(ANDREW, &reply(&cancel, "200 OK", "a1", None));
    h.sip_from(
        ANDREW,
        &reply(&to_andrew, "487 Request Terminated", "a1", None),
    );
    let mut attempts = h.attempts.clone();
    attempts.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        attempts,
        vec![
            ("andrew".to_string(), RingOutcome::Cancelled),
            ("elena".to_string(), RingOutcome::Answered)
        ]
    );
    // Elena hangs up: the caller gets BYE.
    let bye = phone_request(&to_elena, "BYE", 1, "e1", "");
    h.sip_from(ELENA, &bye);
    assert!(
        h.take_to(ELENA)
            .iter()
            .any(|m| m.starts_with("SIP/2.0 200 OK"))
    );
    let caller_bye = h.request_to(TRUNK, "BYE");
    h.sip_from(TRUNK, &reply(&caller_bye, "200 OK", "t1", None));
    assert_eq!(h.ended(), Some(EndCause::ManagerHungUp));
    h.assert_clean();
}

#[test]
fn a_cancelled_leg_that_answers_anyway_is_acked_and_hung_up() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    let (to_andrew, to_elena) = ring_all_ringing(&mut h);
    h.sip_from(
        ELENA,
        &reply(&to_elena, "200 OK", "e1", Some(&phone_sdp(31000, 0))),
    );
    let _cancel = h.request_to(ANDREW, "CANCEL");
    // Andrew's 200 crossed our CANCEL (RFC 3261 §9.1).
    h.sip_from(
        ANDREW,
        &reply(&to_andrew, "200 OK", "a1", Some(&phone_sdp(30000, 0))),
    );
    let to_andrew_now = h.take_to(ANDREW);
    assert!(
        to_andrew_now.iter().any(|m| m.starts_with("ACK ")),
        "{to_andrew_now:?}"
    );
    assert!(
        to_andrew_now.iter().any(|m| m.starts_with("BYE ")),
        "{to_andrew_now:?}"
    );
    assert_eq!(h.connected().as_deref(), Some("elena"));
}

#[test]
fn caller_hanging_up_while_managers_ring_cancels_them() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    let (to_andrew, to_elena) = ring_all_ringing(&mut h);
    h.sip_from(ELENA, &reply(&to_elena, "180 Ringing", "e1", None));
    let bye = h.caller_request("BYE", 2, "");
    h.sip_from(TRUNK, &bye);
    let c1 = h.request_to(ANDREW, "CANCEL");
    let c2 = h.request_to(ELENA, "CANCEL");
    // Nobody answered: a missed call on both phones, as it should be.
    assert!(!c1.contains("Reason:") && !c2.contains("Reason:"), "{c1}");
    h.sip_from(ANDREW, &reply(&c1, "200 OK", "a1", None));
    h.sip_from(ELENA, &reply(&c2, "200 OK", "e1", None));
    h.sip_from(
        ANDREW,
        &reply(&to_andrew, "487 Request Terminated", "a1", None),
    );
    h.sip_from(
        ELENA,
        &reply(&to_elena, "487 Request Terminated", "e1", None),
    );
    assert_eq!(h.ended(), Some(EndCause::CallerHungUp));
    assert_eq!(h.attempts.len(), 2);
    assert!(h.attempts.iter().all(|(_, o)| *o == RingOutcome::Cancelled));
    h.assert_clean();
}

#[test]
fn refer_transfers_the_caller_to_another_department_with_context() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.caller_calls("1000");
    let invite = h.request_to(ANDREW, "INVITE");
    h.sip_from(
        ANDREW,
        &reply(&invite, "200 OK", "a1", Some(&phone_sdp(30000, 0))),
    );
    h.take_to(ANDREW);
    let refer = phone_request(
        &invite,
        "REFER",
        1,
        "a1",
        "Refer-To: <sip:support@127.0.0.1>\r\nReferred-By: <sip:101@10.0.0.5>\r\n",
    );
    h.sip_from(ANDREW, &refer);
    let to_andrew = h.take_to(ANDREW);
    assert!(
        to_andrew[0].starts_with("SIP/2.0 202 Accepted"),
        "{to_andrew:?}"
    );
    let notify = to_andrew
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("NOTIFY");
    assert_eq!(header(notify, "Event"), "refer");
    assert!(notify.ends_with("SIP/2.0 200 OK\r\n"), "{notify}");
    // The phone hangs up itself on the NOTIFY (RFC 5589 §6): no BYE from us yet, and
    // its BYE gets 200, not 481.
    assert!(
        !to_andrew.iter().any(|m| m.starts_with("BYE ")),
        "{to_andrew:?}"
    );
    h.sip_from(ANDREW, &phone_request(&invite, "BYE", 2, "a1", ""));
    let to_andrew = h.take_to(ANDREW);
    assert!(
        to_andrew.iter().any(|m| m.starts_with("SIP/2.0 200")),
        "{to_andrew:?}"
    );
    assert!(h.events.iter().any(|e| matches!(e, CallEvent::Transferred { from, to, .. } if from == "andrew" && to == "department:support")));
    // The caller hears the announcement, then Sofia's phone rings with the context.
    let key = h.caller_key();
    let play = h.last_play().unwrap();
    h.ep.handle_media_event(
        h.now,
        h.wall,
        key,
        MediaEvent::PlaybackFinished {
            play_id: play.0,
            ended: h.now,
        },
    );
    h.drain();
    let to_sofia = h.request_to(SOFIA, "INVITE");
    assert_eq!(header(&to_sofia, "X-Switchboard-Source"), "google-ads");
    assert_eq!(header(&to_sofia, "X-Switchboard-Department"), "support");
    assert!(
        header(&to_sofia, "X-Switchboard-Reason").starts_with("transferred by andrew"),
        "{to_sofia}"
    );
    assert_eq!(header(&to_sofia, "X-Switchboard-Call-ID"), "caller-1");
    // A REFER to anything outside the plan is refused.
    h.sip_from(
        SOFIA,
        &reply(&to_sofia, "200 OK", "s1", Some(&phone_sdp(32000, 0))),
    );
    let evil = phone_request(
        &to_sofia,
        "REFER",
        1,
        "s1",
        "Refer-To: <sip:+19005551234@evil.example>\r\n",
    );
    h.sip_from(SOFIA, &evil);
    assert!(
        h.take_to(SOFIA)
            .iter()
            .any(|m| m.starts_with("SIP/2.0 404"))
    );
}

#[test]
fn after_refer_a_phone_that_does_not_hang_up_gets_our_bye_after_the_grace() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.caller_calls("1000");
    let invite = h.request_to(ANDREW, "INVITE");
    h.sip_from(
        ANDREW,
        &reply(&invite, "200 OK", "a1", Some(&phone_sdp(30000, 0))),
    );
    h.take_to(ANDREW);
    let refer = phone_request(
        &invite,
        "REFER",
        1,
        "a1",
        "Refer-To: <sip:support@127.0.0.1>\r\n",
    );
    h.sip_from(ANDREW, &refer);
    assert!(!h.take_to(ANDREW).iter().any(|m| m.starts_with("BYE ")));
    h.advance(Duration::from_millis(2900));
    assert!(!h.take_to(ANDREW).iter().any(|m| m.starts_with("BYE ")));
    h.advance(Duration::from_millis(200));
    let bye = h.request_to(ANDREW, "BYE");
    assert!(
        bye.starts_with("BYE sip:phone@10.0.0.5:5060 SIP/2.0"),
        "{bye}"
    );
    // A BYE of the phone's crossing ours still gets 200.
    h.sip_from(ANDREW, &phone_request(&invite, "BYE", 2, "a1", ""));
    assert!(
        h.take_to(ANDREW)
            .iter()
            .any(|m| m.starts_with("SIP/2.0 200"))
    );
}

#[test]
fn the_transfer_feature_code_pressed_by_the_manager_moves_the_call() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.caller_calls("1000");
    let invite = h.request_to(ANDREW, "INVITE");
    h.sip_from(
        ANDREW,
        &reply(&invite, "200 OK", "a1", Some(&phone_sdp(30000, 0))),
    );
    let caller = h.caller_key();
    let leg = h
        .media
        .iter()
        .find_map(|m| match m {
            MediaCommand::Open { call, .. } if *call != caller => Some(*call),
            _ => None,
        })
        .unwrap();
    // The media plane is told to hold back the manager's keys that may be a code.
    assert!(h.media.contains(&MediaCommand::FeatureCodes {
        call: leg,
        codes: vec!["*23".into()],
        timeout: Duration::from_secs(2),
    }));
    // It reports each RFC 4733 key (not a transfer by itself), then the code.
    for d in ['*', '2', '3'] {
        h.ep.handle_media_event(
            h.now,
            h.wall,
            leg,
            MediaEvent::Digit {
                digit: d,
                source: switchboard::call::DigitSource::Rfc4733,
            },
        );
        h.drain();
    }
    assert!(!h.take_to(ANDREW).iter().any(|m| m.starts_with("BYE ")));
    h.ep.handle_media_event(
        h.now,
        h.wall,
        leg,
        MediaEvent::FeatureCode { code: "*23".into() },
    );
    h.drain();
    assert!(h.take_to(ANDREW).iter().any(|m| m.starts_with("BYE ")));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, CallEvent::Transferred { to, .. } if to == "department:support"))
    );
    // The phone did not know and hung up at the same moment: 200, not 481.
    h.sip_from(ANDREW, &phone_request(&invite, "BYE", 2, "a1", ""));
    let to_andrew = h.take_to(ANDREW);
    assert!(
        to_andrew.iter().any(|m| m.starts_with("SIP/2.0 200")),
        "{to_andrew:?}"
    );
}

fn info_digit(invite: &str, cseq: u32, digit: char) -> String {
    let body = format!("Signal={digit}\r\nDuration=160\r\n");
    phone_request(
        invite,
        "INFO",
        cseq,
        "a1",
        &format!(
            "Content-Type: application/dtmf-relay\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .replacen("Content-Length: 0\r\n\r\n", "", 1)
}

#[test]
fn the_feature_code_by_sip_info_transfers_only_within_the_digit_timeout() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.caller_calls("1000");
    let invite = h.request_to(ANDREW, "INVITE");
    h.sip_from(
        ANDREW,
        &reply(&invite, "200 OK", "a1", Some(&phone_sdp(30000, 0))),
    );
    h.take_to(ANDREW);
    // "*2", a pause longer than [transfer] digit_timeout_ms (2 s), "3": no transfer.
    h.sip_from(ANDREW, &info_digit(&invite, 2, '*'));
    h.sip_from(ANDREW, &info_digit(&invite, 3, '2'));
    h.advance(Duration::from_millis(2500));
    h.sip_from(ANDREW, &info_digit(&invite, 4, '3'));
    assert!(!h.take_to(ANDREW).iter().any(|m| m.starts_with("BYE ")));
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, CallEvent::Transferred { .. }))
    );
    // Within the timeout it transfers.
    h.sip_from(ANDREW, &info_digit(&invite, 5, '*'));
    h.advance(Duration::from_millis(1500));
    h.sip_from(ANDREW, &info_digit(&invite, 6, '2'));
    h.advance(Duration::from_millis(1500));
    h.sip_from(ANDREW, &info_digit(&invite, 7, '3'));
    assert!(h.take_to(ANDREW).iter().any(|m| m.starts_with("BYE ")));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, CallEvent::Transferred { to, .. } if to == "department:support"))
    );
}

#[test]
fn invites_from_outside_the_trunks_get_403() {
    let mut h = H::new("192.0.2.0/24", PLAN);
    let invite = format!(
        "INVITE sip:1000@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKx\r\nFrom: <sip:5551234@10.0.0.1>;tag=t1\r\nTo: <sip:1000@127.0.0.1>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContact: <sip:a@{TRUNK}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{CALLER_SDP}",
        CALLER_SDP.len()
    );
    h.sip_from(TRUNK, &invite);
    let sent = h.take_to(TRUNK);
    assert!(
        sent.iter().any(|m| m.starts_with("SIP/2.0 403")),
        "{sent:?}"
    );
    assert_eq!(h.ep.active_calls(), 0);
}

/// A call to the ring-all department: both phones get the INVITE (returned) and
/// andrew's rings.
fn ring_all_ringing(h: &mut H) -> (String, String) {
    h.caller_calls("2000");
    let to_andrew = h.request_to(ANDREW, "INVITE");
    let to_elena = h.request_to(ELENA, "INVITE");
    h.sip_from(ANDREW, &reply(&to_andrew, "180 Ringing", "a1", None));
    (to_andrew, to_elena)
}

/// Bridged with andrew; returns the leg's media key.
fn bridged_with_andrew(h: &mut H) -> (String, CallKey) {
    h.caller_calls("1000");
    let invite = h.request_to(ANDREW, "INVITE");
    h.sip_from(
        ANDREW,
        &reply(&invite, "200 OK", "a1", Some(&phone_sdp(30000, 0))),
    );
    h.take_to(ANDREW);
    let caller = h.caller_key();
    let leg = h
        .media
        .iter()
        .find_map(|m| match m {
            MediaCommand::Open { call, .. } if *call != caller => Some(*call),
            _ => None,
        })
        .unwrap();
    (invite, leg)
}

#[test]
fn the_manager_holding_the_call_plays_hold_music_to_the_caller() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    let (invite, leg) = bridged_with_andrew(&mut h);
    let caller = h.caller_key();
    let sdp = phone_sdp(30000, 0).replace(
        "telephone-event/8000\r\n",
        "telephone-event/8000\r\na=sendonly\r\n",
    );
    let hold = phone_request(
        &invite,
        "INVITE",
        2,
        "a1",
        "Content-Type: application/sdp\r\n",
    )
    .replace(
        "Content-Length: 0\r\n\r\n",
        &format!("Content-Length: {}\r\n\r\n{sdp}", sdp.len()),
    );
    h.sip_from(ANDREW, &hold);
    let sent = h.take_to(ANDREW);
    let answer = sent
        .iter()
        .find(|m| m.starts_with("SIP/2.0 200 OK"))
        .expect("200 OK");
    assert!(answer.contains("a=recvonly"), "{answer}");
    assert!(h.media.contains(&MediaCommand::Unbridge { call: caller }));
    assert_eq!(h.last_play().unwrap().1, vec!["hold_music"]);
    // Off hold: bridged again.
    let sdp = phone_sdp(30000, 0);
    let unhold = phone_request(
        &invite,
        "INVITE",
        3,
        "a1",
        "Content-Type: application/sdp\r\n",
    )
    .replace(
        "Content-Length: 0\r\n\r\n",
        &format!("Content-Length: {}\r\n\r\n{sdp}", sdp.len()),
    );
    h.media.clear();
    h.sip_from(ANDREW, &unhold);
    assert!(
        h.media
            .contains(&MediaCommand::Bridge { a: caller, b: leg }),
        "{:?}",
        h.media
    );
}

#[test]
fn silence_on_the_manager_leg_ends_both_legs() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    let (_invite, leg) = bridged_with_andrew(&mut h);
    h.ep.handle_media_event(h.now, h.wall, leg, MediaEvent::RtpTimeout);
    h.drain();
    assert!(h.take_to(ANDREW).iter().any(|m| m.starts_with("BYE ")));
    assert!(h.take_to(TRUNK).iter().any(|m| m.starts_with("BYE ")));
    assert_eq!(h.ended(), Some(EndCause::RtpTimeout));
}

#[test]
fn a_transfer_nobody_takes_lands_in_the_callback_queue() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    let (invite, _leg) = bridged_with_andrew(&mut h);
    let refer = phone_request(
        &invite,
        "REFER",
        1,
        "a1",
        "Refer-To: <sip:support@127.0.0.1>\r\n",
    );
    h.sip_from(ANDREW, &refer);
    let play = h.last_play().unwrap();
    h.finish_play(play.0);
    let to_sofia = h.request_to(SOFIA, "INVITE");
    h.sip_from(SOFIA, &reply(&to_sofia, "486 Busy Here", "s1", None));
    // "We received your call", goodbye, and the request is filed when the call ends.
    let (play, prompts) = h.last_play().unwrap();
    assert_eq!(prompts, vec!["callback_confirm", "goodbye"]);
    h.finish_play(play);
    assert_eq!(h.callbacks.len(), 1, "{:?}", h.callbacks);
    assert_eq!(h.callbacks[0].department, "support");
    assert_eq!(h.callbacks[0].reason, CallbackReason::NobodyAnswered);
}

/// Issue 12: one manager busy, three callers queue one after another; when the
/// manager frees, the first in line is rung within the same event (no polling), and
/// so on in arrival order. A caller arriving as the manager frees waits behind.
#[test]
fn queued_callers_are_served_in_arrival_order_the_moment_the_manager_frees() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    // Caller 1 reaches sofia (support's only member) and talks.
    h.caller_n_calls(1, "3000");
    let invite = h.request_to(SOFIA, "INVITE");
    assert_eq!(header(&invite, "X-Switchboard-Call-ID"), "caller-1");
    h.sip_from(
        SOFIA,
        &reply(&invite, "200 OK", "s1", Some(&phone_sdp(30000, 0))),
    );
    assert_eq!(h.connected().as_deref(), Some("sofia"));
    let _ack = h.take_to(SOFIA);
    // Callers 2, 3, 4 queue, 0.7 s apart.
    let mut queued = Vec::new();
    for n in 2..=4 {
        h.advance(Duration::from_millis(700));
        queued.push(h.caller_n_calls(n, "3000"));
        assert!(h.take_to(SOFIA).is_empty(), "sofia is busy");
    }
    assert_eq!(h.ep.connector().queue("support"), queued);
    // Each time sofia hangs up, the next caller in line is rung in the same step.
    let mut current = invite;
    for n in 2..=4 {
        h.sip_from(SOFIA, &phone_request(&current, "BYE", 2, "s1", ""));
        let next = h.request_to(SOFIA, "INVITE");
        assert_eq!(
            header(&next, "X-Switchboard-Call-ID"),
            format!("caller-{n}"),
            "arrival order"
        );
        if n == 2 {
            // A caller arriving right now waits behind the ones already queued.
            h.caller_n_calls(5, "3000");
            assert!(h.take_to(SOFIA).iter().all(|m| !m.starts_with("INVITE")));
        }
        h.sip_from(
            SOFIA,
            &reply(&next, "200 OK", "s1", Some(&phone_sdp(30000, 0))),
        );
        let _ = h.take_to(SOFIA);
        current = next;
    }
    h.sip_from(SOFIA, &phone_request(&current, "BYE", 2, "s1", ""));
    let next = h.request_to(SOFIA, "INVITE");
    assert_eq!(header(&next, "X-Switchboard-Call-ID"), "caller-5");
}
