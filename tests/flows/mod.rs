//! Harness for whole-call flows through the sans-IO endpoint on a virtual clock: a
//! caller on a trunk, managers' phones, every SIP message checked as text.
#![allow(dead_code)]

pub mod queue;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use switchboard::call::plan::PlanProgram;
use switchboard::call::{CallKey, Lookup, LookupResult, MediaCommand, MediaEvent};
use switchboard::config::{ServerConfig, load_str};
use switchboard::endpoint::{CallEvent, EndCause, Endpoint, EndpointConfig, Output};
use switchboard::sip::{Peer, Transport};
use switchboard::store::{NewCallback, RingOutcome, StoreWrite};

/// Number 2000 leads to a menu that waits a minute for a key (its prompt never ends
/// unless a test says so); a sales department of one. Plans may add `[[numbers]]`.
pub const WAITING_MENU: &str = r#"
[[numbers]]
number = "2000"
source = "main"
action = "menu:main"

[menus.main]
prompt = "main_menu"
options = { "1" = "department:sales" }
timeout_secs = 60

[departments.sales]
members = ["andrew"]

[managers.andrew]
extension = "101"
contact = "sip:101@10.0.0.5:5060"
"#;

pub const ANDREW: &str = "10.0.0.5:5060";
pub const ELENA: &str = "10.0.0.6:5060";
pub const SOFIA: &str = "10.0.0.7:5060";
pub const TRUNK: &str = "10.0.0.1:5070";

pub const CALLER_SDP: &str = "v=0\r\no=trunk 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

pub fn phone_sdp(port: u16, pt: u8) -> String {
    format!(
        "v=0\r\no=phone 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio {port} RTP/AVP {pt} 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    )
}

pub fn udp(addr: &str) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: addr.parse().unwrap(),
    }
}

pub struct H {
    pub plan: Arc<switchboard::config::DialPlan>,
    pub ep: Endpoint,
    pub now: Instant,
    pub wall: Timestamp,
    /// (destination, message) in order.
    pub sent: Vec<(String, String)>,
    pub media: Vec<MediaCommand>,
    pub events: Vec<CallEvent>,
    pub attempts: Vec<(String, RingOutcome)>,
    pub callbacks: Vec<NewCallback>,
    pub caller_tag: String,
    /// Every store write, in order.
    pub writes: Vec<StoreWrite>,
    /// How CRM lookups (`[lookup]`) are answered.
    pub crm: Crm,
    /// The CRM lookups the calls asked for, in order.
    pub crm_asked: Vec<Lookup>,
}

/// How the harness answers CRM lookups.
#[derive(Debug, Clone)]
pub enum Crm {
    /// At once, with this answer.
    Answer(switchboard::model::CrmAnswer),
    /// At once, with a failure.
    Fail,
    /// Never: the call's own timeout decides.
    Never,
}

impl H {
    pub fn new(trunks: &str, plan: &str) -> Self {
        Self::with_ring(trunks, plan, Duration::ZERO)
    }

    /// Like [`H::new`], ringing (180) for `ring` before answering.
    pub fn with_ring(trunks: &str, plan: &str, ring: Duration) -> Self {
        let path = Path::new("plan.toml");
        let plan = Arc::new(
            load_str(plan, path, None)
                .unwrap_or_else(|e| panic!("{e}"))
                .plan,
        );
        let server = ServerConfig {
            trunks: vec![trunks.parse().unwrap()],
            ring_before_answer_ms: u64::try_from(ring.as_millis()).unwrap(),
            ..ServerConfig::default()
        };
        let cfg = EndpointConfig::from_server(&server, "127.0.0.1:5060".parse().unwrap());
        let plan_for_test = plan.clone();
        let mut ep = Endpoint::new(
            cfg,
            Box::new(move |_| Box::new(PlanProgram::new(plan.clone(), Box::new(|_| false)))),
            11,
        );
        ep.set_plan(plan_for_test.clone());
        H {
            plan: plan_for_test,
            ep,
            now: Instant::now(),
            wall: "2026-11-23T10:00:00Z".parse().unwrap(),
            sent: vec![],
            media: vec![],
            events: vec![],
            attempts: vec![],
            callbacks: vec![],
            caller_tag: String::new(),
            writes: vec![],
            crm: Crm::Answer(Default::default()),
            crm_asked: vec![],
        }
    }

