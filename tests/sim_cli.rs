//! The `simulate` command end to end on the shipped example files: reproducible
//! figures, the HTML report, and the exact errors for traffic that does not fit a plan.

use std::path::{Path, PathBuf};

use switchboard::config::load;
use switchboard::sim::TrafficFile;
use switchboard::sim::cli::{Format, SimulateArgs, run};

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

fn args(seed: Option<u64>, html: Option<PathBuf>) -> SimulateArgs {
    SimulateArgs {
        configs: vec![
            shipped("plan-round-robin.toml"),
            shipped("plan-ring-all.toml"),
        ],
        traffic: Some(shipped("traffic-example.toml")),
        replay_db: None,
        from: None,
        to: None,
        format: Format::Json,
        html,
        seed,
        progress: false,
    }
}

#[test]
fn fixed_seed_gives_identical_figures() {
    let a = run(&args(None, None)).unwrap();
    let b = run(&args(None, None)).unwrap();
    assert_eq!(a, b);
    let json: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert_eq!(json["seed"], 42, "the traffic file's seed");
    assert_eq!(json["plans"].as_array().unwrap().len(), 2);
    // Both plans saw the same calls.
    assert_eq!(json["plans"][0]["offered"], json["plans"][1]["offered"]);
    let other = run(&args(Some(43), None)).unwrap();
    assert_ne!(a, other, "another seed, other traffic");
}

#[test]
fn table_has_one_column_per_plan() {
    let mut a = args(None, None);
    a.format = Format::Table;
    let table = run(&a).unwrap();
    let header = table.lines().next().unwrap();
    assert!(header.contains("plan-round-robin") && header.contains("plan-ring-all"));
    assert!(table.lines().any(|l| l.starts_with("time to answer p90")));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("  dave: calls / talk / occ."))
    );
}

#[test]
fn html_report_is_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html");
    run(&args(None, Some(path.clone()))).unwrap();
    let html = std::fs::read_to_string(&path).unwrap();
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(html.contains("<polyline") && html.contains("<rect"));
    for external in ["<script", "src=", "href=", "<link"] {
        assert!(!html.contains(external), "{external}");
    }
}

const TRAFFIC_HEAD: &str = "date = \"2026-12-01\"\n[arrivals]\nper_hour = { \"09-10\" = 10 }\n";

fn check_error(traffic: &str) -> String {
    let plan = load(&shipped("plan-round-robin.toml")).unwrap().plan;
    let file = TrafficFile::parse(traffic, Path::new("traffic.toml")).unwrap();
    file.check(&[("plan-round-robin", &plan)])
        .unwrap_err()
        .to_string()
}

#[test]
fn menu_key_the_plan_lacks_is_an_error() {
    let t = format!(
        "{TRAFFIC_HEAD}[numbers]\n\"+15551000\" = 1\n[menus.main]\n\"1\" = 0.5\n\"3\" = 0.5\n"
    );
    assert_eq!(
        check_error(&t),
        "traffic.toml:8: menus.main.\"3\": menu \"main\" in plan plan-round-robin has no option \
         \"3\" (its options: 1, 2, 9)"
    );
}

#[test]
fn unknown_number_is_an_error() {
    let t = format!("{TRAFFIC_HEAD}[numbers]\n\"+15551000\" = 1\n\"+15559999\" = 1\n");
    assert_eq!(
        check_error(&t),
        "traffic.toml:6: numbers.\"+15559999\": number \"+15559999\" is not in plan \
         plan-round-robin and it has no catch-all (\"*\") entry; use one of the plan's numbers"
    );
}

#[test]
fn unknown_menu_and_manager_are_errors() {
    let t = format!("{TRAFFIC_HEAD}[numbers]\n\"+15551000\" = 1\n[menus.mian]\n\"1\" = 1\n");
    assert_eq!(
        check_error(&t),
        "traffic.toml:6: menus.mian: menu \"mian\" is not in any plan (did you mean \"main\"?)"
    );
    let t = format!(
        "{TRAFFIC_HEAD}[numbers]\n\"+15551000\" = 1\n[managers.dav]\nanswer_probability = 0.5\n"
    );
    assert_eq!(
        check_error(&t),
        "traffic.toml:6: managers.dav: manager \"dav\" is not in any plan (did you mean \"dave\"?)"
    );
}

