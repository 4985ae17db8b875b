//! The department queue with real peers: sipp callers and a sipp manager phone
//! against the router binary.
mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use switchboard::store::{CallRecord, SqliteStore, Store};

fn records(router: &Router) -> Vec<CallRecord> {
    let store = SqliteStore::open(router.db()).unwrap();
    store
        .calls_between(
            jiff::Timestamp::UNIX_EPOCH,
            jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1),
        )
        .unwrap()
}

/// A sipp caller in the background: caller number `number`, listening `listen_ms`
/// after the answer, then hanging up.
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

/// Issue 12: A takes the only manager; B, C, D queue 0.7 s apart. Each time the
/// manager frees up, the caller who has waited longest is connected: B, then C, then
/// D — never the latest arrival first, and nobody who waited is left to give up.
#[test]
fn queued_callers_reach_the_manager_in_arrival_order() {
    let _g = serial();
    let p = ports();
    let phone = Phone::start_for(p, 0, "uas_answer.xml", 4, &["-d", "100"]);
    let plan = format!(
        "[[numbers]]\nnumber = \"3000\"\naction = \"department:support\"\n\
         [departments.support]\nmembers = [\"sofia\"]\nqueue_timeout_secs = 60\n\
         [managers.sofia]\ncontact = \"{}\"\n",
        phone.contact()
    );
    let mut router = Router::start(p, "", &plan);
    let mut callers = Vec::new();
    // A talks until 8 s; B, C, D arrive while A talks, queue, and each stays on the
    // line about 6 s longer than the one before, so they are served in turn.
    callers.push(caller(p, 0, "+100", 8000));
    std::thread::sleep(Duration::from_millis(1500));
    for (i, number) in ["+101", "+102", "+103"].iter().enumerate() {
        callers.push(caller(p, i as u16 + 1, number, 12_000 + 6_000 * i as u32));
        std::thread::sleep(Duration::from_millis(700));
    }
    for (mut c, _dir) in callers {
        let status = c.wait().unwrap();
        assert!(status.success(), "a caller failed:\n{}", router.log());
    }
    phone.wait().assert_ok(&router);
    std::thread::sleep(Duration::from_millis(500));
    router.stop();
    let mut answered: Vec<(jiff::Timestamp, String)> = records(&router)
        .into_iter()
        .map(|r| (r.answered_at.expect("every caller is answered"), r.caller))
        .collect();
    answered.sort();
    let order: Vec<&str> = answered.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        order,
        vec!["+100", "+101", "+102", "+103"],
        "{}",
        router.log()
    );
    let log = router.log();
    for (n, pos) in [("+101", 1), ("+102", 2), ("+103", 3)] {
        assert!(
            log.lines().any(|l| l.contains(&format!("from={n}"))
                && l.contains(&format!("queueing as caller {pos}"))),
            "{n} queued as caller {pos}:\n{log}"
        );
    }
}
