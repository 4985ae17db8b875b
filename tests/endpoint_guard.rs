//! Issue 11 items 2 and 4 through the sans-IO endpoint on a virtual clock: who may
//! send what, refused INVITEs answered at most once and statelessly, floods banned,
//! transaction memory capped.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use switchboard::call::DemoIvr;
use switchboard::config::ServerConfig;
use switchboard::endpoint::{CallEvent, EndCause, Endpoint, EndpointConfig, Output};
use switchboard::guard::RefuseMode;
use switchboard::sip::{Peer, Transport};

const TRUNK: &str = "10.0.0.1:5070";
const OTHER_TRUNK: &str = "10.0.0.2:5070";
const STRANGER: &str = "192.0.2.66:5070";
const SDP: &str = "v=0\r\no=trunk 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

struct H {
    ep: Endpoint,
    now: Instant,
    sent: Vec<(String, String)>,
    events: Vec<CallEvent>,
}

impl H {
    fn new(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut server = ServerConfig {
            trunks: vec!["10.0.0.0/8".parse().unwrap()],
            ..ServerConfig::default()
        };
        tweak(&mut server);
        let cfg = EndpointConfig::from_server(&server, "127.0.0.1:5060".parse().unwrap());
        Self {
            ep: Endpoint::new(cfg, Box::new(|_| Box::new(DemoIvr::default())), 7),
            now: Instant::now(),
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    fn sip(&mut self, from: &str, text: &str) {
        let peer = Peer {
            transport: Transport::Udp,
            addr: from.parse().unwrap(),
        };
        self.ep
            .handle_sip(self.now, Timestamp::UNIX_EPOCH, peer, text.as_bytes());
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(o) = self.ep.poll_output() {
            match o {
                Output::Transmit(t) => self.sent.push((
                    t.peer.addr.to_string(),
                    String::from_utf8_lossy(&t.payload).to_string(),
                )),
                Output::Event(e) => self.events.push(e),
                _ => {}
            }
        }
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.ep.poll_timeout() {
            if t > end {
                break;
            }
            self.now = t.max(self.now);
            self.ep.handle_timeout(self.now, Timestamp::UNIX_EPOCH);
            self.drain();
        }
        self.now = end;
    }

    fn statuses(&mut self) -> Vec<String> {
        std::mem::take(&mut self.sent)
            .into_iter()
            .map(|(_, m)| m.lines().next().unwrap_or_default().to_string())
            .collect()
    }

    fn ended(&self) -> Option<EndCause> {
        self.events.iter().find_map(|e| match e {
            CallEvent::Ended { cause, .. } => Some(cause.clone()),
            _ => None,
        })
    }
}

fn invite(via_host: &str, call_id: &str, branch: &str) -> String {
    format!(
        "INVITE sip:1000@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {via_host};branch={branch}\r\nFrom: \"Alice\" <sip:5551234@{via_host}>;tag=t1\r\nTo: <sip:1000@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{via_host}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
}

fn request(
    method: &str,
    via_host: &str,
    call_id: &str,
    to_tag: &str,
    cseq: u32,
    branch: &str,
) -> String {
    format!(
        "{method} sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {via_host};branch={branch}\r\nFrom: \"Alice\" <sip:5551234@10.0.0.1>;tag=t1\r\nTo: <sip:1000@127.0.0.1>;tag={to_tag}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Answers a trunk call and returns our To tag.
fn trunk_call(h: &mut H, call_id: &str) -> String {
    h.sip(TRUNK, &invite(TRUNK, call_id, "z9hG4bKinv1"));
    let ok = h
        .sent
        .iter()
        .map(|(_, m)| m.clone())
        .find(|m| m.starts_with("SIP/2.0 200"))
        .expect("200 OK");
    let to = ok
        .lines()
        .find(|l| l.starts_with("To:"))
        .unwrap()
        .to_string();
    let tag = to.split("tag=").nth(1).unwrap().trim().to_string();
    h.sip(
        TRUNK,
        &request("ACK", TRUNK, call_id, &tag, 1, "z9hG4bKack1"),
    );
    h.sent.clear();
    tag
}

/// Issue 11 item 7: a BYE with the call's Call-ID and tags from a non-trunk address
/// does not end a trunk call; a BYE from the trunk (or another trunk address) does.
#[test]
fn a_bye_from_a_stranger_does_not_end_a_trunk_call() {
    let mut h = H::new(|_| {});
    let tag = trunk_call(&mut h, "c1");
    h.sip(
        STRANGER,
        &request("BYE", STRANGER, "c1", &tag, 2, "z9hG4bKevil"),
    );
    assert_eq!(h.statuses(), vec!["SIP/2.0 403 Forbidden"]);
    assert_eq!(h.ended(), None, "the stranger ended the call");
    // A re-INVITE or INFO from the stranger: refused too.
    h.sip(
        STRANGER,
        &request("INFO", STRANGER, "c1", &tag, 3, "z9hG4bKevil2"),
    );
    assert_eq!(h.statuses(), vec!["SIP/2.0 403 Forbidden"]);
    // An ACK from the stranger is dropped silently.
    h.sip(
        STRANGER,
        &request("ACK", STRANGER, "c1", &tag, 1, "z9hG4bKevil3"),
    );
    assert!(h.statuses().is_empty());
    // Another address of the trunk cluster may end it.
    h.sip(
        OTHER_TRUNK,
        &request("BYE", OTHER_TRUNK, "c1", &tag, 4, "z9hG4bKbye"),
    );
    assert_eq!(h.statuses(), vec!["SIP/2.0 200 OK"]);
    assert_eq!(h.ended(), Some(EndCause::CallerHungUp));
    assert_eq!(h.ep.take_guard_stats().in_dialog_refused, 3);
}

/// A CANCEL for a ringing trunk call from another address matches nothing (481).
#[test]
fn a_cancel_from_a_stranger_does_not_cancel() {
    let mut h = H::new(|s| s.ring_before_answer_ms = 5000);
    h.sip(TRUNK, &invite(TRUNK, "c2", "z9hG4bKring"));
    assert!(h.statuses().iter().any(|s| s.starts_with("SIP/2.0 180")));
    let cancel = invite(STRANGER, "c2", "z9hG4bKring")
        .replace("INVITE sip", "CANCEL sip")
        .replace("1 INVITE", "1 CANCEL");
    h.sip(STRANGER, &cancel);
    assert_eq!(
        h.statuses(),
        vec!["SIP/2.0 481 Call/Transaction Does Not Exist"]
    );
    h.advance(Duration::from_secs(6));
    assert!(h.statuses().iter().any(|s| s.starts_with("SIP/2.0 200")));
    assert_eq!(h.ended(), None);
}

/// Issue 11 item 4: an INVITE from a non-trunk, unregistered source gets exactly one
/// 403, statelessly: no transaction, nothing retransmitted in the next 40 s, even
/// though the 403 is never ACKed. With `refused_invites = "silent"`, nothing at all.
#[test]
fn a_refused_invite_gets_at_most_one_response_and_no_transaction() {
    let mut h = H::new(|_| {});
    h.sip(STRANGER, &invite(STRANGER, "scan1", "z9hG4bKscan1"));
    assert_eq!(h.statuses(), vec!["SIP/2.0 403 Forbidden"]);
    assert_eq!(
        h.ep.transactions(),
        0,
        "no transaction state for a refused INVITE"
    );
    // Its retransmissions are refused again, once each, and nothing else is sent.
    h.advance(Duration::from_millis(500));
    h.sip(STRANGER, &invite(STRANGER, "scan1", "z9hG4bKscan1"));
    h.advance(Duration::from_secs(40));
    assert_eq!(h.statuses(), vec!["SIP/2.0 403 Forbidden"]);
    assert!(h.events.is_empty());
    let stats = h.ep.take_guard_stats();
    assert_eq!(stats.invites_refused_answered, 2);

    let mut h = H::new(|s| s.refused_invites = RefuseMode::Silent);
    h.sip(STRANGER, &invite(STRANGER, "scan2", "z9hG4bKscan2"));
    h.advance(Duration::from_secs(40));
    assert!(h.statuses().is_empty());
    assert_eq!(h.ep.take_guard_stats().invites_refused_silent, 1);
}

/// A flood from one source: the first `rate_burst` messages are answered, then the
/// source is banned and everything it sends is dropped unparsed; trunks are not
/// affected, and after `ban_secs` the source is heard again.
#[test]
fn a_flood_bans_its_source_but_not_the_trunk() {
    let mut h = H::new(|s| {
        s.rate_limit = 10;
        s.rate_burst = 20;
        s.ban_secs = 30;
    });
    for i in 0..1000 {
        h.sip(
            STRANGER,
            &invite(STRANGER, &format!("f{i}"), &format!("z9hG4bKf{i}")),
        );
    }
    assert_eq!(
        h.statuses().len(),
        20,
        "at most one response per flood request, then none"
    );
    let stats = h.ep.take_guard_stats();
    assert_eq!(stats.bans, 1);
    assert_eq!(stats.banned_dropped, 980);
    assert_eq!(h.ep.banned_sources(), 1);
    // A trunk call during the ban is answered.
    let _ = trunk_call(&mut h, "during");
    h.advance(Duration::from_secs(31));
    h.statuses();
    h.sip(STRANGER, &invite(STRANGER, "after", "z9hG4bKafter"));
    assert_eq!(h.statuses(), vec!["SIP/2.0 403 Forbidden"]);
}

/// Transaction memory is capped: past `max_transactions`, requests from non-trunk
/// addresses are dropped while the trunk's are still served.
#[test]
fn over_the_transaction_cap_non_trunk_requests_are_shed_first() {
    let mut h = H::new(|s| {
        s.max_transactions = 50;
        s.rate_limit = 0; // many sources, no bans: only the cap holds
    });
    let options = |host: &str, i: u32| {
        format!(
            "OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {host};branch=z9hG4bKo{i}\r\nFrom: <sip:a@{host}>;tag=o{i}\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: o{i}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
    };
    for i in 0..200u32 {
        let host = format!("192.0.2.{}:5060", i % 200 + 1);
        h.sip(&host, &options(&host, i));
    }
    assert_eq!(h.statuses().len(), 50);
    assert!(h.ep.transactions() <= 50);
    assert_eq!(h.ep.take_guard_stats().shed, 150);
    h.sip(TRUNK, &options(TRUNK, 999));
    assert_eq!(h.statuses(), vec!["SIP/2.0 200 OK"]);
}

/// Issue 11 item 6: a display name with an escaped quote and a fake URI inside does
/// not become the caller ID; the real URI's user does.
#[test]
fn an_escaped_quote_in_the_display_name_does_not_fake_the_caller() {
    let mut h = H::new(|_| {});
    let text = invite(TRUNK, "id1", "z9hG4bKid1").replace(
        "From: \"Alice\" <sip:5551234@10.0.0.1:5070>;tag=t1",
        "From: \"Evil %22\\\"<sip:x@127.0.0.9>\" <sip:5551234@10.0.0.1>;tag=t1",
    );
    assert!(text.contains("Evil"), "the From was replaced");
    h.sip(TRUNK, &text);
    let info = h
        .events
        .iter()
        .find_map(|e| match e {
            CallEvent::Started { info, .. } => Some(info.clone()),
            _ => None,
        })
        .expect("call started");
    assert_eq!(info.caller, "5551234");
    assert_eq!(
        info.caller_name.as_deref(),
        Some("Evil %22\"<sip:x@127.0.0.9>")
    );
}

/// `switchboard reload` under attack: tighter limits and silent refusals apply from the
/// next message, without a restart (which would drop the calls in progress).
#[test]
fn reloaded_guard_settings_apply_to_the_next_message() {
    let mut h = H::new(|_| {});
    for i in 0..30 {
        h.sip(
            STRANGER,
            &invite(STRANGER, &format!("a{i}"), &format!("z9hG4bKa{i}")),
        );
    }
    assert_eq!(
        h.statuses().len(),
        30,
        "the defaults let 30 refusals through"
    );
    let tighter = ServerConfig {
        trunks: vec!["10.0.0.0/8".parse().unwrap()],
        rate_limit: 1,
        rate_burst: 2,
        ban_secs: 60,
        refused_invites: RefuseMode::Silent,
        ..ServerConfig::default()
    };
    h.ep.set_server_config(tighter);
    h.advance(Duration::from_secs(5));
    for i in 0..10 {
        h.sip(
            STRANGER,
            &invite(STRANGER, &format!("b{i}"), &format!("z9hG4bKb{i}")),
        );
    }
    assert!(h.statuses().is_empty(), "refused silently now");
    let stats = h.ep.take_guard_stats();
    assert_eq!(stats.bans, 1, "{stats:?}");
    assert_eq!(h.ep.banned_sources(), 1);
    // The trunk is not affected.
    let _ = trunk_call(&mut h, "after-reload");
}
