//! Client-side behaviour of the layer on a virtual clock (never sleeps).

use std::time::Instant;

use super::test_util::*;
use super::{ClientKey, MAGIC_COOKIE, TransactionLayer, TuEvent, make_cancel};
use crate::sip::rsip::{self, prelude::*};
use crate::sip::{Peer, Transmit};

/// A request we originate: our Via without a branch (the layer adds it).
fn ours(method: &str, seq: u32) -> rsip::Request {
    request(&format!(
        "{method} sip:alice@192.0.2.10:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 198.51.100.1:5060;rport\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:proxy.example.com;lr>\r\n\
         From: <sip:ivr@sb.test>;tag=ivr1\r\n\
         To: <sip:alice@example.com>\r\n\
         Call-ID: out-1@sb.test\r\n\
         CSeq: {seq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    ))
}

fn parse_sent(t: &Transmit) -> rsip::Request {
    rsip::Request::try_from(t.payload.to_vec()).unwrap()
}

/// Send `req`, return its key and the request as it went on the wire.
fn start(
    l: &mut TransactionLayer,
    now: Instant,
    req: rsip::Request,
    peer: Peer,
) -> (ClientKey, rsip::Request) {
    let key = l.send_request(now, req, peer);
    let sent = transmits(l);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].peer, peer);
    let wire = parse_sent(&sent[0]);
    (key, wire)
}

#[test]
fn timer_a_doubles_without_cap_and_timer_b_times_out() {
    let t0 = Instant::now();
    let mut l = layer();
    let (key, wire) = start(&mut l, t0, ours("INVITE", 1), udp());
    assert!(key.branch().starts_with(MAGIC_COOKIE));
    let branch = wire.top_via_header().unwrap().typed().unwrap();
    assert_eq!(branch.branch().unwrap().value(), key.branch());
    let (sent, evs) = run_until(&mut l, t0, t0 + ms(40_000));
    let at: Vec<u128> = sent.iter().map(|(t, _)| *t).collect();
    // §17.1.1.2: A = T1, 2T1, 4T1, … (no T2 cap) until B = 64·T1.
    assert_eq!(at, vec![500, 1500, 3500, 7500, 15500, 31500]);
    assert!(sent.iter().all(|(_, line)| line.starts_with("INVITE ")));
    assert_eq!(evs, vec![(32_000, TuEvent::ClientTimeout { key })]);
    assert!(l.is_empty());
    finish(&mut l, t0);
}

#[test]
fn invite_non_2xx_is_acked_by_the_transaction() {
    let t0 = Instant::now();
    let mut l = layer();
    let (key, wire) = start(&mut l, t0, ours("INVITE", 4), udp());
    // 180 stops Timer A.
    l.handle_response(t0 + ms(100), answer(&wire, 180), udp());
    assert!(matches!(events(&mut l).as_slice(), [TuEvent::Response { key: k, .. }] if *k == key));
    let (sent, _) = run_until(&mut l, t0, t0 + ms(10_000));
    assert!(sent.is_empty());
    // 486 → ACK sent by the layer, response passed up.
    let busy = answer(&wire, 486);
    l.handle_response(t0 + ms(10_000), busy.clone(), udp());
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    let ack = parse_sent(&sent[0]);
    assert_eq!(ack.method, rsip::Method::Ack);
    assert_eq!(ack.uri, wire.uri);
    assert_eq!(ack.cseq_header().unwrap().value(), "4 ACK");
    assert_eq!(
        ack.to_header().unwrap().value(),
        "<sip:alice@example.com>;tag=far1"
    );
    assert_eq!(
        ack.top_via_header().unwrap(),
        wire.top_via_header().unwrap()
    );
    assert_eq!(ack.route_headers().len(), 1);
    assert_eq!(
        events(&mut l),
        vec![TuEvent::Response {
            key: key.clone(),
            resp: busy.clone()
        }]
    );
    // A retransmitted 486 is re-ACKed and not passed up.
    l.handle_response(t0 + ms(10_500), busy, udp());
    assert_eq!(
        lines(&transmits(&mut l)),
        vec![format!("ACK {} SIP/2.0", wire.uri)]
    );
    assert!(events(&mut l).is_empty());
    // Timer D (32 s) ends it.
    l.handle_timeout(t0 + ms(41_999));
    assert_eq!(l.len(), 1);
    l.handle_timeout(t0 + ms(42_000));
    assert!(l.is_empty());
    finish(&mut l, t0);
}

