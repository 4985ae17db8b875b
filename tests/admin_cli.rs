//! `switchboard callbacks list|claim|done` end to end on a seeded data directory.

#[path = "reports_fixture/mod.rs"]
mod fixture;

use std::process::{Command, Output};

fn switchboard(config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("callbacks")
        .arg("--config")
        .arg(config)
        .args(args)
        .env("SWITCHBOARD_LOG", "warn")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn err(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure, got:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn list_filters_and_formats() {
    let d = fixture::seeded_data_dir();
    let table = ok(&switchboard(&d.config, &["list", "--tz", "UTC"]));
    println!("{table}");
    assert!(table.starts_with("callback requests\n"));
    assert_eq!(table.lines().count(), 3 + 4, "{table}");
    assert!(
        table.contains(
            "open     support     +397    google  after_hours      2026-03-05 15:01      1  4.5s"
        ),
        "{table}"
    );

    let json = ok(&switchboard(
        &d.config,
        &["list", "--status", "claimed", "--format", "json"],
    ));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let callers: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["caller"].as_str().unwrap())
        .collect();
    assert_eq!(callers, ["+398", "+3911"]);
    assert_eq!(v[0]["claimed_by"], "elena");

    let json = ok(&switchboard(
        &d.config,
        &["list", "--department", "sales", "--format", "json"],
    ));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);

    let e = err(&switchboard(&d.config, &["list", "--status", "pending"]));
    assert!(e.contains("use open, claimed or done"), "{e}");
}

#[test]
fn claim_then_done_with_clear_conflicts() {
    let d = fixture::seeded_data_dir();
    let id = d.callbacks.open_397.to_string();

    let out = ok(&switchboard(
        &d.config,
        &["claim", &id, "--manager", "andrew"],
    ));
    assert_eq!(
        out,
        format!("callback #{id} claimed by andrew: call +397 (support, google)\n")
    );

    let e = err(&switchboard(
        &d.config,
        &["claim", &id, "--manager", "elena"],
    ));
    assert!(
        e.contains(&format!("callback #{id} is already claimed by andrew")),
        "{e}"
    );
    let e = err(&switchboard(
        &d.config,
        &["done", &id, "--manager", "elena", "--outcome", "reached"],
    ));
    assert!(e.contains("already claimed by andrew"), "{e}");

    let out = ok(&switchboard(
        &d.config,
        &[
            "done",
            &id,
            "--manager",
            "andrew",
            "--outcome",
            "reached, booked a visit",
        ],
    ));
    assert_eq!(
        out,
        format!("callback #{id} closed by andrew: reached, booked a visit\n")
    );
    let e = err(&switchboard(
        &d.config,
        &["claim", &id, "--manager", "elena"],
    ));
    assert!(e.contains("already done (closed by andrew)"), "{e}");

    let e = err(&switchboard(
        &d.config,
        &["claim", "999", "--manager", "elena"],
    ));
    assert!(e.contains("no such request: 999"), "{e}");

    let json = ok(&switchboard(
        &d.config,
        &["list", "--status", "done", "--format", "json"],
    ));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mine = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == d.callbacks.open_397)
        .unwrap();
    assert_eq!(mine["outcome"], "reached, booked a visit");
    assert_eq!(mine["done_by"], "andrew");
}

/// Issue 11 item 8: a claim or completion by someone who is not a manager of the
/// dial plan is refused (a typo would park the request with nobody).
#[test]
fn claims_by_unknown_managers_are_refused() {
    let d = fixture::seeded_data_dir();
    let id = d.callbacks.open_397.to_string();
    let e = err(&switchboard(
        &d.config,
        &["claim", &id, "--manager", "mallory"],
    ));
    assert!(
        e.contains("there is no manager \"mallory\" in the dial plan"),
        "{e}"
    );
    let e = err(&switchboard(
        &d.config,
        &["done", &id, "--manager", "mallory", "--outcome", "reached"],
    ));
    assert!(e.contains("no manager \"mallory\""), "{e}");
    ok(&switchboard(
        &d.config,
        &["claim", &id, "--manager", "andrew"],
    ));
}
