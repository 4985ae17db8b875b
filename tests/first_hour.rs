//! Issue 18, the first hour of a new admin: the pid file, log colours, command-line and
//! API edges, `explain` with the phones signed in and local times, `backup`, retention.
//! Everything runs the real binary; nothing here needs sipp.
mod common;

#[path = "reports_fixture/mod.rs"]
mod fixture;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use jiff::{SignedDuration, Timestamp};
use switchboard::store::{
    CallOutcome, CallRecord, CallbackReason, NewCallback, Registration, SqliteStore, Store,
};

/// A plan with people, so names typed on the command line can be checked.
const PLAN: &str = r#"
[[numbers]]
number = "2000"
action = "department:sales"

[departments.sales]
members = ["elena"]

[managers.elena]
extension = "102"
password = "pw-102"
"#;

fn pid_file(router: &Router) -> PathBuf {
    router.dir.path().join("data").join("switchboard.pid")
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn config_arg(router: &Router) -> String {
    router.config().display().to_string()
}

#[test]
fn a_second_run_that_fails_leaves_the_pid_file_to_the_running_router() {
    let p = ports();
    let mut router = Router::start(p, "", PLAN);
    let pid_path = pid_file(&router);
    assert_eq!(read_pid(&pid_path), Some(router.pid()));

    // Same config, same data directory (and port): refused before touching anything.
    let (ok, _, err) = switchboard(&["run", "--config", &config_arg(&router)]);
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "another switchboard (pid {}) is running",
            router.pid()
        )),
        "{err}"
    );
    assert_eq!(
        read_pid(&pid_path),
        Some(router.pid()),
        "the failed run must not overwrite the pid file"
    );

    // So reload still finds the router, and says what it did.
    let (ok, out, err) = switchboard(&["reload", "--config", &config_arg(&router)]);
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("configuration reloaded from "), "{out}");

    // A clean exit removes the file.
    router.stop();
    assert!(
        !pid_path.exists(),
        "pid file left behind after a clean exit"
    );
    let (ok, _, err) = switchboard(&["reload", "--config", &config_arg(&router)]);
    assert!(!ok);
    assert!(err.contains("no running router found"), "{err}");
}

#[test]
fn a_stale_pid_file_is_reported_and_replaced() {
    let p = ports();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // A process that has exited: its pid is free.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    std::fs::write(data.join("switchboard.pid"), format!("{dead}\n")).unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nsip_listen = \"127.0.0.1:{}\"\nhttp_listen = \"off\"\nrtp_ports = \"{}-{}\"\nprompts_dir = {:?}\n{PLAN}",
            p.sip,
            p.rtp_low,
            p.rtp_high,
            repo().join("prompts").display().to_string()
        ),
    )
    .unwrap();
    let (ok, _, err) = switchboard(&["reload", "--config", config.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains(&format!("names process {dead}, which does not exist")),
        "{err}"
    );
    let cwd = dir.path().to_path_buf();
    let router = Router::spawn(dir, p, &config, &cwd);
    assert!(router.log().contains("removing stale pid file"));
    assert_eq!(
        read_pid(&router.dir.path().join("data/switchboard.pid")),
        Some(router.pid())
    );
}

