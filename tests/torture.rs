//! RFC 4475 torture messages through the SIP front end, plus property tests
//! that no input makes framing or parsing panic.
//!
//! The message files under `tests/torture/` are the byte-exact `.dat` files of
//! RFC 4475 (decoded from the RFC's archive as published in C-array form by a
//! public repository, `leiflundgren/rfc4475-c`), not reconstructions:
//! - `valid/`    §3.1.1, valid messages;
//! - `invalid/`  §3.1.2, invalid messages (some "valid but unusual");
//! - `semantic/` §3.3, messages a parser must not fail on, for which the RFC
//!   expects an error response from the element.

use std::path::PathBuf;

use proptest::prelude::*;
use switchboard::sip::headers::{
    call_id, cseq, from_display_name, from_tag, max_forwards, request_uri_user, serialize, to_tag,
    top_via_branch,
};
use switchboard::sip::rsip::{Header, HeadersExt, Method, SipMessage, typed};
use switchboard::sip::{
    FrameError, ParseError, Problem, StreamFramer, frame_datagram, parse_message,
};

fn load(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/torture")
        .join(format!("{name}.sip"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn files(dir: &str) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/torture")
        .join(dir);
    let mut names: Vec<String> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            format!("{dir}/{}", p.file_stem().unwrap().to_string_lossy())
        })
        .collect();
    names.sort();
    names
}

fn parse_ok(name: &str) -> SipMessage {
    match parse_message(&load(name)) {
        Ok(m) => m,
        Err(e) => panic!("{name}: {e}"),
    }
}

fn request(name: &str) -> switchboard::sip::rsip::Request {
    match parse_ok(name) {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => panic!("{name}: expected a request"),
    }
}

/// (status, response text if any, problem) of a rejected message.
fn rejected(name: &str) -> (u16, Option<String>, Problem) {
    match parse_message(&load(name)) {
        Err(ParseError::Reject {
            status,
            response,
            reason,
        }) => (
            status,
            response.map(|b| String::from_utf8_lossy(&b).into_owned()),
            reason,
        ),
        other => panic!("{name}: expected a rejection, got {other:?}"),
    }
}

fn vias<M: HeadersExt>(m: &M) -> Vec<typed::Via> {
    m.headers()
        .iter()
        .filter_map(|h| match h {
            Header::Via(v) => typed::Via::parse(v.value()).ok(),
            _ => None,
        })
        .collect()
}

fn via_count<M: HeadersExt>(m: &M) -> usize {
    m.headers()
        .iter()
        .filter(|h| matches!(h, Header::Via(_)))
        .count()
}

/// Extension methods are valid SIP but not ours: RFC 4475 §3.1.1.2 expects an
/// endpoint to answer 501 with an Allow header.
const EXTENSION_METHODS: &[&str] = &["valid/intmeth", "valid/esc02"];

#[test]
fn every_valid_message_is_accepted_and_round_trips() {
    for name in files("valid") {
        let raw = load(&name);
        if EXTENSION_METHODS.contains(&name.as_str()) {
            let (status, resp, _) = rejected(&name);
            assert_eq!(status, 501, "{name}");
            assert!(resp.unwrap().contains("\r\nAllow: "), "{name}");
            continue;
        }
        let msg = parse_ok(&name);
        // What we accept we can print and read back (we pass it on).
        let again = parse_message(&serialize(&msg))
            .unwrap_or_else(|e| panic!("{name}: re-parse of serialized message: {e}"));
        assert_eq!(call_id(&again), call_id(&msg), "{name}");
        assert_eq!(vias(&again).len(), vias(&msg).len(), "{name}");
        // Streams need the same framing: feed it as TCP would.
        let framed = frame_datagram(&raw).unwrap();
        let mut f = StreamFramer::new();
        f.push(framed);
        assert_eq!(f.next_message().unwrap().unwrap(), framed, "{name}");
    }
}