#[test]
fn invite_2xx_retransmissions_reach_the_tu_until_timer_m() {
    let t0 = Instant::now();
    let mut l = layer();
    let (key, wire) = start(&mut l, t0, ours("INVITE", 1), udp());
    let ok = answer(&wire, 200);
    l.handle_response(t0 + ms(200), ok.clone(), udp());
    assert!(
        transmits(&mut l).is_empty(),
        "the TU ACKs a 2xx, not the transaction"
    );
    assert_eq!(events(&mut l).len(), 1);
    l.handle_response(t0 + ms(700), ok.clone(), udp());
    assert_eq!(
        events(&mut l),
        vec![TuEvent::Response {
            key,
            resp: ok.clone()
        }]
    );
    // The TU's ACK goes out statelessly and keeps its branch when re-sent.
    let mut ack = ours("ACK", 1);
    l.send_stateless(ack.clone(), udp());
    let first = transmits(&mut l);
    ack = parse_sent(&first[0]);
    l.send_stateless(ack, udp());
    assert_eq!(transmits(&mut l)[0].payload, first[0].payload);
    // No retransmissions in Accepted; Timer M = 64·T1 after the 2xx.
    let (sent, evs) = run_until(&mut l, t0, t0 + ms(32_199));
    assert!(sent.is_empty() && evs.is_empty());
    assert_eq!(l.len(), 1);
    l.handle_timeout(t0 + ms(32_200));
    assert!(l.is_empty());
    finish(&mut l, t0);
}

#[test]
fn timer_e_caps_at_t2_and_timer_f_times_out() {
    let t0 = Instant::now();
    let mut l = layer();
    let (key, _) = start(&mut l, t0, ours("BYE", 2), udp());
    let (sent, evs) = run_until(&mut l, t0, t0 + ms(40_000));
    let at: Vec<u128> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        at,
        vec![
            500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
        ]
    );
    assert_eq!(evs, vec![(32_000, TuEvent::ClientTimeout { key })]);
    finish(&mut l, t0);
}

#[test]
fn timer_e_is_t2_in_proceeding() {
    let t0 = Instant::now();
    let mut l = layer();
    let (_, wire) = start(&mut l, t0, ours("BYE", 2), udp());
    run_until(&mut l, t0, t0 + ms(500)); // first retransmission at 500, next due 1500
    l.handle_response(t0 + ms(600), answer(&wire, 100), udp());
    assert_eq!(events(&mut l).len(), 1);
    let (sent, evs) = run_until(&mut l, t0, t0 + ms(12_000));
    let at: Vec<u128> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(at, vec![1500, 5500, 9500]);
    assert!(evs.is_empty());
    l.handle_response(t0 + ms(12_000), answer(&wire, 200), udp());
    finish(&mut l, t0);
}

#[test]
fn non_invite_final_then_timer_k() {
    let t0 = Instant::now();
    let mut l = layer();
    let (key, wire) = start(&mut l, t0, ours("BYE", 2), udp());
    let ok = answer(&wire, 200);
    l.handle_response(t0 + ms(100), ok.clone(), udp());
    assert_eq!(
        events(&mut l),
        vec![TuEvent::Response {
            key,
            resp: ok.clone()
        }]
    );
    // Retransmitted final absorbed; no request retransmissions any more.
    l.handle_response(t0 + ms(200), ok, udp());
    assert!(events(&mut l).is_empty());
    let (sent, _) = run_until(&mut l, t0, t0 + ms(5099));
    assert!(sent.is_empty());
    assert_eq!(l.len(), 1);
    l.handle_timeout(t0 + ms(5100)); // K = T4
    assert!(l.is_empty());
    finish(&mut l, t0);
}

#[test]
fn tcp_clients_never_retransmit_and_end_at_once() {
    let t0 = Instant::now();
    let mut l = layer();
    let (_, wire) = start(&mut l, t0, ours("BYE", 2), tcp());
    let (sent, _) = run_until(&mut l, t0, t0 + ms(10_000));
    assert!(sent.is_empty());
    l.handle_response(t0 + ms(10_000), answer(&wire, 200), tcp());
    assert_eq!(events(&mut l).len(), 1);
    assert!(l.is_empty(), "Timer K = 0 on TCP");

    let (_, wire) = start(&mut l, t0, ours("INVITE", 3), tcp());
    let (sent, _) = run_until(&mut l, t0, t0 + ms(10_000));
    assert!(sent.is_empty());
    l.handle_response(t0 + ms(10_000), answer(&wire, 503), tcp());
    assert_eq!(transmits(&mut l).len(), 1, "the ACK");
    assert_eq!(events(&mut l).len(), 1);
    assert!(l.is_empty(), "Timer D = 0 on TCP");

    // Timer B/F still run on TCP.
    let (key, _) = start(&mut l, t0, ours("OPTIONS", 4), tcp());
    let (_, evs) = run_until(&mut l, t0, t0 + ms(40_000));
    assert_eq!(evs, vec![(32_000, TuEvent::ClientTimeout { key })]);
    finish(&mut l, t0);
}

