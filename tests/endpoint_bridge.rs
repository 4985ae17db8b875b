//! Bridged call flows through the sans-IO endpoint on a virtual clock: the caller's
//! leg, the outbound legs to managers' phones, failover, ring-all, transfer. Every
//! SIP message either side sends is checked as text.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use switchboard::call::plan::PlanProgram;
use switchboard::call::{CallKey, MediaCommand, MediaEvent};
use switchboard::config::{ServerConfig, load_str};
use switchboard::endpoint::{CallEvent, EndCause, Endpoint, EndpointConfig, Output};
use switchboard::sip::{Peer, Transport};
use switchboard::store::{RingOutcome, StoreWrite};

const PLAN: &str = r#"
[[numbers]]
number = "1000"
source = "google-ads"
action = "department:sales"

[[numbers]]
number = "2000"
source = "vip"
action = "department:team"

[departments.sales]
members = ["andrew", "elena"]
strategy = "round-robin"
ring_timeout_secs = 10
overflow = "hangup"

[departments.team]
members = ["andrew", "elena"]
strategy = "ring-all"
ring_timeout_secs = 15
overflow = "hangup"

[departments.support]
members = ["sofia"]
overflow = "hangup"

[managers.andrew]
extension = "101"
name = "Andrew Smith"
contact = "sip:101@10.0.0.5:5060"

[managers.elena]
extension = "102"
contact = "sip:102@10.0.0.6:5060"

[managers.sofia]
extension = "104"
contact = "sip:104@10.0.0.7:5060"

[transfer]
code = "*2"
keys = { "3" = "department:support" }
"#;

const ANDREW: &str = "10.0.0.5:5060";
const ELENA: &str = "10.0.0.6:5060";
const SOFIA: &str = "10.0.0.7:5060";
const TRUNK: &str = "10.0.0.1:5070";

const CALLER_SDP: &str = "v=0\r\no=trunk 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

fn phone_sdp(port: u16, pt: u8) -> String {
    format!(
        "v=0\r\no=phone 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio {port} RTP/AVP {pt} 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    )
}

fn udp(addr: &str) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: addr.parse().unwrap(),
    }
}

struct H {
    ep: Endpoint,
    now: Instant,
    wall: Timestamp,
    /// (destination, message) in order.
    sent: Vec<(String, String)>,
    media: Vec<MediaCommand>,
    events: Vec<CallEvent>,
    attempts: Vec<(String, RingOutcome)>,
    caller_tag: String,
}

