//! Issue 13 on a virtual clock, through the sans-IO endpoint with every SIP message as
//! text: a queued caller hears their position and wait at the configured times, takes
//! the callback offer, hangs up keeping their place; when the manager frees up they are
//! rung first, hear the whisper, then the customer is dialled through the outbound
//! trunk (answering its 407 challenge) and bridged. Busy customers are retried after
//! the back-off, then left as an open callback request. A restart keeps the places,
//! VIPs go first, numbers outside the allowed prefixes are never dialled.

mod flows;

use std::time::Duration;

use flows::{CALLER_SDP, H, SOFIA, TRUNK, header, phone_request, phone_sdp, reply};
use switchboard::call::{CallKey, DigitSource, MediaCommand, MediaEvent};
use switchboard::endpoint::CallEvent;
use switchboard::store::{
    CallOutcome, CallbackReason, CustomerOutcome, DialbackStatus, QueuedCallback, StoreWrite,
};

const PBX: &str = "10.0.0.9:5060";

fn plan(extra: &str) -> String {
    format!(
        r#"
[[numbers]]
number = "3000"
action = "department:support"

[departments.support]
members = ["sofia"]
queue_timeout_secs = 900
announce_secs = 30
callback_key = "5"
name_prompt = "dept_support"

[managers.sofia]
contact = "sip:sofia@10.0.0.7:5060"

[outbound.pbx]
address = "{PBX}"
caller_id = "+4930100"
caller_name = "ACME"
allowed_prefixes = ["5550", "+49"]
denied_prefixes = ["+49900"]
rewrite = [{{ from = "5550", to = "0305550" }}]
username = "switchboard"
password = "trunk-secret"

[callbacks]
trunk = "pbx"
attempts = 2
retry_secs = 60
country_code = "49"
{extra}
"#
    )
}

/// A caller on the line: its key and our tag on its dialog.
#[derive(Debug, Clone)]
struct Caller {
    n: u32,
    key: CallKey,
    tag: String,
}

