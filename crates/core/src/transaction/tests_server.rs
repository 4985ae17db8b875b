//! Server-side behaviour of the layer on a virtual clock (never sleeps).

use std::time::Instant;

use super::test_util::*;
use super::{ServerInviteState, ServerKey, TuEvent};
use crate::sip::response::make_response;
use crate::sip::rsip;

/// Receive an INVITE and return its key; asserts the 100 Trying and the Request event.
fn receive_invite(
    layer: &mut super::TransactionLayer,
    now: Instant,
    peer: crate::sip::Peer,
) -> (ServerKey, rsip::Request) {
    let invite = req("INVITE", "z9hG4bKinv1", 1);
    layer.handle_request(now, invite.clone(), peer);
    let sent = transmits(layer);
    assert_eq!(lines(&sent), vec!["SIP/2.0 100 Trying"]);
    assert_eq!(sent[0].peer, peer);
    let evs = events(layer);
    assert_eq!(evs.len(), 1);
    let TuEvent::Request { key, req, peer: p } = evs.into_iter().next().unwrap() else {
        panic!("expected a Request event");
    };
    assert_eq!(p, peer);
    (key, req)
}

/// §17.2.1: an INVITE the TU answers while its input is handled gets no 100 Trying
/// (the answer is already on its way); one the TU leaves waiting gets it once, when the
/// outputs are polled, and a retransmission before that poll does not send it twice.
#[test]
fn the_100_trying_goes_only_to_invites_the_tu_left_unanswered() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = req("INVITE", "z9hG4bKinv1", 1);
    l.handle_request(t0, invite.clone(), udp());
    let Some(TuEvent::Request { key, .. }) = l.poll_event() else {
        panic!("expected a Request event");
    };
    l.send_response(t0, key, make_response(&invite, 200, Some("ivr1")));
    assert_eq!(lines(&transmits(&mut l)), vec!["SIP/2.0 200 OK"]);

    let waiting = req("INVITE", "z9hG4bKinv2", 2);
    l.handle_request(t0, waiting.clone(), udp());
    l.handle_request(t0, waiting, udp());
    assert_eq!(lines(&transmits(&mut l)), vec!["SIP/2.0 100 Trying"]);
    assert!(transmits(&mut l).is_empty(), "the 100 is sent once");
}

#[test]
fn invite_gets_100_and_retransmissions_are_absorbed() {
    let t0 = Instant::now();
    let mut l = layer();
    let (key, invite) = receive_invite(&mut l, t0, udp());
    // Retransmission: the 100 again, no new event.
    l.handle_request(t0 + ms(500), invite.clone(), udp());
    assert_eq!(lines(&transmits(&mut l)), vec!["SIP/2.0 100 Trying"]);
    assert!(events(&mut l).is_empty());
    // After a 180, a retransmission gets the 180.
    l.send_response(
        t0 + ms(600),
        key.clone(),
        make_response(&invite, 180, Some("ivr1")),
    );
    assert_eq!(lines(&transmits(&mut l)), vec!["SIP/2.0 180 Ringing"]);
    l.handle_request(t0 + ms(1000), invite.clone(), udp());
    assert_eq!(lines(&transmits(&mut l)), vec!["SIP/2.0 180 Ringing"]);
    assert!(events(&mut l).is_empty());
    // No timers run while Proceeding: the TU owns the pace.
    assert_eq!(l.poll_timeout(), None);
    l.send_response(
        t0 + ms(2000),
        key,
        make_response(&invite, 486, Some("ivr1")),
    );
    l.handle_request(t0 + ms(2100), req("ACK", "z9hG4bKinv1", 1), udp());
    finish(&mut l, t0);
}