impl H {
    fn new(trunks: &str) -> Self {
        let path = Path::new("plan.toml");
        let plan = Arc::new(
            load_str(PLAN, path, None)
                .unwrap_or_else(|e| panic!("{e}"))
                .plan,
        );
        let server = ServerConfig {
            trunks: vec![trunks.parse().unwrap()],
            ..ServerConfig::default()
        };
        let cfg = EndpointConfig::from_server(&server, "127.0.0.1:5060".parse().unwrap());
        let ep = Endpoint::new(
            cfg,
            Box::new(move |_, states| {
                Box::new(PlanProgram::new(
                    plan.clone(),
                    states.clone(),
                    None,
                    Box::new(|_| false),
                ))
            }),
            11,
        );
        H {
            ep,
            now: Instant::now(),
            wall: "2026-11-23T10:00:00Z".parse().unwrap(),
            sent: vec![],
            media: vec![],
            events: vec![],
            attempts: vec![],
            caller_tag: String::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(o) = self.ep.poll_output() {
            match o {
                Output::Transmit(t) => self.sent.push((
                    t.peer.addr.to_string(),
                    String::from_utf8_lossy(&t.payload).to_string(),
                )),
                Output::Media(m) => self.media.push(m),
                Output::Event(e) => self.events.push(e),
                Output::Store(w) => {
                    if let StoreWrite::RingAttempt(a) = *w {
                        self.attempts.push((a.manager, a.outcome));
                    }
                }
            }
        }
    }

    fn sip_from(&mut self, from: &str, text: &str) {
        self.ep
            .handle_sip(self.now, self.wall, udp(from), text.as_bytes());
        self.drain();
    }

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

    fn caller_key(&self) -> CallKey {
        self.events
            .iter()
            .find_map(|e| match e {
                CallEvent::Started { key, .. } => Some(*key),
                _ => None,
            })
            .unwrap()
    }

    /// The caller dials `number`, we answer, the caller ACKs, the announcement plays
    /// to its end.
    fn caller_calls(&mut self, number: &str) {
        let invite = format!(
            "INVITE sip:{number}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKc1\r\nFrom: \"Alice\" <sip:5551234@10.0.0.1>;tag=t1\r\nTo: <sip:{number}@127.0.0.1>\r\nCall-ID: caller-1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{TRUNK}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{CALLER_SDP}",
            CALLER_SDP.len()
        );
        self.sip_from(TRUNK, &invite);
        let ok = self
            .take_to(TRUNK)
            .into_iter()
            .find(|m| m.starts_with("SIP/2.0 200"))
            .unwrap();
        self.caller_tag = header(&ok, "To").split("tag=").nth(1).unwrap().to_string();
        let ack = self.caller_request("ACK", 1, "");
        self.sip_from(TRUNK, &ack);
        // The plan announces the department, then connects.
        let play = self.last_play().unwrap();
        assert_eq!(play.1, vec!["connecting"]);
        let key = self.caller_key();
        self.ep.handle_media_event(
            self.now,
            self.wall,
            key,
            MediaEvent::PlaybackFinished { play_id: play.0 },
        );
        self.drain();
    }

    fn caller_request(&self, method: &str, cseq: u32, extra: &str) -> String {
        format!(
            "{method} sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKc{method}{cseq}\r\nFrom: \"Alice\" <sip:5551234@10.0.0.1>;tag=t1\r\nTo: <sip:1000@127.0.0.1>;tag={}\r\nCall-ID: caller-1\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n",
            self.caller_tag
        )
    }

    fn last_play(&self) -> Option<(u32, Vec<String>)> {
        self.media.iter().rev().find_map(|m| match m {
            MediaCommand::Play {
                play_id, prompts, ..
            } => Some((*play_id, prompts.clone())),
            _ => None,
        })
    }

    /// Messages sent to `dest` since the last call, oldest first.
    fn take_to(&mut self, dest: &str) -> Vec<String> {
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.sent)
            .into_iter()
            .partition(|(d, _)| d == dest);
        self.sent = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }

    fn request_to(&mut self, dest: &str, method: &str) -> String {
        let all = self.take_to(dest);
        all.iter()
            .find(|m| m.starts_with(&format!("{method} ")))
            .cloned()
            .unwrap_or_else(|| panic!("no {method} to {dest} in {all:#?}"))
    }

    fn connected(&self) -> Option<String> {
        self.events.iter().find_map(|e| match e {
            CallEvent::Connected { manager, .. } => Some(manager.clone()),
            _ => None,
        })
    }

    fn ended(&self) -> Option<EndCause> {
        self.events.iter().find_map(|e| match e {
            CallEvent::Ended { cause, .. } => Some(cause.clone()),
            _ => None,
        })
    }

    fn assert_clean(&mut self) {
        self.advance(Duration::from_secs(120));
        assert_eq!(self.ep.active_calls(), 0, "call leaked");
        assert_eq!(self.ep.transactions(), 0, "transaction leaked");
    }
}

fn header(msg: &str, name: &str) -> String {
    msg.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {msg}"))
        .trim()
        .to_string()
}

/// A phone's response to a request we sent: same Via/From/Call-ID/CSeq, its To tag.
fn reply(req: &str, status: &str, to_tag: &str, body: Option<&str>) -> String {
    let mut r = format!(
        "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag={to_tag}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:phone@10.0.0.5:5060>\r\n",
        header(req, "Via"),
        header(req, "From"),
        header(req, "To"),
        header(req, "Call-ID"),
        header(req, "CSeq"),
    );
    match body {
        Some(b) => r.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        )),
        None => r.push_str("Content-Length: 0\r\n\r\n"),
    }
    r
}

/// A request from a manager's phone inside the leg's dialog (we are the leg's UAC, so
/// our From tag is the dialog's remote tag for them).
fn phone_request(invite: &str, method: &str, cseq: u32, my_tag: &str, extra: &str) -> String {
    let phone = invite
        .split_whitespace()
        .nth(1)
        .and_then(|uri| uri.split('@').nth(1))
        .unwrap()
        .to_string();
    let our_from = header(invite, "From");
    let our_to = header(invite, "To");
    format!(
        "{method} sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {phone};branch=z9hG4bKp{method}{cseq}\r\nFrom: {our_to};tag={my_tag}\r\nTo: {our_from}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n",
        header(invite, "Call-ID")
    )
}

