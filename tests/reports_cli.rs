//! `switchboard report` end to end: the binary on a seeded data directory.

#[path = "reports_fixture/mod.rs"]
mod fixture;

use std::process::{Command, Output};

fn switchboard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("SWITCHBOARD_LOG", "warn")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn json_report_has_every_section() {
    let d = fixture::seeded_data_dir();
    let config = d.config.to_str().unwrap();
    let out = stdout(&switchboard(&[
        "report",
        "--config",
        config,
        "--from",
        fixture::FROM,
        "--to",
        fixture::TO,
        "--tz",
        "UTC",
        "--format",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["period"]["from"], "2026-03-02");
    assert_eq!(v["totals"]["calls"], 13);
    assert_eq!(v["per_day"].as_array().unwrap().len(), 7);
    let andrew = &v["per_manager"][0];
    assert_eq!(andrew["manager"], "andrew");
    assert_eq!(andrew["offered"], 7);
    assert_eq!(andrew["answered"], 3);
    assert_eq!(andrew["missed"], 3);
    assert_eq!(andrew["answer_ms_median"], 30_000);
    assert_eq!(andrew["answer_ms_p90"], 40_000);
    assert_eq!(andrew["talk_ms"], 420_000);
    assert_eq!(v["per_department"][0]["abandonment_rate"], 1.0 / 7.0);
    assert_eq!(
        v["per_department"][2]["department"],
        serde_json::Value::Null
    );
    let missed: Vec<&str> = v["missed_not_called_back"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(missed, ["c4", "c7", "c14"]);
}

#[test]
fn table_and_csv_reports() {
    let d = fixture::seeded_data_dir();
    let config = d.config.to_str().unwrap();
    let data_dir = d.dir.path().to_str().unwrap();
    let table = stdout(&switchboard(&[
        "report",
        "--config",
        config,
        "--data-dir",
        data_dir,
        "--from",
        fixture::FROM,
        "--to",
        fixture::TO,
        "--tz",
        "UTC",
    ]));
    println!("{table}");
    assert!(table.starts_with("Switchboard report 2026-03-02 .. 2026-03-08 (UTC)"));
    assert!(table.contains("  2026-03-02      2         2\n"), "{table}");
    assert!(table.contains("2026-03-03 12:00  +394"), "{table}");
    let csv = stdout(&switchboard(&[
        "report",
        "--config",
        config,
        "--from",
        fixture::FROM,
        "--to",
        fixture::TO,
        "--tz",
        "UTC",
        "--format",
        "csv",
    ]));
    println!("{csv}");
    assert!(
        csv.contains("# calls per source\nsource,calls,answered\ngoogle,8,4\nwebsite,5,1\n"),
        "{csv}"
    );
    assert!(
        csv.contains("bob,4,1,3,15.000,15.000,60.000,0.000\n"),
        "{csv}"
    );
}

#[test]
fn week_report_runs_and_bad_input_is_explained() {
    let d = fixture::seeded_data_dir();
    let config = d.config.to_str().unwrap();
    // This week (whatever it is) has no traffic, but the report still lists 7 days.
    let out = stdout(&switchboard(&[
        "report", "--config", config, "--week", "--format", "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["per_day"].as_array().unwrap().len(), 7);

    let bad = switchboard(&[
        "report",
        "--config",
        config,
        "--from",
        "2026-03-09",
        "--to",
        "2026-03-02",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("swap --from and --to"));

    let bad = switchboard(&["report", "--config", config, "--tz", "Mars/Base", "--week"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a known time zone"));

    let empty = tempfile::tempdir().unwrap();
    let bad = switchboard(&[
        "report",
        "--config",
        config,
        "--data-dir",
        empty.path().to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no database at"));
    assert!(
        !empty.path().join("switchboard.db").exists(),
        "must not create a database"
    );
}
