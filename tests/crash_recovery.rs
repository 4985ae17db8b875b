//! Issue 11 item 7 against the running router: kill -9 while callers are leaving
//! messages, restart, and nothing is lost or left dangling; two callers whose Call-IDs
//! differ only in characters a file name cannot hold get two files.
mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use switchboard::store::{CallOutcome, CallbackRequest, SqliteStore, Store};

fn wavs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for day in std::fs::read_dir(dir.join("data/recordings"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for f in std::fs::read_dir(day.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.path().extension().is_some_and(|e| e == "wav") {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

fn all_callbacks(db: &Path) -> Vec<CallbackRequest> {
    SqliteStore::open(db)
        .unwrap()
        .list_callbacks(None, None)
        .unwrap()
}

#[test]
fn colliding_call_ids_leave_two_messages_in_two_files() {
    let _g = serial();
    let p = ports();
    let tmp = tempfile::tempdir().unwrap();
    let audio = ulaw_file(tmp.path(), "main_menu");
    let router = Router::start(p, "", VOICEMAIL_PLAN);
    for id in ["collide@x", "collide_x"] {
        // sipp's -cid_str sets the Call-ID (and still matches responses by it).
        let res = sipp(
            p,
            "uac_voicemail.xml",
            "u1",
            &[
                "-cid_str",
                id,
                "-s",
                "3000",
                "-d",
                "11500",
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
    }
    let files = wavs(router.dir.path());
    assert_eq!(files.len(), 2, "{files:?}\n{}", router.log());
    for f in &files {
        let r = hound::WavReader::open(f).unwrap();
        assert!(r.duration() > 8000, "{} holds a message", f.display());
        assert!(
            !f.to_string_lossy().contains("collide"),
            "named after the Call-ID"
        );
    }
}

#[test]
fn kill_9_under_load_then_restart_leaves_nothing_in_progress_and_every_wav_filed() {
    let _g = serial();
    let p = ports();
    let tmp = tempfile::tempdir().unwrap();
    let audio = ulaw_file(tmp.path(), "main_menu");
    let mut router = Router::start(p, "", VOICEMAIL_PLAN);
    // 5 calls/s from distinct callers, each talking long after the greeting.
    let csv = tmp.path().join("callers.csv");
    let lines: String = (0..200).map(|i| format!("555{i:04};1\n")).collect();
    std::fs::write(&csv, format!("SEQUENTIAL\n{lines}")).unwrap();
    let mut load = Command::new("timeout")
        .arg("60")
        .arg(require("sipp", "sip-tester"))
        .arg(format!("127.0.0.1:{}", p.sip))
        .arg("-sf")
        .arg(repo().join("tests/sipp/uac_voicemail.xml"))
        .args(["-t", "u1", "-i", "127.0.0.1", "-p"])
        .arg(p.sipp_sip.to_string())
        .args(["-mi", "127.0.0.1", "-mp"])
        .arg(p.sipp_media.to_string())
        .args([
            "-s", "3000", "-r", "5", "-l", "100", "-m", "200", "-d", "30000",
        ])
        .args(["-nostdin", "-timeout", "55s", "-inf"])
        .arg(&csv)
        .arg("-key")
        .arg("caller_audio")
        .arg(format!("{},-1,0", audio.display()))
        .arg("-key")
        .arg("dtmf_pcap")
        .arg(repo().join("tests/data/dtmf_2833_pound.pcap"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until messages are being recorded, then pull the plug.
    let start = Instant::now();
    while wavs(router.dir.path()).len() < 8 && start.elapsed() < Duration::from_secs(40) {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(700));
    let ok = Command::new("kill")
        .args(["-9", &router.pid().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    // TERM reaches sipp through timeout (KILL would orphan it).
    let _ = Command::new("kill")
        .args(["-TERM", &load.id().to_string()])
        .status();
    let _ = load.wait();
    let before = wavs(router.dir.path());
    let db = router.db();
    let in_progress = SqliteStore::open(&db)
        .unwrap()
        .calls_in_progress()
        .unwrap()
        .len();
    println!(
        "at the crash: {} WAVs on disk, {in_progress} calls in progress, {} callback requests",
        before.len(),
        all_callbacks(&db).len()
    );
    assert!(
        before.len() >= 8,
        "the load never reached the recording stage"
    );
    assert!(in_progress > 0, "the crash should leave calls in progress");

    // Restart on the same data directory.
    let dir = std::mem::replace(&mut router.dir, tempfile::tempdir().unwrap());
    drop(router);
    let mut router = Router::start_in(dir, p, "", VOICEMAIL_PLAN);
    router.wait_for_log("start-up recovery done", Duration::from_secs(10));
    router.stop();
    let store = SqliteStore::open(router.db()).unwrap();
    assert_eq!(store.calls_in_progress().unwrap().len(), 0);
    let interrupted = store
        .calls_between(jiff::Timestamp::UNIX_EPOCH, jiff::Timestamp::now())
        .unwrap()
        .into_iter()
        .filter(|c| c.outcome == CallOutcome::Interrupted)
        .inspect(|c| assert!(c.ended_at.is_some()))
        .count();
    assert_eq!(
        interrupted, in_progress,
        "each cut-off call closed as interrupted"
    );
    let callbacks = all_callbacks(&router.db());
    let referenced: HashSet<String> = callbacks
        .iter()
        .filter_map(|c| c.recording_path.as_deref())
        .map(|p| {
            Path::new(p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let files = wavs(router.dir.path());
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            referenced.contains(&name),
            "{} has no callback request",
            f.display()
        );
        // Every file is a readable WAV again.
        hound::WavReader::open(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
    let recovered = callbacks
        .iter()
        .filter(|c| {
            c.recording_flag
                .as_deref()
                .is_some_and(|f| f.starts_with("recovered"))
        })
        .count();
    println!(
        "after the restart: {} WAVs, {} requests, {recovered} recovered, {interrupted} calls interrupted",
        files.len(),
        callbacks.len()
    );
    assert!(
        recovered > 0,
        "the messages in progress were filed as recovered"
    );
    let log = router.log();
    assert!(log.contains("calls closed as interrupted"), "{log}");
}
