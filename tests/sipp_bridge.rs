//! Real peers through the bridge (issue 4): a sipp caller and sipp manager phones
//! (answering, busy, declining, never answering, transferring) against the router
//! binary. Audio is captured with tshark on both sides of the relay.
mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use switchboard::store::{CallOutcome, CallRecord, RingOutcome, SqliteStore, Store};

fn records(router: &Router) -> Vec<CallRecord> {
    let store = SqliteStore::open(router.db()).unwrap();
    store
        .calls_between(
            jiff::Timestamp::UNIX_EPOCH,
            jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1),
        )
        .unwrap()
}

fn attempts(router: &Router, call_id: &str) -> Vec<(String, RingOutcome)> {
    let store = SqliteStore::open(router.db()).unwrap();
    store
        .ring_attempts_for_call(call_id)
        .unwrap()
        .into_iter()
        .map(|a| (a.manager, a.outcome))
        .collect()
}

fn stream_key(file: &std::path::Path) -> String {
    format!("{},-1,0", file.display())
}

/// The 160-byte frames of a μ-law file, as sipp's rtp_stream sends them.
fn frames(file: &std::path::Path) -> HashSet<Vec<u8>> {
    std::fs::read(file)
        .unwrap()
        .chunks_exact(160)
        .map(<[u8]>::to_vec)
        .collect()
}

fn manager(name: &str, ext: &str, contact: &str) -> String {
    format!("[managers.{name}]\nextension = \"{ext}\"\ncontact = \"{contact}\"\n")
}

#[test]
fn a_bridged_call_relays_audio_both_ways_byte_identical() {
    let _g = serial();
    let p = ports();
    let tmp = tempfile::tempdir().unwrap();
    let caller_audio = ulaw_file(tmp.path(), "main_menu");
    let phone_audio = ulaw_file(tmp.path(), "support_menu");
    let phone = Phone::start(
        p,
        0,
        "uas_answer.xml",
        &[
            "-d",
            "300",
            "-key",
            "phone_audio",
            &stream_key(&phone_audio),
        ],
    );
    let plan = format!(
        "[[numbers]]\nnumber = \"2000\"\nsource = \"google-ads\"\naction = \"department:sales\"\n\
         [departments.sales]\nmembers = [\"andrew\"]\n{}",
        manager("andrew", "101", &phone.contact())
    );
    let mut router = Router::start(p, "", &plan);
    let to_phone = Capture::start(phone.media_port);
    let to_caller = Capture::start(p.sipp_media);
    let res = sipp(
        p,
        "uac_listen_rtp.xml",
        "u1",
        &[
            "-s",
            "2000",
            "-d",
            "7000",
            "-key",
            "caller_audio",
            &stream_key(&caller_audio),
        ],
    );
    res.assert_ok(&router);
    phone.wait().assert_ok(&router);
    let at_phone = to_phone.finish();
    let at_caller = to_caller.finish();
    let metrics = http_get(p, "/metrics");
    router.stop();
    // SIP on the wire both ways, and the answer time observed once.
    for needle in [
        r#"switchboard_sip_requests_total{method="INVITE",direction="in"} 1"#,
        r#"switchboard_sip_requests_total{method="INVITE",direction="out"} 1"#,
        r#"switchboard_sip_responses_total{status="200",direction="in"}"#,
        "switchboard_answer_seconds_count 1",
        "switchboard_ivr_seconds_count 1",
    ] {
        assert!(
            metrics.contains(needle),
            "{needle} missing from:\n{metrics}"
        );
    }

    // Caller → manager: the caller's frames arrive untouched (both legs PCMU), in one
    // stream with Switchboard's SSRC.
    let caller_frames = frames(&caller_audio);
    let relayed: Vec<_> = at_phone.iter().filter(|p| p.pt == 0).collect();
    let identical = relayed
        .iter()
        .filter(|p| caller_frames.contains(&p.payload))
        .count();
    println!(
        "caller → phone: {} packets, {identical} byte-identical to the caller's audio ({:.2} s to {:.2} s); all: {}",
        relayed.len(),
        relayed.first().map_or(0.0, |p| p.time),
        relayed.last().map_or(0.0, |p| p.time),
        at_phone.len()
    );
    assert!(
        relayed.len() > 100,
        "too few packets relayed to the phone: {}",
        relayed.len()
    );
    assert!(
        identical * 100 >= relayed.len() * 95,
        "payload changed in the relay"
    );
    assert!(
        relayed.windows(2).all(|w| w[1].ssrc == w[0].ssrc),
        "one SSRC towards the phone"
    );

    // Manager → caller: after the ringback, the phone's audio, same SSRC as the prompts.
    let phone_frames = frames(&phone_audio);
    let from_phone = at_caller
        .iter()
        .filter(|p| phone_frames.contains(&p.payload))
        .count();
    println!(
        "phone → caller: {} packets in total, {from_phone} of them the phone's audio",
        at_caller.len()
    );
    assert!(
        from_phone > 100,
        "too little of the phone's audio reached the caller: {from_phone}"
    );
    let ssrc = at_caller[0].ssrc;
    assert!(
        at_caller.iter().all(|p| p.ssrc == ssrc),
        "prompts and relayed audio in one stream"
    );
    for w in at_caller.windows(2) {
        assert!(
            w[1].seq.wrapping_sub(w[0].seq) < 50,
            "sequence numbers continue across prompt → relay"
        );
    }

    let recs = records(&router);
    let r = &recs[0];
    assert_eq!(r.answered_by.as_deref(), Some("andrew"));
    assert_eq!(r.outcome, CallOutcome::Answered);
    assert_eq!(r.department.as_deref(), Some("sales"));
    assert_eq!(
        attempts(&router, &r.call_id),
        vec![("andrew".into(), RingOutcome::Answered)]
    );
    // The phone saw the caller and the context.
    let log = router.log();
    assert!(log.contains("andrew answered after"), "{log}");
}

