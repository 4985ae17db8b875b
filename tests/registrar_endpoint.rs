//! REGISTER through the whole sans-IO endpoint (parse → transaction layer → registrar →
//! response on the wire, store writes as outputs) on a virtual clock.

mod registrar_support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use registrar_support::*;
use switchboard::call::DemoIvr;
use switchboard::config::ServerConfig;
use switchboard::endpoint::{Endpoint, EndpointConfig, Output};
use switchboard::registrar::Registrar;
use switchboard::sip::rsip;
use switchboard::store::StoreWrite;

const PHONE: &str = "192.168.1.20:5062";

struct Harness {
    ep: Endpoint,
    now: Instant,
    wall: Timestamp,
    sent: Vec<String>,
    writes: Vec<StoreWrite>,
}

impl Harness {
    fn new(with_registrar: bool) -> Self {
        let cfg = EndpointConfig::from_server(
            &ServerConfig::default(),
            "127.0.0.1:5060".parse().unwrap(),
        );
        let mut ep = Endpoint::new(cfg, Box::new(|_| Box::new(DemoIvr::default())), 7);
        if with_registrar {
            let users = HashMap::from([(
                "101".to_string(),
                ("andrew".to_string(), "s3cret".to_string()),
            )]);
            ep.set_registrar(Registrar::new([3; 32], REALM, users));
        }
        Self {
            ep,
            now: Instant::now(),
            wall: Timestamp::from_second(1_700_000_000).unwrap(),
            sent: vec![],
            writes: vec![],
        }
    }

    fn sip(&mut self, text: &str) -> rsip::Response {
        self.ep
            .handle_sip(self.now, self.wall, phone_peer(PHONE), text.as_bytes());
        while let Some(o) = self.ep.poll_output() {
            match o {
                Output::Transmit(t) => {
                    assert_eq!(t.peer, phone_peer(PHONE));
                    self.sent
                        .push(String::from_utf8_lossy(&t.payload).to_string());
                }
                Output::Store(w) => self.writes.push(*w),
                other => panic!("unexpected output {other:?}"),
            }
        }
        let last = self.sent.last().expect("a response was sent");
        match switchboard::sip::parse_message(last.as_bytes()).unwrap() {
            rsip::SipMessage::Response(r) => r,
            rsip::SipMessage::Request(_) => panic!("expected a response"),
        }
    }
}

#[test]
fn register_is_challenged_then_accepted_and_persisted() {
    let mut h = Harness::new(true);
    let contact = "<sip:101@192.168.1.20:5062;transport=udp>";
    let resp = h.sip(&register_text("101", "ep1", 1, &[contact], Some(300), None));
    assert_eq!(resp.status_code.code(), 401, "{resp}");
    assert!(h.writes.is_empty());
    let ch = challenges(&resp);
    assert_eq!(
        ch.iter().map(|c| c.algorithm.as_str()).collect::<Vec<_>>(),
        ["MD5", "SHA-256"]
    );
    // The phone answers with SHA-256 (through the real parser and normalizer).
    let auth = authorization(&ch[1], "REGISTER", "101", "s3cret", 1);
    let resp = h.sip(&register_text(
        "101",
        "ep1",
        2,
        &[contact],
        Some(300),
        Some(&auth),
    ));
    assert_eq!(resp.status_code.code(), 200, "{resp}");
    assert_eq!(
        response_contacts(&resp),
        vec![("sip:101@192.168.1.20:5062".to_string(), 300)]
    );
    let [StoreWrite::SaveRegistration(reg)] = h.writes.as_slice() else {
        panic!("{:?}", h.writes);
    };
    assert_eq!(reg.manager, "andrew");
    let r = h.ep.registrar().unwrap();
    assert!(r.is_registered("andrew", h.wall));
    // A retransmitted REGISTER is answered from the transaction, not re-processed.
    let before = h.sent.len();
    h.sip(&register_text(
        "101",
        "ep1",
        2,
        &[contact],
        Some(300),
        Some(&auth),
    ));
    assert_eq!(h.sent.len(), before + 1);
    assert_eq!(h.writes.len(), 1);
    // Transactions end on their own (timer J).
    h.now += Duration::from_secs(40);
    h.ep.handle_timeout(h.now, h.wall);
    assert_eq!(h.ep.transactions(), 0);
    // Wrong password → 403.
    let bad = authorization(&ch[1], "REGISTER", "101", "nope", 1);
    let resp = h.sip(&register_text(
        "101",
        "ep2",
        1,
        &[contact],
        None,
        Some(&bad),
    ));
    assert_eq!(resp.status_code.code(), 403);
}

#[test]
fn register_without_a_registrar_is_not_allowed() {
    let mut h = Harness::new(false);
    let resp = h.sip(&register_text(
        "101",
        "ep3",
        1,
        &["<sip:101@1.2.3.4>"],
        None,
        None,
    ));
    assert_eq!(resp.status_code.code(), 405);
}

/// RFC 5626 §4.4.2: a STUN keepalive from a phone's address is answered once the phone
/// is registered from there, and not before (no reflector for strangers).
#[test]
fn stun_keepalives_are_answered_for_registered_phones_only() {
    let mut h = Harness::new(true);
    let stun = |h: &mut Harness| -> Vec<Vec<u8>> {
        let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        req.extend_from_slice(b"phone-ka-001");
        h.ep.handle_sip(h.now, h.wall, phone_peer(PHONE), &req);
        std::iter::from_fn(|| h.ep.poll_output())
            .map(|o| match o {
                Output::Transmit(t) => {
                    assert_eq!(t.peer, phone_peer(PHONE));
                    t.payload.to_vec()
                }
                other => panic!("unexpected output {other:?}"),
            })
            .collect()
    };
    assert!(stun(&mut h).is_empty(), "not registered: no answer");

    let contact = "<sip:101@192.168.1.20:5062;transport=udp>";
    let resp = h.sip(&register_text("101", "ep1", 1, &[contact], Some(300), None));
    let auth = authorization(&challenges(&resp)[1], "REGISTER", "101", "s3cret", 1);
    let ok = h.sip(&register_text(
        "101",
        "ep1",
        2,
        &[contact],
        Some(300),
        Some(&auth),
    ));
    assert_eq!(ok.status_code.code(), 200, "{ok}");

    let answers = stun(&mut h);
    let [answer] = answers.as_slice() else {
        panic!("{answers:?}")
    };
    assert_eq!(answer.len(), 32);
    assert_eq!(&answer[..2], &[0x01, 0x01]);
    assert_eq!(&answer[8..20], b"phone-ka-001");
    // 192.168.1.20:5062 XORed with the magic cookie.
    assert_eq!(&answer[26..28], &(5062u16 ^ 0x2112).to_be_bytes());
    assert_eq!(
        &answer[28..32],
        &[192 ^ 0x21, 168 ^ 0x12, 1 ^ 0xa4, 20 ^ 0x42]
    );
}