#[test]
fn non_2xx_final_is_retransmitted_by_timer_g_until_timer_h() {
    let t0 = Instant::now();
    let mut l = layer();
    let (key, invite) = receive_invite(&mut l, t0, udp());
    l.send_response(t0, key.clone(), make_response(&invite, 486, Some("ivr1")));
    assert_eq!(lines(&transmits(&mut l)), vec!["SIP/2.0 486 Busy Here"]);
    assert_eq!(
        l.server_invite_state(&key),
        Some(ServerInviteState::Completed)
    );
    let (sent, evs) = run_until(&mut l, t0, t0 + ms(40_000));
    // G: T1 doubling, capped at T2 = 4 s; H at 64·T1 = 32 s.
    let at: Vec<u128> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        at,
        vec![
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert!(sent.iter().all(|(_, line)| line == "SIP/2.0 486 Busy Here"));
    assert_eq!(
        evs,
        vec![(32_000, TuEvent::AckTimeout { key: key.clone() })]
    );
    assert!(l.is_empty());
    finish(&mut l, t0);
}

#[test]
fn ack_for_non_2xx_confirms_and_timer_i_cleans_up() {
    let t0 = Instant::now();
    let mut l = layer();
    let (key, invite) = receive_invite(&mut l, t0, udp());
    l.send_response(t0, key.clone(), make_response(&invite, 404, Some("ivr1")));
    let _ = transmits(&mut l);
    // Retransmitted INVITE in Completed gets the 404 again.
    l.handle_request(t0 + ms(100), invite.clone(), udp());
    assert_eq!(lines(&transmits(&mut l)), vec!["SIP/2.0 404 Not Found"]);
    // The ACK (same branch) is absorbed by the transaction, not passed up.
    let ack = req("ACK", "z9hG4bKinv1", 1);
    l.handle_request(t0 + ms(200), ack.clone(), udp());
    assert!(events(&mut l).is_empty());
    assert_eq!(
        l.server_invite_state(&key),
        Some(ServerInviteState::Confirmed)
    );
    l.handle_request(t0 + ms(300), ack, udp());
    assert!(events(&mut l).is_empty());
    assert!(transmits(&mut l).is_empty());
    // Timer I = T4 = 5 s after the ACK; no retransmissions of the 404 any more.
    let (sent, evs) = run_until(&mut l, t0, t0 + ms(5199));
    assert!(sent.is_empty() && evs.is_empty());
    assert_eq!(l.len(), 1);
    l.handle_timeout(t0 + ms(5200));
    assert!(l.is_empty());
    finish(&mut l, t0);
}

#[test]
fn two_xx_is_retransmitted_until_the_ack() {
    let t0 = Instant::now();
    let mut l = layer();
    let (key, invite) = receive_invite(&mut l, t0, udp());
    l.send_response(t0, key.clone(), make_response(&invite, 200, Some("ivr1")));
    assert_eq!(lines(&transmits(&mut l)), vec!["SIP/2.0 200 OK"]);
    assert_eq!(
        l.server_invite_state(&key),
        Some(ServerInviteState::Accepted)
    );
    let (sent, _) = run_until(&mut l, t0, t0 + ms(8000));
    let at: Vec<u128> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(at, vec![500, 1500, 3500, 7500]);
    // The ACK for a 2xx has its own branch; it is matched by dialog + CSeq.
    let ack = req("ACK", "z9hG4bKack2xx", 1);
    l.handle_request(t0 + ms(8000), ack.clone(), udp());
    assert_eq!(
        events(&mut l),
        vec![TuEvent::Ack {
            req: ack,
            peer: udp()
        }]
    );
    // No more 2xx retransmissions. An INVITE retransmission now is a late copy (the
    // peer ACKed, so it has the 200): absorbed, not answered and not passed up (RFC
    // 6026 §8.5); the transaction no longer keeps the 200 for it.
    let (sent, evs) = run_until(&mut l, t0, t0 + ms(20_000));
    assert!(sent.is_empty() && evs.is_empty());
    l.handle_request(t0 + ms(20_000), invite, udp());
    assert!(transmits(&mut l).is_empty());
    assert!(events(&mut l).is_empty());
    // Timer L (64·T1 after the 200) ends it, with no AckTimeout.
    let (sent, evs) = run_until(&mut l, t0, t0 + ms(40_000));
    assert!(sent.is_empty() && evs.is_empty(), "{evs:?}");
    assert!(l.is_empty());
    finish(&mut l, t0);
}

#[test]
fn two_xx_without_ack_times_out_at_64_t1() {
    let t0 = Instant::now();
    let mut l = layer();
    let (key, invite) = receive_invite(&mut l, t0, udp());
    l.send_response(
        t0 + ms(1000),
        key.clone(),
        make_response(&invite, 200, Some("ivr1")),
    );
    let _ = transmits(&mut l);
    let (sent, evs) = run_until(&mut l, t0, t0 + ms(60_000));
    let at: Vec<u128> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        at,
        vec![
            1500, 2500, 4500, 8500, 12500, 16500, 20500, 24500, 28500, 32500
        ]
    );
    assert_eq!(evs, vec![(33_000, TuEvent::AckTimeout { key })]);
    finish(&mut l, t0);
}