#[test]
fn a_department_call_rings_the_first_member_and_bridges_on_answer() {
    let mut h = H::new("10.0.0.0/8");
    h.caller_calls("1000");
    let invite = h.request_to(ANDREW, "INVITE");
    assert!(
        invite.starts_with("INVITE sip:101@10.0.0.5:5060 SIP/2.0"),
        "{invite}"
    );
    // The phone shows who calls and why.
    assert_eq!(
        header(&invite, "From").split(";tag").next().unwrap(),
        "\"Alice\" <sip:5551234@127.0.0.1:5060>"
    );
    assert_eq!(
        header(&invite, "P-Asserted-Identity"),
        "\"Alice\" <sip:5551234@127.0.0.1:5060>"
    );
    assert_eq!(header(&invite, "X-Switchboard-Source"), "google-ads");
    assert_eq!(header(&invite, "X-Switchboard-Department"), "sales");
    assert_eq!(header(&invite, "X-Switchboard-Dialled"), "1000");
    assert_eq!(header(&invite, "X-Switchboard-Call-ID"), "caller-1");
    assert!(
        invite.contains("m=audio") && invite.contains("RTP/AVP 0 8 101"),
        "caller's law first: {invite}"
    );
    assert_eq!(
        h.last_play().unwrap().1,
        vec!["ringback"],
        "the caller hears ringback"
    );

    h.sip_from(ANDREW, &reply(&invite, "180 Ringing", "a1", None));
    h.sip_from(
        ANDREW,
        &reply(&invite, "200 OK", "a1", Some(&phone_sdp(30000, 0))),
    );
    let ack = h.request_to(ANDREW, "ACK");
    assert!(
        ack.starts_with("ACK sip:phone@10.0.0.5:5060 SIP/2.0"),
        "{ack}"
    );
    assert!(header(&ack, "CSeq").starts_with("1 ACK"));
    assert_eq!(h.connected().as_deref(), Some("andrew"));
    let caller = h.caller_key();
    let (leg, remote) = h
        .media
        .iter()
        .find_map(|m| match m {
            MediaCommand::Open { call, params, .. } if *call != caller => {
                Some((*call, params.remote))
            }
            _ => None,
        })
        .expect("the manager's leg media is opened");
    assert_eq!(remote, Some("10.0.0.5:30000".parse().unwrap()));
    assert!(
        h.media
            .contains(&MediaCommand::Bridge { a: caller, b: leg })
    );
    assert_eq!(
        h.attempts,
        vec![("andrew".to_string(), RingOutcome::Answered)]
    );

    // A retransmitted 200 (our ACK was lost) is ACKed again.
    h.sip_from(
        ANDREW,
        &reply(&invite, "200 OK", "a1", Some(&phone_sdp(30000, 0))),
    );
    assert!(h.take_to(ANDREW).iter().any(|m| m.starts_with("ACK ")));

    // The caller hangs up: the manager's leg gets BYE.
    let bye = h.caller_request("BYE", 2, "");
    h.sip_from(TRUNK, &bye);
    assert!(h.take_to(TRUNK)[0].starts_with("SIP/2.0 200 OK"));
    let bye = h.request_to(ANDREW, "BYE");
    h.sip_from(ANDREW, &reply(&bye, "200 OK", "a1", None));
    assert_eq!(h.ended(), Some(EndCause::CallerHungUp));
    assert!(h.media.contains(&MediaCommand::Close { call: leg }));
    h.assert_clean();
}

