//! Property test: any interleaving of inputs, retransmissions, TU answers and timeouts
//! neither panics nor leaks a transaction once every request got a final answer.

use std::time::Instant;

use proptest::prelude::*;

use super::test_util::*;
use super::{ServerKey, TuEvent};
use crate::sip::response::make_response;
use crate::sip::rsip;

#[derive(Debug, Clone)]
enum Op {
    /// A request from the peer: method index, branch index, whether it's new or a copy.
    Receive(usize, usize),
    /// An ACK with the INVITE's branch (non-2xx ACK) or a fresh one (2xx ACK).
    Ack(usize, bool),
    /// The TU answers the n-th request it was given.
    Answer(usize, u16),
    /// We send a request.
    Send(usize, bool),
    /// The far end answers the n-th request we sent.
    Respond(usize, u16),
    /// Time passes.
    Advance(u64),
}

const METHODS: [&str; 4] = ["INVITE", "BYE", "OPTIONS", "CANCEL"];
const CODES: [u16; 6] = [100, 180, 200, 404, 486, 487];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..METHODS.len(), 0..4usize).prop_map(|(m, b)| Op::Receive(m, b)),
        (0..4usize, any::<bool>()).prop_map(|(b, fresh)| Op::Ack(b, fresh)),
        (0..8usize, 0..CODES.len()).prop_map(|(n, c)| Op::Answer(n, CODES[c])),
        (0..3usize, any::<bool>()).prop_map(|(m, tcp)| Op::Send(m, tcp)),
        (0..8usize, 0..CODES.len()).prop_map(|(n, c)| Op::Respond(n, CODES[c])),
        (0..40_000u64).prop_map(Op::Advance),
    ]
}

fn run(ops: Vec<Op>) {
    let t0 = Instant::now();
    let mut now = t0;
    let mut l = layer();
    let mut given: Vec<(ServerKey, rsip::Request)> = Vec::new();
    let mut sent: Vec<(rsip::Request, crate::sip::Peer)> = Vec::new();
    let collect = |l: &mut super::TransactionLayer, given: &mut Vec<_>| {
        for e in events(l) {
            if let TuEvent::Request { key, req, .. } = e {
                given.push((key, req));
            }
        }
    };
    for op in ops {
        match op {
            Op::Receive(m, b) => {
                let method = METHODS[m];
                l.handle_request(now, req(method, &format!("z9hG4bKp{b}"), 1), udp());
            }
            Op::Ack(b, fresh) => {
                let branch = if fresh {
                    format!("z9hG4bKack{b}")
                } else {
                    format!("z9hG4bKp{b}")
                };
                l.handle_request(now, req("ACK", &branch, 1), udp());
            }
            Op::Answer(n, code) => {
                if let Some((key, r)) = given.get(n % given.len().max(1)) {
                    l.send_response(now, key.clone(), make_response(r, code, Some("t")));
                }
            }
            Op::Send(m, tcp_peer) => {
                let peer = if tcp_peer { tcp() } else { udp() };
                let method = ["INVITE", "BYE", "OPTIONS"][m];
                let r = req(method, "unused", 1);
                // Strip the branch so the layer generates one.
                let mut r = r;
                r.headers.retain(|h| !matches!(h, rsip::Header::Via(_)));
                r.headers.push_front(rsip::Header::Via(rsip::Via::new(
                    "SIP/2.0/UDP 198.51.100.1:5060",
                )));
                let _ = l.send_request(now, r, peer);
                for t in transmits(&mut l) {
                    if let Ok(w) = rsip::Request::try_from(t.payload.to_vec())
                        && w.method != rsip::Method::Ack
                    {
                        sent.push((w, peer));
                    }
                }
            }
            Op::Respond(n, code) => {
                if let Some((w, peer)) = sent.get(n % sent.len().max(1)) {
                    l.handle_response(now, make_response(w, code, Some("far")), *peer);
                }
            }
            Op::Advance(d) => {
                now += ms(d);
                l.handle_timeout(now);
            }
        }
        let _ = transmits(&mut l);
        collect(&mut l, &mut given);
    }
    // Every request gets a final answer from both sides, then time runs out.
    for (key, r) in &given {
        l.send_response(now, key.clone(), make_response(r, 486, Some("t")));
    }
    for (w, peer) in &sent {
        l.handle_response(now, make_response(w, 486, Some("far")), *peer);
    }
    finish(&mut l, now);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_interleavings_never_panic_or_leak(ops in proptest::collection::vec(op(), 0..40)) {
        run(ops);
    }
}
