//! The queue and callback flows' helpers (issue 13): a caller on the trunk dialling the
//! support queue, Sofia the manager, the outbound trunk the dial-back calls through.

use std::time::Duration;

use super::{CALLER_SDP, H, SOFIA, TRUNK, header, phone_request, phone_sdp, reply};
use switchboard::call::{CallKey, DigitSource, MediaCommand, MediaEvent};
use switchboard::endpoint::CallEvent;

pub const PBX: &str = "10.0.0.9:5060";

pub fn plan(extra: &str) -> String {
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
pub struct Caller {
    pub n: u32,
    pub key: CallKey,
    pub tag: String,
}

/// Caller `n` (number `555000n`) dials 3000; answered and ACKed.
pub fn call_in(h: &mut H, n: u32) -> Caller {
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
pub fn caller_bye(h: &mut H, c: &Caller) {
    let n = c.n;
    let bye = format!(
        "BYE sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKqb{n}\r\nFrom: <sip:555000{n}@10.0.0.1>;tag=t{n}\r\nTo: <sip:3000@127.0.0.1>;tag={}\r\nCall-ID: caller-{n}\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        c.tag
    );
    h.sip_from(TRUNK, &bye);
}

/// The trunk answers our BYE to caller `n`.
pub fn trunk_answers_bye(h: &mut H) {
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

pub fn key_of(h: &H, n: u32) -> CallKey {
    h.events
        .iter()
        .find_map(|e| match e {
            CallEvent::Started { key, info } if info.call_id == format!("caller-{n}") => Some(*key),
            _ => None,
        })
        .unwrap()
}

/// Non-looping plays to `key`, in order: (play id, prompts).
pub fn plays(h: &H, key: CallKey) -> Vec<(u32, Vec<String>)> {
    h.media
        .iter()
        .filter_map(|m| match m {
            MediaCommand::Play {
                call,
                play_id,
                prompts,
                ..
            } if *call == key => Some((*play_id, prompts.clone())),
            _ => None,
        })
        .collect()
}

pub fn last_play(h: &H, key: CallKey) -> (u32, Vec<String>) {
    plays(h, key).pop().expect("a play")
}

pub fn finish(h: &mut H, key: CallKey, play_id: u32) {
    h.ep.handle_media_event(
        h.now,
        h.wall,
        key,
        MediaEvent::PlaybackFinished {
            play_id,
            ended: h.now,
        },
    );
    h.drain();
}

/// The call's latest play is `want`, and it is played to its end.
pub fn hear(h: &mut H, key: CallKey, want: &[&str]) {
    let (id, p) = last_play(h, key);
    assert_eq!(p, want);
    finish(h, key, id);
}

/// The call's latest play is played to its end, whatever it was.
pub fn skip_play(h: &mut H, key: CallKey) {
    let (id, _) = last_play(h, key);
    finish(h, key, id);
}

/// The latest play on any call whose first prompt is `first`: its call, id and prompts.
pub fn latest_play_starting(h: &H, first: &str) -> Option<(CallKey, u32, Vec<String>)> {
    h.media.iter().rev().find_map(|m| match m {
        MediaCommand::Play {
            call,
            play_id,
            prompts,
            ..
        } if prompts.first().map(String::as_str) == Some(first) => {
            Some((*call, *play_id, prompts.clone()))
        }
        _ => None,
    })
}

/// The caller keys in `digits`, one by one.
pub fn dial(h: &mut H, key: CallKey, digits: &str) {
    for d in digits.chars() {
        press(h, key, d);
    }
}

pub fn press(h: &mut H, key: CallKey, digit: char) {
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
pub fn answer(h: &mut H, from: &str, invite: &str, tag: &str) {
    h.sip_from(from, &reply(invite, "180 Ringing", tag, None));
    h.sip_from(
        from,
        &reply(invite, "200 OK", tag, Some(&phone_sdp(40000, 0))),
    );
}

/// Sofia takes caller 1 (so the queue builds up behind).
pub fn sofia_busy(h: &mut H) -> (Caller, String) {
    let k1 = call_in(h, 1);
    let inv = h.request_to(SOFIA, "INVITE");
    assert!(inv.contains("From: \"5550001\""), "{inv}");
    answer(h, SOFIA, &inv, "s1");
    assert_eq!(h.connected().as_deref(), Some("sofia"));
    (k1, inv)
}

/// Sofia hangs up the conversation `invite` was the leg of.
pub fn sofia_hangs_up(h: &mut H, invite: &str, tag: &str, cseq: u32) {
    let bye = phone_request(invite, "BYE", cseq, tag, "");
    h.sip_from(SOFIA, &bye);
}

pub fn announcement_of(p: &[String]) -> bool {
    p.first().map(String::as_str) == Some("queue_position")
}

/// Take caller `c`'s callback offer with their own number and let them go.
pub fn take_callback(h: &mut H, c: &Caller) {
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

/// Sofia is busy with caller 1, caller 2 takes the callback offer, then Sofia hangs
/// up: the dial-back's turn comes next.
pub fn callback_waiting_for_sofia(h: &mut H) {
    let (_, leg1) = sofia_busy(h);
    let c2 = call_in(h, 2);
    take_callback(h, &c2);
    sofia_hangs_up(h, &leg1, "s1", 5);
    trunk_answers_bye(h);
}

/// Sofia answers the callback's ring and hears the whisper to its end; returns her
/// leg's INVITE and the trunk's INVITE for the customer.
pub fn manager_takes_callback(h: &mut H, tag: &str) -> (String, String) {
    let inv = h.request_to(SOFIA, "INVITE");
    answer(h, SOFIA, &inv, tag);
    let (leg, id, _) = latest_play_starting(h, "whisper_callback_for").unwrap();
    finish(h, leg, id);
    (inv, h.request_to(PBX, "INVITE"))
}
