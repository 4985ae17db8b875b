//! Issue 11 items 4 and 5 against the running router over real UDP sockets: a refused
//! INVITE from a non-trunk address gets exactly one response (no retransmissions), and
//! a password-guessing run is locked out, the right password included, while the
//! lockout lasts.
mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::*;
use switchboard::registrar::digest::{self, Algorithm, DigestInput};

const PLAN: &str = "[managers.andrew]\nextension = \"101\"\ncontact = \"sip:101@127.0.0.1:5999\"\npassword = \"s3cret\"\n";

/// Every datagram that arrives within `window`.
fn collect(sock: &UdpSocket, window: Duration) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65535];
    let end = Instant::now() + window;
    while Instant::now() < end {
        if let Ok(n) = sock.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    out
}

fn first_line(msg: &str) -> &str {
    msg.lines().next().unwrap_or_default()
}

#[test]
fn a_refused_invite_gets_exactly_one_response() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "trunks = [\"127.0.0.1/32\"]", "");
    let sock = UdpSocket::bind("127.0.0.2:0").unwrap();
    let local = sock.local_addr().unwrap();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let invite = format!(
        "INVITE sip:9011441234@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKscan1\r\n\
         From: <sip:100@127.0.0.2>;tag=s1\r\nTo: <sip:9011441234@127.0.0.1>\r\nCall-ID: scan-1\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:100@{local}>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        port = p.sip
    );
    sock.send_to(invite.as_bytes(), ("127.0.0.1", p.sip))
        .unwrap();
    // Never ACKed: a transaction would retransmit its 403 at 0.5, 1, 2, 4 s...
    let got = collect(&sock, Duration::from_secs(5));
    let lines: Vec<&str> = got.iter().map(|m| first_line(m)).collect();
    assert_eq!(lines, vec!["SIP/2.0 403 Forbidden"], "{}", router.log());
    let metrics = http_get(p, "/metrics");
    assert!(
        metrics.contains("switchboard_sip_guard_total{event=\"invite_refused_answered\"} 1"),
        "{metrics}"
    );
}

/// `nonce="…"` of the first challenge of a 401.
fn nonce(resp: &str) -> String {
    let at = resp.find("nonce=\"").expect("a challenge") + 7;
    resp[at..].split('"').next().unwrap().to_owned()
}

fn register(local: std::net::SocketAddr, port: u16, cseq: u32, auth: Option<&str>) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKbf{cseq}\r\n\
         From: <sip:101@127.0.0.1>;tag=bf\r\nTo: <sip:101@127.0.0.1>\r\nCall-ID: brute-force\r\n\
         CSeq: {cseq} REGISTER\r\nContact: <sip:101@{local}>\r\nMax-Forwards: 70\r\n\
         Expires: 600\r\n{auth}Content-Length: 0\r\n\r\n"
    )
}

fn authorization(nonce: &str, password: &str, nc: u32) -> String {
    let nc = format!("{nc:08x}");
    let response = digest::response(&DigestInput {
        algorithm: Algorithm::Sha256,
        username: "101",
        realm: "switchboard",
        password,
        method: "REGISTER",
        uri: "sip:127.0.0.1",
        nonce,
        qop_auth: Some((&nc, "c0ffee")),
    });
    format!(
        "Digest username=\"101\", realm=\"switchboard\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", \
         response=\"{response}\", algorithm=SHA-256, cnonce=\"c0ffee\", qop=auth, nc={nc}"
    )
}

#[test]
fn a_brute_force_run_is_locked_out_and_the_right_password_waits() {
    let _g = serial();
    let p = ports();
    // A phone guessing from a non-trunk address; short lockout so the test can see
    // it end.
    let router = Router::start(
        p,
        "trunks = [\"127.0.0.1/32\"]\nauth_lockout_secs = 3",
        PLAN,
    );
    let sock = UdpSocket::bind("127.0.0.3:0").unwrap();
    let local = sock.local_addr().unwrap();
    let ask = |cseq: u32, auth: Option<&str>| -> String {
        sock.send_to(
            register(local, p.sip, cseq, auth).as_bytes(),
            ("127.0.0.1", p.sip),
        )
        .unwrap();
        let got = collect(&sock, Duration::from_millis(400));
        assert_eq!(got.len(), 1, "one response per REGISTER: {got:?}");
        got.into_iter().next().unwrap()
    };
    let challenge = ask(1, None);
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    let n = nonce(&challenge);
    let mut codes = Vec::new();
    for i in 0..8u32 {
        let resp = ask(2 + i, Some(&authorization(&n, &format!("guess{i}"), 1 + i)));
        codes.push(first_line(&resp).to_owned());
    }
    assert!(
        codes.iter().all(|c| c == "SIP/2.0 403 Forbidden"),
        "{codes:?}"
    );
    // The right password during the lockout: refused.
    let resp = ask(20, Some(&authorization(&n, "s3cret", 20)));
    assert_eq!(first_line(&resp), "SIP/2.0 403 Forbidden");
    let metrics = http_get(p, "/metrics");
    assert!(
        metrics.contains("switchboard_sip_guard_total{event=\"lockouts\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchboard_sip_guard_total{event=\"auth_locked_refused\"}"),
        "{metrics}"
    );
    // After the lockout the right password registers.
    std::thread::sleep(Duration::from_millis(3200));
    let challenge = ask(30, None);
    let n = nonce(&challenge);
    let resp = ask(31, Some(&authorization(&n, "s3cret", 1)));
    assert_eq!(first_line(&resp), "SIP/2.0 200 OK", "{}", router.log());
}
