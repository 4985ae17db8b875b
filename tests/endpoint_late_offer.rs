//! A caller's INVITE without SDP (a "delayed offer", RFC 3261 §13.2.1) through the
//! sans-IO endpoint: our 200 carries the offer, the caller's ACK the answer, and the
//! stream opens with what the answer chose; an ACK without a usable answer ends the
//! call with BYE.

mod flows;

use flows::*;
use switchboard::call::{MediaCommand, Outcome};
use switchboard::endpoint::{CallEvent, EndCause};
use switchboard::model::CallOutcome;

fn harness() -> H {
    H::new("10.0.0.0/8", WAITING_MENU)
}

/// The trunk's INVITE with no body; our 200 to it.
fn invite_without_offer(h: &mut H) -> String {
    let invite = format!(
        "INVITE sip:2000@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKlo1\r\nFrom: <sip:5551234@10.0.0.1>;tag=t1\r\nTo: <sip:2000@127.0.0.1>\r\nCall-ID: caller-1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{TRUNK}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    h.sip_from(TRUNK, &invite);
    let ok = h
        .take_to(TRUNK)
        .into_iter()
        .find(|m| m.starts_with("SIP/2.0 200"))
        .expect("answered, with our offer");
    h.caller_tag = header(&ok, "To").split("tag=").nth(1).unwrap().to_string();
    ok
}

fn ack_with(h: &mut H, sdp: &str) {
    let ack = h.caller_request_with_sdp("ACK", 1, "", sdp);
    h.sip_from(TRUNK, &ack);
}

fn opened(h: &H) -> Vec<&MediaCommand> {
    h.media
        .iter()
        .filter(|m| matches!(m, MediaCommand::Open { .. }))
        .collect()
}

fn outcome(h: &H) -> Option<Outcome> {
    h.events.iter().find_map(|e| match e {
        CallEvent::Ended { outcome, .. } => Some(outcome.clone()),
        _ => None,
    })
}

#[test]
fn our_offer_goes_in_the_200_and_the_acks_answer_opens_the_stream() {
    let mut h = harness();
    let ok = invite_without_offer(&mut h);
    assert!(ok.contains("Content-Type: application/sdp"), "{ok}");
    assert!(ok.contains("m=audio "), "{ok}");
    assert!(
        ok.contains(" RTP/AVP 0 8 101\r\n"),
        "every codec we speak: {ok}"
    );
    assert!(ok.contains("a=rtpmap:101 telephone-event/8000"), "{ok}");
    assert!(opened(&h).is_empty(), "nowhere to send before the answer");

    // The caller picks PCMA and gives its address in the ACK.
    let answer = "v=0\r\no=trunk 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.44\r\nt=0 0\r\nm=audio 4400 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    ack_with(&mut h, answer);
    let open = opened(&h);
    assert_eq!(open.len(), 1);
    let MediaCommand::Open { params, .. } = open[0] else {
        unreachable!()
    };
    assert_eq!(params.remote, Some("10.0.0.44:4400".parse().unwrap()));
    assert_eq!(params.pt, 8);
    assert_eq!(params.te_pt, Some(101));
    // The IVR runs: the menu's prompt plays.
    assert_eq!(
        h.last_play().map(|p| p.1),
        Some(vec!["main_menu".to_string()])
    );

    // A re-INVITE later gets an answer, which is not the offer the 200 carried: its
    // o= version moves on (RFC 3264 §8).
    let reinvite = h.caller_request_with_sdp("INVITE", 2, "", answer);
    h.sip_from(TRUNK, &reinvite);
    let ok2 = h
        .take_to(TRUNK)
        .into_iter()
        .find(|m| m.starts_with("SIP/2.0 200"))
        .expect("200 to the re-INVITE");
    let version = |m: &str| {
        m.lines()
            .find(|l| l.starts_with("o="))
            .and_then(|l| l.split(' ').nth(2))
            .map(str::to_string)
    };
    assert_eq!(version(&ok).as_deref(), Some("1"));
    assert_eq!(version(&ok2).as_deref(), Some("2"), "{ok2}");
}

#[test]
fn an_ack_without_an_answer_ends_the_call_with_bye() {
    let mut h = harness();
    invite_without_offer(&mut h);
    let ack = h.caller_request("ACK", 1, "");
    h.sip_from(TRUNK, &ack);
    assert!(opened(&h).is_empty());
    let sent = h.take_to(TRUNK);
    assert!(sent.iter().any(|m| m.starts_with("BYE ")), "{sent:#?}");
    assert!(matches!(h.ended(), Some(EndCause::MediaFailed(_))));
    assert_eq!(outcome(&h).map(|o| o.outcome), Some(CallOutcome::Failed));
}

#[test]
fn an_answer_with_no_codec_of_ours_ends_the_call_too() {
    let mut h = harness();
    invite_without_offer(&mut h);
    let g729 = "v=0\r\no=trunk 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.44\r\nt=0 0\r\nm=audio 4400 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
    ack_with(&mut h, g729);
    assert!(opened(&h).is_empty());
    assert!(h.take_to(TRUNK).iter().any(|m| m.starts_with("BYE ")));
}

#[test]
fn the_answer_to_our_re_offer_in_the_ack_moves_the_media() {
    // A delayed-offer trunk moves the call (a transfer on its side): an offerless
    // re-INVITE, our current SDP as the offer, its answer with a new address in the ACK.
    let mut h = harness();
    invite_without_offer(&mut h);
    let answer = "v=0\r\no=trunk 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.44\r\nt=0 0\r\nm=audio 4400 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    ack_with(&mut h, answer);
    let reinvite = h.caller_request("INVITE", 2, "");
    h.sip_from(TRUNK, &reinvite);
    let ok = h
        .take_to(TRUNK)
        .into_iter()
        .find(|m| m.starts_with("SIP/2.0 200"))
        .expect("200 to the re-INVITE");
    assert!(ok.contains("m=audio "), "our offer: {ok}");
    let moved = "v=0\r\no=trunk 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.77\r\nt=0 0\r\nm=audio 7700 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    let ack = h.caller_request_with_sdp("ACK", 2, "", moved);
    h.sip_from(TRUNK, &ack);
    let update = h.media.iter().rev().find_map(|m| match m {
        MediaCommand::Update { params, .. } => Some(params.clone()),
        _ => None,
    });
    assert_eq!(
        update.and_then(|p| p.remote),
        Some("10.0.0.77:7700".parse().unwrap())
    );
}

fn answer_to(h: &mut H) -> String {
    h.take_to(TRUNK)
        .into_iter()
        .find(|m| m.starts_with("SIP/2.0 "))
        .expect("an answer")
}

fn origin_version(m: &str) -> u64 {
    m.lines()
        .find(|l| l.starts_with("o="))
        .and_then(|l| l.split(' ').nth(2))
        .and_then(|v| v.parse().ok())
        .expect("an o= line")
}

#[test]
fn a_resume_without_sdp_after_hold_is_offered_sendrecv_and_its_ack_alone_counts() {
    let mut h = harness();
    h.caller_answered("2000");
    // The trunk holds the call...
    let hold = CALLER_SDP.replace("o=trunk 1 1", "o=trunk 1 2") + "a=sendonly\r\n";
    h.sip_from(TRUNK, &h.caller_request_with_sdp("INVITE", 2, "", &hold));
    let held = answer_to(&mut h);
    assert!(held.contains("a=recvonly"), "{held}");
    h.sip_from(TRUNK, &h.caller_request("ACK", 2, ""));
    // ...and resumes with a re-INVITE without SDP: our offer must let it.
    h.sip_from(TRUNK, &h.caller_request("INVITE", 3, ""));
    let offer = answer_to(&mut h);
    assert!(offer.contains("a=sendrecv"), "RFC 6337 §5: {offer}");
    assert!(origin_version(&offer) > origin_version(&held), "{offer}");
    // While our offer waits for its answer, a new offer gets 491 (RFC 3264 §4).
    h.sip_from(
        TRUNK,
        &h.caller_request_with_sdp("UPDATE", 4, "", CALLER_SDP),
    );
    assert!(answer_to(&mut h).starts_with("SIP/2.0 491"));
    // A late copy of the hold's ACK changes nothing; the resume's ACK does.
    let before = h.media.len();
    let late = h.caller_request_with_sdp("ACK", 2, "", &hold);
    h.sip_from(TRUNK, &late);
    let resume = CALLER_SDP.replace("o=trunk 1 1", "o=trunk 1 3");
    h.sip_from(TRUNK, &h.caller_request_with_sdp("ACK", 3, "", &resume));
    let update = h.media[before..].iter().find_map(|m| match m {
        MediaCommand::Update { params, .. } => Some(params.clone()),
        _ => None,
    });
    assert_eq!(update.map(|p| p.hold), Some(false), "off hold");
}
