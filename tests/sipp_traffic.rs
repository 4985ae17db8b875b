//! Known traffic through the real router (issues 6 and 18): one sipp call for each way
//! a call ends — answered, missed, abandoned in the IVR, abandoned while ringing,
//! voicemail ended by `#`, transferred, a message cut off by the caller's hang-up, a
//! hang-up during the greeting, a closed number, a full queue, nobody answering,
//! abandoned in the queue, the plan's own hang-up — then each record's outcome and
//! callback reason, and every report figure: exactly for counts, and identical between
//! the CLI (`switchboard report --format json`), the admin API (`GET /api/reports`)
//! and the dashboard's tiles.
mod common;

use std::process::Command;

use common::*;

fn plan(andrew: &str, elena: &str, marco: &str, sofia: &str) -> String {
    format!(
        r#"
[[numbers]]
number = "2000"
source = "ads"
action = "department:sales"

[[numbers]]
number = "4000"
source = "print"
action = "department:busy"

[[numbers]]
number = "1000"
source = "main"
action = "menu:main"

[[numbers]]
number = "5000"
source = "radio"
action = "department:slow"

[[numbers]]
number = "3000"
source = "night"
action = "department:night"

[[numbers]]
number = "6000"
source = "partner"
action = "department:front"

[[numbers]]
number = "7000"
source = "closed-line"
hours = "never"
after_hours = "hangup"
action = "department:sales"

[[numbers]]
number = "8000"
source = "full"
action = "department:full"

[[numbers]]
number = "8100"
source = "queue"
action = "department:queue"

[[numbers]]
number = "8200"
source = "unanswered"
action = "department:quick"

[[numbers]]
number = "9000"
source = "info"
action = "play:goodbye -> hangup"

[menus.main]
prompt = "main_menu"
options = {{ "1" = "department:sales" }}

[departments.sales]
members = ["andrew"]
[departments.busy]
members = ["elena"]
overflow = "hangup"
[departments.slow]
members = ["marco"]
ring_timeout_secs = 30
[departments.night]
members = ["andrew"]
hours = "never"
after_hours = "voicemail:night"
[departments.front]
members = ["sofia"]
[departments.full]
members = ["nina"]
max_waiting = 0
overflow = "hangup"
[departments.queue]
members = ["nina"]
queue_timeout_secs = 60
overflow = "hangup"
[departments.quick]
members = ["marco"]
ring_timeout_secs = 2
overflow = "hangup"

[hours.never]
timezone = "UTC"

[voicemail.night]
greeting = "voicemail_greeting"

[managers.andrew]
extension = "101"
contact = "{andrew}"
[managers.elena]
extension = "102"
contact = "{elena}"
[managers.marco]
extension = "103"
contact = "{marco}"
[managers.sofia]
extension = "104"
contact = "{sofia}"
# Never free: max_calls = 0 keeps her "busy" for the queue cases.
[managers.nina]
extension = "105"
contact = "sip:105@127.0.0.1:5997"
max_calls = 0
"#
    )
}

