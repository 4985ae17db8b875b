//! Dial plan loading and validation: the shipped example loads, and every kind of
//! mistake produces the exact message an admin will read.

use std::collections::BTreeSet;
use std::path::Path;

use switchboard::config::{self, Action, ConfigErrors, Strategy};

const SHIPPED_PROMPTS: [&str; 9] = [
    "welcome",
    "main_menu",
    "support_menu",
    "invalid",
    "timeout",
    "goodbye",
    "closed",
    "hold_music",
    "voicemail_greeting",
];

fn prompts(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn all_prompts() -> BTreeSet<String> {
    let mut p = prompts(&SHIPPED_PROMPTS);
    p.insert("connecting".into());
    p
}

fn errors(text: &str) -> Vec<String> {
    let p = prompts(&["welcome", "main_menu", "invalid", "closed"]);
    match config::load_str(text, Path::new("plan.toml"), Some(&p)) {
        Ok(_) => Vec::new(),
        Err(ConfigErrors { diagnostics }) => diagnostics.iter().map(|d| d.to_string()).collect(),
    }
}

fn warnings(text: &str) -> Vec<String> {
    let p = prompts(&["welcome", "main_menu", "invalid", "closed"]);
    let loaded = config::load_str(text, Path::new("plan.toml"), Some(&p)).unwrap();
    loaded.warnings.iter().map(|d| d.to_string()).collect()
}

#[test]
fn shipped_config_loads_without_errors_or_warnings() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/switchboard.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let loaded = config::load_str(
        &text,
        Path::new("config/switchboard.toml"),
        Some(&all_prompts()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.server.sip_listen.to_string(), "127.0.0.1:5060");
    assert_eq!(loaded.server.rtp_ports.low, 20000);
    assert_eq!(loaded.server.rtp_ports.high, 20999);
    // Relative to the config file, made absolute (one rule for every path, issue 18).
    assert_eq!(
        loaded.prompts_dir,
        std::path::absolute("config/../prompts").unwrap()
    );
    assert_eq!(
        loaded.server.data_dir,
        std::path::absolute("config/data").unwrap()
    );
    let plan = &loaded.plan;
    assert_eq!(
        plan.prompts,
        all_prompts(),
        "the prompt list in the report must match"
    );
    assert_eq!(plan.departments["sales"].strategy, Strategy::RoundRobin);
    assert_eq!(
        plan.number_route("+1 555 2000").unwrap().source,
        "google-ads"
    );
    assert_eq!(
        plan.number_route("999").unwrap().action,
        Action::Menu("main".into())
    );
    assert_eq!(plan.manager_by_extension("101").unwrap().name, "andrew");
    assert!(plan.history.enabled);
}

#[test]
fn load_reads_the_prompt_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("p")).unwrap();
    std::fs::write(dir.path().join("p/welcome.wav"), b"").unwrap();
    let cfg = dir.path().join("s.toml");
    let plan = "[server]\nprompts_dir = \"p\"\n\n[[numbers]]\nnumber = \"*\"\naction = \"play:welcome -> play:bye -> hangup\"\n";
    std::fs::write(&cfg, plan).unwrap();
    let err = config::load(&cfg).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:6: number \"*\" uses prompt \"bye\", but there is no file p/bye.wav; add the WAV file or fix the name",
            cfg.display()
        )
    );
    std::fs::write(dir.path().join("p/bye.wav"), b"").unwrap();
    let loaded = config::load(&cfg).unwrap();
    assert_eq!(loaded.prompts_dir, dir.path().join("p"));
}