#[test]
fn no_answer_busy_and_decline_fail_over_to_the_next_manager() {
    let _g = serial();
    let p = ports();
    let never = Phone::start(p, 0, "uas_noanswer.xml", &[]);
    let busy = Phone::start(p, 1, "uas_busy.xml", &[]);
    let decline = Phone::start(p, 2, "uas_decline.xml", &[]);
    let answer = Phone::start(p, 3, "uas_answer.xml", &["-d", "200"]);
    let plan = format!(
        "[[numbers]]\nnumber = \"2000\"\nsource = \"ads\"\naction = \"department:sales\"\n\
         [departments.sales]\nmembers = [\"andrew\", \"elena\", \"marco\", \"sofia\"]\n\
         strategy = \"round-robin\"\nring_timeout_secs = 2\n{}{}{}{}",
        manager("andrew", "101", &never.contact()),
        manager("elena", "102", &busy.contact()),
        manager("marco", "103", &decline.contact()),
        manager("sofia", "104", &answer.contact()),
    );
    let mut router = Router::start(p, "", &plan);
    let res = sipp(p, "uac_listen.xml", "u1", &["-s", "2000", "-d", "7000"]);
    res.assert_ok(&router);
    for phone in [never, busy, decline, answer] {
        phone.wait().assert_ok(&router);
    }
    router.stop();
    let recs = records(&router);
    let r = &recs[0];
    assert_eq!(r.answered_by.as_deref(), Some("sofia"), "{r:?}");
    assert_eq!(
        attempts(&router, &r.call_id),
        vec![
            ("andrew".into(), RingOutcome::NoAnswer),
            ("elena".into(), RingOutcome::Busy),
            ("marco".into(), RingOutcome::Declined),
            ("sofia".into(), RingOutcome::Answered),
        ]
    );
}

#[test]
fn ring_all_cancels_the_phones_that_lost() {
    let _g = serial();
    let p = ports();
    // The phone that loses checks its CANCEL says "Call completed elsewhere".
    let slow = Phone::start(p, 0, "uas_answered_elsewhere.xml", &[]);
    let fast = Phone::start(p, 1, "uas_answer.xml", &["-d", "1000"]);
    let plan = format!(
        "[[numbers]]\nnumber = \"2000\"\naction = \"department:team\"\n\
         [departments.team]\nmembers = [\"andrew\", \"elena\"]\nstrategy = \"ring-all\"\n{}{}",
        manager("andrew", "101", &slow.contact()),
        manager("elena", "102", &fast.contact()),
    );
    let mut router = Router::start(p, "", &plan);
    let res = sipp(p, "uac_listen.xml", "u1", &["-s", "2000", "-d", "5000"]);
    res.assert_ok(&router);
    slow.wait().assert_ok(&router); // it got CANCEL, answered 487
    fast.wait().assert_ok(&router);
    router.stop();
    let recs = records(&router);
    let mut a = attempts(&router, &recs[0].call_id);
    a.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        a,
        vec![
            ("andrew".into(), RingOutcome::Cancelled),
            ("elena".into(), RingOutcome::Answered)
        ]
    );
}