/// Log lines written to a file (or journald) carry no colour codes; at a terminal they
/// are coloured unless NO_COLOR is set. Logs go to stderr, command output to stdout.
#[test]
fn logs_are_plain_text_unless_a_person_watches_a_terminal() {
    let p = ports();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nsip_listen = \"127.0.0.1:{}\"\nhttp_listen = \"off\"\nrtp_ports = \"{}-{}\"\nprompts_dir = {:?}\n{PLAN}",
            p.sip,
            p.rtp_low,
            p.rtp_high,
            repo().join("prompts").display().to_string()
        ),
    )
    .unwrap();
    let run = |stderr: Stdio, stdout: Stdio, no_color: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.args(["run", "--config"])
            .arg(&config)
            .env("SWITCHBOARD_LOG", "info")
            .env_remove("NO_COLOR")
            .stdout(stdout)
            .stderr(stderr);
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        cmd.spawn().unwrap()
    };
    let err_path = dir.path().join("stderr.log");
    let out_path = dir.path().join("stdout.log");
    let mut child = run(
        std::fs::File::create(&err_path).unwrap().into(),
        std::fs::File::create(&out_path).unwrap().into(),
        false,
    );
    let start = Instant::now();
    while !std::fs::read_to_string(&err_path)
        .unwrap_or_default()
        .contains("Switchboard ready")
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "router did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    child.wait().unwrap();
    let log = std::fs::read_to_string(&err_path).unwrap();
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file:\n{log:?}"
    );
    assert!(
        std::fs::read_to_string(&out_path).unwrap().is_empty(),
        "logs belong on stderr"
    );

    // At a terminal (a pseudo-terminal from `script`): colour, unless NO_COLOR.
    let tty = |no_color: bool| -> String {
        let cmd = format!(
            "timeout -s INT 3 {} run --config {}",
            env!("CARGO_BIN_EXE_switchboard"),
            config.display()
        );
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"])
            .env("SWITCHBOARD_LOG", "info")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        if no_color {
            c.env("NO_COLOR", "1");
        }
        let out = c.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = tty(false);
    assert!(coloured.contains("Switchboard ready"), "{coloured}");
    assert!(coloured.contains('\u{1b}'), "a terminal gets colour");
    let plain = tty(true);
    assert!(plain.contains("Switchboard ready"), "{plain}");
    assert!(
        !plain.contains('\u{1b}'),
        "NO_COLOR is respected: {plain:?}"
    );
}