#[test]
fn no_answer_fails_over_to_the_next_member_and_busy_everywhere_overflows() {
    let mut h = H::new("10.0.0.0/8");
    h.caller_calls("1000");
    let first = h.request_to(ANDREW, "INVITE");
    h.sip_from(ANDREW, &reply(&first, "180 Ringing", "a1", None));
    h.advance(Duration::from_secs(10));
    // Andrew's 10 s are up: CANCEL him, ring Elena.
    let cancel = h.request_to(ANDREW, "CANCEL");
    let second = h.request_to(ELENA, "INVITE");
    h.sip_from(ANDREW, &reply(&cancel, "200 OK", "a1", None));
    h.sip_from(ANDREW, &reply(&first, "487 Request Terminated", "a1", None));
    assert!(
        h.take_to(ANDREW).iter().any(|m| m.starts_with("ACK ")),
        "non-2xx ACK by the transaction"
    );
    // Elena is busy: nobody left → the department's overflow (hang up).
    h.sip_from(ELENA, &reply(&second, "486 Busy Here", "e1", None));
    assert_eq!(
        h.attempts,
        vec![
            ("andrew".to_string(), RingOutcome::NoAnswer),
            ("elena".to_string(), RingOutcome::Busy)
        ]
    );
    let bye = h.request_to(TRUNK, "BYE");
    h.sip_from(TRUNK, &reply(&bye, "200 OK", "t1", None));
    assert!(matches!(h.ended(), Some(EndCause::Completed(_))));
    assert_eq!(h.connected(), None);
    h.assert_clean();
}

#[test]
fn ring_all_bridges_the_first_to_answer_and_cancels_the_others() {
    let mut h = H::new("10.0.0.0/8");
    h.caller_calls("2000");
    let to_andrew = h.request_to(ANDREW, "INVITE");
    let to_elena = h.request_to(ELENA, "INVITE");
    h.sip_from(ANDREW, &reply(&to_andrew, "180 Ringing", "a1", None));
    h.sip_from(ELENA, &reply(&to_elena, "180 Ringing", "e1", None));
    h.sip_from(
        ELENA,
        &reply(&to_elena, "200 OK", "e1", Some(&phone_sdp(31000, 8))),
    );
    assert_eq!(h.connected().as_deref(), Some("elena"));
    let cancel = h.request_to(ANDREW, "CANCEL");
    h.sip_from(ANDREW, &reply(&cancel, "200 OK", "a1", None));
    h.sip_from(
        ANDREW,
        &reply(&to_andrew, "487 Request Terminated", "a1", None),
    );
    let mut attempts = h.attempts.clone();
    attempts.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        attempts,
        vec![
            ("andrew".to_string(), RingOutcome::Cancelled),
            ("elena".to_string(), RingOutcome::Answered)
        ]
    );
    // Elena hangs up: the caller gets BYE.
    let bye = phone_request(&to_elena, "BYE", 1, "e1", "");
    h.sip_from(ELENA, &bye);
    assert!(
        h.take_to(ELENA)
            .iter()
            .any(|m| m.starts_with("SIP/2.0 200 OK"))
    );
    let caller_bye = h.request_to(TRUNK, "BYE");
    h.sip_from(TRUNK, &reply(&caller_bye, "200 OK", "t1", None));
    assert_eq!(h.ended(), Some(EndCause::ManagerHungUp));
    h.assert_clean();
}

#[test]
fn a_cancelled_leg_that_answers_anyway_is_acked_and_hung_up() {
    let mut h = H::new("10.0.0.0/8");
    h.caller_calls("2000");
    let to_andrew = h.request_to(ANDREW, "INVITE");
    let to_elena = h.request_to(ELENA, "INVITE");
    h.sip_from(ANDREW, &reply(&to_andrew, "180 Ringing", "a1", None));
    h.sip_from(
        ELENA,
        &reply(&to_elena, "200 OK", "e1", Some(&phone_sdp(31000, 0))),
    );
    let _cancel = h.request_to(ANDREW, "CANCEL");
    // Andrew's 200 crossed our CANCEL (RFC 3261 §9.1).
    h.sip_from(
        ANDREW,
        &reply(&to_andrew, "200 OK", "a1", Some(&phone_sdp(30000, 0))),
    );
    let to_andrew_now = h.take_to(ANDREW);
    assert!(
        to_andrew_now.iter().any(|m| m.starts_with("ACK ")),
        "{to_andrew_now:?}"
    );
    assert!(
        to_andrew_now.iter().any(|m| m.starts_with("BYE ")),
        "{to_andrew_now:?}"
    );
    assert_eq!(h.connected().as_deref(), Some("elena"));
}