#[test]
fn everyone_busy_goes_to_the_department_overflow() {
    let _g = serial();
    let p = ports();
    let busy = Phone::start(p, 0, "uas_busy.xml", &[]);
    let other = Phone::start(p, 1, "uas_answer.xml", &["-d", "200"]);
    let plan = format!(
        "[[numbers]]\nnumber = \"2000\"\naction = \"department:sales\"\n\
         [departments.sales]\nmembers = [\"elena\"]\noverflow = \"department:support\"\n\
         [departments.support]\nmembers = [\"sofia\"]\n{}{}",
        manager("elena", "102", &busy.contact()),
        manager("sofia", "104", &other.contact()),
    );
    let mut router = Router::start(p, "", &plan);
    let res = sipp(p, "uac_listen.xml", "u1", &["-s", "2000", "-d", "8000"]);
    res.assert_ok(&router);
    busy.wait().assert_ok(&router);
    other.wait().assert_ok(&router);
    router.stop();
    let r = &records(&router)[0];
    assert_eq!(r.answered_by.as_deref(), Some("sofia"));
    assert_eq!(r.department.as_deref(), Some("support"));
    assert!(
        router.log().contains("overflow: department:support"),
        "{}",
        router.log()
    );
}

#[test]
fn after_refer_the_phone_hangs_up_itself_and_gets_200_not_481() {
    // Issue 19: the final NOTIFY and our BYE went out together, so a phone that hangs
    // up on the NOTIFY (most do) got 481 for its BYE.
    let _g = serial();
    let p = ports();
    let first = Phone::start(
        p,
        0,
        "uas_refer_hangup.xml",
        &["-d", "1000", "-key", "refer_to", "support"],
    );
    let second = Phone::start(p, 1, "uas_answer.xml", &["-d", "200"]);
    let plan = format!(
        "[[numbers]]\nnumber = \"2000\"\naction = \"department:sales\"\n\
         [departments.sales]\nmembers = [\"andrew\"]\n[departments.support]\nmembers = [\"sofia\"]\n{}{}",
        manager("andrew", "101", &first.contact()),
        manager("sofia", "104", &second.contact()),
    );
    let router = Router::start(p, "", &plan);
    let res = sipp(p, "uac_listen.xml", "u1", &["-s", "2000", "-d", "8000"]);
    res.assert_ok(&router);
    let trace = first.messages();
    first.wait().assert_ok(&router);
    second.wait().assert_ok(&router);
    assert!(!trace.contains("SIP/2.0 481"), "{trace}");
    // The phone's BYE was the only one: it received none from us (its 4 s time-wait
    // outlasts the grace).
    let received_bye = trace.split("message received").skip(1).any(|m| {
        m.trim_start_matches(|c: char| c != '\n')
            .trim_start()
            .starts_with("BYE ")
    });
    assert!(!received_bye, "{trace}");
    assert!(router.log().contains("sofia answered"), "{}", router.log());
}

#[test]
fn refer_transfer_lands_on_the_other_department_with_the_context() {
    let _g = serial();
    let p = ports();
    let first = Phone::start(
        p,
        0,
        "uas_refer.xml",
        &["-d", "1000", "-key", "refer_to", "support"],
    );
    let second = Phone::start(p, 1, "uas_answer.xml", &["-d", "200"]);
    let plan = format!(
        "[[numbers]]\nnumber = \"2000\"\nsource = \"google-ads\"\naction = \"department:sales\"\n\
         [departments.sales]\nmembers = [\"andrew\"]\n[departments.support]\nmembers = [\"sofia\"]\n{}{}",
        manager("andrew", "101", &first.contact()),
        manager("sofia", "104", &second.contact()),
    );
    let mut router = Router::start(p, "", &plan);
    let res = sipp(p, "uac_listen.xml", "u1", &["-s", "2000", "-d", "10000"]);
    res.assert_ok(&router);
    first.wait().assert_ok(&router);
    let messages = second.messages();
    second.wait().assert_ok(&router);
    router.stop();
    // Sofia's phone got the caller with the original context and who transferred.
    assert!(
        messages.contains("X-Switchboard-Source: google-ads"),
        "{messages}"
    );
    assert!(
        messages.contains("X-Switchboard-Department: support"),
        "{messages}"
    );
    assert!(
        messages.contains("X-Switchboard-Reason: transferred by andrew"),
        "{messages}"
    );
    assert!(
        messages.contains("P-Asserted-Identity: \"Sipp Caller\" <sip:5551234@"),
        "{messages}"
    );
    let r = &records(&router)[0];
    // The first to answer; the transfer is listed, Sofia's answer is a ring attempt.
    assert_eq!(r.answered_by.as_deref(), Some("andrew"), "{r:?}");
    assert_eq!(
        attempts(&router, &r.call_id),
        vec![
            ("andrew".into(), RingOutcome::Answered),
            ("sofia".into(), RingOutcome::Answered)
        ]
    );
    assert_eq!(r.transfers.len(), 1, "{r:?}");
    assert_eq!(r.transfers[0].from, "andrew");
    assert_eq!(r.transfers[0].to, "department:support");
    assert_eq!(r.outcome, CallOutcome::Answered);
    let _ = Duration::ZERO;
}