/// Caller `n` (number `555000n`) dials 3000; answered and ACKed.
fn call_in(h: &mut H, n: u32) -> Caller {
    let invite = format!(
        "INVITE sip:3000@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKq{n}\r\nFrom: <sip:555000{n}@10.0.0.1>;tag=t{n}\r\nTo: <sip:3000@127.0.0.1>\r\nCall-ID: caller-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:c{n}@{TRUNK}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{CALLER_SDP}",
        CALLER_SDP.len()
    );
    h.sip_from(TRUNK, &invite);
    let ok = h
        .take_to(TRUNK)
        .into_iter()
        .find(|m| m.starts_with("SIP/2.0 200") && m.contains(&format!("caller-{n}")))
        .expect("answered");
    let tag = header(&ok, "To").split("tag=").nth(1).unwrap().to_string();
    let ack = format!(
        "ACK sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKqa{n}\r\nFrom: <sip:555000{n}@10.0.0.1>;tag=t{n}\r\nTo: <sip:3000@127.0.0.1>;tag={tag}\r\nCall-ID: caller-{n}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    h.sip_from(TRUNK, &ack);
    let key = key_of(h, n);
    // The plan announces the department ("connecting"), then connects.
    if let Some((id, p)) = plays(h, key).pop()
        && p == ["connecting"]
    {
        finish(h, key, id);
    }
    Caller { n, key, tag }
}

/// The caller hangs up.
fn caller_bye(h: &mut H, c: &Caller) {
    let n = c.n;
    let bye = format!(
        "BYE sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKqb{n}\r\nFrom: <sip:555000{n}@10.0.0.1>;tag=t{n}\r\nTo: <sip:3000@127.0.0.1>;tag={}\r\nCall-ID: caller-{n}\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        c.tag
    );
    h.sip_from(TRUNK, &bye);
}

/// The trunk answers our BYE to caller `n`.
fn trunk_answers_bye(h: &mut H) {
    for m in h.take_to(TRUNK) {
        if m.starts_with("BYE ") {
            let tag = header(&m, "To")
                .split("tag=")
                .nth(1)
                .unwrap_or("t")
                .to_string();
            h.sip_from(TRUNK, &reply(&m, "200 OK", &tag, None));
        }
    }
}

fn key_of(h: &H, n: u32) -> CallKey {
    h.events
        .iter()
        .find_map(|e| match e {
            CallEvent::Started { key, info } if info.call_id == format!("caller-{n}") => Some(*key),
            _ => None,
        })
        .unwrap()
}

/// Non-looping plays to `key`, in order: (play id, prompts).
fn plays(h: &H, key: CallKey) -> Vec<(u32, Vec<String>)> {
    h.media
        .iter()
        .filter_map(|m| match m {
            MediaCommand::Play {
                call,
                play_id,
                prompts,
            } if *call == key => Some((*play_id, prompts.clone())),
            _ => None,
        })
        .collect()
}

fn last_play(h: &H, key: CallKey) -> (u32, Vec<String>) {
    plays(h, key).pop().expect("a play")
}

fn finish(h: &mut H, key: CallKey, play_id: u32) {
    h.ep.handle_media_event(h.now, h.wall, key, MediaEvent::PlaybackFinished { play_id });
    h.drain();
}

fn press(h: &mut H, key: CallKey, digit: char) {
    h.ep.handle_media_event(
        h.now,
        h.wall,
        key,
        MediaEvent::Digit {
            digit,
            source: DigitSource::Rfc4733,
        },
    );
    h.drain();
}

/// A phone (or the trunk) at `from` answers `invite`: 180 then 200 with SDP.
fn answer(h: &mut H, from: &str, invite: &str, tag: &str) {
    h.sip_from(from, &reply(invite, "180 Ringing", tag, None));
    h.sip_from(
        from,
        &reply(invite, "200 OK", tag, Some(&phone_sdp(40000, 0))),
    );
}

/// Sofia takes caller 1 (so the queue builds up behind).
fn sofia_busy(h: &mut H) -> (Caller, String) {
    let k1 = call_in(h, 1);
    let inv = h.request_to(SOFIA, "INVITE");
    assert!(inv.contains("From: \"5550001\""), "{inv}");
    answer(h, SOFIA, &inv, "s1");
    assert_eq!(h.connected().as_deref(), Some("sofia"));
    (k1, inv)
}

/// Sofia hangs up the conversation `invite` was the leg of.
fn sofia_hangs_up(h: &mut H, invite: &str, tag: &str, cseq: u32) {
    let bye = phone_request(invite, "BYE", cseq, tag, "");
    h.sip_from(SOFIA, &bye);
}

fn announcement_of(p: &[String]) -> bool {
    p.first().map(String::as_str) == Some("queue_position")
}

#[test]
fn position_and_wait_are_announced_on_entering_and_every_announce_secs() {
    let mut h = H::new("10.0.0.0/24", &plan(""));
    let _ = sofia_busy(&mut h);
    let c2 = call_in(&mut h, 2);
    let k2 = c2.key;
    // On entering: position 1, the default handle time (180 s) for one manager → about
    // 3 minutes, and the callback offer with its key.
    let (id, p) = last_play(&h, k2);
    assert_eq!(
        p,
        [
            "queue_position",
            "num_1",
            "queue_in_line",
            "queue_wait_about",
            "num_3",
            "queue_minutes",
            "callback_offer",
            "digit_5"
        ]
    );
    assert!(id & 0x8000_0000 != 0, "announcements are not IVR plays");
    // The announcement ends: hold music again.
    finish(&mut h, k2, id);
    let (_, p) = last_play(&h, k2);
    assert_eq!(p, ["hold_music"]);
    // Caller 3 queues behind: position 2, about 6 minutes.
    let c3 = call_in(&mut h, 3);
    let (id3, p3) = last_play(&h, c3.key);
    assert_eq!(
        &p3[..6],
        [
            "queue_position",
            "num_2",
            "queue_in_line",
            "queue_wait_about",
            "num_6",
            "queue_minutes"
        ]
    );
    finish(&mut h, c3.key, id3);
    // Every 30 s after entering, again: at 30 s and 60 s, not before.
    let count = |h: &H| {
        plays(h, k2)
            .iter()
            .filter(|(_, p)| announcement_of(p))
            .count()
    };
    h.advance(Duration::from_millis(29_900));
    assert_eq!(count(&h), 1);
    h.advance(Duration::from_millis(200));
    assert_eq!(count(&h), 2);
    let (id, _) = last_play(&h, k2);
    finish(&mut h, k2, id);
    h.advance(Duration::from_secs(30));
    assert_eq!(count(&h), 3);
    // Caller 2 gives up: caller 3 moves up and hears position 1 next time.
    caller_bye(&mut h, &c2);
    let (id, _) = last_play(&h, c3.key);
    finish(&mut h, c3.key, id);
    h.advance(Duration::from_secs(30));
    let (_, p) = last_play(&h, c3.key);
    assert_eq!(
        &p[..3],
        ["queue_position", "num_1", "queue_in_line"],
        "{p:?}"
    );
}

/// The whole callback story, customer answering after a 407 challenge.
#[test]
fn callback_keeps_the_place_then_the_manager_is_rung_first_and_the_customer_dialled() {
    let mut h = H::new("10.0.0.0/24", &plan(""));
    let (c1, leg1) = sofia_busy(&mut h);
    let c2 = call_in(&mut h, 2);
    let (id, _) = last_play(&h, c2.key);
    finish(&mut h, c2.key, id);
    // The callback key: the number read back, confirm or another number.
    press(&mut h, c2.key, '5');
    let (id, p) = last_play(&h, c2.key);
    assert_eq!(
        p,
        [
            "callback_will_call",
            "digit_5",
            "digit_5",
            "digit_5",
            "digit_0",
            "digit_0",
            "digit_0",
            "digit_2",
            "callback_confirm_options"
        ]
    );
    assert_eq!(id & 0x8000_0000, 0, "dialog prompts are listened to");
    finish(&mut h, c2.key, id);
    press(&mut h, c2.key, '1');
    let (id, p) = last_play(&h, c2.key);
    assert_eq!(p, ["callback_queued"]);
    finish(&mut h, c2.key, id);
    // We hang up after the goodbye; the place is kept under the dial-back.
    trunk_answers_bye(&mut h);
    let ended = h.events.iter().find_map(|e| match e {
        CallEvent::Ended { key, outcome, .. } if *key == c2.key => Some(outcome.outcome),
        _ => None,
    });
    assert_eq!(ended, Some(CallOutcome::CallbackQueued));
    assert!(
        h.callbacks.is_empty(),
        "no callback request: the dial-back owes the call"
    );
    let queued: Vec<&QueuedCallback> = h
        .writes
        .iter()
        .filter_map(|w| match w {
            StoreWrite::QueueCallback(q) => Some(q),
            _ => None,
        })
        .collect();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].number, "5550002");
    assert_eq!(queued[0].department, "support");
    assert_eq!(h.ep.dialbacks(), 1);
    let q = h.ep.queues(h.wall);
    let support = q
        .departments
        .iter()
        .find(|d| d.department == "support")
        .unwrap();
    assert_eq!(support.waiting.len(), 1);
    assert!(support.waiting[0].callback);
    assert_eq!(support.waiting[0].caller, "5550002");

    // Sofia frees up: she is rung first, for the callback, with the customer's number.
    sofia_hangs_up(&mut h, &leg1, "s1", 5);
    trunk_answers_bye(&mut h);
    let _ = c1;
    let inv = h.request_to(SOFIA, "INVITE");
    assert!(
        inv.contains("From: \"Callback support\" <sip:5550002@"),
        "{inv}"
    );
    assert!(inv.contains("X-Switchboard-Source: callback"), "{inv}");
    assert!(
        h.take_to(PBX).is_empty(),
        "the customer is not dialled before the manager answers"
    );
    answer(&mut h, SOFIA, &inv, "s2");
    // The whisper on Sofia's leg.
    let (leg_key, whisper_id, whisper) = h
        .media
        .iter()
        .rev()
        .find_map(|m| match m {
            MediaCommand::Play {
                call,
                play_id,
                prompts,
            } if prompts.first().map(String::as_str) == Some("whisper_callback_for") => {
                Some((*call, *play_id, prompts.clone()))
            }
            _ => None,
        })
        .expect("whisper");
    assert_eq!(
        whisper,
        [
            "whisper_callback_for",
            "dept_support",
            "whisper_caller",
            "digit_5",
            "digit_5",
            "digit_5",
            "digit_0",
            "digit_0",
            "digit_0",
            "digit_2"
        ]
    );
    assert!(h.take_to(PBX).is_empty(), "not before the whisper ends");
    finish(&mut h, leg_key, whisper_id);
    // The customer through the trunk: the rewritten number, our caller ID.
    let first = h.request_to(PBX, "INVITE");
    assert!(
        first.starts_with("INVITE sip:0305550002@10.0.0.9:5060 SIP/2.0"),
        "{first}"
    );
    assert!(first.contains("From: \"ACME\" <sip:+4930100@"), "{first}");
    assert!(
        first.contains("P-Asserted-Identity: \"ACME\" <sip:+4930100@"),
        "{first}"
    );
    // 407: the same INVITE again with credentials.
    let challenge = reply(&first, "407 Proxy Authentication Required", "pbx1", None).replace(
        "Content-Length: 0",
        "Proxy-Authenticate: Digest realm=\"pbx\", nonce=\"n0nce\", qop=\"auth\", algorithm=MD5\r\nContent-Length: 0",
    );
    h.sip_from(PBX, &challenge);
    let sent = h.take_to(PBX);
    assert!(
        sent.iter().any(|m| m.starts_with("ACK ")),
        "the 407 is acknowledged"
    );
    let second = sent
        .iter()
        .find(|m| m.starts_with("INVITE "))
        .cloned()
        .expect("INVITE with credentials");
    assert!(header(&second, "CSeq").starts_with("2 INVITE"), "{second}");
    assert_eq!(header(&second, "Call-ID"), header(&first, "Call-ID"));
    let auth = header(&second, "Proxy-Authorization");
    assert!(
        auth.contains("username=\"switchboard\"") && auth.contains("realm=\"pbx\""),
        "{auth}"
    );
    answer(&mut h, PBX, &second, "cust");
    assert!(h.take_to(PBX).iter().any(|m| m.starts_with("ACK ")));
    let bridged = h
        .media
        .iter()
        .any(|m| matches!(m, MediaCommand::Bridge { a, .. } if *a == leg_key));
    assert!(bridged, "manager and customer are bridged");
    // The customer hangs up: Sofia's leg gets BYE, the story is written.
    let bye = phone_request(&second, "BYE", 7, "cust", "").replace(SOFIA, PBX);
    h.sip_from(PBX, &bye);
    assert!(h.take_to(SOFIA).iter().any(|m| m.starts_with("BYE ")));
    let attempts: Vec<_> = h
        .writes
        .iter()
        .filter_map(|w| match w {
            StoreWrite::DialbackAttempt(a) => Some(a.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].manager, "sofia");
    assert_eq!(attempts[0].customer, CustomerOutcome::Answered);
    assert!(h.writes.iter().any(|w| matches!(
        w,
        StoreWrite::DialbackFinished {
            status: DialbackStatus::Connected,
            request: None,
            ..
        }
    )));
    assert_eq!(h.ep.dialbacks(), 0);
}