#[test]
fn caller_hanging_up_while_managers_ring_cancels_them() {
    let mut h = H::new("10.0.0.0/8");
    h.caller_calls("2000");
    let to_andrew = h.request_to(ANDREW, "INVITE");
    let to_elena = h.request_to(ELENA, "INVITE");
    h.sip_from(ANDREW, &reply(&to_andrew, "180 Ringing", "a1", None));
    h.sip_from(ELENA, &reply(&to_elena, "180 Ringing", "e1", None));
    let bye = h.caller_request("BYE", 2, "");
    h.sip_from(TRUNK, &bye);
    let c1 = h.request_to(ANDREW, "CANCEL");
    let c2 = h.request_to(ELENA, "CANCEL");
    h.sip_from(ANDREW, &reply(&c1, "200 OK", "a1", None));
    h.sip_from(ELENA, &reply(&c2, "200 OK", "e1", None));
    h.sip_from(
        ANDREW,
        &reply(&to_andrew, "487 Request Terminated", "a1", None),
    );
    h.sip_from(
        ELENA,
        &reply(&to_elena, "487 Request Terminated", "e1", None),
    );
    assert_eq!(h.ended(), Some(EndCause::CallerHungUp));
    assert_eq!(h.attempts.len(), 2);
    assert!(h.attempts.iter().all(|(_, o)| *o == RingOutcome::Cancelled));
    h.assert_clean();
}

#[test]
fn refer_transfers_the_caller_to_another_department_with_context() {
    let mut h = H::new("10.0.0.0/8");
    h.caller_calls("1000");
    let invite = h.request_to(ANDREW, "INVITE");
    h.sip_from(
        ANDREW,
        &reply(&invite, "200 OK", "a1", Some(&phone_sdp(30000, 0))),
    );
    h.take_to(ANDREW);
    let refer = phone_request(
        &invite,
        "REFER",
        1,
        "a1",
        "Refer-To: <sip:support@127.0.0.1>\r\nReferred-By: <sip:101@10.0.0.5>\r\n",
    );
    h.sip_from(ANDREW, &refer);
    let to_andrew = h.take_to(ANDREW);
    assert!(
        to_andrew[0].starts_with("SIP/2.0 202 Accepted"),
        "{to_andrew:?}"
    );
    let notify = to_andrew
        .iter()
        .find(|m| m.starts_with("NOTIFY "))
        .expect("NOTIFY");
    assert_eq!(header(notify, "Event"), "refer");
    assert!(notify.ends_with("SIP/2.0 200 OK\r\n"), "{notify}");
    assert!(
        to_andrew.iter().any(|m| m.starts_with("BYE ")),
        "{to_andrew:?}"
    );
    assert!(h.events.iter().any(|e| matches!(e, CallEvent::Transferred { from, to, .. } if from == "andrew" && to == "department:support")));
    // The caller hears the announcement, then Sofia's phone rings with the context.
    let key = h.caller_key();
    let play = h.last_play().unwrap();
    h.ep.handle_media_event(
        h.now,
        h.wall,
        key,
        MediaEvent::PlaybackFinished { play_id: play.0 },
    );
    h.drain();
    let to_sofia = h.request_to(SOFIA, "INVITE");
    assert_eq!(header(&to_sofia, "X-Switchboard-Source"), "google-ads");
    assert_eq!(header(&to_sofia, "X-Switchboard-Department"), "support");
    assert!(
        header(&to_sofia, "X-Switchboard-Reason").starts_with("transferred by andrew"),
        "{to_sofia}"
    );
    assert_eq!(header(&to_sofia, "X-Switchboard-Call-ID"), "caller-1");
    // A REFER to anything outside the plan is refused.
    h.sip_from(
        SOFIA,
        &reply(&to_sofia, "200 OK", "s1", Some(&phone_sdp(32000, 0))),
    );
    let evil = phone_request(
        &to_sofia,
        "REFER",
        1,
        "s1",
        "Refer-To: <sip:+19005551234@evil.example>\r\n",
    );
    h.sip_from(SOFIA, &evil);
    assert!(
        h.take_to(SOFIA)
            .iter()
            .any(|m| m.starts_with("SIP/2.0 404"))
    );
}