/// TLS is reliable like TCP (no retransmissions), and a connection that cannot be
/// made (a certificate that fails verification) ends the requests waiting on it at
/// once (RFC 3261 §17.1.4), not after Timer B; requests to other peers are untouched.
#[test]
fn tls_is_reliable_and_a_transport_error_fails_its_requests_at_once() {
    let t0 = Instant::now();
    let mut l = layer();
    let (invite, _) = start(&mut l, t0, ours("INVITE", 1), tls());
    let (options, _) = start(&mut l, t0, ours("OPTIONS", 2), tls());
    let (other, _) = start(&mut l, t0, ours("OPTIONS", 3), tcp());
    let (sent, evs) = run_until(&mut l, t0, t0 + ms(10_000));
    assert!(
        sent.is_empty() && evs.is_empty(),
        "no retransmissions over TLS"
    );
    assert_eq!(l.handle_transport_error(tls()), 2);
    let mut evs = events(&mut l);
    evs.sort_by_key(|e| format!("{e:?}"));
    let mut want = vec![
        TuEvent::ClientTimeout { key: invite },
        TuEvent::ClientTimeout { key: options },
    ];
    want.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(evs, want);
    assert_eq!(l.len(), 1, "the TCP request is still waiting");
    let (_, evs) = run_until(&mut l, t0, t0 + ms(40_000));
    assert_eq!(evs, vec![(32_000, TuEvent::ClientTimeout { key: other })]);
    finish(&mut l, t0);
}

#[test]
fn cancel_rearms_timer_b_of_a_proceeding_invite() {
    let t0 = Instant::now();
    let mut l = layer();
    let (invite_key, wire) = start(&mut l, t0, ours("INVITE", 1), udp());
    l.handle_response(t0 + ms(100), answer(&wire, 180), udp());
    let _ = events(&mut l);
    // Without a CANCEL a ringing INVITE waits; the TU gives up after 60 s.
    let (cancel_key, cancel_wire) = start(&mut l, t0 + ms(60_000), make_cancel(&wire), udp());
    assert_eq!(
        cancel_key.branch(),
        invite_key.branch(),
        "§9.1: same branch"
    );
    assert_eq!(cancel_wire.cseq_header().unwrap().value(), "1 CANCEL");
    // A second CANCEL for the same INVITE is a no-op.
    let again = l.send_request(t0 + ms(60_001), make_cancel(&wire), udp());
    assert_eq!(again, cancel_key);
    assert!(transmits(&mut l).is_empty());
    l.handle_response(t0 + ms(60_100), answer(&cancel_wire, 200), udp());
    assert!(
        matches!(events(&mut l).as_slice(), [TuEvent::Response { key, .. }] if *key == cancel_key)
    );
    // The peer never sends 487: Timer B (64·T1 after the CANCEL) ends the INVITE.
    let (_, evs) = run_until(&mut l, t0, t0 + ms(100_000));
    assert_eq!(
        evs,
        vec![(92_000, TuEvent::ClientTimeout { key: invite_key })]
    );
    finish(&mut l, t0);
}

#[test]
fn branches_are_deterministic_per_seed_and_reuse_is_avoided() {
    let t0 = Instant::now();
    let mut a = layer();
    let mut b = layer();
    let ka = a.send_request(t0, ours("OPTIONS", 1), udp());
    let kb = b.send_request(t0, ours("OPTIONS", 1), udp());
    assert_eq!(ka, kb);
    // A request that already carries a branch in use gets a fresh one.
    let wire = parse_sent(&transmits(&mut a)[0]);
    let kc = a.send_request(t0, wire, udp());
    assert_ne!(kc, ka);
    let _ = transmits(&mut b);
    for l in [&mut a, &mut b] {
        let _ = transmits(l);
        let (_, evs) = run_until(l, t0, t0 + ms(40_000));
        assert!(
            evs.iter()
                .all(|(_, e)| matches!(e, TuEvent::ClientTimeout { .. }))
        );
        finish(l, t0);
    }
}

#[test]
fn responses_for_other_methods_or_branches_are_strays() {
    let t0 = Instant::now();
    let mut l = layer();
    let (_, wire) = start(&mut l, t0, ours("INVITE", 1), udp());
    let mut wrong_method = answer(&wire, 200);
    wrong_method
        .headers
        .retain(|h| !matches!(h, rsip::Header::CSeq(_)));
    wrong_method
        .headers
        .push(rsip::Header::CSeq(rsip::CSeq::new("1 BYE")));
    l.handle_response(t0, wrong_method, udp());
    assert!(events(&mut l).is_empty());
    l.handle_response(t0, answer(&wire, 486), udp());
    assert_eq!(events(&mut l).len(), 1);
    finish(&mut l, t0);
}