/// Take caller `c`'s callback offer with their own number and let them go.
fn take_callback(h: &mut H, c: &Caller) {
    if let Some((id, p)) = plays(h, c.key).pop()
        && announcement_of(&p)
    {
        finish(h, c.key, id);
    }
    press(h, c.key, '5');
    let (id, _) = last_play(h, c.key);
    finish(h, c.key, id);
    // Silence confirms.
    h.advance(Duration::from_secs(7));
    let (id, p) = last_play(h, c.key);
    assert_eq!(p, ["callback_queued"]);
    finish(h, c.key, id);
    trunk_answers_bye(h);
}

/// Sofia answers the callback's ring and hears the whisper to its end; returns her
/// leg's INVITE and the trunk's INVITE for the customer.
fn manager_takes_callback(h: &mut H, tag: &str) -> (String, String) {
    let inv = h.request_to(SOFIA, "INVITE");
    answer(h, SOFIA, &inv, tag);
    let (leg, id) = h
        .media
        .iter()
        .rev()
        .find_map(|m| match m {
            MediaCommand::Play {
                call,
                play_id,
                prompts,
            } if prompts.first().map(String::as_str) == Some("whisper_callback_for") => {
                Some((*call, *play_id))
            }
            _ => None,
        })
        .unwrap();
    finish(h, leg, id);
    (inv, h.request_to(PBX, "INVITE"))
}