#[test]
fn the_transfer_feature_code_pressed_by_the_manager_moves_the_call() {
    let mut h = H::new("10.0.0.0/8");
    h.caller_calls("1000");
    let invite = h.request_to(ANDREW, "INVITE");
    h.sip_from(
        ANDREW,
        &reply(&invite, "200 OK", "a1", Some(&phone_sdp(30000, 0))),
    );
    let caller = h.caller_key();
    let leg = h
        .media
        .iter()
        .find_map(|m| match m {
            MediaCommand::Open { call, .. } if *call != caller => Some(*call),
            _ => None,
        })
        .unwrap();
    for d in ['*', '2', '3'] {
        h.ep.handle_media_event(
            h.now,
            h.wall,
            leg,
            MediaEvent::Digit {
                digit: d,
                source: switchboard::call::DigitSource::Rfc4733,
            },
        );
        h.drain();
    }
    assert!(h.take_to(ANDREW).iter().any(|m| m.starts_with("BYE ")));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, CallEvent::Transferred { to, .. } if to == "department:support"))
    );
}

#[test]
fn invites_from_outside_the_trunks_get_403() {
    let mut h = H::new("192.0.2.0/24");
    let invite = format!(
        "INVITE sip:1000@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKx\r\nFrom: <sip:5551234@10.0.0.1>;tag=t1\r\nTo: <sip:1000@127.0.0.1>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContact: <sip:a@{TRUNK}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{CALLER_SDP}",
        CALLER_SDP.len()
    );
    h.sip_from(TRUNK, &invite);
    let sent = h.take_to(TRUNK);
    assert!(
        sent.iter().any(|m| m.starts_with("SIP/2.0 403")),
        "{sent:?}"
    );
    assert_eq!(h.ep.active_calls(), 0);
}

/// Bridged with andrew; returns the leg's media key.
fn bridged_with_andrew(h: &mut H) -> (String, CallKey) {
    h.caller_calls("1000");
    let invite = h.request_to(ANDREW, "INVITE");
    h.sip_from(
        ANDREW,
        &reply(&invite, "200 OK", "a1", Some(&phone_sdp(30000, 0))),
    );
    h.take_to(ANDREW);
    let caller = h.caller_key();
    let leg = h
        .media
        .iter()
        .find_map(|m| match m {
            MediaCommand::Open { call, .. } if *call != caller => Some(*call),
            _ => None,
        })
        .unwrap();
    (invite, leg)
}

#[test]
fn the_manager_holding_the_call_plays_hold_music_to_the_caller() {
    let mut h = H::new("10.0.0.0/8");
    let (invite, leg) = bridged_with_andrew(&mut h);
    let caller = h.caller_key();
    let sdp = phone_sdp(30000, 0).replace(
        "telephone-event/8000\r\n",
        "telephone-event/8000\r\na=sendonly\r\n",
    );
    let hold = phone_request(
        &invite,
        "INVITE",
        2,
        "a1",
        "Content-Type: application/sdp\r\n",
    )
    .replace(
        "Content-Length: 0\r\n\r\n",
        &format!("Content-Length: {}\r\n\r\n{sdp}", sdp.len()),
    );
    h.sip_from(ANDREW, &hold);
    let sent = h.take_to(ANDREW);
    let answer = sent
        .iter()
        .find(|m| m.starts_with("SIP/2.0 200 OK"))
        .expect("200 OK");
    assert!(answer.contains("a=recvonly"), "{answer}");
    assert!(h.media.contains(&MediaCommand::Unbridge { call: caller }));
    assert_eq!(h.last_play().unwrap().1, vec!["hold_music"]);
    // Off hold: bridged again.
    let sdp = phone_sdp(30000, 0);
    let unhold = phone_request(
        &invite,
        "INVITE",
        3,
        "a1",
        "Content-Type: application/sdp\r\n",
    )
    .replace(
        "Content-Length: 0\r\n\r\n",
        &format!("Content-Length: {}\r\n\r\n{sdp}", sdp.len()),
    );
    h.media.clear();
    h.sip_from(ANDREW, &unhold);
    assert!(
        h.media
            .contains(&MediaCommand::Bridge { a: caller, b: leg }),
        "{:?}",
        h.media
    );
}

#[test]
fn silence_on_the_manager_leg_ends_both_legs() {
    let mut h = H::new("10.0.0.0/8");
    let (_invite, leg) = bridged_with_andrew(&mut h);
    h.ep.handle_media_event(h.now, h.wall, leg, MediaEvent::RtpTimeout);
    h.drain();
    assert!(h.take_to(ANDREW).iter().any(|m| m.starts_with("BYE ")));
    assert!(h.take_to(TRUNK).iter().any(|m| m.starts_with("BYE ")));
    assert_eq!(h.ended(), Some(EndCause::RtpTimeout));
}
