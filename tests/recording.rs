//! Conversation recording (issue 14 item 3): a recorded bridged call between a sipp
//! caller sending a 440 Hz tone and a sipp phone sending 1 kHz is one stereo WAV with
//! the caller's tone on the left and the manager's on the right, as long as the
//! conversation, stored with the call record and downloadable through the API.
mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use switchboard::store::{CallRecord, SqliteStore, Store};

/// `secs` of a sine at `hz` as headerless μ-law for sipp's rtp_stream.
fn tone(dir: &Path, hz: u32) -> std::path::PathBuf {
    let out = dir.join(format!("tone{hz}.ulaw"));
    let ok = Command::new(require("sox", "sox"))
        .args(["-n", "-r", "8000", "-c", "1", "-t", "raw", "-e", "mu-law"])
        .arg(&out)
        .args(["synth", "20", "sine", &hz.to_string(), "vol", "0.5"])
        .status()
        .unwrap();
    assert!(ok.success());
    out
}

/// Power of `hz` in `x` (Goertzel), normalised by the length.
fn power(x: &[f64], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = v + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2) / (x.len() as f64).powi(2)
}

fn record(router: &Router) -> CallRecord {
    let store = SqliteStore::open(router.db()).unwrap();
    store
        .calls_between(
            jiff::Timestamp::UNIX_EPOCH,
            jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1),
        )
        .unwrap()
        .remove(0)
}

#[test]
fn a_recorded_call_holds_the_caller_left_and_the_manager_right() {
    let _g = serial();
    let p = ports();
    let tmp = tempfile::tempdir().unwrap();
    let caller_tone = tone(tmp.path(), 440);
    let phone_tone = tone(tmp.path(), 1000);
    let phone = Phone::start(
        p,
        0,
        "uas_answer.xml",
        &[
            "-d",
            "300",
            "-key",
            "phone_audio",
            &format!("{},-1,0", phone_tone.display()),
        ],
    );
    let plan = format!(
        "[recording]\nchannels = \"stereo\"\n\
         [[numbers]]\nnumber = \"2000\"\naction = \"department:sales\"\n\
         [departments.sales]\nmembers = [\"andrew\"]\nrecord = true\n\
         [managers.andrew]\nextension = \"101\"\ncontact = \"{}\"\n",
        phone.contact()
    );
    let mut router = Router::start(p, "", &plan);
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
            &format!("{},-1,0", caller_tone.display()),
        ],
    );
    res.assert_ok(&router);
    phone.wait().assert_ok(&router);
    router.wait_for_log("conversation recorded", std::time::Duration::from_secs(10));
    let rec = record(&router);
    let (status, head, wav) = http_get_bytes(p, &format!("/api/calls/{}/recording", rec.call_id));
    // The dashboard lists it, with the URL its play button fetches.
    let dashboard = http_get(p, "/api/dashboard");
    router.stop();
    let body = dashboard.split_once("\r\n\r\n").unwrap().1;
    let d: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        d["recordings"][0]["call_id"],
        rec.call_id.as_str(),
        "{body}"
    );
    assert_eq!(
        d["recordings"][0]["url"],
        format!("/api/calls/{}/recording", rec.call_id).as_str()
    );
    assert_eq!(status, 200, "{head}\n{}", router.log());
    assert!(head.contains("audio/wav"), "{head}");
    let stored = rec
        .recording
        .clone()
        .expect("the record names the recording");
    assert!(stored.contains("/conversations/"), "{stored}");
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        wav,
        "the API serves the file"
    );

    let mut reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<f64> = samples.iter().step_by(2).map(|&s| f64::from(s)).collect();
    let right: Vec<f64> = samples
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&s| f64::from(s))
        .collect();

    // As long as the conversation: from the manager's answer to the hang-up.
    let secs = left.len() as f64 / 8000.0;
    let talked = rec
        .ended_at
        .unwrap()
        .duration_since(rec.answered_at.unwrap())
        .as_secs_f64();
    println!("recording {secs:.2} s, conversation {talked:.2} s");
    assert!(
        (secs - talked).abs() < 0.3,
        "recording {secs:.2} s vs conversation {talked:.2} s"
    );
    assert!(secs > 2.5, "{secs}");

    // The middle second of each channel: the caller's 440 Hz left, the phone's 1 kHz
    // right, each at least 30 dB above the other tone.
    let mid = left.len() / 2;
    let (l, r) = (
        &left[mid - 4000..mid + 4000],
        &right[mid - 4000..mid + 4000],
    );
    let db = |a: f64, b: f64| 10.0 * (a / b.max(1e-9)).log10();
    let (l440, l1k) = (power(l, 440.0), power(l, 1000.0));
    let (r440, r1k) = (power(r, 440.0), power(r, 1000.0));
    println!("left: 440 Hz {l440:.0}, 1 kHz {l1k:.0}; right: 440 Hz {r440:.0}, 1 kHz {r1k:.0}");
    assert!(db(l440, l1k) > 30.0, "left is the caller's 440 Hz");
    assert!(db(r1k, r440) > 30.0, "right is the manager's 1 kHz");
    let rms = |x: &[f64]| (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt();
    assert!(rms(l) > 3000.0 && rms(r) > 3000.0, "{} {}", rms(l), rms(r));
}
