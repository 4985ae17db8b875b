//! Issue 18 with real callers (sipp): a recording downloaded through the API when the
//! router runs from another working directory, a number nobody routes refused with 404
//! before answering, and keys pressed during the welcome kept for the menu.
mod common;

use std::time::{Duration, Instant};

use common::*;

/// The config as an admin writes it: every path relative to the config file. The
/// router is started from another directory; the message it records must be where the
/// database says, and downloadable through the admin API.
#[test]
fn a_recording_is_downloaded_when_the_router_runs_from_another_directory() {
    let _g = serial();
    let p = ports();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo().join("prompts"), dir.path().join("prompts")).unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nsip_listen = \"127.0.0.1:{}\"\nhttp_listen = \"127.0.0.1:{}\"\nrtp_ports = \"{}-{}\"\nprompts_dir = \"prompts\"\ndata_dir = \"data\"\n{VOICEMAIL_PLAN}",
            p.sip, p.http, p.rtp_low, p.rtp_high
        ),
    )
    .unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let mut router = Router::spawn(dir, p, &config, elsewhere.path());
    let audio_dir = tempfile::tempdir().unwrap();
    let audio = ulaw_file(audio_dir.path(), "support_menu");
    let res = sipp(
        p,
        "uac_voicemail.xml",
        "u1",
        &[
            "-s",
            "3000",
            "-d",
            "12500",
            "-key",
            "caller_audio",
            &format!("{},-1,0", audio.display()),
            "-key",
            "dtmf_pcap",
            repo()
                .join("tests/data/dtmf_2833_pound.pcap")
                .to_str()
                .unwrap(),
        ],
    );
    res.assert_ok(&router);
    // The request is filed once the recording is closed.
    let start = Instant::now();
    let (mut status, mut head, mut body) = http_get_bytes(p, "/api/callbacks/1/recording");
    while status != 200 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
        (status, head, body) = http_get_bytes(p, "/api/callbacks/1/recording");
    }
    assert_eq!(
        status,
        200,
        "{head}\n{}\n{}",
        String::from_utf8_lossy(&body),
        router.log()
    );
    assert!(head.contains("audio/wav"), "{head}");
    assert_eq!(body.get(..4), Some(&b"RIFF"[..]));
    assert!(
        body.len() > 8000,
        "a few seconds of message: {} bytes",
        body.len()
    );
    router.stop();
    // Everything landed next to the config file, nothing in the working directory.
    let recordings = router.dir.path().join("data/recordings");
    assert!(recordings.is_dir(), "{}", router.log());
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "the router wrote into its working directory"
    );
}

/// A number the plan does not route is refused before it is answered: 404, no 200, so
/// the trunk does not bill the caller for a call nobody serves.
#[test]
fn a_number_nobody_routes_gets_404_before_answering() {
    let _g = serial();
    let p = ports();
    let plan = r#"
[[numbers]]
number = "2000"
action = "play:welcome -> hangup"
"#;
    let router = Router::start(p, "", plan);
    let res = sipp(p, "uac_expect_404.xml", "u1", &["-s", "9999"]);
    res.assert_ok(&router);
    let log = router.log();
    assert!(
        log.contains("rejected with 404: number \"9999\" is not in the dial plan"),
        "{log}"
    );
    assert!(!log.contains("SIP/2.0 200 OK"), "never answered: {log}");
}

fn type_ahead_plan(type_ahead: bool) -> String {
    format!(
        r#"
[[numbers]]
number = "1000"
action = "play:welcome -> menu:main"

[menus.main]
prompt = "main_menu"
options = {{ "1" = "play:goodbye -> hangup" }}
timeout_secs = 2
retries = 0
on_failure = "hangup"
type_ahead = {type_ahead}
"#
    )
}

/// Like Asterisk's Background(): a key pressed during the welcome (a `play:` step
/// leading into a menu) stops it and counts for the menu, instead of being lost while
/// the menu waits for a key that already came.
#[test]
fn a_key_pressed_during_the_welcome_is_kept_for_the_menu() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", &type_ahead_plan(true));
    let pcap = repo().join("tests/data/dtmf_2833_1.pcap");
    let started = Instant::now();
    let res = sipp(
        p,
        "uac_rfc4733.xml",
        "u1",
        &["-s", "1000", "-key", "dtmf_pcap", pcap.to_str().unwrap()],
    );
    let took = started.elapsed();
    res.assert_ok(&router);
    let log = router.log();
    assert!(
        log.contains("key 1 pressed during the prompt: kept for menu main"),
        "{log}"
    );
    assert!(log.contains("menu main: caller chose 1"), "{log}");
    assert!(
        !log.contains("playing [\"main_menu\"]"),
        "the menu prompt is skipped once the caller chose: {log}"
    );
    // Key at ~1.5 s, then the goodbye (2.6 s): well before the welcome (3.2 s) plus
    // the menu prompt (6.8 s) could even have finished.
    assert!(took < Duration::from_secs(9), "call took {took:?}");
}

#[test]
fn type_ahead_can_be_turned_off() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", &type_ahead_plan(false));
    let pcap = repo().join("tests/data/dtmf_2833_1.pcap");
    let res = sipp(
        p,
        "uac_rfc4733.xml",
        "u1",
        &["-s", "1000", "-key", "dtmf_pcap", pcap.to_str().unwrap()],
    );
    res.assert_ok(&router);
    let log = router.log();
    assert!(!log.contains("type-ahead"), "{log}");
    assert!(log.contains("menu main: no input"), "{log}");
}
