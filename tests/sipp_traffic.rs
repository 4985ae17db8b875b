//! Known traffic through the real router (issue 6): six sipp calls, one of each
//! outcome — answered, missed, abandoned in the IVR, abandoned while ringing,
//! voicemail, transferred — then every report figure is checked: exactly for counts,
//! and identical between the CLI (`switchboard report --format json`) and the admin
//! API (`GET /api/reports`) for everything, timings included.
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
            ("calls", 6),
            ("answered", 2),
            ("missed", 1),
            ("abandoned_in_ivr", 1),
            ("abandoned_ringing", 1),
            ("voicemail", 1),
            ("failed", 0),
            ("in_progress", 0)
        ],
        "{cli:#}"
    );
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
    assert_eq!(
        manager("marco"),
        (1, 0, 0),
        "cancelled, not missed: {cli:#}"
    );
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
        ("night", 1, 0),
        ("partner", 1, 1),
    ] {
        assert!(
            sources.contains(&(expected.0.to_string(), expected.1, expected.2)),
            "{expected:?} not in {sources:?}"
        );
    }
    // The dashboard shows the same figures (all six calls were today).
    for (testid, value) in [
        ("calls-today", "6"),
        ("answered-today", "2"),
        ("missed-today", "1"),
        ("voicemail-today", "1"),
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
    // Every call came from the same number, and its last call was answered: nothing
    // is left to call back.
    let missed = cli["missed_not_called_back"].as_array().unwrap();
    assert!(missed.is_empty(), "{cli:#}");
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
