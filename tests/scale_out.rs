//! Issue 15, the proof: three Switchboard instances behind Kamailio
//! (`deploy/kamailio/kamailio.cfg`, the shipped file with its addresses rewritten) and
//! one PostgreSQL, managers' phones (sipp) registered through Kamailio, sipp trunk calls
//! at 20 calls/s; one instance is killed with SIGKILL a third of the way in and
//! restarted two thirds in. Checks:
//!
//! 1. every call placed after Kamailio noticed the dead instance completed;
//! 2. no manager ever had more calls at once than `max_calls`, from the ring attempts
//!    and call records of all instances in PostgreSQL (the dead instance's unfinished
//!    calls counted until the earliest moment its lease could have run out);
//! 3. every completed call has its final record in PostgreSQL, and every call that
//!    went to voicemail (left a message or not) its callback request;
//! 4. load was spread over the instances, and the restarted one takes calls again.
//!
//! Everything runs on loopback addresses (127.0.0.10 Kamailio, .11-.13 the instances,
//! .20+ phones, .30 the trunk). `SCALE_OUT_SECS` sets the length of the traffic
//! (default 60; `docs/scale-out.md` records a 180 s run). Needs kamailio, sipp and
//! postgresql; fails, never skips, without them.
mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pg::PgServer;
use common::{repo, require};
use jiff::Timestamp;
use switchboard::store::{CallOutcome, PostgresStore, RingOutcome, Store};

const KAMAILIO: &str = "127.0.0.10";
const INSTANCES: [&str; 3] = ["127.0.0.11", "127.0.0.12", "127.0.0.13"];
const TRUNK: &str = "127.0.0.30";
const MANAGERS: u16 = 6;
const MAX_CALLS: u32 = 2;
const RATE: u32 = 20;
/// How long a trunk call lasts after Switchboard answered it: waiting in the queue
/// (up to 2 s, then voicemail), then talking or leaving a message.
const HOLD_MS: u32 = 6000;

/// A child process killed (and reaped) on drop.
struct Proc {
    name: String,
    child: Option<Child>,
}

impl Proc {
    fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name: name.into(),
            child: Some(child),
        }
    }

    fn sigkill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    fn wait_timeout(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(_))) | None => return true,
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            eprintln!("{} did not stop on SIGTERM; killing it", self.name);
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn wait_for(path: &std::path::Path, needle: &str, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if read(path).contains(needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{} never showed {needle:?}:\n{}",
        path.display(),
        read(path)
    );
}

fn plan() -> String {
    let mut p = String::from(
        r#"
[[numbers]]
number = "2000"
source = "trunk"
action = "department:sales"

[departments.sales]
strategy = "round-robin"
ring_timeout_secs = 8
queue_timeout_secs = 2
max_waiting = 500
overflow = "voicemail:sales"
"#,
    );
    let members: Vec<String> = (1..=MANAGERS).map(|i| format!("\"m{i}\"")).collect();
    p.push_str(&format!(
        "members = [{}]\n\n[voicemail.sales]\n",
        members.join(", ")
    ));
    for i in 1..=MANAGERS {
        p.push_str(&format!(
            "\n[managers.m{i}]\nextension = \"2{i:02}\"\npassword = \"pw-2{i:02}\"\nmax_calls = {MAX_CALLS}\n"
        ));
    }
    p
}

