//! Whole call flows through the sans-IO endpoint on a virtual clock: no sockets, no
//! sleeping, every retransmission and timer exact.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use switchboard::call::{DemoIvr, DigitSource, MediaCommand, MediaEvent};
use switchboard::config::ServerConfig;
use switchboard::endpoint::{CallEvent, EndCause, Endpoint, EndpointConfig, Output};
use switchboard::sip::{Peer, Transport};

const TRUNK: &str = "10.0.0.1:5070";

fn endpoint(ring_ms: u64) -> Endpoint {
    let server = ServerConfig {
        ring_before_answer_ms: ring_ms,
        trunks: vec!["10.0.0.0/8".parse().unwrap()],
        ..ServerConfig::default()
    };
    let cfg = EndpointConfig::from_server(&server, "127.0.0.1:5060".parse().unwrap());
    Endpoint::new(cfg, Box::new(|_| Box::new(DemoIvr::default())), 7)
}

fn peer() -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: TRUNK.parse().unwrap(),
    }
}

const SDP: &str = "v=0\r\no=trunk 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n";

fn invite(call_id: &str, branch: &str, sdp: &str) -> String {
    format!(
        "INVITE sip:1000@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch={branch}\r\nFrom: \"Alice\" <sip:5551234@10.0.0.1>;tag=t1\r\nTo: <sip:1000@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@10.0.0.1:5070>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

fn in_dialog(
    method: &str,
    call_id: &str,
    to_tag: &str,
    cseq: u32,
    branch: &str,
    extra: &str,
    body: &str,
) -> String {
    format!(
        "{method} sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch={branch}\r\nFrom: \"Alice\" <sip:5551234@10.0.0.1>;tag=t1\r\nTo: <sip:1000@127.0.0.1>;tag={to_tag}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

struct Harness {
    ep: Endpoint,
    now: Instant,
    wall: Timestamp,
    sent: Vec<String>,
    media: Vec<MediaCommand>,
    events: Vec<CallEvent>,
}

impl Harness {
    fn new(ring_ms: u64) -> Self {
        Self {
            ep: endpoint(ring_ms),
            now: Instant::now(),
            wall: Timestamp::UNIX_EPOCH,
            sent: vec![],
            media: vec![],
            events: vec![],
        }
    }
    fn drain(&mut self) {
        while let Some(o) = self.ep.poll_output() {
            match o {
                Output::Transmit(t) => self
                    .sent
                    .push(String::from_utf8_lossy(&t.payload).to_string()),
                Output::Media(m) => self.media.push(m),
                Output::Event(e) => self.events.push(e),
                // The demo IVR routes no returning callers: nothing is looked up.
                Output::Store(_) | Output::Lookup(_) | Output::Claim(_) => {}
            }
        }
    }
    fn sip(&mut self, text: &str) {
        self.ep
            .handle_sip(self.now, self.wall, peer(), text.as_bytes());
        self.drain();
    }
    fn media_event(&mut self, ev: MediaEvent) {
        let call = self.call_key();
        self.ep.handle_media_event(self.now, self.wall, call, ev);
        self.drain();
    }
    fn call_key(&self) -> switchboard::call::CallKey {
        self.events
            .iter()
            .find_map(|e| match e {
                CallEvent::Started { key, .. } => Some(*key),
                _ => None,
            })
            .expect("a call started")
    }
    /// Advance the virtual clock, firing every timer on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.ep.poll_timeout() {
            if t > end {
                break;
            }
            self.now = t.max(self.now);
            self.ep.handle_timeout(self.now, self.wall);
            self.drain();
        }
        self.now = end;
    }
    fn take_sent(&mut self) -> Vec<String> {
        std::mem::take(&mut self.sent)
    }
    fn last_play(&self) -> Option<(u32, Vec<String>)> {
        self.media.iter().rev().find_map(|m| match m {
            MediaCommand::Play {
                play_id, prompts, ..
            } => Some((*play_id, prompts.clone())),
            _ => None,
        })
    }
    fn to_tag(&self) -> String {
        let ok = self
            .sent
            .iter()
            .chain(std::iter::empty())
            .find(|s| s.starts_with("SIP/2.0 200"))
            .cloned();
        let ok = ok.expect("200 OK sent");
        let to = ok
            .lines()
            .find(|l| l.starts_with("To:"))
            .unwrap()
            .to_string();
        to.split("tag=").nth(1).unwrap().trim().to_string()
    }
    fn assert_clean(&mut self) {
        self.advance(Duration::from_secs(120));
        assert_eq!(self.ep.active_calls(), 0, "call leaked");
        assert_eq!(self.ep.transactions(), 0, "transaction leaked");
    }
}

fn status_lines(sent: &[String]) -> Vec<String> {
    sent.iter()
        .map(|s| s.lines().next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn full_ivr_call_digit_by_rfc4733_then_bye_from_us() {
    let mut h = Harness::new(0);
    h.sip(&invite("c1", "z9hG4bKinv1", SDP));
    // Answered at once, so no 100 Trying before the 200 (RFC 3261 §17.2.1).
    let first = status_lines(&h.sent);
    assert_eq!(first[0], "SIP/2.0 200 OK");
    assert!(
        h.sent[0].contains("m=audio") && h.sent[0].contains("RTP/AVP 0 101"),
        "{}",
        h.sent[0]
    );
    assert!(matches!(h.media[0], MediaCommand::Open { .. }));
    let tag = h.to_tag();
    // 2xx is retransmitted until the ACK (RFC 3261 §13.3.1.4)
    h.take_sent();
    h.advance(Duration::from_millis(600));
    assert_eq!(status_lines(&h.take_sent()), vec!["SIP/2.0 200 OK"]);
    h.sip(&in_dialog("ACK", "c1", &tag, 1, "z9hG4bKack1", "", ""));
    assert_eq!(h.last_play().unwrap().1, vec!["welcome"]);
    h.advance(Duration::from_secs(2));
    assert!(h.take_sent().is_empty(), "no retransmission after ACK");

    h.media_event(MediaEvent::Digit {
        digit: '4',
        source: DigitSource::Rfc4733,
    });
    assert!(
        h.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StopPlayback { .. })),
        "barge-in"
    );
    let (play, prompts) = h.last_play().unwrap();
    assert_eq!(prompts, vec!["you_pressed", "digit_4", "goodbye"]);
    let ended = h.now;
    h.media_event(MediaEvent::PlaybackFinished {
        play_id: play,
        ended,
    });
    let sent = h.take_sent();
    assert!(
        sent[0].starts_with("BYE sip:alice@10.0.0.1:5070 SIP/2.0"),
        "{sent:?}"
    );
    assert!(matches!(h.media.last(), Some(MediaCommand::Close { .. })));
    // answer our BYE
    let bye = &sent[0];
    let via = bye.lines().find(|l| l.starts_with("Via:")).unwrap();
    let from = bye.lines().find(|l| l.starts_with("From:")).unwrap();
    let to = bye.lines().find(|l| l.starts_with("To:")).unwrap();
    h.sip(&format!("SIP/2.0 200 OK\r\n{via}\r\n{from}\r\n{to}\r\nCall-ID: c1\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"));
    assert!(h.events.iter().any(|e| matches!(
        e,
        CallEvent::Ended {
            cause: EndCause::PlanEnded(_),
            ..
        }
    )));
    h.assert_clean();
}

#[test]
fn digit_by_sip_info_and_caller_bye() {
    let mut h = Harness::new(0);
    h.sip(&invite("c2", "z9hG4bKinv2", SDP));
    let tag = h.to_tag();
    h.sip(&in_dialog("ACK", "c2", &tag, 1, "z9hG4bKack2", "", ""));
    h.take_sent();
    h.sip(&in_dialog(
        "INFO",
        "c2",
        &tag,
        2,
        "z9hG4bKinfo",
        "Content-Type: application/dtmf-relay\r\n",
        "Signal=7\r\nDuration=160\r\n",
    ));
    assert_eq!(status_lines(&h.take_sent()), vec!["SIP/2.0 200 OK"]);
    assert_eq!(
        h.last_play().unwrap().1,
        vec!["you_pressed", "digit_7", "goodbye"]
    );
    h.sip(&in_dialog("BYE", "c2", &tag, 3, "z9hG4bKbye", "", ""));
    assert_eq!(status_lines(&h.take_sent()), vec!["SIP/2.0 200 OK"]);
    assert!(h.events.iter().any(|e| matches!(
        e,
        CallEvent::Ended {
            cause: EndCause::CallerHungUp,
            ..
        }
    )));
    h.assert_clean();
}

#[test]
fn cancel_while_ringing_gets_487_and_cancel_after_answer_does_not() {
    let mut h = Harness::new(2000);
    h.sip(&invite("c3", "z9hG4bKinv3", SDP));
    assert_eq!(status_lines(&h.take_sent()), vec!["SIP/2.0 180 Ringing"]);
    let cancel = invite("c3", "z9hG4bKinv3", "")
        .replace("INVITE sip", "CANCEL sip")
        .replace("1 INVITE", "1 CANCEL");
    h.sip(&cancel);
    let lines = status_lines(&h.take_sent());
    assert_eq!(
        lines,
        vec!["SIP/2.0 200 OK", "SIP/2.0 487 Request Terminated"]
    );
    assert!(h.media.is_empty(), "no media for a call never answered");
    h.assert_clean();

    // CANCEL racing with the 200: the call stays up.
    let mut h = Harness::new(0);
    h.sip(&invite("c4", "z9hG4bKinv4", SDP));
    h.take_sent();
    let cancel = invite("c4", "z9hG4bKinv4", "")
        .replace("INVITE sip", "CANCEL sip")
        .replace("1 INVITE", "1 CANCEL");
    h.sip(&cancel);
    assert_eq!(status_lines(&h.take_sent()), vec!["SIP/2.0 200 OK"]);
    assert_eq!(h.ep.active_calls(), 1);
}

#[test]
fn retransmitted_invite_creates_one_call() {
    let mut h = Harness::new(1000);
    h.sip(&invite("c5", "z9hG4bKinv5", SDP));
    h.sip(&invite("c5", "z9hG4bKinv5", SDP));
    assert_eq!(h.ep.active_calls(), 1);
    h.advance(Duration::from_millis(1000));
    assert_eq!(
        h.sent
            .iter()
            .filter(|s| s.starts_with("SIP/2.0 200"))
            .count(),
        1
    );
}

#[test]
fn no_ack_ends_the_call_with_bye() {
    let mut h = Harness::new(0);
    h.sip(&invite("c6", "z9hG4bKinv6", SDP));
    h.take_sent();
    h.advance(Duration::from_secs(33)); // 64·T1 = 32 s
    let sent = h.take_sent();
    assert!(
        sent.iter().any(|s| s.starts_with("BYE ")),
        "{:?}",
        status_lines(&sent)
    );
    assert!(h.events.iter().any(|e| matches!(
        e,
        CallEvent::Ended {
            cause: EndCause::NoAck,
            ..
        }
    )));
}

#[test]
fn rtp_timeout_ends_the_call_with_bye() {
    let mut h = Harness::new(0);
    h.sip(&invite("c7", "z9hG4bKinv7", SDP));
    let tag = h.to_tag();
    h.sip(&in_dialog("ACK", "c7", &tag, 1, "z9hG4bKack7", "", ""));
    h.take_sent();
    h.media_event(MediaEvent::RtpTimeout);
    assert!(h.take_sent()[0].starts_with("BYE "));
}

#[test]
fn reinvite_hold_keeps_the_call() {
    let mut h = Harness::new(0);
    h.sip(&invite("c8", "z9hG4bKinv8", SDP));
    let tag = h.to_tag();
    h.sip(&in_dialog("ACK", "c8", &tag, 1, "z9hG4bKack8", "", ""));
    h.take_sent();
    let hold = SDP.replace("a=ptime:20\r\n", "a=ptime:20\r\na=sendonly\r\n");
    h.sip(&in_dialog(
        "INVITE",
        "c8",
        &tag,
        2,
        "z9hG4bKre",
        "Content-Type: application/sdp\r\n",
        &hold,
    ));
    let sent = h.take_sent();
    let ok = sent
        .iter()
        .find(|s| s.starts_with("SIP/2.0 200"))
        .expect("200 to re-INVITE");
    assert!(ok.contains("a=recvonly"), "{ok}");
    assert!(
        h.media
            .iter()
            .any(|m| matches!(m, MediaCommand::Update { params, .. } if params.hold))
    );
    assert_eq!(h.ep.active_calls(), 1);
}

#[test]
fn out_of_dialog_requests() {
    let mut h = Harness::new(0);
    // OPTIONS keepalive
    let options = invite("o1", "z9hG4bKopt", "")
        .replace("INVITE sip", "OPTIONS sip")
        .replace("1 INVITE", "1 OPTIONS");
    h.sip(&options);
    assert_eq!(status_lines(&h.take_sent()), vec!["SIP/2.0 200 OK"]);
    // BYE for a dialog we don't know
    h.sip(&in_dialog(
        "BYE",
        "nope",
        "unknown",
        2,
        "z9hG4bKbye9",
        "",
        "",
    ));
    assert_eq!(
        status_lines(&h.take_sent()),
        vec!["SIP/2.0 481 Call/Transaction Does Not Exist"]
    );
    // unknown method
    let unknown = options
        .replace("OPTIONS sip", "FOOBAR sip")
        .replace("1 OPTIONS", "1 FOOBAR")
        .replace("z9hG4bKopt", "z9hG4bKfoo");
    h.sip(&unknown);
    assert_eq!(
        status_lines(&h.take_sent())[0].split(' ').nth(1),
        Some("501")
    );
    // garbage with a Via we can answer
    h.sip("INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKbad\r\nContent-Length: 0\r\n\r\n");
    let sent = h.take_sent();
    assert!(
        sent.is_empty() || sent[0].starts_with("SIP/2.0 400"),
        "{sent:?}"
    );
    // G.729 only → 488
    let g729 = SDP.replace("RTP/AVP 0 8 101", "RTP/AVP 18").replace(
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
        "",
    );
    h.sip(&invite("g1", "z9hG4bKg729", &g729));
    assert!(status_lines(&h.take_sent()).contains(&"SIP/2.0 488 Not Acceptable Here".to_string()));
    // Issue 11: media to a multicast group or the broadcast address → 488.
    for (i, ip) in ["224.0.0.1", "255.255.255.255"].iter().enumerate() {
        let sdp = SDP.replace("c=IN IP4 10.0.0.1", &format!("c=IN IP4 {ip}"));
        assert_ne!(sdp, SDP, "the offer has a c= line to replace");
        h.sip(&invite(&format!("mc{i}"), &format!("z9hG4bKmc{i}"), &sdp));
        assert!(
            status_lines(&h.take_sent()).contains(&"SIP/2.0 488 Not Acceptable Here".to_string()),
            "{ip}"
        );
    }
    h.assert_clean();
}

/// RFC 3261 §18.2.2 / RFC 3581: where UDP responses go.
#[test]
fn udp_responses_follow_via_received_and_rport() {
    let options = |via_extra: &str| {
        format!(
            "OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKr{}{via_extra}\r\nFrom: <sip:a@10.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: r{}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            via_extra.len(),
            via_extra.len()
        )
    };
    let mut ep = endpoint(0);
    let now = Instant::now();
    // sent from port 40000 (a NAT mapping), Via says 5070
    let nat = Peer {
        transport: Transport::Udp,
        addr: "192.0.2.9:40000".parse().unwrap(),
    };
    let dest = |ep: &mut Endpoint, text: String| {
        ep.handle_sip(now, Timestamp::UNIX_EPOCH, nat, text.as_bytes());
        let mut to = None;
        while let Some(o) = ep.poll_output() {
            if let Output::Transmit(t) = o {
                to = Some(t.peer.addr.to_string());
            }
        }
        to
    };
    // no rport: received IP, sent-by port
    assert_eq!(
        dest(&mut ep, options("")).as_deref(),
        Some("192.0.2.9:5070")
    );
    // rport asked for: received IP and the source port
    assert_eq!(
        dest(&mut ep, options(";rport")).as_deref(),
        Some("192.0.2.9:40000")
    );
}

/// The caller's number and name of a call from `ep`'s trunk whose From hides the caller
/// and whose P-Asserted-Identity (RFC 3325) names them.
fn caller_of_asserted_invite(ep: Endpoint) -> String {
    let mut h = Harness {
        ep,
        ..Harness::new(0)
    };
    let text = invite("pai1", "z9hG4bKpai1", SDP).replace(
        "From: \"Alice\" <sip:5551234@10.0.0.1>;tag=t1\r\n",
        "From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=t1\r\n\
         P-Asserted-Identity: \"Bob\" <sip:+4930123456@10.0.0.1>, <tel:+4930123456>\r\n\
         Privacy: id\r\n",
    );
    h.sip(&text);
    let Some(info) = h.events.iter().find_map(|e| match e {
        CallEvent::Started { info, .. } => Some(info),
        _ => None,
    }) else {
        panic!("{:?}", h.events);
    };
    let name = info.caller_name.as_deref().unwrap_or_default();
    format!("{} {name}", info.caller)
}

#[test]
fn a_trunks_asserted_identity_is_the_caller_unless_the_admin_turns_it_off() {
    assert_eq!(caller_of_asserted_invite(endpoint(0)), "+4930123456 Bob");
    let server = ServerConfig {
        trunks: vec!["10.0.0.0/8".parse().unwrap()],
        trust_asserted_identity: false,
        ..ServerConfig::default()
    };
    let cfg = EndpointConfig::from_server(&server, "127.0.0.1:5060".parse().unwrap());
    let untrusting = Endpoint::new(cfg, Box::new(|_| Box::new(DemoIvr::default())), 7);
    assert_eq!(caller_of_asserted_invite(untrusting), "anonymous Anonymous");
}