#[test]
fn callbacks_take_options_after_the_action_and_check_names() {
    let d = fixture::seeded_data_dir();
    let config = d.config.to_str().unwrap();
    let (ok, out, err) = switchboard(&["callbacks", "list", "--config", config, "--tz", "UTC"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("callback requests\n"), "{out}");

    let id = d.callbacks.open_397.to_string();
    let (ok, _, err) = switchboard(&[
        "callbacks",
        "claim",
        &id,
        "--manager",
        "bobb",
        "--config",
        config,
    ]);
    assert!(!ok);
    assert!(
        err.contains("there is no manager \"bobb\" in the dial plan (did you mean \"bob\"?)"),
        "{err}"
    );
    let (ok, _, err) = switchboard(&[
        "callbacks",
        "--config",
        config,
        "done",
        &id,
        "--manager",
        "nobody",
        "--outcome",
        "x",
    ]);
    assert!(!ok);
    assert!(err.contains("there is no manager \"nobody\""), "{err}");
    // Nothing was written.
    let store = SqliteStore::open(d.db()).unwrap();
    let cb = store.get_callback(d.callbacks.open_397).unwrap().unwrap();
    assert_eq!(cb.claimed_by, None);

    let (ok, out, err) = switchboard(&[
        "callbacks",
        "list",
        "--department",
        "suport",
        "--config",
        config,
    ]);
    assert!(!ok, "{out}");
    assert!(
        err.contains(
            "there is no department \"suport\" in the dial plan (did you mean \"support\"?)"
        ),
        "{err}"
    );
    let (ok, _, err) = switchboard(&["callbacks", "list"]);
    assert!(!ok);
    assert!(err.contains("callbacks needs --config FILE"), "{err}");
}

/// `report` and `callbacks` read the database and the plan, not the WAV prompts: they
/// work on a machine that has the config and the data but no prompts folder.
#[test]
fn report_runs_without_the_prompts_folder() {
    let d = fixture::seeded_data_dir();
    let text = std::fs::read_to_string(&d.config).unwrap();
    let without = d.dir.path().join("no-prompts.toml");
    std::fs::write(
        &without,
        text.replace(
            concat!(env!("CARGO_MANIFEST_DIR"), "/prompts"),
            "/nonexistent/prompts",
        ),
    )
    .unwrap();
    let config = without.to_str().unwrap();
    let (ok, out, err) = switchboard(&[
        "report",
        "--config",
        config,
        "--from",
        fixture::FROM,
        "--to",
        fixture::TO,
        "--tz",
        "UTC",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("andrew"), "{out}");
    let (ok, _, err) = switchboard(&["callbacks", "list", "--config", config]);
    assert!(ok, "{err}");
    // `check` still insists on the prompts.
    let (ok, _, err) = switchboard(&["check", "--config", config]);
    assert!(!ok);
    assert!(err.contains("cannot read the prompts directory"), "{err}");
}

/// `explain` decides with the phones signed in (the store's bindings) like the router.
#[test]
fn explain_sees_the_registered_phones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(&config, format!("[server]\ndata_dir = \"data\"\n{PLAN}")).unwrap();
    let mut store = SqliteStore::open(data.join("switchboard.db")).unwrap();
    let now = Timestamp::now();
    store
        .save_registration(&Registration {
            manager: "elena".into(),
            contact_uri: "sip:102@127.0.0.1:5099".into(),
            source_addr: "127.0.0.1:5099".parse().unwrap(),
            transport: "udp".into(),
            registered_at: now,
            expires_at: now + SignedDuration::from_hours(1),
            call_id: "reg-1".into(),
            cseq: 1,
            user_agent: None,
            path: vec![],
        })
        .unwrap();
    drop(store);
    let (ok, out, err) = switchboard(&[
        "explain",
        "--config",
        config.to_str().unwrap(),
        "--to",
        "2000",
        "--from",
        "+4930123",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("Phones signed in now"), "{out}");
    assert!(out.contains(": elena\n"), "{out}");
    assert!(!out.contains("not signed in"), "{out}");
    assert!(out.contains("elena"), "{out}");
}

/// `--at` without an offset is the local time of the number's hours (Europe/Berlin in
/// the shipped plan); an explicit offset or zone is taken as written.
#[test]
fn explain_reads_at_in_the_plans_time_zone() {
    let config = repo().join("config/switchboard.toml");
    let config = config.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let explain = |at: &str| {
        let (ok, out, err) = switchboard(&[
            "explain",
            "--config",
            config,
            "--to",
            "+15551000",
            "--from",
            "+4930123",
            "--at",
            at,
            "--data-dir",
            tmp.path().to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        out
    };
    // Tuesday 17:30 in Berlin: open (office hours end at 18:00).
    let out = explain("2026-12-01T17:30");
    assert!(
        out.starts_with(
            "Call to +15551000 from +4930123 at Tue 2026-12-01 17:30 (Europe/Berlin, the time zone of the number's hours \"office\")"
        ),
        "{out}"
    );
    assert!(
        out.contains("menu \"main\"") || out.contains("menu:main"),
        "{out}"
    );
    assert!(!out.contains("after hours"), "{out}");
    // 17:30 UTC is 18:30 in Berlin: closed.
    let out = explain("2026-12-01T17:30Z");
    assert!(out.contains("Tue 2026-12-01 18:30 (Europe/Berlin"), "{out}");
    assert!(out.contains("after hours"), "{out}");
    let out = explain("2026-12-01T11:30[America/New_York]");
    assert!(out.contains("Tue 2026-12-01 17:30 (Europe/Berlin"), "{out}");

    let (_, help, _) = switchboard(&["explain", "--help"]);
    assert!(
        help.contains("time zone of the dialled number's hours"),
        "{help}"
    );
    assert!(!help.contains("read as UTC"), "{help}");
}

#[test]
fn backup_copies_the_database_while_the_router_runs() {
    let p = ports();
    let router = Router::start(p, "", PLAN);
    let mut store = SqliteStore::open(router.db()).unwrap();
    store
        .enqueue_webhook("{\"hello\":1}", Timestamp::now())
        .unwrap();
    drop(store);
    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().join("backup.db");
    let (ok, out, err) = switchboard(&[
        "backup",
        "--config",
        &config_arg(&router),
        "--to",
        to.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("backed up to"), "{out}");
    let copy = SqliteStore::open(&to).unwrap();
    assert_eq!(copy.due_webhooks(Timestamp::MAX, 10).unwrap().len(), 1);
    let (ok, _, err) = switchboard(&[
        "backup",
        "--config",
        &config_arg(&router),
        "--to",
        to.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn the_api_answers_mistakes_in_json() {
    let p = ports();
    let router = Router::start(p, "", PLAN);
    let mut store = SqliteStore::open(router.db()).unwrap();
    let (id, _) = store
        .add_or_update_callback(&NewCallback {
            department: "sales".into(),
            caller: "+391".into(),
            dialled: "2000".into(),
            source: "x".into(),
            at: Timestamp::now(),
            menu_path: vec![],
            reason: CallbackReason::Missed,
            recording_path: None,
            recording_secs: None,
            recording_flag: None,
        })
        .unwrap();
    drop(store);
    for path in ["/api/callbacks/abc", "/api/callbacks/abc/recording"] {
        let (status, body) = http(p, "GET", path, None);
        assert_eq!(status, 400, "{path}: {body}");
        let v: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
        assert!(
            v["error"].as_str().unwrap().contains("whole numbers"),
            "{body}"
        );
    }
    let (status, body) = http(
        p,
        "POST",
        "/api/callbacks/abc/claim",
        Some(r#"{"manager":"elena"}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.starts_with("{\"error\""), "{body}");
    let (status, body) = http(
        p,
        "POST",
        &format!("/api/callbacks/{id}/claim"),
        Some(r#"{"manager":"elna"}"#),
    );
    // Well-formed, naming a manager who does not exist: 422 Unprocessable Entity.
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("did you mean \\\"elena\\\""), "{body}");
    let (status, body) = http(p, "GET", "/api/callbacks?department=sale", None);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("did you mean \\\"sales\\\""), "{body}");
    let (status, body) = http(
        p,
        "POST",
        &format!("/api/callbacks/{id}/claim"),
        Some(r#"{"manager":"elena"}"#),
    );
    assert_eq!(status, 200, "{body}");
}

/// `retention_days`: old records, closed requests and recordings go at start (and
/// daily); an open request keeps its recording whatever its age. Conversation
/// recordings (`record = true`, issue 14) go with their call records.
#[test]
fn retention_deletes_old_records_and_recordings_but_keeps_open_requests() {
    let p = ports();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let old_day = data.join("recordings/2020-01-02");
    std::fs::create_dir_all(&old_day).unwrap();
    std::fs::write(old_day.join("gone.wav"), b"RIFF").unwrap();
    std::fs::write(old_day.join("kept.wav"), b"RIFF").unwrap();
    let new_day = data.join(format!(
        "recordings/{}",
        Timestamp::now().strftime("%Y-%m-%d")
    ));
    std::fs::create_dir_all(&new_day).unwrap();
    std::fs::write(new_day.join("new.wav"), b"RIFF").unwrap();
    let old_talk = data.join("conversations/2020-01-02");
    let new_talk = data.join(format!(
        "conversations/{}",
        Timestamp::now().strftime("%Y-%m-%d")
    ));
    for d in [&old_talk, &new_talk] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("100000-0123456789abcdef.wav"), b"RIFF").unwrap();
    }
    let old: Timestamp = "2020-01-02T10:00:00Z".parse().unwrap();
    let mut store = SqliteStore::open(data.join("switchboard.db")).unwrap();
    let record = |id: &str, at: Timestamp| CallRecord {
        call_id: id.into(),
        started_at: at,
        answered_at: None,
        ended_at: Some(at + SignedDuration::from_secs(30)),
        dialled: "2000".into(),
        source: "x".into(),
        caller: "+391".into(),
        caller_name: None,
        menu_path: vec![],
        decision: "department".into(),
        reason: "test".into(),
        department: Some("sales".into()),
        answered_by: None,
        outcome: CallOutcome::Missed,
        hangup_side: None,
        transfers: vec![],
        recording: None,
    };
    store.upsert_call(&record("old", old)).unwrap();
    store.upsert_call(&record("new", Timestamp::now())).unwrap();
    let request = |caller: &str, rec: &Path| NewCallback {
        department: "sales".into(),
        caller: caller.into(),
        dialled: "2000".into(),
        source: "x".into(),
        at: old,
        menu_path: vec![],
        reason: CallbackReason::Missed,
        recording_path: Some(rec.display().to_string()),
        recording_secs: Some(1.0),
        recording_flag: None,
    };
    let (done, _) = store
        .add_or_update_callback(&request("+392", &old_day.join("gone.wav")))
        .unwrap();
    store
        .complete_callback(done, "elena", "reached", old)
        .unwrap();
    let (open, _) = store
        .add_or_update_callback(&request("+393", &old_day.join("kept.wav")))
        .unwrap();
    drop(store);
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nsip_listen = \"127.0.0.1:{}\"\nhttp_listen = \"off\"\nrtp_ports = \"{}-{}\"\nprompts_dir = {:?}\nretention_days = 30\n{PLAN}",
            p.sip,
            p.rtp_low,
            p.rtp_high,
            repo().join("prompts").display().to_string()
        ),
    )
    .unwrap();
    let cwd = dir.path().to_path_buf();
    let router = Router::spawn(dir, p, &config, &cwd);
    router.wait_for_log("retention (30 days): deleted", Duration::from_secs(10));
    let log = router.log();
    assert!(
        log.contains("deleted 1 call records, 0 ring attempts, 1 closed callback requests, 0 undelivered notifications and 2 recordings"),
        "{log}"
    );
    let store = SqliteStore::open(router.db()).unwrap();
    assert!(store.get_call("old").unwrap().is_none());
    assert!(store.get_call("new").unwrap().is_some());
    assert!(store.get_callback(done).unwrap().is_none());
    assert!(store.get_callback(open).unwrap().is_some());
    assert!(!old_day.join("gone.wav").exists());
    assert!(
        old_day.join("kept.wav").exists(),
        "an open request keeps its message"
    );
    assert!(new_day.join("new.wav").exists());
    assert!(!old_talk.join("100000-0123456789abcdef.wav").exists());
    assert!(new_talk.join("100000-0123456789abcdef.wav").exists());
}

/// Writes a config with `rtp_ports = range` and runs `switchboard check` on it in a
/// network namespace of its own whose ephemeral ports are 40000-40999 and whose
/// reserved ports are `reserved` (`unshare -n`, as root like the other namespace
/// tests): the port sysctls are the namespace's own, so the machine's are never read
/// or written. Returns the check's stdout and stderr.
fn check_in_netns(config: &Path, range: &str, reserved: &str) -> (String, String) {
    std::fs::write(
        config,
        format!(
            "[server]\nhttp_listen = \"off\"\nrtp_ports = \"{range}\"\nprompts_dir = {:?}\n{PLAN}",
            repo().join("prompts").display().to_string()
        ),
    )
    .unwrap();
    let out = Command::new("unshare")
        .args([
            "-n",
            "sh",
            "-c",
            "echo '40000 40999' > /proc/sys/net/ipv4/ip_local_port_range && \
             { [ -z \"$0\" ] || echo \"$0\" > /proc/sys/net/ipv4/ip_local_reserved_ports; } && \
             exec \"$1\" check --config \"$2\"",
            reserved,
            env!("CARGO_BIN_EXE_switchboard"),
            config.to_str().unwrap(),
        ])
        .output()
        .expect("unshare (util-linux)");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "a warning does not fail the check (and unshare -n needs root): {stderr}"
    );
    (stdout, stderr)
}

/// `switchboard check` says when rtp_ports overlaps this machine's ephemeral ports (a
/// call given a port some program took would fail), and is silent for a range below.
#[test]
fn check_warns_when_rtp_ports_overlap_the_ephemeral_ports() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    // How many warnings the summary line counts (the plan has its own).
    let counted = |out: &str| -> usize {
        out.split(", ")
            .find_map(|part| part.trim().strip_suffix(" warning(s)")?.parse().ok())
            .unwrap_or(0)
    };
    let (below, err) = check_in_netns(&config, "39000-39998", "");
    assert!(!err.contains("ephemeral"), "{err}");
    let (out, err) = check_in_netns(&config, "40000-40098", "");
    assert!(
        err.contains(
            "overlaps the kernel's ephemeral ports 40000-40999 (ports 40000-40098 not reserved)"
        ),
        "{err}"
    );
    assert!(
        err.contains("Use a range below 40000 (or above 40999)"),
        "{err}"
    );
    assert_eq!(counted(&out), counted(&below) + 1, "{below}\n{out}");
}

/// An overlap with the ephemeral ports that the admin reserved
/// (`net.ipv4.ip_local_reserved_ports`) cannot lose a call, so `check` does not warn
/// about it; one reserved in part names the ports left.
#[test]
fn check_is_quiet_about_ephemeral_ports_the_admin_reserved() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    let (_, err) = check_in_netns(&config, "40000-40099", "40000-40099");
    assert!(!err.contains("ephemeral"), "{err}");
    let (_, err) = check_in_netns(&config, "40000-40099", "40000-40049");
    assert!(
        err.contains(
            "overlaps the kernel's ephemeral ports 40000-40999 (ports 40050-40099 not reserved, \
             the rest reserved)"
        ),
        "{err}"
    );
    assert!(
        err.contains("net.ipv4.ip_local_reserved_ports=40000-40049,40000-40099 "),
        "{err}"
    );
}