    pub fn drain(&mut self) {
        let mut lookups = Vec::new();
        let mut crm = Vec::new();
        while let Some(o) = self.ep.poll_output() {
            match o {
                // Nobody called before: answer history lookups at once.
                Output::Lookup(Lookup::History { call, .. }) => lookups.push(call),
                Output::Lookup(l @ Lookup::Crm { call, .. }) => {
                    self.crm_asked.push(l);
                    crm.push(call);
                }
                Output::Transmit(t) => self.sent.push((
                    t.peer.addr.to_string(),
                    String::from_utf8_lossy(&t.payload).to_string(),
                )),
                Output::Media(m) => self.media.push(m),
                Output::Event(e) => self.events.push(e),
                Output::Store(w) => {
                    self.writes.push((*w).clone());
                    match *w {
                        StoreWrite::RingAttempt(a) => self.attempts.push((a.manager, a.outcome)),
                        StoreWrite::Callback { request, .. } => self.callbacks.push(request),
                        _ => {}
                    }
                }
                Output::Claim(c) => panic!("a single instance claims nothing: {c:?}"),
            }
        }
        for call in lookups {
            self.ep
                .handle_lookup(self.now, self.wall, call, LookupResult::History(None));
            self.drain();
        }
        for call in crm {
            let result = match &self.crm {
                Crm::Answer(a) => Ok(a.clone()),
                Crm::Fail => Err(switchboard::call::LookupFailure::Error),
                Crm::Never => continue,
            };
            self.ep
                .handle_lookup(self.now, self.wall, call, LookupResult::Crm(result));
            self.drain();
        }
    }

    pub fn sip_from(&mut self, from: &str, text: &str) {
        self.ep
            .handle_sip(self.now, self.wall, udp(from), text.as_bytes());
        self.drain();
    }