#[test]
fn malformed_traffic_names_line_and_key() {
    let e = TrafficFile::parse(
        "date = \"2026-12-01\"\n[arrivals]\nper_hour = [1, 2]\n[numbers]\n\"1\" = 1\n",
        Path::new("traffic.toml"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "traffic.toml:3: arrivals.per_hour: needs 24 values (one per hour from 00:00), found 2; \
         or write ranges like { \"09-12\" = 60 }"
    );
    let e = TrafficFile::parse(
        "date = \"2026-12-01\"\n[arrivals]\nper_hour = { \"09-10\" = 1 }\n[numbers]\n\"1\" = 1\n\
         [patience]\ndist = \"exponential\"\nmean = 0\n",
        Path::new("traffic.toml"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "traffic.toml:6: patience: mean must be more than 0"
    );
}

/// Issue 13: with a callback offer in sales and half of the queued callers taking it,
/// the report counts the dial-backs and gives each department's service level.
#[test]
fn callbacks_and_service_level_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let plan = std::fs::read_to_string(shipped("plan-round-robin.toml"))
        .unwrap()
        .replace(
            "prompts_dir = \"../prompts\"",
            &format!(
                "prompts_dir = \"{}\"",
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("prompts")
                    .display()
            ),
        )
        .replace(
            "[departments.sales]\n",
            "[departments.sales]\ncallback_key = \"5\"\nservice_level_secs = 30\n",
        )
        + "\n[outbound.pbx]\naddress = \"192.0.2.10:5060\"\ncaller_id = \"+15550000\"\n\
           \n[callbacks]\ntrunk = \"pbx\"\n";
    let plan_path = dir.path().join("plan.toml");
    std::fs::write(&plan_path, plan).unwrap();
    // A busy day, so that callers queue.
    let traffic = std::fs::read_to_string(shipped("traffic-example.toml"))
        .unwrap()
        .replace(
            "per_hour = { \"08-09\" = 30, \"09-12\" = 60, \"12-14\" = 40, \"14-17\" = 55, \"17-18\" = 25 }",
            "per_hour = { \"08-18\" = 150 }",
        )
        + "\n[callbacks]\nshare = 0.5\nafter_secs = 15\nreach = 0.8\n";
    let traffic_path = dir.path().join("traffic.toml");
    std::fs::write(&traffic_path, traffic).unwrap();
    let mut a = args(None, None);
    a.configs = vec![plan_path];
    a.traffic = Some(traffic_path);
    let json: serde_json::Value = serde_json::from_str(&run(&a).unwrap()).unwrap();
    let p = &json["plans"][0];
    let d = &p["dialbacks"];
    let requested = d["requested"].as_u64().unwrap();
    assert!(requested > 0, "{d} max waiting {}", p["max_waiting"]);
    assert!(d["connected"].as_u64().unwrap() > 0, "{d}");
    assert!(d["attempts"].as_u64().unwrap() >= d["connected"].as_u64().unwrap());
    let levels = p["service_level"].as_array().unwrap();
    let sales = levels.iter().find(|l| l["department"] == "sales").unwrap();
    assert_eq!(sales["threshold_secs"], 30);
    let offered = sales["offered"].as_u64().unwrap();
    assert!(offered > 0 && sales["answered_within"].as_u64().unwrap() <= offered);
    let support = levels
        .iter()
        .find(|l| l["department"] == "support")
        .unwrap();
    assert_eq!(support["threshold_secs"], 20, "the default target");
    // The table shows the same.
    a.format = Format::Table;
    let table = run(&a).unwrap();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("called back (took the offer)")
                && l.contains(&requested.to_string())),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("  service level sales") && l.contains("≤ 30 s")),
        "{table}"
    );
}