/// One Switchboard instance: config and data in `dir`, `extra` more `[server]` keys.
fn instance(n: usize, port: u16, url: &str, dir: &std::path::Path, extra: &str) -> Proc {
    let ip = INSTANCES[n];
    let data = dir.join(format!("sb{n}"));
    std::fs::create_dir_all(&data).unwrap();
    let config = data.join("switchboard.toml");
    if !config.exists() {
        std::fs::write(
            &config,
            format!(
                "[server]\nsip_listen = \"{ip}:{port}\"\nhttp_listen = \"off\"\n\
                 rtp_ports = \"30000-31998\"\nprompts_dir = \"{}\"\ndata_dir = \"{}\"\n\
                 trunks = [\"{KAMAILIO}\"]\nrtp_timeout_secs = 60\n{extra}\n\n\
                 [store]\nurl = \"{url}\"\ninstance = \"sb{n}\"\n{}",
                repo().join("prompts").display(),
                data.join("data").display(),
                plan()
            ),
        )
        .unwrap();
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("router.log"))
        .unwrap();
    Proc::spawn(
        &format!("switchboard {n}"),
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["run", "--config"])
            .arg(&config)
            .env("SWITCHBOARD_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    )
}

/// The trunk: sipp calling number 2000 through Kamailio from the callers in `csv`
/// (rate, count and hold are the caller's to add).
fn trunk_calls(port: u16, csv: &std::path::Path) -> Command {
    let mut c = Command::new(require("sipp", "sip-tester"));
    c.arg(format!("{KAMAILIO}:{port}"))
        .arg("-sf")
        .arg(repo().join("tests/sipp/uac_trunk_via_proxy.xml"))
        .args(["-t", "u1", "-i", TRUNK, "-p", &port.to_string()])
        .args(["-mi", TRUNK, "-mp", &(port + 2).to_string()])
        .args(["-s", "2000", "-inf"])
        .arg(csv);
    c
}

/// sipp's injection file of `total` distinct caller numbers starting with `prefix`.
fn callers(dir: &std::path::Path, prefix: &str, total: u64) -> std::path::PathBuf {
    let csv = dir.join("callers.csv");
    let mut f = std::fs::File::create(&csv).unwrap();
    writeln!(f, "SEQUENTIAL").unwrap();
    for n in 0..total {
        writeln!(f, "{prefix}{n:07};").unwrap();
    }
    csv
}

/// The first `count` instances, each ready to take calls.
fn instances(count: usize, port: u16, url: &str, dir: &std::path::Path, extra: &str) -> Vec<Proc> {
    let sbs: Vec<Proc> = (0..count)
        .map(|n| instance(n, port, url, dir, extra))
        .collect();
    for n in 0..count {
        wait_for(
            &dir.join(format!("sb{n}/router.log")),
            "Switchboard ready",
            Duration::from_secs(15),
        );
    }
    sbs
}

/// Kamailio with `instances` in its dispatcher set.
fn kamailio(port: u16, dir: &std::path::Path, instances: &[&str]) -> (Proc, std::path::PathBuf) {
    let kam = common::netns::require_tools().1;
    let list = dir.join("dispatcher.list");
    let mut f = std::fs::File::create(&list).unwrap();
    for ip in instances {
        writeln!(f, "1 sip:{ip}:{port}").unwrap();
    }
    let cfg = read(&repo().join("deploy/kamailio/kamailio.cfg"))
        .replace(
            "#!substdef \"!SB_LISTEN!203.0.113.10!g\"",
            &format!("#!substdef \"!SB_LISTEN!{KAMAILIO}!g\""),
        )
        .replace(
            "#!substdef \"!SB_PORT!5060!g\"",
            &format!("#!substdef \"!SB_PORT!{port}!g\""),
        )
        .replace(
            "#!substdef \"!SB_DISPATCHER_LIST!/etc/kamailio/dispatcher.list!g\"",
            &format!("#!substdef \"!SB_DISPATCHER_LIST!{}!g\"", list.display()),
        )
        .replace("log_stderror=no", "log_stderror=yes");
    assert!(
        cfg.contains(&format!("!SB_LISTEN!{KAMAILIO}!")),
        "substdef lines changed?"
    );
    let path = dir.join("kamailio.cfg");
    std::fs::write(&path, cfg).unwrap();
    let run = dir.join("kamailio-run");
    std::fs::create_dir_all(&run).unwrap();
    let log_path = dir.join("kamailio.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let p = Proc::spawn(
        "kamailio",
        Command::new(kam)
            .arg("-f")
            .arg(&path)
            .args(["-DD", "-E", "-m", "128", "-M", "16", "-Y"])
            .arg(&run)
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    );
    wait_for(&log_path, "Listening on", Duration::from_secs(10));
    (p, log_path)
}

/// A manager's phone: a sipp UAS on 127.0.0.(20+i), registered through Kamailio.
fn phone(i: u16, port: u16, dir: &std::path::Path) -> Proc {
    let sipp = require("sipp", "sip-tester");
    let ip = format!("127.0.0.{}", 20 + i);
    let audio = common::ulaw_file(dir, "support_menu");
    let uas = Proc::spawn(
        &format!("phone {i}"),
        Command::new(&sipp)
            .arg("-sf")
            .arg(repo().join("tests/sipp/uas_load_answer.xml"))
            .args(["-t", "u1", "-i", &ip, "-p", &port.to_string()])
            .args(["-mi", &ip, "-mp", &(port + 2).to_string()])
            .args(["-key", "phone_audio", &format!("{},-1,0", audio.display())])
            .arg("-nostdin")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    std::thread::sleep(Duration::from_millis(300));
    let reg = Command::new(&sipp)
        .arg(format!("{KAMAILIO}:{port}"))
        .arg("-sf")
        .arg(repo().join("tests/sipp/uac_register_through_proxy.xml"))
        .args(["-t", "u1", "-i", &ip, "-p", &(port + 1).to_string()])
        .args(["-key", "ext", &format!("2{i:02}")])
        .args(["-key", "contact", &format!("sip:2{i:02}@{ip}:{port}")])
        .args(["-au", &format!("2{i:02}"), "-ap", &format!("pw-2{i:02}")])
        .args(["-m", "1", "-nostdin", "-timeout", "10s"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        reg.status.success(),
        "phone {i} did not register through Kamailio:\n{}{}",
        String::from_utf8_lossy(&reg.stdout),
        String::from_utf8_lossy(&reg.stderr)
    );
    uas
}

#[derive(Debug, Default)]
struct Interval {
    start: i64,
    end: i64,
}

#[test]
fn three_instances_behind_kamailio_survive_a_sigkill_without_double_ringing() {
    let _g = common::serial();
    let secs: u64 = std::env::var("SCALE_OUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let port = common::ports().sip;
    let dir = tempfile::tempdir().unwrap();
    let pg = PgServer::start();
    let url = pg.fresh_database();
    drop(PostgresStore::connect(&url).unwrap());

    let mut sbs = instances(3, port, &url, dir.path(), "");
    let (_kam, kam_log) = kamailio(port, dir.path(), &INSTANCES);
    let _phones: Vec<Proc> = (1..=MANAGERS).map(|i| phone(i, port, dir.path())).collect();
    // Every instance learns every phone from the shared registrations (≤ 1 s).
    std::thread::sleep(Duration::from_secs(3));

    // The trunk: distinct caller numbers, RATE calls/s for `secs`.
    let total = RATE as u64 * secs;
    let csv = callers(dir.path(), "+1555", total);
    let db_stats = |url: &str| -> (i64, i64) {
        let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
        let r = c
            .query_one(
                "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted \
                 FROM pg_stat_database WHERE datname = current_database()",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    let stats0 = db_stats(&url);
    let trunk_log = dir.path().join("trunk.log");
    let t0 = Instant::now();
    let wall0 = Timestamp::now();
    let mut trunk = Proc::spawn(
        "trunk",
        trunk_calls(port, &csv)
            .args([
                "-r",
                &RATE.to_string(),
                "-rp",
                "1000",
                "-m",
                &total.to_string(),
            ])
            .args(["-d", &HOLD_MS.to_string(), "-l", "2000"])
            .args(["-recv_timeout", "20000", "-nostdin"])
            .args(["-trace_logs", "-log_file"])
            .arg(&trunk_log)
            .args(["-trace_stat", "-stf"])
            .arg(dir.path().join("trunk_stat.csv"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );

    // A third of the way in: SIGKILL instance 1; Kamailio must notice.
    std::thread::sleep(Duration::from_secs(secs / 3));
    let killed_at = t0.elapsed();
    let killed_wall = Timestamp::now();
    sbs[1].sigkill();
    let mut noticed = None;
    while t0.elapsed() < killed_at + Duration::from_secs(15) {
        let dead = format!("sip:{}:{port}", INSTANCES[1]);
        if read(&kam_log)
            .lines()
            .any(|l| l.contains("instance down") && l.contains(&dead))
        {
            noticed = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let noticed = noticed.unwrap_or_else(|| {
        panic!(
            "Kamailio never marked the dead instance down:\n{}",
            read(&kam_log)
        )
    });
    // Two thirds in: restart it; Kamailio must take it back.
    let restart_at = Duration::from_secs(2 * secs / 3);
    std::thread::sleep(restart_at.saturating_sub(t0.elapsed()));
    sbs[1] = instance(1, port, &url, dir.path(), "");
    let back = Instant::now();
    let up = format!("instance back up (ru=sip:{}:{port})", INSTANCES[1]);
    while !read(&kam_log).contains(&up) {
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "never back:\n{}",
            read(&kam_log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let back_after = back.elapsed();
    assert!(
        trunk.wait_timeout(Duration::from_secs(secs + 90)),
        "the trunk's calls did not finish"
    );
    let elapsed = t0.elapsed();
    // Let the last records reach the database.
    std::thread::sleep(Duration::from_secs(2));

    // PostgreSQL's statistics lag by up to half a second.
    std::thread::sleep(Duration::from_secs(1));
    let stats1 = db_stats(&url);

    // ---- 1. every call placed after Kamailio noticed completed -----------------------
    let log = read(&trunk_log);
    let mut started: BTreeMap<String, u64> = BTreeMap::new();
    let mut ok: BTreeSet<String> = BTreeSet::new();
    for line in log.lines() {
        let mut w = line.split_whitespace();
        match (w.next(), w.next(), w.next()) {
            (Some("start"), Some(id), Some(tick)) => {
                started.insert(id.to_string(), tick.parse().unwrap_or(0));
            }
            (Some("ok"), Some(id), None) => {
                ok.insert(id.to_string());
            }
            _ => {}
        }
    }
    assert_eq!(started.len() as u64, total, "every call was placed");
    // sipp's clock_tick counts from its own start, a few ms after t0.
    let noticed_ms = noticed.as_millis() as u64;
    let failed: Vec<(&String, &u64)> = started.iter().filter(|(id, _)| !ok.contains(*id)).collect();
    let late_failures: Vec<_> = failed
        .iter()
        .filter(|(_, tick)| **tick > noticed_ms + 500)
        .collect();
    assert!(
        late_failures.is_empty(),
        "{} calls placed after Kamailio noticed failed: {late_failures:?}",
        late_failures.len()
    );

    // ---- 2. nobody beyond max_calls, across instances --------------------------------
    let store = PostgresStore::connect(&url).unwrap();
    let from = wall0 - jiff::SignedDuration::from_secs(5);
    let to = Timestamp::now() + jiff::SignedDuration::from_secs(5);
    let calls = store.calls_between(from, to).unwrap();
    let rings = store.ring_attempts_between(from, to).unwrap();
    let by_id: HashMap<&str, &switchboard::store::CallRecord> =
        calls.iter().map(|c| (c.call_id.as_str(), c)).collect();
    // The dead instance's unfinished calls: held until its lease could first expire.
    let lease_floor = killed_wall
        + jiff::SignedDuration::try_from(
            switchboard::store::shared::LEASE - switchboard::store::shared::HEARTBEAT,
        )
        .unwrap();
    let mut per_manager: BTreeMap<&str, Vec<Interval>> = BTreeMap::new();
    for r in &rings {
        let end = if r.outcome == RingOutcome::Answered {
            by_id
                .get(r.call_id.as_str())
                .and_then(|c| c.ended_at)
                .unwrap_or(lease_floor)
        } else {
            r.ended_at
        };
        per_manager
            .entry(r.manager.as_str())
            .or_default()
            .push(Interval {
                start: r.started_at.as_millisecond(),
                end: end.as_millisecond(),
            });
    }
    let mut peaks = BTreeMap::new();
    for (m, iv) in &per_manager {
        let mut ev: Vec<(i64, i32)> = iv
            .iter()
            .flat_map(|i| [(i.start, 1), (i.end, -1)])
            .collect();
        ev.sort();
        let (mut now, mut peak) = (0i32, 0i32);
        for (_, d) in ev {
            now += d;
            peak = peak.max(now);
        }
        peaks.insert(*m, peak);
        assert!(
            peak <= MAX_CALLS as i32,
            "manager {m} had {peak} calls at once (max_calls {MAX_CALLS})"
        );
    }

    // All conversations at once, whoever had them (at most MANAGERS * MAX_CALLS).
    let mut talk_ev: Vec<(i64, i32)> = calls
        .iter()
        .filter_map(|c| Some((c.answered_at?, c.ended_at.unwrap_or(lease_floor))))
        .flat_map(|(a, e)| [(a.as_millisecond(), 1), (e.as_millisecond(), -1)])
        .collect();
    talk_ev.sort();
    let (mut now, mut talk_peak) = (0i32, 0i32);
    for (_, d) in talk_ev {
        now += d;
        talk_peak = talk_peak.max(now);
    }
    let hold: Vec<i64> = calls
        .iter()
        .filter_map(|c| Some(c.ended_at?.as_millisecond() - c.answered_at?.as_millisecond()))
        .collect();
    eprintln!(
        "conversations at once: peak {talk_peak}; mean talk {} ms",
        hold.iter().sum::<i64>() / (hold.len().max(1) as i64)
    );
    assert!(
        talk_peak <= (MANAGERS as u32 * MAX_CALLS) as i32,
        "{talk_peak} conversations at once"
    );

    // ---- 3. every record and callback request is in PostgreSQL ----------------------
    let callbacks = store.list_callbacks(None, None).unwrap();
    let callback_callers: BTreeSet<&str> = callbacks.iter().map(|c| c.caller.as_str()).collect();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for id in &ok {
        let rec = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("completed call {id} has no record in PostgreSQL"));
        assert!(rec.ended_at.is_some(), "{id}: record not finished: {rec:?}");
        *outcomes.entry(rec.outcome.to_string()).or_default() += 1;
        if matches!(rec.outcome, CallOutcome::Voicemail | CallOutcome::Missed) {
            assert!(
                callback_callers.contains(rec.caller.as_str()),
                "{id}: {} without a callback request",
                rec.outcome
            );
        }
    }
    let answered = outcomes.get("answered").copied().unwrap_or(0);
    assert!(answered > 0, "some calls reached managers: {outcomes:?}");

    // ---- 4. spread, and the restarted instance is used again ------------------------
    let klog = read(&kam_log);
    let mut spread: BTreeMap<&str, usize> = BTreeMap::new();
    for ip in INSTANCES {
        let to = format!(" to sip:{ip}:{port}");
        let n = klog
            .lines()
            .filter(|l| (l.contains("new call") || l.contains("failing over")) && l.contains(&to))
            .count();
        spread.insert(ip, n);
    }
    let routed: usize = spread.values().sum();
    for (ip, n) in &spread {
        assert!(
            *n * 100 >= routed * 15,
            "instance {ip} got {n} of {routed} calls: {spread:?}"
        );
    }
    let restarted_log = read(&dir.path().join("sb1/router.log"));
    let after_restart = restarted_log
        .rsplit("Switchboard ready")
        .next()
        .unwrap_or_default()
        .matches("call{id=")
        .count();
    eprintln!(
        "scale-out proof: {total} calls in {:.0} s at {RATE}/s over 3 instances; \
         sb1 killed at {:.1} s, Kamailio noticed after {:.1} s, restarted at {:.1} s, \
         back in rotation after {:.1} s\n\
         completed {} of {total}; failed {} (all placed before Kamailio noticed; the \
         dead instance's calls in progress)\n\
         outcomes of completed calls: {outcomes:?}\n\
         new calls routed per instance (Kamailio, failovers included): {spread:?}\n\
         peak concurrent calls per manager (max_calls {MAX_CALLS}): {peaks:?}\n\
         records in PostgreSQL: {}, ring attempts: {}, callback requests: {}\n\
         PostgreSQL load: {} commits and {} rows written in {:.0} s ({:.1} commits, {:.1} rows per call; \
         includes heartbeats and snapshots of 3 instances)",
        elapsed.as_secs_f64(),
        killed_at.as_secs_f64(),
        (noticed - killed_at).as_secs_f64(),
        restart_at.as_secs_f64(),
        back_after.as_secs_f64(),
        ok.len(),
        failed.len(),
        calls.len(),
        rings.len(),
        callbacks.len(),
        stats1.0 - stats0.0,
        stats1.1 - stats0.1,
        elapsed.as_secs_f64(),
        (stats1.0 - stats0.0) as f64 / total as f64,
        (stats1.1 - stats0.1) as f64 / total as f64,
    );
    assert!(after_restart > 0, "the restarted instance took no calls");
}

/// A rolling restart's first half: one of two instances behind Kamailio is stopped
/// with `drain_secs` while trunk calls keep coming. It refuses new calls with 503
/// (Kamailio fails them over and its OPTIONS probe takes the instance out), its calls
/// in progress end normally, and it exits on its own as soon as the last one has:
/// the trunk sees no failed call and no record is `interrupted`.
#[test]
fn an_instance_drained_behind_kamailio_loses_no_call() {
    let _g = common::serial();
    let port = common::ports().sip;
    let dir = tempfile::tempdir().unwrap();
    let pg = PgServer::start();
    let url = pg.fresh_database();
    drop(PostgresStore::connect(&url).unwrap());
    let pair = &INSTANCES[..2];
    let mut sbs = instances(2, port, &url, dir.path(), "drain_secs = 30");
    let (_kam, kam_log) = kamailio(port, dir.path(), pair);

    // 10 calls/s for 12 s, each held 3 s by the trunk (no phone: queue, then
    // voicemail, then the trunk's BYE).
    let total = 120;
    let csv = callers(dir.path(), "+1556", total);
    let mut trunk = trunk_calls(port, &csv);
    trunk
        .args(["-r", "10", "-m", &total.to_string(), "-d", "3000"])
        .args(["-recv_timeout", "20000", "-nostdin", "-timeout", "60s"])
        .stdin(Stdio::null());
    let trunk = std::thread::spawn(move || trunk.output().unwrap());

    std::thread::sleep(Duration::from_secs(4));
    let sb0 = sbs[0].child.as_ref().unwrap().id();
    let asked = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &sb0.to_string()])
            .status()
            .unwrap()
            .success()
    );
    // Its calls last 3 s: it is gone well before the 30 s drain ends.
    assert!(
        sbs[0].wait_timeout(Duration::from_secs(15)),
        "the drained instance did not exit"
    );
    let exited = asked.elapsed();
    let out = trunk.join().unwrap();
    let log0 = read(&dir.path().join("sb0/router.log"));
    assert!(
        out.status.success(),
        "a trunk call failed during the drain:\n{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        read(&kam_log)
    );
    assert!(exited < Duration::from_secs(10), "exited after {exited:?}");
    assert!(log0.contains("new calls are refused (503)"), "{log0}");
    assert!(log0.contains("stopped: every call has ended"), "{log0}");
    assert!(
        !log0.contains("stopping: hanging up"),
        "no call was cut off:\n{log0}"
    );

    // Every call has its final record, none interrupted; both instances took calls.
    std::thread::sleep(Duration::from_secs(2));
    let store = PostgresStore::connect(&url).unwrap();
    let since = Timestamp::now() - jiff::SignedDuration::from_secs(3600);
    let calls = store.calls_between(since, Timestamp::now()).unwrap();
    assert_eq!(calls.len() as u64, total, "one record per trunk call");
    assert!(
        calls
            .iter()
            .all(|c| c.ended_at.is_some() && c.outcome != CallOutcome::Interrupted),
        "{calls:#?}"
    );
    drop(sbs);
}
