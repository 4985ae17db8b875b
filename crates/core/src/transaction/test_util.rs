//! Helpers for the transaction tests: messages from text, a virtual clock, draining.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{TransactionLayer, TuEvent};
use crate::sip::{Peer, Transmit, Transport, rsip};
use crate::transaction::SipTimers;

pub fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

pub fn layer() -> TransactionLayer {
    TransactionLayer::new(SipTimers::default(), 42)
}

pub fn udp() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: SocketAddr::from(([192, 0, 2, 10], 5060)),
    }
}

pub fn tcp() -> Peer {
    Peer {
        transport: Transport::Tcp,
        addr: SocketAddr::from(([192, 0, 2, 10], 5060)),
    }
}

pub fn tls() -> Peer {
    Peer {
        transport: Transport::Tls,
        addr: SocketAddr::from(([192, 0, 2, 10], 5061)),
    }
}

pub fn parse(text: &str) -> rsip::SipMessage {
    rsip::SipMessage::try_from(text).unwrap()
}

pub fn request(text: &str) -> rsip::Request {
    rsip::Request::try_from(parse(text)).unwrap()
}

/// A request `method` with top Via branch `branch` and CSeq `seq`.
pub fn req(method: &str, branch: &str, seq: u32) -> rsip::Request {
    let to_tag = if method == "INVITE" || method == "CANCEL" {
        ""
    } else {
        ";tag=ivr1"
    };
    request(&format!(
        "{method} sip:ivr@sb.test SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=alice1\r\n\
         To: <sip:ivr@sb.test>{to_tag}\r\n\
         Call-ID: call-1@example.com\r\n\
         CSeq: {seq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    ))
}

/// The response `code` the far end sends to our request `sent` (its Via copied).
pub fn answer(sent: &rsip::Request, code: u16) -> rsip::Response {
    crate::sip::response::make_response(sent, code, Some("far1"))
}

pub fn transmits(layer: &mut TransactionLayer) -> Vec<Transmit> {
    std::iter::from_fn(|| layer.poll_transmit()).collect()
}

pub fn events(layer: &mut TransactionLayer) -> Vec<TuEvent> {
    std::iter::from_fn(|| layer.poll_event()).collect()
}

/// First line of each transmit (`SIP/2.0 100 Trying`, `INVITE sip:… SIP/2.0`).
pub fn lines(ts: &[Transmit]) -> Vec<String> {
    ts.iter()
        .map(|t| {
            let text = String::from_utf8_lossy(&t.payload);
            text.lines().next().unwrap_or_default().to_string()
        })
        .collect()
}

/// Run every timer up to `now + 1 h`, collecting the instants at which transmits went
/// out, and assert that no transaction is left (the leak check every test ends with).
pub fn finish(layer: &mut TransactionLayer, now: Instant) -> Vec<(Instant, Transmit)> {
    let mut sent = Vec::new();
    let _ = events(layer);
    while let Some(at) = layer.poll_timeout() {
        assert!(
            at <= now + Duration::from_secs(3600),
            "timer far in the future"
        );
        layer.handle_timeout(at);
        for t in transmits(layer) {
            sent.push((at, t));
        }
        let _ = events(layer);
    }
    assert!(layer.is_empty(), "leaked transactions: {}", layer.len());
    assert_eq!(layer.len(), 0);
    sent
}

/// Things that happened, with their offset from t0 in ms.
pub type Trace<T> = Vec<(u128, T)>;

/// Advance the virtual clock timer by timer until `until`, returning (offset from t0
/// in ms, first line) for every transmit and every event on the way.
pub fn run_until(
    layer: &mut TransactionLayer,
    t0: Instant,
    until: Instant,
) -> (Trace<String>, Trace<TuEvent>) {
    let mut sent = Vec::new();
    let mut evs = Vec::new();
    while let Some(at) = layer.poll_timeout() {
        if at > until {
            break;
        }
        layer.handle_timeout(at);
        let off = (at - t0).as_millis();
        for line in lines(&transmits(layer)) {
            sent.push((off, line));
        }
        for e in events(layer) {
            evs.push((off, e));
        }
    }
    (sent, evs)
}