#[test]
fn every_outcome_once_and_the_reports_agree() {
    let _g = serial();
    let p = ports();
    let tmp = tempfile::tempdir().unwrap();
    let tone = ulaw_file(tmp.path(), "main_menu");
    let contact = |i: u16| format!("sip:phone@127.0.0.1:{}", p.phone(i).0);
    let text = plan(&contact(0), &contact(1), &contact(2), &contact(3));
    let mut router = Router::start(p, "", &text);

    // 1. Answered: andrew picks up, the caller talks, hangs up.
    let andrew = Phone::start(p, 0, "uas_answer.xml", &["-d", "200"]);
    sipp(p, "uac_listen.xml", "u1", &["-s", "2000", "-d", "5000"]).assert_ok(&router);
    andrew.wait().assert_ok(&router);
    // 2. Missed: elena is busy, the department hangs up politely.
    let elena = Phone::start(p, 1, "uas_busy.xml", &[]);
    sipp(p, "uac_wait_bye.xml", "u1", &["-s", "4000"]).assert_ok(&router);
    elena.wait().assert_ok(&router);
    // 3. Abandoned in the IVR: the caller hangs up during the menu prompt.
    sipp(p, "uac_listen.xml", "u1", &["-s", "1000", "-d", "2000"]).assert_ok(&router);
    // 4. Abandoned while ringing: marco's phone rings, the caller gives up.
    let marco = Phone::start(p, 2, "uas_noanswer.xml", &[]);
    sipp(p, "uac_listen.xml", "u1", &["-s", "5000", "-d", "5000"]).assert_ok(&router);
    marco.wait().assert_ok(&router);
    // 5. Voicemail after hours.
    sipp(
        p,
        "uac_voicemail.xml",
        "u1",
        &[
            "-s",
            "3000",
            "-d",
            "12000",
            "-key",
            "caller_audio",
            &format!("{},-1,0", tone.display()),
            "-key",
            "dtmf_pcap",
            repo()
                .join("tests/data/dtmf_2833_pound.pcap")
                .to_str()
                .unwrap(),
        ],
    )
    .assert_ok(&router);
    // 6. Transferred: sofia answers, passes the caller to sales, andrew answers.
    let sofia = Phone::start(
        p,
        3,
        "uas_refer.xml",
        &["-d", "1000", "-key", "refer_to", "sales"],
    );
    let andrew = Phone::start(p, 0, "uas_answer.xml", &["-d", "200"]);
    sipp(p, "uac_listen.xml", "u1", &["-s", "6000", "-d", "10000"]).assert_ok(&router);
    sofia.wait().assert_ok(&router);
    andrew.wait().assert_ok(&router);
    // Issue 18: every other way a call ends, each from its own number so each files
    // (or does not file) its own callback request.
    // 7. After hours, the caller hangs up mid-message (the greeting is 9.4 s).
    sipp_as(
        p,
        "+107",
        "uac_listen.xml",
        "u1",
        &["-s", "3000", "-d", "13000"],
    )
    .assert_ok(&router);
    // 8. After hours, the caller hangs up during the greeting.
    sipp_as(
        p,
        "+108",
        "uac_listen.xml",
        "u1",
        &["-s", "3000", "-d", "2000"],
    )
    .assert_ok(&router);
    // 9. A closed number whose after-hours action is to hang up: confirmation, goodbye.
    sipp_as(p, "+109", "uac_wait_bye.xml", "u1", &["-s", "7000"]).assert_ok(&router);
    // 10. Overflow: everyone busy and the queue is full (max_waiting = 0).
    sipp_as(p, "+110", "uac_wait_bye.xml", "u1", &["-s", "8000"]).assert_ok(&router);
    // 11. Nobody answered: the only member rings out (2 s), the department hangs up.
    let marco = Phone::start(p, 2, "uas_noanswer.xml", &[]);
    sipp_as(p, "+111", "uac_wait_bye.xml", "u1", &["-s", "8200"]).assert_ok(&router);
    marco.wait().assert_ok(&router);
    // 12. Abandoned in the queue.
    sipp_as(
        p,
        "+112",
        "uac_listen.xml",
        "u1",
        &["-s", "8100", "-d", "5000"],
    )
    .assert_ok(&router);
    // 13. The plan's own hang-up: an announcement, served.
    sipp_as(p, "+113", "uac_wait_bye.xml", "u1", &["-s", "9000"]).assert_ok(&router);
    std::thread::sleep(std::time::Duration::from_millis(500));

    let api = http_get(p, "/api/reports?week=1&tz=UTC");
    let dom = chromium(&format!("http://127.0.0.1:{}/", p.http), &["--dump-dom"]);
    let managers = http_get(p, "/api/managers");
    router.stop();
    // andrew answered call 1 and, after the transfer, call 6; everyone is free again.
    let body = managers.split("\r\n\r\n").nth(1).unwrap_or_default();
    let managers: serde_json::Value = serde_json::from_str(body).unwrap();
    let andrew = managers
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "andrew")
        .unwrap();
    assert_eq!(andrew["state"], "free", "{managers}");
    assert_eq!(andrew["calls_answered"], 2, "{managers}");
    let api_json = api.split("\r\n\r\n").nth(1).unwrap_or_default();
    let api: serde_json::Value =
        serde_json::from_str(api_json).unwrap_or_else(|e| panic!("{e}: {api_json}"));
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["report", "--config"])
        .arg(router.config())
        .args(["--week", "--tz", "UTC", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The CLI and the API compute the same report, to the millisecond.
    assert_eq!(cli, api, "CLI and API disagree");

    let t = &cli["totals"];
    let totals: Vec<(&str, u64)> = [
        "calls",
        "answered",
        "completed_in_ivr",
        "missed",
        "abandoned_in_ivr",
        "abandoned_ringing",
        "voicemail",
        "failed",
        "in_progress",
    ]
    .iter()
    .map(|k| (*k, t[*k].as_u64().unwrap_or(u64::MAX)))
    .collect();
    assert_eq!(
        totals,
        vec![
            ("calls", 13),
            ("answered", 2),
            ("completed_in_ivr", 1),
            ("missed", 5),
            ("abandoned_in_ivr", 1),
            ("abandoned_ringing", 2),
            ("voicemail", 2),
            ("failed", 0),
            ("in_progress", 0)
        ],
        "{cli:#}"
    );
    // Each ending's record and callback request, one by one.
    let store = switchboard::store::SqliteStore::open(router.db()).unwrap();
    use switchboard::store::{CallOutcome as O, CallbackReason as R, Store};
    let records = store
        .calls_between(
            jiff::Timestamp::UNIX_EPOCH,
            jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1),
        )
        .unwrap();
    let callbacks = store.list_callbacks(None, None).unwrap();
    for (caller, outcome, reason) in [
        ("+107", O::Voicemail, Some(R::AfterHours)),
        ("+108", O::Missed, Some(R::AfterHours)),
        ("+109", O::Missed, Some(R::AfterHours)),
        ("+110", O::Missed, Some(R::Overflow)),
        ("+111", O::Missed, Some(R::NobodyAnswered)),
        ("+112", O::AbandonedRinging, Some(R::AbandonedWaiting)),
        ("+113", O::CompletedInIvr, None),
    ] {
        let rec = records
            .iter()
            .find(|r| r.caller == caller)
            .unwrap_or_else(|| panic!("no record for {caller}"));
        assert_eq!(rec.outcome, outcome, "{caller}: {rec:?}");
        let cb = callbacks.iter().find(|c| c.caller == caller);
        assert_eq!(cb.map(|c| c.reason), reason, "{caller}: {cb:?}");
    }
    let mid_message = callbacks.iter().find(|c| c.caller == "+107").unwrap();
    assert!(mid_message.recording_path.is_some(), "{mid_message:?}");
    let manager = |name: &str| -> (u64, u64, u64) {
        let row = cli["per_manager"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["manager"] == name)
            .unwrap_or_else(|| panic!("no row for {name}: {cli:#}"));
        (
            row["offered"].as_u64().unwrap(),
            row["answered"].as_u64().unwrap(),
            row["missed"].as_u64().unwrap(),
        )
    };
    // andrew: call 1, and call 6 after the transfer (sofia answered it first).
    assert_eq!(manager("andrew"), (2, 1, 0), "{cli:#}");
    assert_eq!(manager("elena"), (1, 0, 1), "{cli:#}");
    // marco: call 4 was cancelled (not missed), call 11 rang out (missed).
    assert_eq!(manager("marco"), (2, 0, 1), "{cli:#}");
    assert_eq!(manager("sofia"), (1, 1, 0), "{cli:#}");
    let sources: Vec<(String, u64, u64)> = cli["per_source"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["source"].as_str().unwrap().to_string(),
                r["calls"].as_u64().unwrap(),
                r["answered"].as_u64().unwrap(),
            )
        })
        .collect();
    for expected in [
        ("ads", 1, 1),
        ("print", 1, 0),
        ("main", 1, 0),
        ("radio", 1, 0),
        ("night", 3, 0),
        ("partner", 1, 1),
        ("closed-line", 1, 0),
        ("full", 1, 0),
        ("queue", 1, 0),
        ("unanswered", 1, 0),
        ("info", 1, 0),
    ] {
        assert!(
            sources.contains(&(expected.0.to_string(), expected.1, expected.2)),
            "{expected:?} not in {sources:?}"
        );
    }
    // The dashboard shows the same figures (all thirteen calls were today).
    for (testid, value) in [
        ("calls-today", "13"),
        ("answered-today", "2"),
        ("ivr-today", "1"),
        ("missed-today", "5"),
        ("voicemail-today", "2"),
        ("abandoned-today", "3"),
        ("failed-today", "0"),
        ("manager-andrew-offered", "2"),
        ("manager-andrew-answered", "1"),
        ("manager-elena-missed", "1"),
        ("manager-sofia-answered", "1"),
    ] {
        assert_eq!(
            data_value(&dom, testid).as_deref(),
            Some(value),
            "{testid} in:\n{dom}"
        );
    }
    // The first six calls came from one number whose last call was answered: nothing
    // left to call back for it. The new callers who were missed (not the one the
    // IVR served) are listed.
    let missed: Vec<&str> = cli["missed_not_called_back"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["caller"].as_str().unwrap_or_default())
        .collect();
    for caller in ["+107", "+108", "+109", "+110", "+111", "+112"] {
        assert!(missed.contains(&caller), "{caller} not in {missed:?}");
    }
    assert!(
        !missed.contains(&"5551234") && !missed.contains(&"+113"),
        "{missed:?}"
    );
}

/// The `data-value` of the element with `data-testid="ID"` in a dumped DOM.
fn data_value(dom: &str, id: &str) -> Option<String> {
    let at = dom.find(&format!("data-testid=\"{id}\""))?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    let tag = &dom[start..end];
    let v = tag.split("data-value=\"").nth(1)?;
    Some(v.split('"').next()?.to_string())
}
