//! Real peer: sipp registers as a manager's phone with digest authentication against
//! the running `switchboard` binary (issue 4, item 1), with the default digest offer
//! (issue 18: MD5 first in a phone's first challenge, see `registrar::offer`).
mod common;

use common::*;

const PLAN: &str = r#"
[managers.andrew]
extension = "101"
password = "s3cret"
"#;

fn register_with_digest(transport: &str) {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", PLAN);
    let res = sipp(
        p,
        "uac_register_auth.xml",
        transport,
        &["-au", "101", "-ap", "s3cret"],
    );
    let log = router.log();
    assert!(
        res.success,
        "sipp failed:\n{}\nrouter log:\n{log}",
        res.output
    );
    // 401 first, then 200 for the registration and 200 for the unregistration.
    assert!(log.contains("REGISTER answered 401"), "{log}");
    assert_eq!(log.matches("REGISTER answered 200").count(), 2, "{log}");
    assert!(!log.contains("REGISTER answered 403"), "{log}");
}

#[test]
fn sipp_registers_with_digest_over_udp() {
    register_with_digest("u1");
}

#[test]
fn sipp_registers_with_digest_over_tcp() {
    register_with_digest("t1");
}

/// The shipped configuration and the shipped scenario, as the README runs them: sipp
/// 3.6 (which reads only the first challenge and knows only MD5) registers andrew,
/// extension 101, with the password the shipped config gives him.
#[test]
fn sipp_registers_101_against_the_shipped_config() {
    let _g = serial();
    let p = ports();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cwd = repo();
    let router = Router::spawn_with(
        dir,
        p,
        &repo().join("config/switchboard.toml"),
        &cwd,
        &[
            "--sip-listen",
            &format!("127.0.0.1:{}", p.sip),
            "--rtp-ports",
            &format!("{}-{}", p.rtp_low, p.rtp_high),
            "--http-listen",
            "off",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    let res = sipp(
        p,
        "uac_register_auth.xml",
        "u1",
        &["-au", "101", "-ap", "change-me-101"],
    );
    res.assert_ok(&router);
    let log = router.log();
    assert_eq!(log.matches("REGISTER answered 200").count(), 2, "{log}");
}

#[test]
fn sipp_with_a_wrong_password_is_refused() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", PLAN);
    let res = sipp(
        p,
        "uac_register_auth.xml",
        "u1",
        &["-au", "101", "-ap", "wrong"],
    );
    assert!(!res.success, "sipp must fail:\n{}", res.output);
    let log = router.log();
    assert!(log.contains("REGISTER answered 403"), "{log}");
    assert!(!log.contains("REGISTER answered 200"), "{log}");
}

/// A password changed in the plan is taken by `switchboard reload` without a restart.
#[test]
fn reload_updates_phone_logins() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", PLAN);
    let res = sipp(
        p,
        "uac_register_auth.xml",
        "u1",
        &["-au", "101", "-ap", "n3w"],
    );
    assert!(
        !res.success,
        "the new password must not work before the reload"
    );
    let config = router.config();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("s3cret", "n3w")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["reload", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    router.wait_for_log(
        "configuration reloaded from",
        std::time::Duration::from_secs(5),
    );
    let res = sipp(
        p,
        "uac_register_auth.xml",
        "u1",
        &["-au", "101", "-ap", "n3w"],
    );
    assert!(
        res.success,
        "sipp failed after reload:\n{}\n{}",
        res.output,
        router.log()
    );
}