#[test]
fn missing_file_is_one_clear_error() {
    let err = config::load(Path::new("/nonexistent/switchboard.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("/nonexistent/switchboard.toml: cannot read the config file ("),
        "{err}"
    );
}

/// (what is wrong, config text, exact diagnostics)
const MISTAKES: &[(&str, &str, &[&str])] = &[
    (
        "unknown department with suggestion",
        r#"
[[numbers]]
number = "*"
action = "menu:main"

[menus.main]
prompt = "main_menu"
options = { "1" = "department:sales", "3" = "department:salse" }

[departments.sales]
members = ["andrew"]

[managers.andrew]
"#,
        &[
            r#"plan.toml:8: menu "main" option "3" points to department "salse", which does not exist (did you mean "sales"?)"#,
        ],
    ),
    (
        "unknown reference without a close name",
        r#"
[[numbers]]
number = "*"
action = "voicemail:billing"

[voicemail.sales]
"#,
        &[
            r#"plan.toml:4: number "*" points to voicemail "billing", which does not exist; add a [voicemail.billing] section or use one of: sales"#,
        ],
    ),
    (
        "misspelt action kind",
        "[[numbers]]\nnumber = \"*\"\naction = \"departmnt:sales\"\n",
        &[
            r#"plan.toml:3: number "*": "departmnt:sales" is not an action (did you mean "department:sales"?)"#,
        ],
    ),
    (
        "unknown member",
        "[[numbers]]\nnumber = \"*\"\naction = \"department:sales\"\n[departments.sales]\nmembers = [\"andrew\", \"elna\"]\n[managers.andrew]\n[managers.elena]\n",
        &[
            r#"plan.toml:5: department "sales" member points to manager "elna", which does not exist (did you mean "elena"?)"#,
        ],
    ),
    (
        "duplicate number",
        "[[numbers]]\nnumber = \"*\"\naction = \"hangup\"\n\n[[numbers]]\nnumber = \"+1 555 1000\"\naction = \"hangup\"\n\n[[numbers]]\nnumber = \"+15551000\"\naction = \"hangup\"\n",
        &[
            r#"plan.toml:10: number "+15551000" is listed twice (first on line 6); remove one of the two [[numbers]] entries"#,
        ],
    ),
    (
        "backwards range",
        "[[numbers]]\nnumber = \"*\"\naction = \"hangup\"\n[hours.office]\ntimezone = \"Europe/Berlin\"\nmonday = [\"09:00-08:00\"]\n",
        &[
            r#"plan.toml:6: hours "office" monday: range "09:00-08:00" ends before it starts; opening past midnight must be split, e.g. "22:00-24:00" on one day and "00:00-02:00" on the next"#,
        ],
    ),
    (
        "malformed range",
        "[[numbers]]\nnumber = \"*\"\naction = \"hangup\"\n[hours.office]\ntimezone = \"Europe/Berlin\"\ntuesday = [\"9-17\"]\n",
        &[
            r#"plan.toml:6: hours "office" tuesday: "9-17" is not a time range; write it as "HH:MM-HH:MM", e.g. "09:00-17:30""#,
        ],
    ),
    (
        "overlapping ranges",
        "[[numbers]]\nnumber = \"*\"\naction = \"hangup\"\n[hours.office]\ntimezone = \"Europe/Berlin\"\nfriday = [\n  \"14:00-18:00\",\n  \"09:00-14:30\",\n]\n",
        &[
            r#"plan.toml:7: hours "office" friday: ranges "09:00-14:30" and "14:00-18:00" overlap; merge them into "09:00-18:00""#,
        ],
    ),
    (
        "unknown time zone",
        "[[numbers]]\nnumber = \"*\"\naction = \"hangup\"\n[hours.office]\ntimezone = \"Europe/Berln\"\n",
        &[
            r#"plan.toml:5: hours "office": unknown time zone "Europe/Berln" (did you mean "Europe/Berlin"?); use a name from the IANA time zone database such as "Europe/Berlin" or "America/New_York""#,
        ],
    ),
    (
        "bad holiday",
        "[[numbers]]\nnumber = \"*\"\naction = \"hangup\"\n[hours.office]\ntimezone = \"UTC\"\nholidays = [\"2026-13-01\"]\n",
        &[
            r#"plan.toml:6: hours "office" holidays: "2026-13-01" is not a date; write dates as "YYYY-MM-DD", e.g. "2026-12-25""#,
        ],
    ),
    (
        "missing prompt",
        "[[numbers]]\nnumber = \"*\"\naction = \"menu:main\"\n[menus.main]\nprompt = \"welcom\"\noptions = { \"1\" = \"hangup\" }\n",
        &[
            r#"plan.toml:5: menu "main" uses prompt "welcom", but there is no file prompts/welcom.wav (did you mean "welcome"?)"#,
        ],
    ),
    (
        "loop with no exit",
        r#"[[numbers]]
number = "*"
action = "menu:main"

[menus.main]
prompt = "main_menu"
options = { "1" = "menu:more", "9" = "repeat" }

[menus.more]
prompt = "main_menu"
options = { "1" = "menu:main", "*" = "back" }
"#,
        &[
            r#"plan.toml:5: menu "main" is a loop with no exit: every option leads back to menus "main", "more", never to a person, voicemail or hang-up; add an option such as "0" = "department:NAME""#,
            r#"plan.toml:9: menu "more" is a loop with no exit: every option leads back to menus "main", "more", never to a person, voicemail or hang-up; add an option such as "0" = "department:NAME""#,
        ],
    ),
    (
        "unknown key",
        "[[numbers]]\nnumber = \"*\"\naction = \"menu:main\"\n\n[menus.main]\npromt = \"main_menu\"\n",
        &[
            r#"plan.toml:6: unknown key "promt" (did you mean "prompt"?); the keys allowed here are: prompt, options, timeout_secs, retries, invalid_prompt, timeout_prompt, on_failure, type_ahead"#,
        ],
    ),
    (
        "unknown strategy",
        "[[numbers]]\nnumber = \"*\"\naction = \"department:sales\"\n[departments.sales]\nmembers = [\"a\"]\nstrategy = \"round-robbin\"\n[managers.a]\n",
        &[
            r#"plan.toml:6: department "sales": unknown strategy "round-robbin" (did you mean "round-robin"?); choose one of: ring-all, round-robin, least-recent, fewest-calls, longest-idle, random, skills"#,
        ],
    ),
    (
        "repeat outside a menu",
        "[[numbers]]\nnumber = \"*\"\naction = \"repeat\"\n",
        &[
            r#"plan.toml:3: number "*": "repeat" only works as a menu option; use an action such as hangup here"#,
        ],
    ),
    (
        "bad option key",
        "[[numbers]]\nnumber = \"*\"\naction = \"menu:main\"\n[menus.main]\nprompt = \"main_menu\"\noptions = { \"10\" = \"hangup\", \"1\" = \"hangup\" }\n",
        &[
            r#"plan.toml:6: menu "main" option "10": options are single phone keys: 0-9, * or #; use a sub-menu for longer choices"#,
        ],
    ),
    (
        "unquoted time",
        "[[numbers]]\nnumber = \"*\"\naction = \"hangup\"\n[hours.office]\ntimezone = \"UTC\"\nmonday = [9]\n",
        &[
            "plan.toml:6: invalid type: integer `9`, expected a string; put text values (names, times, dates) in double quotes",
        ],
    ),
    (
        "missing required key",
        "[[numbers]]\nnumber = \"*\"\n",
        &[r#"plan.toml:1: this section is missing the required key "action""#],
    ),
    (
        "TOML syntax",
        "[[numbers]\nnumber = \"*\"\n",
        &["plan.toml:1: TOML syntax error: unclosed array table, expected `]`"],
    ),
    (
        "duplicate extension and bad contact",
        "[[numbers]]\nnumber = \"*\"\naction = \"manager:a\"\n[managers.a]\nextension = \"101\"\ncontact = \"10.0.0.5\"\n[managers.b]\nextension = \"101\"\n",
        &[
            r#"plan.toml:6: manager "a": contact "10.0.0.5" is not a SIP address; write it like "sip:101@10.0.0.5:5060", or remove it if the phone registers"#,
            r#"plan.toml:8: manager "b" has extension "101", which manager "a" already uses; give each manager their own extension"#,
        ],
    ),
    (
        "contact by host name",
        "[[numbers]]\nnumber = \"*\"\naction = \"manager:a\"\n[managers.a]\nextension = \"101\"\ncontact = \"sip:101@phone.example.com\"\n",
        &[
            r#"plan.toml:6: manager "a": contact "sip:101@phone.example.com" must name the phone by IP address, e.g. "sip:101@10.0.0.5:5060" (host names are not looked up)"#,
        ],
    ),
    (
        "transfer keys",
        "[[numbers]]\nnumber = \"*\"\naction = \"hangup\"\n[departments.sales]\n[transfer]\ncode = \"x9\"\nkeys = { \"1\" = \"department:salse\", \"22\" = \"department:sales\", \"3\" = \"hangup\" }\n",
        &[
            r#"plan.toml:6: [transfer] code "x9" must be phone keys (0-9, * and #), e.g. "*2""#,
            r#"plan.toml:7: [transfer] key "1" points to department "salse", which does not exist (did you mean "sales"?)"#,
            r#"plan.toml:7: [transfer] key "22" must be a single phone key such as "1""#,
            r#"plan.toml:7: [transfer] key "3": a call can be transferred to department:NAME or manager:NAME, not "hangup""#,
        ],
    ),
    (
        "feature code timeout",
        "[[numbers]]\nnumber = \"*\"\naction = \"hangup\"\n[transfer]\ndigit_timeout_ms = 300\n",
        &[
            r#"plan.toml:5: [transfer] digit_timeout_ms = 300: use 1000 to 10000 (milliseconds between the keys of a feature code)"#,
        ],
    ),
];

#[test]
fn every_mistake_has_an_exact_message() {
    let mut failures = Vec::new();
    for (what, text, expected) in MISTAKES {
        let got = errors(text);
        let got_errors: Vec<&String> = got.iter().filter(|l| !l.contains(": warning: ")).collect();
        if got_errors.iter().map(|s| s.as_str()).collect::<Vec<_>>() != expected.to_vec() {
            failures.push(format!("{what}:\n  expected {expected:#?}\n  got {got:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn warnings_do_not_stop_loading() {
    let text = r#"
[[numbers]]
number = "+15551000"
action = "department:empty"

[departments.empty]

[menus.orphan]
prompt = "main_menu"
options = { "1" = "hangup" }
"#;
    assert_eq!(
        warnings(text),
        vec![
            r#"plan.toml: warning: no catch-all number: calls to numbers not listed will be rejected; add a [[numbers]] entry with number = "*""#,
            r#"plan.toml:6: warning: department "empty" has no members, so its calls always overflow; add members = ["name", ...]"#,
            r#"plan.toml:8: warning: menu "orphan" is never used: no number, menu or department leads to it; remove it or point an action at "menu:orphan""#,
        ]
    );
}

#[test]
fn errors_display_one_per_line_in_file_order() {
    let text = "[[numbers]]\nnumber = \"*\"\naction = \"menu:nope\"\n[hours.x]\ntimezone = \"Mars/Olympus\"\n";
    let p = prompts(&[]);
    let err = config::load_str(text, Path::new("f.toml"), Some(&p)).unwrap_err();
    assert_eq!(err.errors().count(), 2);
    let shown = err.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 2, "{shown}");
    assert!(
        lines[0].starts_with("f.toml:3: number \"*\" points to menu \"nope\""),
        "{shown}"
    );
    assert!(
        lines[1].starts_with("f.toml:5: hours \"x\": unknown time zone \"Mars/Olympus\""),
        "{shown}"
    );
}

#[test]
fn back_to_a_menu_with_an_exit_is_not_a_loop() {
    let text = r#"
[[numbers]]
number = "*"
action = "menu:main"

[menus.main]
prompt = "main_menu"
options = { "1" = "menu:sub", "0" = "hangup" }

[menus.sub]
prompt = "main_menu"
options = { "*" = "back", "9" = "repeat" }
"#;
    assert!(errors(text).is_empty(), "{:?}", errors(text));
}

#[test]
fn email_defaults_and_mistakes() {
    let base = "[[numbers]]\nnumber = \"*\"\naction = \"department:sales\"\n\
                [departments.sales]\nemail = [\"sales@example.com\"]\n";
    let loaded = config::load_str(
        &format!("{base}[email]\nsmtp_host = \"smtp.example.com\"\nfrom = \"pbx@example.com\"\n"),
        Path::new("plan.toml"),
        Some(&prompts(&["welcome"])),
    )
    .unwrap();
    let plan = &loaded.plan;
    let e = plan.integrations.email.as_ref().unwrap();
    assert_eq!(
        (e.smtp_port, e.tls, e.voicemail, e.callbacks),
        (587, config::EmailTls::Starttls, true, true)
    );
    assert_eq!(e.attach_max_bytes, 10 * 1024 * 1024);
    assert_eq!(e.timeout, std::time::Duration::from_secs(30));
    assert_eq!(e.retry_base, std::time::Duration::from_secs(60));
    assert!(e.to.is_empty());
    assert_eq!(plan.departments["sales"].email, ["sales@example.com"]);

    let got = errors(&format!(
        "{base}[departments.support]\nemail = [\"support\"]\n\
         [email]\nsmtp_host = \"smtp.example.com\"\ntls = \"ssl\"\nusername = \"pbx\"\n\
         from = \"Switchboard pbx@example.com\"\nto = [\"a@b\"]\n"
    ));
    let got: Vec<&str> = got
        .iter()
        .map(String::as_str)
        .filter(|l| !l.contains(": warning: "))
        .collect();
    assert_eq!(
        got,
        [
            r#"plan.toml:7: department "support" email "support" is not a mail address, e.g. sales@example.com"#,
            r#"plan.toml:9: [email] needs both username and password, or neither"#,
            r#"plan.toml:10: [email] tls = "ssl": use "starttls" (port 587), "tls" (port 465) or "none" (a relay on this machine only)"#,
            r#"plan.toml:12: [email] from "Switchboard pbx@example.com" is not a mail address; write it like "office@example.com" or "Switchboard <pbx@example.com>""#,
            r#"plan.toml:13: [email] to "a@b" is not a mail address; write it like "office@example.com" or "Switchboard <pbx@example.com>""#,
        ]
    );
}
