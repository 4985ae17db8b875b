//! `switchboard reload` (issue 18, item 4): what can change while calls are up is
//! applied — trunks, digest algorithms, the webhook, prompts (including one the plan
//! names for the first time) — and each `[server]` setting that needs a restart is
//! named, at the prompt and in the log, instead of a blanket "reloaded".
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use switchboard::store::{SqliteStore, Store};

/// A loopback webhook receiver that answers 200 and keeps the bodies.
fn receiver() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.trim_end().to_ascii_lowercase();
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if l.is_empty() {
                    break;
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            record
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, seen)
}

fn reload(router: &Router) -> (bool, String, String) {
    switchboard(&["reload", "--config", router.config().to_str().unwrap()])
}

#[test]
fn reload_applies_run_time_settings_and_names_those_that_need_a_restart() {
    let _g = serial();
    let p = ports();
    let prompts = tempfile::tempdir().unwrap();
    for name in ["welcome", "goodbye"] {
        std::fs::copy(
            repo().join(format!("prompts/{name}.wav")),
            prompts.path().join(format!("{name}.wav")),
        )
        .unwrap();
    }
    let plan = r#"
[[numbers]]
number = "2000"
action = "play:welcome -> hangup"

[managers.andrew]
extension = "101"
password = "s3cret"
"#;
    let server = format!(
        "trunks = [\"127.0.0.1\"]\n# prompts\nprompts_dir = {:?}",
        prompts.path().display().to_string()
    );
    // The harness writes its own prompts_dir first; ours (later) must win, so take it
    // out of the harness's lines after start.
    let router = Router::start(p, "", plan);
    let config = router.config();
    let original = std::fs::read_to_string(&config).unwrap();
    let base: String = original
        .lines()
        .filter(|l| !l.starts_with("prompts_dir"))
        .map(|l| format!("{l}\n"))
        .collect();
    let with = |extra: &str, plan: &str| {
        base.replacen("[server]\n", &format!("[server]\n{server}\n{extra}\n"), 1)
            .replace("action = \"play:welcome -> hangup\"", plan)
    };
    std::fs::write(&config, with("", "action = \"play:welcome -> hangup\"")).unwrap();
    let (ok, out, err) = reload(&router);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("[server] applied now: trunks, prompts_dir"),
        "{out}"
    );

    // Before: 127.0.0.2 is not a trunk (403); sipp registers (MD5 offered first).
    let from_2 = |router: &Router| {
        let r = sipp(
            p,
            "uac_expect_404.xml",
            "u1",
            &["-s", "9999", "-i", "127.0.0.2"],
        );
        (r.success, router.log())
    };
    let (ok, log) = from_2(&router);
    assert!(!ok);
    assert!(log.contains("from 127.0.0.2"), "{log}");
    assert!(
        log.contains("INVITE not from a trunk or registered phone"),
        "{log}"
    );
    sipp(
        p,
        "uac_register_auth.xml",
        "u1",
        &["-au", "101", "-ap", "s3cret"],
    )
    .assert_ok(&router);

    // A webhook event waits in the outbox while no webhook is configured.
    let (hook_port, hooks) = receiver();
    SqliteStore::open(router.db())
        .unwrap()
        .enqueue_webhook(r#"{"event":"test"}"#, jiff::Timestamp::now())
        .unwrap();

    // New prompt, new plan, new trunks, SHA-256 only, a webhook — and a new SIP port
    // and RTP range, which need a restart.
    std::fs::copy(
        repo().join("prompts/goodbye.wav"),
        prompts.path().join("brand_new.wav"),
    )
    .unwrap();
    let changed = with(
        &format!(
            "digest_algorithms = [\"SHA-256\"]\nwebhook_url = \"http://127.0.0.1:{hook_port}/hook\""
        ),
        "action = \"play:brand_new -> hangup\"",
    )
    .replace(
        "trunks = [\"127.0.0.1\"]",
        "trunks = [\"127.0.0.1\", \"127.0.0.2\"]",
    )
    .replace(
        &format!("sip_listen = \"127.0.0.1:{}\"", p.sip),
        &format!("sip_listen = \"127.0.0.1:{}\"", p.sip + 1),
    )
    .replace(
        &format!("rtp_ports = \"{}-{}\"", p.rtp_low, p.rtp_high),
        &format!("rtp_ports = \"{}-{}\"", p.rtp_low, p.rtp_high - 2),
    );
    std::fs::write(&config, changed).unwrap();
    let (ok, out, err) = reload(&router);
    assert!(ok, "{out}{err}");
    println!("{out}");
    assert!(
        out.contains("[server] applied now: trunks, digest_algorithms, webhook_url"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "[server] NOT applied, needs a restart: sip_listen (127.0.0.1:{} → 127.0.0.1:{}; the router keeps 127.0.0.1:{} until it is restarted)",
            p.sip,
            p.sip + 1,
            p.sip
        )),
        "{out}"
    );
    assert!(out.contains("needs a restart: rtp_ports"), "{out}");
    assert!(!out.contains("needs a restart: trunks"), "{out}");
    assert!(router.log().contains("needs a restart: sip_listen"));

    // Trunks: 127.0.0.2 now gets the plan's answer for 9999 (404), not 403.
    let (ok, log) = from_2(&router);
    assert!(ok, "{log}");
    // Digest: SHA-256 only now, which sipp 3.6 cannot answer.
    let r = sipp(
        p,
        "uac_register_auth.xml",
        "u1",
        &["-au", "101", "-ap", "s3cret"],
    );
    assert!(!r.success);
    assert!(
        r.output.contains("authentication must use MD5"),
        "{}",
        r.output
    );
    // Prompts: the one the plan names for the first time plays.
    sipp(p, "uac_wait_bye.xml", "u1", &["-s", "2000"]).assert_ok(&router);
    let log = router.log();
    assert!(log.contains("playing [\"brand_new\"]"), "{log}");
    assert!(!log.contains("is not loaded"), "{log}");
    // Webhook: the waiting event is delivered.
    let start = Instant::now();
    while hooks.lock().unwrap().is_empty() && start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        hooks.lock().unwrap().first().map(String::as_str),
        Some(r#"{"event":"test"}"#),
        "{}",
        router.log()
    );
}
