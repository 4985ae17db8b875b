//! Route sets through the sans-IO endpoint (issue 19 item 1, RFC 3261 §12.1.1,
//! §12.2.1.1): a caller behind a record-routing trunk learns the route set from our
//! 180/200, our requests to them carry it, and a manager's leg record-routed through a
//! proxy gets its ACK and BYE through that proxy, loose or strict.

mod flows;

use flows::*;

const PLAN: &str = r#"
[[numbers]]
number = "1000"
action = "department:sales"

[[numbers]]
number = "3000"
action = "play:goodbye -> hangup"

[departments.sales]
members = ["andrew"]
ring_timeout_secs = 10
overflow = "hangup"

[managers.andrew]
extension = "101"
contact = "sip:101@10.0.0.5:5060"
"#;

/// The trunk's proxy as it record-routes: double (two interfaces), with parameters.
const RR: &str = "Record-Route: <sip:10.0.0.1:5070;lr;ftag=t1;did=a1b>\r\n\
                  Record-Route: \"edge\" <sip:192.0.2.50;lr;r2=on>;x=1\r\n";

fn record_routed_invite(number: &str) -> String {
    format!(
        "INVITE sip:{number}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKc1\r\n\
         Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKua\r\n{RR}\
         From: \"Alice\" <sip:5551234@10.0.0.1>;tag=t1\r\nTo: <sip:{number}@127.0.0.1>\r\n\
         Call-ID: caller-1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@192.0.2.9:5060>\r\n\
         Max-Forwards: 69\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{CALLER_SDP}",
        CALLER_SDP.len()
    )
}

fn record_routes(msg: &str) -> Vec<&str> {
    msg.lines()
        .filter_map(|l| l.strip_prefix("Record-Route: "))
        .collect()
}

fn routes(msg: &str) -> Vec<&str> {
    msg.lines()
        .filter_map(|l| l.strip_prefix("Route: "))
        .collect()
}

const RR_VALUES: [&str; 2] = [
    "<sip:10.0.0.1:5070;lr;ftag=t1;did=a1b>",
    "\"edge\" <sip:192.0.2.50;lr;r2=on>;x=1",
];

#[test]
fn the_caller_learns_the_route_set_from_our_ringing_and_answer() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.sip_from(TRUNK, &record_routed_invite("3000"));
    let sent = h.take_to(TRUNK);
    let ok = sent.iter().find(|m| m.starts_with("SIP/2.0 200")).unwrap();
    assert_eq!(record_routes(ok), RR_VALUES, "{ok}");
    let trying = sent.iter().find(|m| m.starts_with("SIP/2.0 100"));
    if let Some(t) = trying {
        assert!(record_routes(t).is_empty(), "{t}");
    }
    h.caller_tag = header(ok, "To").split("tag=").nth(1).unwrap().to_string();
    // The caller's ACK comes by the route set (the proxy popped its own Routes).
    h.sip_from(TRUNK, &h.caller_request("ACK", 1, ""));
    let play = h.last_play().unwrap();
    assert_eq!(play.1, vec!["goodbye"]);
    h.finish_play(play.0);
    // Our BYE: to the trunk, Request-URI the caller's Contact, the route set verbatim.
    let bye = h.request_to(TRUNK, "BYE");
    assert!(
        bye.starts_with("BYE sip:alice@192.0.2.9:5060 SIP/2.0"),
        "{bye}"
    );
    assert_eq!(routes(&bye), RR_VALUES, "{bye}");
}

#[test]
fn a_ringing_caller_gets_the_record_route_in_the_tagged_180() {
    let mut h = H::with_ring("10.0.0.0/8", PLAN, std::time::Duration::from_millis(500));
    h.sip_from(TRUNK, &record_routed_invite("3000"));
    let sent = h.take_to(TRUNK);
    let ringing = sent.iter().find(|m| m.starts_with("SIP/2.0 180")).unwrap();
    assert!(header(ringing, "To").contains(";tag="), "{ringing}");
    assert_eq!(record_routes(ringing), RR_VALUES, "{ringing}");
    h.advance(std::time::Duration::from_secs(1));
    let ok = h
        .take_to(TRUNK)
        .into_iter()
        .find(|m| m.starts_with("SIP/2.0 200"))
        .unwrap();
    assert_eq!(record_routes(&ok), RR_VALUES, "{ok}");
}

/// The manager's phone answers through a proxy at `proxy` that record-routed with
/// `rr_uri`; returns the leg's INVITE for building the phone's requests.
fn manager_answers_through(h: &mut H, rr_uri: &str) -> String {
    h.caller_calls("1000");
    let invite = h.request_to(ANDREW, "INVITE");
    let ok = reply(&invite, "200 OK", "a1", Some(&phone_sdp(30000, 0))).replacen(
        "Contact:",
        &format!("Record-Route: <{rr_uri}>\r\nContact:"),
        1,
    );
    h.sip_from(ANDREW, &ok);
    invite
}

#[test]
fn a_record_routed_manager_leg_gets_ack_and_bye_through_the_proxy() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    let proxy = "10.0.0.99:5090";
    manager_answers_through(&mut h, &format!("sip:{proxy};lr"));
    assert_eq!(h.connected().as_deref(), Some("andrew"));
    let ack = h.request_to(proxy, "ACK");
    assert!(
        ack.starts_with("ACK sip:phone@10.0.0.5:5060 SIP/2.0"),
        "{ack}"
    );
    assert_eq!(routes(&ack), [format!("<sip:{proxy};lr>").as_str()]);
    assert!(h.take_to(ANDREW).is_empty(), "nothing bypasses the proxy");
    // The caller hangs up: the manager's BYE goes through the proxy too.
    h.sip_from(TRUNK, &h.caller_request("BYE", 2, ""));
    let bye = h.request_to(proxy, "BYE");
    assert!(
        bye.starts_with("BYE sip:phone@10.0.0.5:5060 SIP/2.0"),
        "{bye}"
    );
    assert_eq!(routes(&bye), [format!("<sip:{proxy};lr>").as_str()]);
}

#[test]
fn a_strict_routing_proxy_on_the_manager_leg_gets_the_request_uri() {
    // RFC 3261 §16.12.1.1: the proxy (RFC 2543 style) has no `lr`.
    let mut h = H::new("10.0.0.0/8", PLAN);
    let proxy = "10.0.0.98:5060";
    manager_answers_through(&mut h, &format!("sip:{proxy}"));
    let ack = h.request_to(proxy, "ACK");
    assert!(
        ack.starts_with(&format!("ACK sip:{proxy} SIP/2.0")),
        "{ack}"
    );
    assert_eq!(routes(&ack), ["<sip:phone@10.0.0.5:5060>"]);
}
