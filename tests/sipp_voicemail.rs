//! Real peers after hours (issue 5): a sipp caller hears the confirmation and greeting,
//! speaks (a known tone), presses `#`; the stored WAV and the callback request are
//! checked. A caller who hangs up during the greeting still leaves a request, and a
//! repeat call updates it.
mod common;

use std::time::Duration;

use common::*;
use switchboard::store::{CallbackReason, CallbackRequest, CallbackStatus, SqliteStore, Store};

fn callbacks(router: &Router) -> Vec<CallbackRequest> {
    SqliteStore::open(router.db())
        .unwrap()
        .list_callbacks(None, Some(CallbackStatus::Open))
        .unwrap()
}

/// A 1 kHz tone at -12 dBFS, μ-law, whole 20 ms frames.
fn tone(dir: &std::path::Path) -> (std::path::PathBuf, f64) {
    let wav = dir.join("tone.wav");
    let ok = std::process::Command::new(require("sox", "sox"))
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&wav)
        .args(["synth", "30", "sine", "1000", "vol", "0.25"])
        .status()
        .unwrap();
    assert!(ok.success());
    let ulaw = dir.join("tone.ulaw");
    let ok = std::process::Command::new("sox")
        .arg(&wav)
        .args(["-t", "raw", "-r", "8000", "-c", "1", "-e", "mu-law"])
        .arg(&ulaw)
        .status()
        .unwrap();
    assert!(ok.success());
    (ulaw, rms_dbfs(&wav))
}

fn rms_dbfs(wav: &std::path::Path) -> f64 {
    let mut r = hound::WavReader::open(wav).unwrap();
    let samples: Vec<f64> = r.samples::<i16>().map(|s| f64::from(s.unwrap())).collect();
    let ms = samples.iter().map(|s| s * s).sum::<f64>() / samples.len().max(1) as f64;
    20.0 * (ms.sqrt() / 32768.0).log10()
}

#[test]
fn after_hours_caller_leaves_a_message_that_is_stored_and_queued() {
    let _g = serial();
    let p = ports();
    let tmp = tempfile::tempdir().unwrap();
    let (audio, level) = tone(tmp.path());
    let mut router = Router::start(p, "", VOICEMAIL_PLAN);
    // Confirmation 4.85 s + greeting 4.18 s + beep 0.4 s, then ~4 s of message.
    let res = sipp(
        p,
        "uac_voicemail.xml",
        "u1",
        &[
            "-s",
            "3000",
            "-d",
            "13500",
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
    router.stop();
    let log = router.log();
    assert!(
        log.contains("playing [\"callback_confirm\", \"voicemail_greeting\", \"beep\"]"),
        "{log}"
    );
    let cbs = callbacks(&router);
    assert_eq!(cbs.len(), 1, "{cbs:?}");
    let cb = &cbs[0];
    assert_eq!(cb.department, "sales");
    assert_eq!(cb.reason, CallbackReason::AfterHours);
    assert_eq!(cb.caller, "5551234");
    assert_eq!(cb.dialled, "3000");
    assert_eq!(cb.source, "night-line");
    assert_eq!(cb.recording_flag, None, "{cb:?}");
    let path = cb.recording_path.clone().expect("a recording");
    let secs = cb.recording_secs.expect("its length");
    let reader = hound::WavReader::open(&path).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16)
    );
    let file_secs = f64::from(reader.duration()) / 8000.0;
    println!(
        "message: {secs:.2} s recorded, {file_secs:.2} s in the file, level {:.2} dBFS (sent {level:.2})",
        rms_dbfs(path.as_ref())
    );
    assert!(
        (file_secs - secs).abs() < 0.05,
        "file {file_secs} s vs recorded {secs} s"
    );
    assert!(
        (3.0..=5.0).contains(&secs),
        "about 4 s of message expected, got {secs}"
    );
    assert!(
        (rms_dbfs(path.as_ref()) - level).abs() < 1.0,
        "level changed"
    );
}

#[test]
fn hanging_up_during_the_greeting_leaves_a_request_and_a_repeat_call_updates_it() {
    let _g = serial();
    let p = ports();
    let mut router = Router::start(p, "", VOICEMAIL_PLAN);
    for _ in 0..2 {
        let res = sipp(p, "uac_listen.xml", "u1", &["-s", "3000", "-d", "2000"]);
        res.assert_ok(&router);
    }
    router.wait_for_log("callback request filed", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    router.stop();
    let cbs = callbacks(&router);
    assert_eq!(
        cbs.len(),
        1,
        "the repeat call updates the open request: {cbs:?}"
    );
    // Number 3000 is closed: the request says why the caller reached voicemail.
    assert_eq!(cbs[0].reason, CallbackReason::AfterHours);
    assert_eq!(cbs[0].call_count, 2);
    assert_eq!(cbs[0].recording_path, None);
}
