//! Issue 19 item 3: CRLF keepalives (RFC 5626 §3.5.1) against the running binary.
//! Over TCP each double-CRLF ping gets a single-CRLF pong (§4.4.1); over UDP nothing is
//! answered (no response is defined there). Neither is logged above DEBUG, and the
//! transport keeps working afterwards. Over UDP the defined keepalive is STUN (§4.4.2):
//! a Binding request from a trunk or a registered phone gets its Binding response.
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::*;

fn options(transport: &str, local: std::net::SocketAddr, branch: &str) -> String {
    format!(
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} {local};branch=z9hG4bK{branch}\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ka-{branch}\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// No line of the router's log at INFO or above mentions the keepalives (the log
/// format prints the level after the timestamp).
#[track_caller]
fn assert_quiet(router: &Router) {
    let log = router.log();
    let loud: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.contains(" INFO "))
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("keepalive") || l.contains("malformed") || l.contains("crlf")
        })
        .collect();
    assert!(loud.is_empty(), "keepalives logged above DEBUG: {loud:#?}");
    assert!(
        log.contains("CRLF keepalive"),
        "the keepalives are seen (at DEBUG):\n{log}"
    );
}

#[test]
fn udp_double_crlf_is_ignored_quietly_and_unanswered() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", "");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let to = ("127.0.0.1", p.sip);
    for _ in 0..3 {
        sock.send_to(b"\r\n\r\n", to).unwrap();
    }
    let mut buf = [0u8; 4096];
    assert!(
        sock.recv(&mut buf).is_err(),
        "no response is defined for a UDP CRLF keepalive"
    );
    // The socket still serves SIP.
    sock.send_to(
        options("UDP", sock.local_addr().unwrap(), "u1").as_bytes(),
        to,
    )
    .unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = sock.recv(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"SIP/2.0 200"));
    assert_quiet(&router);
}

/// Reads exactly `n` bytes within a few seconds.
fn read_exactly(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut got = vec![0u8; n];
    s.read_exact(&mut got).unwrap();
    got
}

#[test]
fn tcp_double_crlf_gets_a_single_crlf_pong() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", "");
    let mut s = TcpStream::connect(("127.0.0.1", p.sip)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // One ping, one pong.
    s.write_all(b"\r\n\r\n").unwrap();
    assert_eq!(read_exactly(&mut s, 2), b"\r\n");
    // Two pings in one segment; then one split across two writes.
    s.write_all(b"\r\n\r\n\r\n\r\n").unwrap();
    assert_eq!(read_exactly(&mut s, 4), b"\r\n\r\n");
    s.write_all(b"\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(b"\r\n").unwrap();
    assert_eq!(read_exactly(&mut s, 2), b"\r\n");
    // The connection still carries SIP, and nothing else came before the answer.
    s.write_all(options("TCP", s.local_addr().unwrap(), "t1").as_bytes())
        .unwrap();
    let head = read_exactly(&mut s, 11);
    assert_eq!(head, b"SIP/2.0 200");
    assert_quiet(&router);
}

/// Starts a router with `server_extra`, sends it a STUN Binding request (RFC 5389 §6,
/// no attributes) with transaction `id` from a loopback socket, and returns the answer
/// (if any within `wait`) and the socket's address. Whatever happens, the request is
/// never logged as malformed SIP.
fn stun_exchange(
    server_extra: &str,
    id: &[u8; 12],
    wait: Duration,
) -> (Option<Vec<u8>>, SocketAddr) {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, server_extra, "");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    let mut request = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    request.extend_from_slice(id);
    sock.send_to(&request, ("127.0.0.1", p.sip)).unwrap();
    let mut buf = [0u8; 512];
    let answer = sock.recv(&mut buf).ok().map(|n| buf[..n].to_vec());
    let log = router.log();
    assert!(
        !log.to_ascii_lowercase().contains("malformed"),
        "STUN is not SIP gone wrong:\n{log}"
    );
    (answer, sock.local_addr().unwrap())
}

#[test]
fn udp_stun_keepalive_from_a_trunk_is_answered_with_its_address() {
    let id = *b"keepalive-01";
    let (answer, local) = stun_exchange("", &id, Duration::from_secs(5));
    let resp = answer.expect("a Binding response");
    assert_eq!(resp.len(), 32, "{resp:02x?}");
    assert_eq!(&resp[..2], &[0x01, 0x01], "Binding success");
    assert_eq!(&resp[8..20], &id, "same transaction");
    // XOR-MAPPED-ADDRESS: our own port and 127.0.0.1, XORed with the magic cookie.
    assert_eq!(&resp[20..26], &[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
    let port = u16::from_be_bytes([resp[26], resp[27]]) ^ 0x2112;
    assert_eq!(port, local.port());
    let ip: Vec<u8> = resp[28..32]
        .iter()
        .zip([0x21, 0x12, 0xa4, 0x42])
        .map(|(a, k)| a ^ k)
        .collect();
    assert_eq!(ip, [127, 0, 0, 1]);
}

#[test]
fn udp_stun_from_an_unknown_address_gets_nothing() {
    // Loopback is no trunk here, and nothing is registered from it.
    let (answer, _) = stun_exchange(
        "trunks = [\"192.0.2.10\"]",
        b"stranger-001",
        Duration::from_millis(700),
    );
    assert_eq!(answer, None, "no reflector for strangers");
}
