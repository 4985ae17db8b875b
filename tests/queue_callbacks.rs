//! Issue 13's callbacks on a virtual clock, through the sans-IO endpoint with every SIP
//! message as text: a queued caller takes the callback offer and hangs up keeping their
//! place; when the manager frees up they are rung first, hear the whisper, then the
//! customer is dialled through the outbound trunk (answering its 407 challenge) and
//! bridged. Busy customers are retried after the back-off, then left as an open callback
//! request. A restart keeps the places; numbers outside the allowed prefixes are never
//! dialled; a manager freed during the goodbye rings for the dial-back.

mod flows;

use std::time::Duration;

use flows::queue::*;
use flows::{H, SOFIA, header, phone_request, reply};
use switchboard::call::MediaCommand;
use switchboard::endpoint::CallEvent;
use switchboard::store::{
    CallOutcome, CallbackReason, CustomerOutcome, DialbackStatus, QueuedCallback, StoreWrite,
};

/// The whole callback story, customer answering after a 407 challenge.
#[test]
fn callback_keeps_the_place_then_the_manager_is_rung_first_and_the_customer_dialled() {
    let mut h = H::new("10.0.0.0/24", &plan(""));
    let (c1, leg1) = sofia_busy(&mut h);
    let c2 = call_in(&mut h, 2);
    skip_play(&mut h, c2.key);
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
    hear(&mut h, c2.key, &["callback_queued"]);
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
    let (leg_key, whisper_id, whisper) =
        latest_play_starting(&h, "whisper_callback_for").expect("whisper");
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

#[test]
fn a_busy_customer_is_retried_after_the_back_off_then_left_as_an_open_request() {
    let mut h = H::new("10.0.0.0/24", &plan(""));
    callback_waiting_for_sofia(&mut h);

    // Attempt 1: busy. Sofia hears why, then is released.
    let (leg, cust) = manager_takes_callback(&mut h, "s2");
    h.sip_from(PBX, &reply(&cust, "486 Busy Here", "b1", None));
    let (tell_key, tell_id, told) =
        latest_play_starting(&h, "dialback_unreachable").expect("the manager is told");
    assert_eq!(told, ["dialback_unreachable"]);
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

/// Sofia is busy and a caller waits; the plan allows callbacks to `allowed` (a TOML
/// line) only. The caller hears the greeting and presses 5 for a callback.
fn callback_offered(allowed: &str) -> (H, Caller) {
    let mut h = H::new(
        "10.0.0.0/24",
        &plan("").replace(r#"allowed_prefixes = ["5550", "+49"]"#, allowed),
    );
    let _ = sofia_busy(&mut h);
    let c2 = call_in(&mut h, 2);
    skip_play(&mut h, c2.key);
    press(&mut h, c2.key, '5');
    (h, c2)
}

#[test]
fn numbers_outside_the_allowed_prefixes_are_never_dialled() {
    // Caller numbers 555000n are not allowed here; keyed numbers become +49….
    let (mut h, c2) = callback_offered(r#"allowed_prefixes = ["+49"]"#);
    // Their caller ID is refused: they are told, then asked for a number.
    hear(&mut h, c2.key, &["callback_number_refused"]);
    hear(&mut h, c2.key, &["callback_enter_number"]);
    // A premium-rate number (+49900…, denied): refused again.
    dial(&mut h, c2.key, "0900123456#");
    hear(&mut h, c2.key, &["callback_number_refused"]);
    skip_play(&mut h, c2.key);
    // A Berlin number: read back as +49…, confirmed.
    dial(&mut h, c2.key, "030123456#");
    let (id, p) = last_play(&h, c2.key);
    assert_eq!(p.first().map(String::as_str), Some("callback_will_call"));
    assert_eq!(p[1], "digit_plus");
    finish(&mut h, c2.key, id);
    press(&mut h, c2.key, '1');
    hear(&mut h, c2.key, &["callback_queued"]);
    let queued = h.writes.iter().find_map(|w| match w {
        StoreWrite::QueueCallback(q) => Some(q.number.clone()),
        _ => None,
    });
    assert_eq!(queued.as_deref(), Some("+4930123456"));
    assert!(h.take_to(PBX).is_empty(), "nothing was dialled");

    // A third try with another bad number ends the offer: back on hold, no callback.
    let (mut h, c2) = callback_offered(r#"allowed_prefixes = ["+44"]"#);
    for _ in 0..2 {
        hear(&mut h, c2.key, &["callback_number_refused"]);
        hear(&mut h, c2.key, &["callback_enter_number"]);
        dial(&mut h, c2.key, "0301234#");
    }
    hear(&mut h, c2.key, &["callback_number_refused"]);
    let (_, p) = last_play(&h, c2.key);
    assert_eq!(p, ["hold_music"], "back to waiting");
    assert!(
        !h.writes
            .iter()
            .any(|w| matches!(w, StoreWrite::QueueCallback(_)))
    );
}

/// A caller who confirmed the callback has left the live queue: a manager who frees up
/// while the goodbye still plays is rung for the dial-back, never for the live call
/// (the caller was just told they will be called back).
#[test]
fn a_manager_freed_during_the_callback_goodbye_rings_for_the_dial_back() {
    let mut h = H::new("10.0.0.0/24", &plan(""));
    let (_c1, leg1) = sofia_busy(&mut h);
    let c2 = call_in(&mut h, 2);
    skip_play(&mut h, c2.key);
    press(&mut h, c2.key, '5');
    skip_play(&mut h, c2.key);
    press(&mut h, c2.key, '1');
    let (goodbye, p) = last_play(&h, c2.key);
    assert_eq!(p, ["callback_queued"]);
    assert_eq!(
        h.ep.dialbacks(),
        1,
        "the place is the dial-back's from the confirmation"
    );

    // Sofia frees up while the goodbye plays.
    sofia_hangs_up(&mut h, &leg1, "s1", 5);
    trunk_answers_bye(&mut h);
    let inv = h.request_to(SOFIA, "INVITE");
    assert!(inv.contains("X-Switchboard-Source: callback"), "{inv}");

    // The goodbye ends, we hang up, and the call is recorded as a queued callback.
    finish(&mut h, c2.key, goodbye);
    trunk_answers_bye(&mut h);
    let ended = h.events.iter().find_map(|e| match e {
        CallEvent::Ended { key, outcome, .. } if *key == c2.key => Some(outcome.outcome),
        _ => None,
    });
    assert_eq!(ended, Some(CallOutcome::CallbackQueued));
}

/// A stop sets waiting dial-backs aside (they stay stored for the next start) and
/// hangs up one in progress without counting it: the next start dials it again.
#[test]
fn a_stop_leaves_callbacks_queued_for_the_next_start() {
    use switchboard::config::ServerConfig;
    use switchboard::endpoint::StopMode;
    let mut h = H::new("10.0.0.0/24", &plan(""));
    h.ep.set_server_config(ServerConfig {
        trunks: vec!["10.0.0.0/24".parse().unwrap()],
        drain_secs: 30,
        ..ServerConfig::default()
    });
    let (_, leg1) = sofia_busy(&mut h);
    let c2 = call_in(&mut h, 2);
    take_callback(&mut h, &c2);
    assert_eq!(h.ep.dialbacks(), 1);
    let writes = h.writes.len();

    // The drain: the waiting callback is set aside, Sofia's call goes on.
    h.ep.handle_stop(h.now, h.wall, StopMode::Drain);
    h.drain();
    assert_eq!(h.ep.dialbacks(), 0);
    assert!(!h.ep.is_stopped());
    // Sofia hangs up: free, but not rung for the callback; nothing is left.
    sofia_hangs_up(&mut h, &leg1, "s1", 5);
    trunk_answers_bye(&mut h);
    assert!(h.take_to(SOFIA).iter().all(|m| !m.starts_with("INVITE ")));
    assert!(h.ep.is_stopped());
    stored_callback_untouched(&h, writes);

    // A callback being dialled when the stop comes: both legs stopped, not counted.
    let mut h = H::new("10.0.0.0/24", &plan(""));
    callback_waiting_for_sofia(&mut h);
    let (_, customer) = manager_takes_callback(&mut h, "s2");
    h.sip_from(PBX, &reply(&customer, "180 Ringing", "c1", None));
    let writes = h.writes.len();
    h.ep.handle_stop(h.now, h.wall, StopMode::Now);
    h.drain();
    h.request_to(SOFIA, "BYE");
    h.request_to(PBX, "CANCEL");
    assert_eq!(h.ep.dialbacks(), 0);
    stored_callback_untouched(&h, writes);
}

/// No attempt counted and no dial-back finished among the writes from `since` on: the
/// stored callback is as it was, for the next start.
fn stored_callback_untouched(h: &H, since: usize) {
    let later = h.writes.get(since..).unwrap_or_default();
    assert!(
        later.iter().all(|w| !matches!(
            w,
            StoreWrite::DialbackFinished { .. } | StoreWrite::DialbackAttempt(_)
        )),
        "the stored callback is left as it was: {later:#?}"
    );
}
