//! Phone logins in the dial plan: `password`, `username` (default: the extension) and the
//! `[server] realm`, with the mistakes an admin can make.

use std::path::Path;

use switchboard::config::{self, ConfigErrors};

fn load(text: &str) -> Result<config::LoadedConfig, Vec<String>> {
    config::load_str(text, Path::new("plan.toml"), None).map_err(|ConfigErrors { diagnostics }| {
        diagnostics
            .iter()
            .map(|d| d.to_string())
            .filter(|d| d.contains("manager"))
            .collect()
    })
}

#[test]
fn logins_default_to_the_extension() {
    let loaded = load(
        r#"
[server]
realm = "acme"

[managers.andrew]
extension = "101"
password = "s3cret"

[managers.elena]
extension = "102"
username = "elena.rossi"
password = "pw"

[managers.marco]
extension = "103"
"#,
    )
    .unwrap();
    assert_eq!(loaded.server.realm, "acme");
    let users = loaded.plan.login_users();
    assert_eq!(users.len(), 2, "marco has no password: no login");
    assert_eq!(users["101"], ("andrew".to_string(), "s3cret".to_string()));
    assert_eq!(
        users["elena.rossi"],
        ("elena".to_string(), "pw".to_string())
    );
    // Passwords never show in debug output (logs).
    let debug = format!("{:?}", loaded.plan.managers["andrew"]);
    assert!(!debug.contains("s3cret"), "{debug}");
    assert_eq!(loaded.plan.managers["elena"].login(), Some("elena.rossi"));
}

#[test]
fn realm_and_algorithms_have_defaults() {
    use switchboard::registrar::digest::Algorithm;
    let server = load("").unwrap().server;
    assert_eq!(server.realm, "switchboard");
    assert_eq!(
        server.digest_algorithms,
        [Algorithm::Sha256, Algorithm::Md5]
    );
    let server = load("[server]\ndigest_algorithms = [\"MD5\", \"SHA-256\"]\n")
        .unwrap()
        .server;
    assert_eq!(
        server.digest_algorithms,
        [Algorithm::Md5, Algorithm::Sha256]
    );
    let err = config::load_str(
        "[server]\ndigest_algorithms = [\"SHA-512\"]\n",
        Path::new("plan.toml"),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("plan.toml:2") && err.contains("SHA-256"),
        "{err}"
    );
}

#[test]
fn login_mistakes_are_explained() {
    let errs = load(
        r#"
[managers.andrew]
password = "x"
"#,
    )
    .unwrap_err();
    assert_eq!(
        errs,
        [
            r#"plan.toml:3: manager "andrew" has a password but no extension or username to log in with; add extension = "101" (or username = "...")"#
        ]
    );
    let errs = load(
        r#"
[managers.andrew]
extension = "101"
password = "x"

[managers.elena]
username = "101"
password = "y"
"#,
    )
    .unwrap_err();
    assert_eq!(
        errs,
        [
            r#"plan.toml:8: manager "elena" logs in as "101", like manager "andrew"; give each manager their own username"#
        ]
    );
    let errs = load(
        r#"
[managers.andrew]
extension = "101"
username = "a b"
password = ""
"#,
    )
    .unwrap_err();
    assert_eq!(
        errs,
        [
            r#"plan.toml:4: manager "andrew": username "a b" must be non-empty, without spaces or quotes"#,
            r#"plan.toml:5: manager "andrew": password is empty; set one, or remove it if the phone does not register"#
        ]
    );
    let loaded = load("[managers.andrew]\nextension = \"101\"\nusername = \"andy\"\n").unwrap();
    let warnings: Vec<String> = loaded
        .warnings
        .iter()
        .map(|d| d.to_string())
        .filter(|d| d.contains("manager"))
        .collect();
    assert_eq!(
        warnings,
        [
            r#"plan.toml:3: warning: manager "andrew" has a username but no password, so their phone cannot register"#
        ]
    );
}