#[test]
fn a_busy_customer_is_retried_after_the_back_off_then_left_as_an_open_request() {
    let mut h = H::new("10.0.0.0/24", &plan(""));
    let (_, leg1) = sofia_busy(&mut h);
    let c2 = call_in(&mut h, 2);
    take_callback(&mut h, &c2);
    sofia_hangs_up(&mut h, &leg1, "s1", 5);
    trunk_answers_bye(&mut h);

    // Attempt 1: busy. Sofia hears why, then is released.
    let (leg, cust) = manager_takes_callback(&mut h, "s2");
    h.sip_from(PBX, &reply(&cust, "486 Busy Here", "b1", None));
    let (tell_key, tell_id) = h
        .media
        .iter()
        .rev()
        .find_map(|m| match m {
            MediaCommand::Play {
                call,
                play_id,
                prompts,
            } if prompts == &["dialback_unreachable"] => Some((*call, *play_id)),
            _ => None,
        })
        .expect("the manager is told");
    finish(&mut h, tell_key, tell_id);
    let bye = h.request_to(SOFIA, "BYE");
    h.sip_from(SOFIA, &reply(&bye, "200 OK", "s2", None));
    let _ = leg;
    let parked = h.writes.iter().rev().find_map(|w| match w {
        StoreWrite::QueueCallback(q) => Some(q.clone()),
        _ => None,
    });
    let parked = parked.unwrap();
    assert_eq!(
        (parked.attempts, parked.status),
        (1, DialbackStatus::Waiting)
    );
    assert!(parked.not_before.is_some());

    // Not before the back-off (60 s)…
    h.advance(Duration::from_secs(59));
    assert!(h.take_to(SOFIA).iter().all(|m| !m.starts_with("INVITE ")));
    // …then the manager is rung again.
    h.advance(Duration::from_secs(2));
    let (_, cust) = manager_takes_callback(&mut h, "s3");
    h.sip_from(PBX, &reply(&cust, "486 Busy Here", "b2", None));
    h.advance(Duration::from_secs(11)); // the manager hung up on after the grace
    let gave_up = h.writes.iter().find_map(|w| match w {
        StoreWrite::DialbackFinished {
            status: DialbackStatus::GaveUp,
            request: Some(r),
            ..
        } => Some(r.clone()),
        _ => None,
    });
    let r = gave_up.expect("an open callback request is filed");
    assert_eq!(r.reason, CallbackReason::DialbackFailed);
    assert_eq!(
        (r.caller.as_str(), r.department.as_str()),
        ("5550002", "support")
    );
    let attempts: Vec<CustomerOutcome> = h
        .writes
        .iter()
        .filter_map(|w| match w {
            StoreWrite::DialbackAttempt(a) => Some(a.customer),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [CustomerOutcome::Busy, CustomerOutcome::Busy]);
    assert_eq!(h.ep.dialbacks(), 0);
}

#[test]
fn a_restart_keeps_every_callback_in_its_place() {
    let mut h = H::new("10.0.0.0/24", &plan(""));
    let (_, _) = sofia_busy(&mut h);
    let c2 = call_in(&mut h, 2);
    let c3 = call_in(&mut h, 3);
    take_callback(&mut h, &c2);
    take_callback(&mut h, &c3);
    let saved: Vec<QueuedCallback> = h
        .writes
        .iter()
        .filter_map(|w| match w {
            StoreWrite::QueueCallback(q) => Some(q.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(saved.len(), 2);

    // A new router: the saved callbacks come back (in any order from the store)
    // before any call. The oldest has its turn at once: Sofia is rung for it.
    let mut h2 = H::new("10.0.0.0/24", &plan(""));
    let plan = h2.plan.clone();
    let mut reversed = saved.clone();
    reversed.reverse();
    let n = h2.ep.restore_callbacks(h2.now, h2.wall, reversed, plan);
    assert_eq!(n, 2);
    h2.drain();
    let inv = h2.request_to(SOFIA, "INVITE");
    assert!(
        inv.contains("<sip:5550002@"),
        "the oldest callback first: {inv}"
    );
    // While she rings, a new caller arrives: behind the second callback.
    let c4 = call_in(&mut h2, 4);
    let q = h2.ep.queues(h2.wall);
    let support = q
        .departments
        .iter()
        .find(|d| d.department == "support")
        .unwrap();
    let order: Vec<(String, bool)> = support
        .waiting
        .iter()
        .map(|w| (w.caller.clone(), w.callback))
        .collect();
    assert_eq!(
        order,
        [
            ("5550003".to_string(), true),
            ("5550004".to_string(), false)
        ],
        "the callers keep their places; the new caller is behind them"
    );
    let (_, p) = last_play(&h2, c4.key);
    assert_eq!(&p[..3], ["queue_position", "num_2", "queue_in_line"]);
    assert_eq!(h2.ep.dialbacks(), 2);
}

#[test]
fn numbers_outside_the_allowed_prefixes_are_never_dialled() {
    // Caller numbers 555000n are not allowed here; keyed numbers become +49….
    let mut h = H::new(
        "10.0.0.0/24",
        &plan("").replace(
            r#"allowed_prefixes = ["5550", "+49"]"#,
            r#"allowed_prefixes = ["+49"]"#,
        ),
    );
    let _ = sofia_busy(&mut h);
    let c2 = call_in(&mut h, 2);
    let (id, _) = last_play(&h, c2.key);
    finish(&mut h, c2.key, id);
    press(&mut h, c2.key, '5');
    // Their caller ID is refused: they are told, then asked for a number.
    let (id, p) = last_play(&h, c2.key);
    assert_eq!(p, ["callback_number_refused"]);
    finish(&mut h, c2.key, id);
    let (id, p) = last_play(&h, c2.key);
    assert_eq!(p, ["callback_enter_number"]);
    finish(&mut h, c2.key, id);
    // A premium-rate number (+49900…, denied): refused again.
    for d in "0900123456#".chars() {
        press(&mut h, c2.key, d);
    }
    let (id, p) = last_play(&h, c2.key);
    assert_eq!(p, ["callback_number_refused"]);
    finish(&mut h, c2.key, id);
    let (id, _) = last_play(&h, c2.key);
    finish(&mut h, c2.key, id);
    // A Berlin number: read back as +49…, confirmed.
    for d in "030123456#".chars() {
        press(&mut h, c2.key, d);
    }
    let (id, p) = last_play(&h, c2.key);
    assert_eq!(p.first().map(String::as_str), Some("callback_will_call"));
    assert_eq!(p[1], "digit_plus");
    finish(&mut h, c2.key, id);
    press(&mut h, c2.key, '1');
    let (id, p) = last_play(&h, c2.key);
    assert_eq!(p, ["callback_queued"]);
    finish(&mut h, c2.key, id);
    let queued = h.writes.iter().find_map(|w| match w {
        StoreWrite::QueueCallback(q) => Some(q.number.clone()),
        _ => None,
    });
    assert_eq!(queued.as_deref(), Some("+4930123456"));
    assert!(h.take_to(PBX).is_empty(), "nothing was dialled");

    // A third try with another bad number ends the offer: back on hold, no callback.
    let mut h = H::new(
        "10.0.0.0/24",
        &plan("").replace(
            r#"allowed_prefixes = ["5550", "+49"]"#,
            r#"allowed_prefixes = ["+44"]"#,
        ),
    );
    let _ = sofia_busy(&mut h);
    let c2 = call_in(&mut h, 2);
    let (id, _) = last_play(&h, c2.key);
    finish(&mut h, c2.key, id);
    press(&mut h, c2.key, '5');
    for _ in 0..2 {
        let (id, p) = last_play(&h, c2.key);
        assert_eq!(p, ["callback_number_refused"]);
        finish(&mut h, c2.key, id);
        let (id, p) = last_play(&h, c2.key);
        assert_eq!(p, ["callback_enter_number"]);
        finish(&mut h, c2.key, id);
        for d in "0301234#".chars() {
            press(&mut h, c2.key, d);
        }
    }
    let (id, p) = last_play(&h, c2.key);
    assert_eq!(p, ["callback_number_refused"]);
    finish(&mut h, c2.key, id);
    let (_, p) = last_play(&h, c2.key);
    assert_eq!(p, ["hold_music"], "back to waiting");
    assert!(
        !h.writes
            .iter()
            .any(|w| matches!(w, StoreWrite::QueueCallback(_)))
    );
}

#[test]
fn a_vip_arriving_later_is_served_first_and_arrival_order_holds_within_a_priority() {
    let mut h = H::new(
        "10.0.0.0/24",
        &plan("[priority]\ncallers = { \"5550004\" = 9, \"5550005\" = 9 }\n"),
    );
    let (_, leg1) = sofia_busy(&mut h);
    let c2 = call_in(&mut h, 2);
    let c3 = call_in(&mut h, 3);
    let c4 = call_in(&mut h, 4); // VIP
    let c5 = call_in(&mut h, 5); // VIP, after c4
    let q = h.ep.queues(h.wall);
    let support = q
        .departments
        .iter()
        .find(|d| d.department == "support")
        .unwrap();
    let order: Vec<&str> = support.waiting.iter().map(|w| w.caller.as_str()).collect();
    assert_eq!(order, ["5550004", "5550005", "5550002", "5550003"]);
    assert_eq!(support.waiting[0].priority, 9);
    // The VIP heard position 1; the ordinary callers' places moved back.
    let (_, p) = last_play(&h, c4.key);
    assert_eq!(&p[..2], ["queue_position", "num_1"]);
    // Sofia frees up: the VIPs first, in their arrival order.
    let mut rung = Vec::new();
    let mut leg = leg1;
    for (i, c) in [&c4, &c5, &c2, &c3].iter().enumerate() {
        sofia_hangs_up(&mut h, &leg, &format!("s{}", i + 1), 10 + i as u32);
        trunk_answers_bye(&mut h);
        let inv = h.request_to(SOFIA, "INVITE");
        rung.push(header(&inv, "X-Switchboard-Call-ID"));
        answer(&mut h, SOFIA, &inv, &format!("s{}", i + 2));
        let _ = c;
        leg = inv;
    }
    assert_eq!(rung, ["caller-4", "caller-5", "caller-2", "caller-3"]);
}

#[test]
fn a_paused_manager_is_not_rung_and_the_pause_is_recorded_with_its_reason() {
    let mut h = H::new("10.0.0.0/24", &plan(""));
    h.ep.agent_command(
        h.now,
        h.wall,
        "sofia",
        &switchboard::endpoint::AgentCommand::Pause {
            reason: "meeting".into(),
        },
    )
    .unwrap();
    h.drain();
    let c1 = call_in(&mut h, 1);
    assert!(h.take_to(SOFIA).is_empty(), "a paused manager is not rung");
    let _ = c1;
    h.advance(Duration::from_secs(90));
    h.ep.agent_command(
        h.now,
        h.wall,
        "sofia",
        &switchboard::endpoint::AgentCommand::Unpause,
    )
    .unwrap();
    h.drain();
    let intervals: Vec<_> = h
        .writes
        .iter()
        .filter_map(|w| match w {
            StoreWrite::AgentState(i) => Some(i.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(intervals.len(), 2, "{intervals:?}");
    assert_eq!(intervals[0].detail, "meeting");
    assert!(intervals[0].ended_at.is_none());
    assert_eq!(intervals[1].ended_at, Some(h.wall));
    // Unknown names are refused.
    let e =
        h.ep.agent_command(
            h.now,
            h.wall,
            "nobody",
            &switchboard::endpoint::AgentCommand::Unpause,
        )
        .unwrap_err();
    assert!(e.to_string().contains("no manager"), "{e}");
}
