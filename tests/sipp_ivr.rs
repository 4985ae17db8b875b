//! Real peers: sipp callers against the running `switchboard` binary (issue 2).
mod common;

use std::time::Duration;

use common::*;

const DTMF_1: &str = "tests/data/dtmf_2833_1.pcap";

fn ivr_call_with_rfc4733(transport: &str) {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", "");
    let cap = Capture::start(p.sipp_media);
    let pcap = repo().join(DTMF_1);
    let res = sipp(
        p,
        "uac_rfc4733.xml",
        transport,
        &["-key", "dtmf_pcap", pcap.to_str().unwrap()],
    );
    let pkts = cap.finish();
    res.assert_ok(&router);
    let log = router.log();
    assert!(
        log.contains("caller pressed 1 (Rfc4733)"),
        "digit not detected:\n{log}"
    );
    assert_eq!(
        log.matches("caller pressed").count(),
        1,
        "the digit must be reported once:\n{log}"
    );
    assert!(log.contains("menu demo: caller chose 1"), "{log}");
    // The caller heard a paced stream: the welcome prompt, then the confirmation.
    assert_paced_stream(&pkts, 0);
    // The confirmation ("you pressed" "1" "goodbye") played to its end before our BYE:
    // the caller pressed after ~1.5 s of welcome, so the stream lasts at least that plus
    // the three confirmation prompts.
    let confirm: f64 = ["you_pressed", "digit_1", "goodbye"]
        .iter()
        .map(|p| {
            let f = repo().join("prompts").join(format!("{p}.wav"));
            switchboard::media::Prompt::load_file(&f)
                .unwrap()
                .duration()
                .as_secs_f64()
        })
        .sum();
    let span = pkts.last().unwrap().time - pkts[0].time;
    assert!(
        span > 1.4 + confirm - 0.1,
        "stream lasted {span:.2} s; expected the welcome (~1.5 s) plus {confirm:.2} s of confirmation"
    );
    let audible = pkts
        .iter()
        .filter(|p| p.payload.iter().any(|&b| b != 0xFF && b != 0x7F))
        .count();
    assert!(
        audible > 150,
        "expected spoken prompts, got {audible} non-silent frames"
    );
}

#[test]
fn udp_caller_hears_prompt_sends_rfc4733_digit_and_gets_bye() {
    ivr_call_with_rfc4733("u1");
}

#[test]
fn tcp_caller_hears_prompt_sends_rfc4733_digit_and_gets_bye() {
    ivr_call_with_rfc4733("t1");
}

#[test]
fn udp_caller_sends_digit_by_sip_info() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", "");
    let cap = Capture::start(p.sipp_media);
    let res = sipp(p, "uac_info.xml", "u1", &[]);
    let pkts = cap.finish();
    res.assert_ok(&router);
    let log = router.log();
    assert!(log.contains("caller pressed 1 (Info)"), "{log}");
    assert!(log.contains("menu demo: caller chose 1"), "{log}");
    assert_paced_stream(&pkts, 0);
}

#[test]
fn cancel_before_answer_gets_487() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "ring_before_answer_ms = 3000", "");
    let res = sipp(p, "uac_cancel.xml", "u1", &[]);
    res.assert_ok(&router);
    router.wait_for_log(
        "caller hung up before answer (CANCEL)",
        Duration::from_secs(2),
    );
}

#[test]
fn retransmitted_invite_is_answered_once() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "ring_before_answer_ms = 800", "");
    let res = sipp(p, "uac_retrans.xml", "u1", &[]);
    res.assert_ok(&router);
    router.wait_for_log("call ended", Duration::from_secs(3));
    assert_eq!(router.count("incoming call"), 1, "{}", router.log());
    assert_eq!(router.count("answered after"), 1, "{}", router.log());
}

#[test]
fn pcma_only_offer_is_answered_in_pcma() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", "");
    let cap = Capture::start(p.sipp_media);
    let res = sipp(p, "uac_pcma.xml", "u1", &[]);
    let pkts = cap.finish();
    res.assert_ok(&router);
    assert!(
        !pkts.is_empty() && pkts.iter().all(|p| p.pt == 8),
        "RTP must be PCMA (PT 8)"
    );
}

#[test]
fn g729_only_offer_gets_488() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", "");
    let res = sipp(p, "uac_g729.xml", "u1", &[]);
    res.assert_ok(&router);
    assert!(router.log().contains("488"), "{}", router.log());
}

/// An RTP port another program holds when the router starts is never given to a
/// call: the first call, which would have drawn it, is answered on another port.
#[test]
fn a_port_held_at_start_is_never_given_to_a_call() {
    let _g = serial();
    let p = ports();
    // The first port the router's pool hands out.
    let held = std::net::UdpSocket::bind(("127.0.0.1", p.rtp_low)).unwrap();
    let router = Router::start(p, "", "");
    router.wait_for_log("held by another program", Duration::from_secs(2));
    assert!(
        router
            .log()
            .contains(&format!("will not be given to calls: {}", p.rtp_low)),
        "{}",
        router.log()
    );
    // The range's 20 even ports, less the held one (the gauge is published each second).
    std::thread::sleep(Duration::from_millis(1200));
    let metrics = http_get(p, "/metrics");
    assert!(
        metrics.contains("switchboard_rtp_ports_free 19\n"),
        "{metrics}"
    );
    let cap = Capture::start(p.sipp_media);
    let res = sipp(p, "uac_info.xml", "u1", &[]);
    let pkts = cap.finish();
    res.assert_ok(&router);
    let log = router.log();
    assert!(!log.contains("media failed"), "{log}");
    assert!(log.contains("menu demo: caller chose 1"), "{log}");
    assert_paced_stream(&pkts, 0);
    drop(held);
}

/// A trunk with a delayed offer (no SDP in the INVITE): our 200 carries the offer, the
/// caller answers PCMA in the ACK, and the prompts are heard in PCMA at its address.
#[test]
fn udp_caller_with_a_delayed_offer_answers_in_the_ack_and_hears_pcma() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", "");
    let cap = Capture::start(p.sipp_media);
    let res = sipp(p, "uac_late_offer.xml", "u1", &[]);
    let pkts = cap.finish();
    res.assert_ok(&router);
    let log = router.log();
    assert!(
        log.contains("without an SDP offer: ours goes in the 200"),
        "{log}"
    );
    assert!(
        log.contains("the caller answered our offer in the ACK"),
        "{log}"
    );
    assert!(log.contains("menu demo: caller chose 1"), "{log}");
    assert_paced_stream(&pkts, 8);
}
