//! Issue 19 item 2 with real peers: a manager's RFC 4733 keys are held back from the
//! caller while they could be the transfer feature code. A sipp manager presses keys
//! from a pcap (`tests/data/dtmf_101_*.pcap`, written by
//! `../shared/peers/gen_dtmf_pcap.py`); tshark records every RTP packet that reaches
//! the sipp caller, and the telephone-events among them are what the caller's phone
//! would report.
mod common;

use common::*;

const EVENT_PT: u8 = 101;

/// Andrew (phone 0) answers `2000` and presses the keys of `pcap` after 1.5 s; with
/// `transfer`, Sofia (phone 1) answers the `*2 2` transfer. Returns the RTP packets
/// that reached the caller, the router's log and Sofia's SIP messages.
fn manager_presses(
    pcap: &str,
    caller_ms: &str,
    transfer: bool,
) -> (Vec<RtpPacket>, String, String) {
    let _g = serial();
    let p = ports();
    let dtmf = repo().join("tests/data").join(pcap);
    let andrew = Phone::start(
        p,
        0,
        "uas_answer_dtmf.xml",
        &["-d", "1500", "-key", "dtmf_pcap", dtmf.to_str().unwrap()],
    );
    let sofia = transfer.then(|| Phone::start(p, 1, "uas_answer.xml", &["-d", "200"]));
    let plan = format!(
        "[[numbers]]\nnumber = \"2000\"\naction = \"department:sales\"\n\
         [departments.sales]\nmembers = [\"andrew\"]\n\
         [departments.support]\nmembers = [\"sofia\"]\n\
         [managers.andrew]\nextension = \"101\"\ncontact = \"{}\"\n\
         [managers.sofia]\nextension = \"104\"\ncontact = \"{}\"\n\
         [transfer]\ncode = \"*2\"\nkeys = {{ \"2\" = \"department:support\" }}\n",
        andrew.contact(),
        sofia
            .as_ref()
            .map_or("sip:sofia@127.0.0.1:9".into(), Phone::contact),
    );
    let router = Router::start(p, "", &plan);
    let to_caller = Capture::start(p.sipp_media);
    let dir = tempfile::tempdir().unwrap();
    let audio = ulaw_file(dir.path(), "main_menu");
    let res = sipp(
        p,
        "uac_listen_rtp.xml",
        "u1",
        &[
            "-s",
            "2000",
            "-d",
            caller_ms,
            "-key",
            "caller_audio",
            &format!("{},-1,0", audio.display()),
        ],
    );
    let pkts = to_caller.finish();
    res.assert_ok(&router);
    andrew.wait().assert_ok(&router);
    let sofia_messages = match sofia {
        Some(sofia) => {
            let m = sofia.messages();
            sofia.wait().assert_ok(&router);
            m
        }
        None => String::new(),
    };
    (pkts, router.log(), sofia_messages)
}

/// The caller's telephone-events: (event code, end bit, RTP timestamp), in order.
fn events(pkts: &[RtpPacket]) -> Vec<(u8, bool, u32)> {
    pkts.iter()
        .filter(|p| p.pt == EVENT_PT && p.payload.len() >= 4)
        .map(|p| (p.payload[0], p.payload[1] & 0x80 != 0, p.ts))
        .collect()
}

/// The digits a receiver reports: one per distinct event timestamp.
fn digits(evs: &[(u8, bool, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut last_ts = None;
    for &(code, _, ts) in evs {
        if last_ts != Some(ts) {
            out.push(code);
            last_ts = Some(ts);
        }
    }
    out
}

#[test]
fn the_caller_receives_no_event_of_a_managers_star_2_2() {
    let (pkts, log, sofia) = manager_presses("dtmf_101_star22.pcap", "9000", true);
    assert!(log.contains("manager pressed *22: transferring"), "{log}");
    assert!(log.contains("sofia answered"), "{log}");
    assert!(sofia.contains("INVITE sip:"), "{sofia}");
    assert!(
        pkts.len() > 100,
        "the caller heard the call: {} packets",
        pkts.len()
    );
    assert_eq!(
        events(&pkts),
        vec![],
        "no telephone-event reached the caller"
    );
}

#[test]
fn the_caller_receives_a_managers_lone_5_as_sent() {
    let (pkts, log, _) = manager_presses("dtmf_101_5.pcap", "5000", false);
    assert!(!log.contains("transferring"), "{log}");
    let evs = events(&pkts);
    // Every packet of the key (8 updates and 3 ends in the pcap), relayed on arrival
    // rather than held and regenerated.
    assert_eq!(evs.len(), 11, "{evs:?}");
    assert_eq!(digits(&evs), vec![5]);
    assert_eq!(evs.iter().filter(|e| e.1).count(), 3);
}

#[test]
fn a_star_that_turns_out_not_to_be_a_code_reaches_the_caller_before_the_next_key() {
    let (pkts, log, _) = manager_presses("dtmf_101_star5.pcap", "5000", false);
    assert!(!log.contains("transferring"), "{log}");
    let evs = events(&pkts);
    // Both keys regenerated when the 5 broke the code: start + three ends each.
    assert_eq!(digits(&evs), vec![10, 5], "{evs:?}");
    assert_eq!(evs.len(), 8, "{evs:?}");
}