    pub fn advance(&mut self, d: Duration) {
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

    pub fn caller_key(&self) -> CallKey {
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
    pub fn caller_calls(&mut self, number: &str) {
        self.caller_answered(number);
        // The plan announces the department, then connects.
        let play = self.last_play().unwrap();
        assert_eq!(play.1, vec!["connecting"]);
        self.finish_play(play.0);
    }

    /// The caller dials `number`, we answer and the caller ACKs (the IVR starts).
    pub fn caller_answered(&mut self, number: &str) {
        self.caller_invites(number);
        let ack = self.caller_request("ACK", 1, "");
        self.sip_from(TRUNK, &ack);
    }

    /// The caller dials `number` and we answer (200 OK, the caller's tag noted); no
    /// ACK yet.
    pub fn caller_invites(&mut self, number: &str) {
        let answers = self.caller_invites_with(number, "");
        assert!(
            answers.iter().any(|m| m.starts_with("SIP/2.0 200")),
            "{answers:#?}"
        );
    }

    /// The caller's INVITE with `extra` header lines (each ending in CRLF); returns
    /// what the trunk received, and notes the caller's tag if we answered.
    pub fn caller_invites_with(&mut self, number: &str, extra: &str) -> Vec<String> {
        let invite = format!(
            "INVITE sip:{number}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKc1\r\nFrom: \"Alice\" <sip:5551234@10.0.0.1>;tag=t1\r\nTo: <sip:{number}@127.0.0.1>\r\nCall-ID: caller-1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{TRUNK}>\r\nMax-Forwards: 70\r\n{extra}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{CALLER_SDP}",
            CALLER_SDP.len()
        );
        self.sip_from(TRUNK, &invite);
        let answers = self.take_to(TRUNK);
        if let Some(ok) = answers.iter().find(|m| m.starts_with("SIP/2.0 200")) {
            self.caller_tag = header(ok, "To").split("tag=").nth(1).unwrap().to_string();
        }
        answers
    }

    /// Caller `n` (Call-ID `caller-n`, tag `tn`) dials `number`, is answered, ACKs and
    /// hears the department announcement to its end. Returns the call's key.
    pub fn caller_n_calls(&mut self, n: u32, number: &str) -> CallKey {
        let invite = format!(
            "INVITE sip:{number}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKn{n}\r\nFrom: <sip:555000{n}@10.0.0.1>;tag=t{n}\r\nTo: <sip:{number}@127.0.0.1>\r\nCall-ID: caller-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:c{n}@{TRUNK}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{CALLER_SDP}",
            CALLER_SDP.len()
        );
        self.sip_from(TRUNK, &invite);
        let ok = self
            .take_to(TRUNK)
            .into_iter()
            .find(|m| m.starts_with("SIP/2.0 200") && m.contains(&format!("caller-{n}")))
            .unwrap();
        let tag = header(&ok, "To").split("tag=").nth(1).unwrap().to_string();
        let ack = format!(
            "ACK sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKna{n}\r\nFrom: <sip:555000{n}@10.0.0.1>;tag=t{n}\r\nTo: <sip:{number}@127.0.0.1>;tag={tag}\r\nCall-ID: caller-{n}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        self.sip_from(TRUNK, &ack);
        let key = self
            .events
            .iter()
            .find_map(|e| match e {
                CallEvent::Started { key, info } if info.call_id == format!("caller-{n}") => {
                    Some(*key)
                }
                _ => None,
            })
            .unwrap();
        let play = self
            .media
            .iter()
            .rev()
            .find_map(|m| match m {
                MediaCommand::Play { call, play_id, .. } if *call == key => Some(*play_id),
                _ => None,
            })
            .unwrap();
        self.ep.handle_media_event(
            self.now,
            self.wall,
            key,
            MediaEvent::PlaybackFinished {
                play_id: play,
                ended: self.now,
            },
        );
        self.drain();
        key
    }

    pub fn finish_play(&mut self, play_id: u32) {
        let key = self.caller_key();
        self.ep.handle_media_event(
            self.now,
            self.wall,
            key,
            MediaEvent::PlaybackFinished {
                play_id,
                ended: self.now,
            },
        );
        self.drain();
    }

    pub fn caller_request(&self, method: &str, cseq: u32, extra: &str) -> String {
        format!(
            "{method} sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKc{method}{cseq}\r\nFrom: \"Alice\" <sip:5551234@10.0.0.1>;tag=t1\r\nTo: <sip:1000@127.0.0.1>;tag={}\r\nCall-ID: caller-1\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n",
            self.caller_tag
        )
    }

    /// Like [`Self::caller_request`], with `sdp` as its body.
    pub fn caller_request_with_sdp(
        &self,
        method: &str,
        cseq: u32,
        extra: &str,
        sdp: &str,
    ) -> String {
        self.caller_request(method, cseq, extra).replace(
            "Content-Length: 0\r\n\r\n",
            &format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
                sdp.len()
            ),
        )
    }

    pub fn last_play(&self) -> Option<(u32, Vec<String>)> {
        self.media.iter().rev().find_map(|m| match m {
            MediaCommand::Play {
                play_id, prompts, ..
            } => Some((*play_id, prompts.clone())),
            _ => None,
        })
    }

    /// Messages sent to `dest` since the last call, oldest first.
    pub fn take_to(&mut self, dest: &str) -> Vec<String> {
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.sent)
            .into_iter()
            .partition(|(d, _)| d == dest);
        self.sent = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }

    pub fn request_to(&mut self, dest: &str, method: &str) -> String {
        let all = self.take_to(dest);
        all.iter()
            .find(|m| m.starts_with(&format!("{method} ")))
            .cloned()
            .unwrap_or_else(|| panic!("no {method} to {dest} in {all:#?}"))
    }

    pub fn connected(&self) -> Option<String> {
        self.events.iter().find_map(|e| match e {
            CallEvent::Connected { manager, .. } => Some(manager.clone()),
            _ => None,
        })
    }

    pub fn ended(&self) -> Option<EndCause> {
        self.events.iter().find_map(|e| match e {
            CallEvent::Ended { cause, .. } => Some(cause.clone()),
            _ => None,
        })
    }

    pub fn assert_clean(&mut self) {
        self.advance(Duration::from_secs(120));
        assert_eq!(self.ep.active_calls(), 0, "call leaked");
        assert_eq!(self.ep.transactions(), 0, "transaction leaked");
    }
}

pub fn header(msg: &str, name: &str) -> String {
    msg.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {msg}"))
        .trim()
        .to_string()
}

/// A phone's response to a request we sent: same Via/From/Call-ID/CSeq, its To tag.
pub fn reply(req: &str, status: &str, to_tag: &str, body: Option<&str>) -> String {
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
pub fn phone_request(invite: &str, method: &str, cseq: u32, my_tag: &str, extra: &str) -> String {
    let phone = invite
        .split_whitespace()
        .nth(1)
        .and_then(|uri| uri.split('@').nth(1))
        .unwrap()
        .to_string();
    let our_from = header(invite, "From");
    let our_to = header(invite, "To");
    format!(
        "{method} sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {phone};branch=z9hG4bKp{method}{cseq}{}\r\nFrom: {our_to};tag={my_tag}\r\nTo: {our_from}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n",
        // Unique per dialog: one phone sends many BYEs.
        header(invite, "Call-ID")
            .split('@')
            .next()
            .unwrap_or_default(),
        header(invite, "Call-ID")
    )
}
