//! The dashboard acting, in a real browser (issue 13): headless Chromium, driven over
//! the DevTools protocol (`tests/browser`), loads the router's dashboard with the
//! admin token and a person clicks through it: chooses who they are, claims a callback
//! request, plays its recording (the audio element gets the WAV), writes an outcome
//! and closes it; watches a sipp caller appear in the support queue and leave when they
//! hang up; pauses a manager with a reason and unpauses her. Every action is checked in
//! the page and against the admin API / the database.
//!
//! Needs Debian's `chromium` and `sipp`; fails rather than skips without them.

mod browser;
mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use browser::Browser;
use common::*;
use serde_json::json;
use switchboard::store::{AgentStateKind, CallbackReason, NewCallback, SqliteStore, Store};

const TOKEN: &str = "acting-token-13";

/// A sipp caller in the background dialling 3000 from `number`, staying `listen_ms`
/// after the answer.
fn caller(p: Ports, i: u16, number: &str, listen_ms: u32) -> (Child, tempfile::TempDir) {
    let sipp = require("sipp", "sip-tester");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("callers.csv");
    std::fs::write(&csv, format!("SEQUENTIAL\n{number};1\n")).unwrap();
    let child = Command::new("timeout")
        .arg("60")
        .arg(sipp)
        .arg(format!("127.0.0.1:{}", p.sip))
        .arg("-sf")
        .arg(repo().join("tests/sipp/uac_listen.xml"))
        .args(["-t", "u1", "-i", "127.0.0.1", "-p"])
        .arg((p.sipp_sip + i).to_string())
        .args(["-mi", "127.0.0.1", "-mp"])
        .arg((p.sipp_media + i * 4).to_string())
        .args([
            "-s", "3000", "-m", "1", "-nostdin", "-timeout", "50s", "-inf",
        ])
        .arg(&csv)
        .args(["-d", &listen_ms.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (child, dir)
}

/// One open callback request with a recording (a real WAV: 5.6 s of speech).
fn seed(data: &std::path::Path) -> i64 {
    std::fs::create_dir_all(data.join("recordings")).unwrap();
    std::fs::copy(
        repo().join("prompts/callback_queued.wav"),
        data.join("recordings/cb-4401.wav"),
    )
    .unwrap();
    let mut store = SqliteStore::open(data.join("switchboard.db")).unwrap();
    let (id, _) = store
        .add_or_update_callback(&NewCallback {
            department: "support".into(),
            caller: "+4401".into(),
            dialled: "3000".into(),
            source: "3000".into(),
            at: jiff::Timestamp::now(),
            menu_path: vec![],
            reason: CallbackReason::AfterHours,
            recording_path: Some("recordings/cb-4401.wav".into()),
            recording_secs: Some(5.6),
            recording_flag: None,
        })
        .unwrap();
    id
}

/// `GET path` with the token: the JSON body.
fn api(p: Ports, path: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", p.http)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {out}"))
}

/// The callers shown waiting in support's queue.
const QUEUED: &str = r#"[...document.querySelectorAll('[data-testid="queue-support-rows"] tr[data-testid^="queued-"]')].map(tr => tr.querySelector('[data-testid$="-caller"]').textContent.trim() + ' ' + tr.querySelector('[data-testid$="-position"]').textContent)"#;