#[test]
fn wsinv_short_tortuous_invite() {
    let r = request("valid/wsinv");
    assert_eq!(call_id(&r), Some("wsinv.ndaksdj@192.0.2.1"));
    assert_eq!(cseq(&r), Some((9, Method::Invite)));
    assert_eq!(max_forwards(&r), Some(68));
    assert_eq!(request_uri_user(&r).as_deref(), Some("vivekg"));
    assert_eq!(to_tag(&r).as_deref(), Some("1918181833n"));
    assert_eq!(from_tag(&r).as_deref(), Some("98asjd8"));
    assert_eq!(from_display_name(&r).as_deref(), Some(r#"J Rosenberg \""#));
    let v = vias(&r);
    let got: Vec<(String, String, String)> = v
        .iter()
        .map(|v| {
            (
                v.transport.to_string(),
                v.uri.host_with_port.to_string(),
                v.branch().unwrap().value().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("UDP", "192.0.2.2", "390skdjuw"),
            ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
            ("UDP", "192.168.255.111", "z9hG4bK30239"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    assert_eq!(top_via_branch(&r).as_deref(), Some("390skdjuw"));
    assert_eq!(r.body.len(), 150);
    let contact = r.typed_contact_headers().unwrap();
    assert_eq!(contact.len(), 1);
    let subject = r.header_value("Subject");
    assert_eq!(subject.as_deref(), Some(""));
}

#[test]
fn intmeth_and_esc02_extension_methods_get_501_with_headers_copied() {
    let (_, resp, reason) = rejected("valid/intmeth");
    let resp = resp.unwrap();
    assert!(
        matches!(reason, Problem::UnknownMethod { ref method } if method == "!interesting-Method0123456789_*+`.%indeed'~")
    );
    assert!(resp.starts_with("SIP/2.0 501 Not Implemented"));
    assert!(resp.contains("\r\nVia: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\r\n"));
    assert!(resp.contains("\r\nCSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\r\n"));
    assert!(resp.contains("\r\nFrom: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>"));
    // §3.1.1.5: RE%47IST%45R is not REGISTER.
    let (_, resp, _) = rejected("valid/esc02");
    assert!(resp.unwrap().contains("\r\nCSeq: 29344 RE%47IST%45R\r\n"));
}

#[test]
fn escapes_are_kept() {
    let r = request("valid/esc01");
    assert_eq!(
        request_uri_user(&r).as_deref(),
        Some("sips%3Auser%40example.com")
    );
    assert_eq!(call_id(&r), Some("esc01.239409asdfakjkn23onasd0-3234"));
    assert_eq!(r.body.len(), 150);
    let r = request("valid/escnull");
    assert_eq!(r.contact_headers().len(), 2);
    assert_eq!(cseq(&r), Some((14398234, Method::Register)));
}

#[test]
fn lwsdisp_longreq_dblreq_semiuri_transports() {
    let r = request("valid/lwsdisp");
    assert_eq!(from_display_name(&r).as_deref(), Some("caller"));

    let r = request("valid/longreq");
    assert_eq!(via_count(&r), 34);
    assert_eq!(top_via_branch(&r), None, "sip33's Via has no branch");
    assert_eq!(r.body.len(), 150);
    assert_eq!(
        call_id(&r),
        Some(format!("longreq.one{}longcallid", "really".repeat(20)).as_str())
    );
    assert_eq!(from_tag(&r), Some(format!("12{}424", "982".repeat(50))));

    // §3.1.1.8: the INVITE after Content-Length is discarded.
    let r = request("valid/dblreq");
    assert_eq!(r.method, Method::Register);
    assert!(r.body.is_empty());
    assert_eq!(via_count(&r), 1);

    // §3.1.1.9: `;` in the user part belongs to the user.
    let r = request("valid/semiuri");
    assert_eq!(
        request_uri_user(&r).as_deref(),
        Some("user;par=u%40example.net")
    );
    assert_eq!(r.uri.host().to_string(), "example.com");

    let r = request("valid/transports");
    assert_eq!(via_count(&r), 5);
    assert_eq!(top_via_branch(&r).as_deref(), Some("z9hG4bKkdjuw"));
}

#[test]
fn mpart01_binary_body_is_byte_exact() {
    let raw = load("valid/mpart01");
    let r = request("valid/mpart01");
    assert_eq!(r.body.len(), 553);
    let tail = &raw[raw.len() - 2 - 553..raw.len() - 2];
    assert_eq!(r.body, tail);
}

#[test]
fn unusual_reason_phrases() {
    let SipMessage::Response(r) = parse_ok("valid/unreason") else {
        panic!()
    };
    assert_eq!(r.status_code.code(), 200);
    assert_eq!(r.body.len(), 154);
    let SipMessage::Response(r) = parse_ok("valid/noreason") else {
        panic!()
    };
    assert_eq!(r.status_code.code(), 100);
}

#[test]
fn invalid_messages_are_rejected_as_the_rfc_says() {
    // (file, status, answered?) — answers go to requests only.
    let cases: &[(&str, u16, bool)] = &[
        ("badinv01", 400, true),
        ("clerr", 400, true),
        ("ncl", 400, true),
        ("scalar02", 400, true),
        ("scalarlg", 400, false),
        ("quotbal", 400, true),
        ("ltgtruri", 400, true),
        ("lwsruri", 400, true),
        ("lwsstart", 400, true),
        ("trws", 400, true),
        ("badaspec", 400, true),
        ("baddn", 400, true),
        ("badvers", 505, true),
        ("mismatch01", 400, true),
        ("mismatch02", 501, true),
        ("bigcode", 400, false),
    ];
    for (file, status, answered) in cases {
        let name = format!("invalid/{file}");
        let (got, resp, reason) = rejected(&name);
        assert_eq!(got, *status, "{name}: {reason}");
        assert_eq!(resp.is_some(), *answered, "{name}: {reason}");
        if let Some(resp) = resp {
            assert!(resp.starts_with(&format!("SIP/2.0 {status} ")), "{name}");
            assert!(resp.ends_with("\r\nContent-Length: 0\r\n\r\n"), "{name}");
            if matches!(
                reason,
                Problem::BadHeader {
                    name: "Via" | "CSeq" | "From" | "To",
                    ..
                } | Problem::BadVersion { .. }
            ) {
                // §8.2.6.2 copies these as they are, garbage included.
                continue;
            }
            // The answer is itself a valid SIP response.
            let parsed = parse_message(resp.as_bytes())
                .unwrap_or_else(|e| panic!("{name}: our answer does not parse: {e}\n{resp}"));
            assert!(parsed.is_response(), "{name}");
        }
    }
    assert!(matches!(
        rejected("invalid/clerr").2,
        Problem::Frame(FrameError::TruncatedBody { declared: 9999, .. })
    ));
    assert!(matches!(
        rejected("invalid/ncl").2,
        Problem::Frame(FrameError::BadContentLength { .. })
    ));
    assert!(matches!(
        rejected("invalid/mismatch01").2,
        Problem::CSeqMismatch { .. }
    ));
}

#[test]
fn valid_but_unusual_messages_may_be_accepted() {
    // §3.1.2.11-13: an element may be liberal; we are, and never panic.
    for name in ["invalid/escruri", "invalid/baddate", "invalid/regbadct"] {
        let r = request(name);
        assert!(call_id(&r).is_some(), "{name}");
    }
}

#[test]
fn semantic_messages() {
    // §3.3.1: missing Call-ID/From/To still gets a 400 routed by its Via.
    let (status, resp, _) = rejected("semantic/insuf");
    assert_eq!(status, 400);
    assert!(
        resp.unwrap()
            .contains("Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf")
    );
    // §3.3.8: multiple values in single-value fields → 400.
    let (status, _, reason) = rejected("semantic/multi01");
    assert_eq!(status, 400);
    assert!(
        matches!(reason, Problem::DuplicateHeader { .. }),
        "{reason}"
    );
    // §3.3.9: two Content-Length values → 400.
    let (_, _, reason) = rejected("semantic/mcl01");
    assert!(matches!(
        reason,
        Problem::Frame(FrameError::ConflictingContentLength { .. })
    ));
    // §3.3.11: Max-Forwards 0 is for the TU (483 for OPTIONS may be answered).
    let r = request("semantic/zeromf");
    assert_eq!(max_forwards(&r), Some(0));
    // §3.3.2: an unknown scheme is the TU's 416, not a parse error.
    let r = request("semantic/unkscm");
    assert_eq!(request_uri_user(&r), None);
}

#[test]
fn no_torture_message_panics_anywhere() {
    for dir in ["valid", "invalid", "semantic"] {
        for name in files(dir) {
            let raw = load(&name);
            let _ = parse_message(&raw);
            let _ = frame_datagram(&raw);
            let mut f = StreamFramer::new();
            f.push(&raw);
            while let Some(m) = f.next_message() {
                if m.is_err() {
                    break;
                }
            }
            for cut in (0..raw.len()).step_by(7) {
                let _ = parse_message(&raw[..cut]);
            }
            let lf: Vec<u8> = String::from_utf8_lossy(&raw)
                .replace("\r\n", "\n")
                .into_bytes();
            let _ = parse_message(&lf);
        }
    }
}

const INVITE: &str = "INVITE sip:+15551234@pbx.example.com SIP/2.0\r\n\
    Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport\r\n\
    Max-Forwards: 70\r\n\
    To: <sip:+15551234@pbx.example.com>\r\n\
    From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n\
    Call-ID: a84b4c76e66710@pc33.example.com\r\n\
    CSeq: 314159 INVITE\r\n\
    Contact: <sip:alice@192.0.2.1>\r\n\
    Content-Type: application/sdp\r\n\
    Content-Length: 23\r\n\r\n\
    v=0\r\no=- 1 1 IN IP4 x\r\n";

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (
            any::<usize>(),
            prop::collection::vec(
                prop_oneof![
                    Just(b','),
                    Just(b';'),
                    Just(b'"'),
                    Just(b'<'),
                    Just(b'>'),
                    Just(b' '),
                    Just(b'\r'),
                    Just(b'\n'),
                    Just(b':'),
                    Just(b'='),
                    any::<u8>()
                ],
                1..8
            )
        )
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..20).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn apply(mut msg: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let len = msg.len().max(1);
    match m {
        Mutation::Flip(i, b) => {
            if let Some(x) = msg.get_mut(i % len) {
                *x ^= b;
            }
        }
        Mutation::Truncate(i) => msg.truncate(i % len),
        Mutation::Insert(i, v) => {
            let at = i % (msg.len() + 1);
            msg.splice(at..at, v.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let at = i % len;
            let end = (at + n).min(msg.len());
            if at < end {
                msg.drain(at..end);
            }
        }
    }
    msg
}

fn exercise(bytes: &[u8]) {
    if let Ok(msg) = parse_message(bytes) {
        // Whatever we accept must print and parse again.
        let _ = serialize(&msg);
        let _ = call_id(&msg);
        let _ = cseq(&msg);
        let _ = top_via_branch(&msg);
        let _ = from_display_name(&msg);
        if let SipMessage::Request(mut r) = msg {
            let _ = request_uri_user(&r);
            switchboard::sip::stamp_received(&mut r, "203.0.113.7:5060".parse().unwrap());
        }
    }
    let _ = frame_datagram(bytes);
    let mut f = StreamFramer::with_max_size(4096);
    for chunk in bytes.chunks(13) {
        f.push(chunk);
        while let Some(m) = f.next_message() {
            if let Ok(m) = m {
                let _ = parse_message(&m);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    #[test]
    fn sip_shaped_text_never_panics(text in "[A-Za-z0-9 :;,=<>\"@./\\r\\n\\t-]{0,600}") {
        exercise(format!("INVITE sip:a@b SIP/2.0\r\n{text}").as_bytes());
        exercise(format!("SIP/2.0 200 OK\r\n{text}").as_bytes());
    }

    #[test]
    fn mutated_invites_never_panic(muts in prop::collection::vec(mutation(), 1..6)) {
        let mut msg = INVITE.as_bytes().to_vec();
        for m in &muts {
            msg = apply(msg, m);
        }
        exercise(&msg);
    }
}

#[test]
fn the_unmutated_invite_parses() {
    let msg = parse_message(INVITE.as_bytes()).unwrap();
    assert_eq!(call_id(&msg), Some("a84b4c76e66710@pc33.example.com"));
    let SipMessage::Request(r) = msg else {
        panic!()
    };
    assert_eq!(request_uri_user(&r).as_deref(), Some("+15551234"));
    assert_eq!(r.body.len(), 23);
}
