//! A call a PBX forwarded to us, through the sans-IO endpoint: with `[server]
//! dialled_number = "original"` the plan routes it by the number it was first sent to
//! (`History-Info`, RFC 7044, or `Diversion`, RFC 5806), so the campaign survives the
//! forward; by default, and for anyone but a trunk, by the Request-URI.

mod flows;

use flows::*;
use switchboard::config::ServerConfig;
use switchboard::endpoint::CallEvent;
use switchboard::sip::redirect::DialledNumber;

const NUMBERS: &str = r#"
[[numbers]]
number = "5550100"
source = "spring-ads"
action = "department:sales"

[[numbers]]
number = "*"
source = "main"
action = "menu:main"
"#;

const FORWARDED: &str = "Diversion: <sip:201@10.0.0.1>;reason=no-answer\r\nDiversion: <sip:5550100@10.0.0.1;user=phone>;reason=unconditional\r\n";

fn harness(dialled_number: DialledNumber) -> H {
    let mut h = H::new("10.0.0.0/8", &format!("{NUMBERS}{WAITING_MENU}"));
    h.ep.set_server_config(ServerConfig {
        trunks: vec!["10.0.0.0/8".parse().unwrap()],
        dialled_number,
        ..ServerConfig::default()
    });
    h
}

/// The source the call was routed under, and the number its record keeps.
fn routed(h: &H) -> (String, String) {
    let source = h
        .events
        .iter()
        .find_map(|e| match e {
            CallEvent::Decision { reason, .. } => Some(format!("{reason:?}")),
            _ => None,
        })
        .expect("a routing decision");
    let dialled = h
        .events
        .iter()
        .find_map(|e| match e {
            CallEvent::Started { info, .. } => Some(info.dialled.clone()),
            _ => None,
        })
        .expect("a started call");
    (source, dialled)
}

#[test]
fn with_original_a_forwarded_call_is_routed_by_the_number_first_dialled() {
    let mut h = harness(DialledNumber::Original);
    h.caller_invites_with("ivr", FORWARDED);
    let ack = h.caller_request("ACK", 1, "");
    h.sip_from(TRUNK, &ack);
    let (reason, dialled) = routed(&h);
    assert_eq!(dialled, "5550100");
    assert!(reason.contains("spring-ads"), "{reason}");
}

#[test]
fn history_info_names_the_original_too() {
    let mut h = harness(DialledNumber::Original);
    h.caller_invites_with(
        "ivr",
        "History-Info: <sip:5550100@10.0.0.1>;index=1\r\nHistory-Info: <sip:ivr@127.0.0.1?Reason=SIP%3Bcause%3D302>;index=1.1;mp=1\r\n",
    );
    let ack = h.caller_request("ACK", 1, "");
    h.sip_from(TRUNK, &ack);
    assert_eq!(routed(&h).1, "5550100");
}

#[test]
fn by_default_the_request_uri_routes() {
    let mut h = harness(DialledNumber::RequestUri);
    h.caller_invites_with("ivr", FORWARDED);
    let ack = h.caller_request("ACK", 1, "");
    h.sip_from(TRUNK, &ack);
    let (reason, dialled) = routed(&h);
    assert_eq!(dialled, "ivr");
    assert!(reason.contains("\"main\""), "{reason}");
}