#[test]
fn a_signed_in_admin_claims_plays_closes_watches_the_queue_and_pauses_a_manager() {
    let _g = serial();
    let p = ports();
    let dir = tempfile::tempdir().unwrap();
    let request = seed(&dir.path().join("data"));
    let sofia = Phone::start_for(p, 0, "uas_answer.xml", 1, &["-d", "200"]);
    let plan = format!(
        "[[numbers]]\nnumber = \"3000\"\naction = \"department:support\"\n\
         [departments.support]\nmembers = [\"sofia\"]\nqueue_timeout_secs = 60\n\
         [managers.sofia]\ncontact = \"{}\"\nname = \"Sofia\"\n",
        sofia.contact()
    );
    let router = Router::start_in(dir, p, &format!("admin_token = \"{TOKEN}\""), &plan);
    let mut b = Browser::open(&format!(
        "http://127.0.0.1:{}/dashboard#token={TOKEN}",
        p.http
    ));
    b.wait_for(
        "document.querySelector('[data-testid=\"agent-sofia-state\"]')?.textContent === 'free'",
        Duration::from_secs(15),
    );
    let row = format!("callback-{request}");

    // Who am I: Sofia. Claim the request.
    b.eval(
        "(() => { const s = document.getElementById('acting-as'); s.value = 'sofia'; \
         s.dispatchEvent(new Event('change')); return s.value; })()",
    );
    b.click(&format!("{row}-claim"));
    b.wait_for(
        &format!(
            "document.querySelector('[data-testid=\"{row}-status\"]')?.textContent === 'claimed by sofia'"
        ),
        Duration::from_secs(10),
    );
    let cb = api(p, &format!("/api/callbacks/{request}"));
    assert_eq!(cb["status"], json!("claimed"), "{cb}");
    assert_eq!(cb["claimed_by"], json!("sofia"), "{cb}");

    // Play the recording: the link is replaced by an audio element playing the WAV,
    // fetched with the token (a blob: URL), whose length is the recording's.
    let played = b.eval(&format!(
        r#"new Promise((resolve) => {{
            document.querySelector('[data-testid="{row}-recording"]').click();
            const t0 = Date.now();
            const poll = () => {{
              const a = document.querySelector('[data-testid="{row}"] audio');
              if (!a) return Date.now() - t0 > 5000 ? resolve({{ error: 'no audio element' }}) : setTimeout(poll, 50);
              const done = () => resolve({{ src: a.src, duration: a.duration }});
              if (a.readyState >= 1) return done();
              a.addEventListener('loadedmetadata', done);
              a.addEventListener('error', () => resolve({{ error: 'media error ' + (a.error && a.error.code) }}));
            }};
            poll();
        }})"#
    ));
    assert!(
        played["src"].as_str().unwrap_or("").starts_with("blob:"),
        "{played}"
    );
    let secs = played["duration"].as_f64().unwrap_or(0.0);
    assert!((secs - 5.59).abs() < 0.1, "the WAV's length: {played}");

    // Close it with an outcome: it leaves the queue; the API keeps who and what.
    b.fill(&format!("{row}-outcome"), "called back, sorted");
    b.click(&format!("{row}-close"));
    b.wait_for(
        &format!("!document.querySelector('[data-testid=\"{row}\"]')"),
        Duration::from_secs(10),
    );
    let cb = api(p, &format!("/api/callbacks/{request}"));
    assert_eq!(cb["status"], json!("done"), "{cb}");
    assert_eq!(cb["outcome"], json!("called back, sorted"), "{cb}");

    // A takes Sofia; B queues behind and appears in the support queue, first in line,
    // then leaves it when they hang up.
    let a = caller(p, 1, "5551", 26_000);
    router.wait_for_log("sofia answered", Duration::from_secs(10));
    let mut bc = caller(p, 2, "5552", 14_000);
    let seen = b.wait_for(
        &format!("(() => {{ const q = {QUEUED}; return q.length ? q : null; }})()"),
        Duration::from_secs(15),
    );
    assert_eq!(seen, json!(["5552 #1"]), "B waits, first in line");
    assert!(bc.0.wait().unwrap().success(), "{}", router.log());
    b.wait_for(&format!("{QUEUED}.length === 0"), Duration::from_secs(15));
    let (mut ac, _adir) = a;
    assert!(ac.wait().unwrap().success(), "{}", router.log());
    sofia.wait().assert_ok(&router);

    // Pause Sofia for lunch from the page; then unpause her.
    b.wait_for(
        "document.querySelector('[data-testid=\"agent-sofia-state\"]')?.textContent === 'free'",
        Duration::from_secs(15),
    );
    b.fill("agent-sofia-reason", "lunch");
    b.click("agent-sofia-pause");
    b.wait_for(
        "document.querySelector('[data-testid=\"agent-sofia-state\"]')?.textContent === 'paused'",
        Duration::from_secs(10),
    );
    let since = b.text("agent-sofia-reason-since").unwrap_or_default();
    assert!(since.starts_with("lunch since "), "{since}");
    router.wait_for_log("sofia paused (lunch)", Duration::from_secs(5));
    b.click("agent-sofia-unpause");
    b.wait_for(
        "document.querySelector('[data-testid=\"agent-sofia-state\"]')?.textContent === 'free'",
        Duration::from_secs(10),
    );
    drop(b);
    let mut router = router;
    router.stop();
    // The pause is an interval with its reason, for the per-manager report.
    let store = SqliteStore::open(router.db()).unwrap();
    let intervals = store
        .agent_intervals_between(
            jiff::Timestamp::UNIX_EPOCH,
            jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1),
        )
        .unwrap();
    assert!(
        intervals.iter().any(|i| i.manager == "sofia"
            && i.kind == AgentStateKind::Paused
            && i.detail == "lunch"
            && i.ended_at.is_some()),
        "{intervals:?}"
    );
}