#[test]
fn cancel_before_final_answers_200_and_tells_the_tu() {
    let t0 = Instant::now();
    let mut l = layer();
    let (key, invite) = receive_invite(&mut l, t0, udp());
    l.send_response(t0, key.clone(), make_response(&invite, 180, Some("ivr1")));
    let _ = transmits(&mut l);
    let cancel = req("CANCEL", "z9hG4bKinv1", 1);
    l.handle_request(t0 + ms(100), cancel.clone(), udp());
    let sent = transmits(&mut l);
    assert_eq!(lines(&sent), vec!["SIP/2.0 200 OK"]);
    let text = String::from_utf8_lossy(&sent[0].payload).to_string();
    assert!(text.contains("CSeq: 1 CANCEL"), "{text}");
    assert!(
        text.contains("tag=ivr1"),
        "CANCEL 200 reuses the INVITE's To tag: {text}"
    );
    assert_eq!(
        events(&mut l),
        vec![TuEvent::Cancelled {
            invite: key.clone()
        }]
    );
    // A retransmitted CANCEL gets the 200 again and no second event.
    l.handle_request(t0 + ms(200), cancel, udp());
    assert_eq!(lines(&transmits(&mut l)), vec!["SIP/2.0 200 OK"]);
    assert!(events(&mut l).is_empty());
    // The TU answers 487; the caller ACKs.
    l.send_response(t0 + ms(300), key, make_response(&invite, 487, Some("ivr1")));
    assert_eq!(
        lines(&transmits(&mut l)),
        vec!["SIP/2.0 487 Request Terminated"]
    );
    l.handle_request(t0 + ms(400), req("ACK", "z9hG4bKinv1", 1), udp());
    assert!(events(&mut l).is_empty());
    finish(&mut l, t0);
}

#[test]
fn cancel_after_200_is_answered_but_not_passed_up() {
    let t0 = Instant::now();
    let mut l = layer();
    let (key, invite) = receive_invite(&mut l, t0, udp());
    l.send_response(t0, key.clone(), make_response(&invite, 200, Some("ivr1")));
    let _ = transmits(&mut l);
    l.handle_request(t0 + ms(100), req("CANCEL", "z9hG4bKinv1", 1), udp());
    assert_eq!(lines(&transmits(&mut l)), vec!["SIP/2.0 200 OK"]);
    assert!(events(&mut l).is_empty());
    assert_eq!(
        l.server_invite_state(&key),
        Some(ServerInviteState::Accepted)
    );
    l.handle_request(t0 + ms(200), req("ACK", "z9hG4bKack", 1), udp());
    assert!(matches!(events(&mut l).as_slice(), [TuEvent::Ack { .. }]));
    finish(&mut l, t0);
}

#[test]
fn cancel_matching_nothing_gets_481() {
    let t0 = Instant::now();
    let mut l = layer();
    l.handle_request(t0, req("CANCEL", "z9hG4bKnothing", 1), udp());
    let sent = transmits(&mut l);
    assert_eq!(
        lines(&sent),
        vec!["SIP/2.0 481 Call/Transaction Does Not Exist"]
    );
    assert!(events(&mut l).is_empty());
    // Its transaction absorbs retransmissions until Timer J.
    l.handle_request(t0 + ms(500), req("CANCEL", "z9hG4bKnothing", 1), udp());
    assert_eq!(transmits(&mut l).len(), 1);
    finish(&mut l, t0);
}

#[test]
fn non_invite_server_absorbs_and_timer_j_cleans_up() {
    let t0 = Instant::now();
    let mut l = layer();
    let bye = req("BYE", "z9hG4bKbye1", 2);
    l.handle_request(t0, bye.clone(), udp());
    assert!(transmits(&mut l).is_empty(), "no 100 for non-INVITE");
    let key = match events(&mut l).as_slice() {
        [TuEvent::Request { key, .. }] => key.clone(),
        other => panic!("{other:?}"),
    };
    // Trying: retransmissions are discarded.
    l.handle_request(t0 + ms(500), bye.clone(), udp());
    assert!(transmits(&mut l).is_empty());
    assert!(events(&mut l).is_empty());
    l.send_response(t0 + ms(600), key.clone(), make_response(&bye, 200, None));
    assert_eq!(lines(&transmits(&mut l)), vec!["SIP/2.0 200 OK"]);
    // Completed: the last response is resent; a second final from the TU is ignored.
    l.handle_request(t0 + ms(700), bye, udp());
    assert_eq!(lines(&transmits(&mut l)), vec!["SIP/2.0 200 OK"]);
    l.send_response(t0 + ms(800), key, rsip::Response::default());
    assert!(transmits(&mut l).is_empty());
    // Timer J = 64·T1 after the final.
    l.handle_timeout(t0 + ms(32_599));
    assert_eq!(l.len(), 1);
    l.handle_timeout(t0 + ms(32_600));
    assert!(l.is_empty());
    finish(&mut l, t0);
}

#[test]
fn tcp_has_no_retransmissions_and_cleans_up_at_once() {
    let t0 = Instant::now();
    let mut l = layer();
    // Non-2xx: no Timer G; the ACK ends it at once (Timer I = 0).
    let (key, invite) = receive_invite(&mut l, t0, tcp());
    l.send_response(t0, key.clone(), make_response(&invite, 486, Some("ivr1")));
    assert_eq!(transmits(&mut l).len(), 1);
    let (sent, _) = run_until(&mut l, t0, t0 + ms(10_000));
    assert!(sent.is_empty());
    l.handle_request(t0 + ms(10_000), req("ACK", "z9hG4bKinv1", 1), tcp());
    assert!(l.is_empty());

    // 2xx: no retransmission; the ACK ends it at once.
    let (key, invite) = receive_invite(&mut l, t0, tcp());
    l.send_response(t0, key, make_response(&invite, 200, Some("ivr1")));
    assert_eq!(transmits(&mut l).len(), 1);
    let (sent, _) = run_until(&mut l, t0, t0 + ms(10_000));
    assert!(sent.is_empty());
    l.handle_request(t0 + ms(10_000), req("ACK", "z9hG4bKack", 1), tcp());
    assert!(matches!(events(&mut l).as_slice(), [TuEvent::Ack { .. }]));
    assert!(l.is_empty());

    // Non-INVITE: Timer J = 0.
    let bye = req("BYE", "z9hG4bKbye1", 2);
    l.handle_request(t0, bye.clone(), tcp());
    let TuEvent::Request { key, .. } = events(&mut l).remove(0) else {
        panic!()
    };
    l.send_response(t0, key, make_response(&bye, 200, None));
    assert_eq!(transmits(&mut l).len(), 1);
    assert!(l.is_empty());
    finish(&mut l, t0);
}

#[test]
fn stray_ack_is_passed_up() {
    let t0 = Instant::now();
    let mut l = layer();
    let ack = req("ACK", "z9hG4bKstray", 5);
    l.handle_request(t0, ack.clone(), udp());
    assert_eq!(
        events(&mut l),
        vec![TuEvent::Ack {
            req: ack,
            peer: udp()
        }]
    );
    assert!(l.is_empty());
    finish(&mut l, t0);
}

#[test]
fn rfc2543_peers_without_magic_cookie_still_match() {
    let t0 = Instant::now();
    let mut l = layer();
    let invite = req("INVITE", "oldstyle1", 3);
    l.handle_request(t0, invite.clone(), udp());
    let TuEvent::Request { key, .. } = events(&mut l).remove(0) else {
        panic!()
    };
    let _ = transmits(&mut l);
    l.handle_request(t0 + ms(100), invite.clone(), udp());
    assert!(events(&mut l).is_empty(), "retransmission recognised");
    l.send_response(t0, key, make_response(&invite, 603, Some("ivr1")));
    l.handle_request(t0 + ms(200), req("ACK", "oldstyle1", 3), udp());
    assert!(events(&mut l).is_empty(), "ACK matched to the INVITE");
    // And with no branch at all.
    let text = "OPTIONS sip:ivr@sb.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10\r\n\
                From: <sip:a@b>;tag=1\r\nTo: <sip:ivr@sb.test>\r\nCall-ID: x\r\n\
                CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    l.handle_request(t0, request(text), udp());
    l.handle_request(t0, request(text), udp());
    let evs = events(&mut l);
    assert_eq!(evs.len(), 1);
    let Some(TuEvent::Request { key, req, .. }) = evs.into_iter().next() else {
        panic!()
    };
    l.send_response(t0, key, make_response(&req, 200, Some("ivr1")));
    finish(&mut l, t0 + ms(100));
}

#[test]
fn unkeyable_requests_are_dropped_without_panic() {
    let t0 = Instant::now();
    let mut l = layer();
    let no_via = "OPTIONS sip:ivr@sb.test SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\n\
                  To: <sip:ivr@sb.test>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
    l.handle_request(t0, request(no_via), udp());
    assert!(events(&mut l).is_empty() && transmits(&mut l).is_empty());
    // Responses for unknown transactions are strays, dropped.
    let resp = make_response(&req("BYE", "z9hG4bKunknown", 1), 200, None);
    l.handle_response(t0, resp, udp());
    assert!(events(&mut l).is_empty());
    // A response to a finished transaction is dropped too.
    let key = ServerKey::from_request(&req("BYE", "z9hG4bKgone", 1)).unwrap();
    l.send_response(t0, key, rsip::Response::default());
    assert!(transmits(&mut l).is_empty());
    finish(&mut l, t0);
}

#[test]
fn many_transactions_share_one_heap() {
    let t0 = Instant::now();
    let mut l = layer();
    for i in 0..500u32 {
        let bye = req("BYE", &format!("z9hG4bKmany{i}"), i);
        l.handle_request(t0 + ms(u64::from(i)), bye.clone(), udp());
        let TuEvent::Request { key, .. } = events(&mut l).remove(0) else {
            panic!()
        };
        l.send_response(t0 + ms(u64::from(i)), key, make_response(&bye, 200, None));
    }
    assert_eq!(l.len(), 500);
    l.handle_timeout(t0 + ms(32_000 + 249));
    assert_eq!(l.len(), 250);
    finish(&mut l, t0);
}
