//! Real peer: sipp registers as a manager's phone with digest authentication against
//! the running `switchboard` binary (issue 4, item 1).
mod common;

use common::*;

/// sipp 3.6 answers only the first WWW-Authenticate and knows only MD5, like some old
/// phone firmware: this is the documented setting for such phones.
const LEGACY_PHONES: &str = r#"digest_algorithms = ["MD5", "SHA-256"]"#;

const PLAN: &str = r#"
[managers.andrew]
extension = "101"
password = "s3cret"
"#;

fn register_with_digest(transport: &str) {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, LEGACY_PHONES, PLAN);
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

/// With the default order (SHA-256 first, RFC 8760) sipp 3.6 gives up on the challenge:
/// recorded here so a change of default is a conscious decision.
#[test]
fn sipp_cannot_answer_a_sha256_first_challenge() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", PLAN);
    let res = sipp(
        p,
        "uac_register_auth.xml",
        "u1",
        &["-au", "101", "-ap", "s3cret"],
    );
    assert!(!res.success, "{}", res.output);
    assert!(
        res.output.contains("authentication must use MD5"),
        "{}",
        res.output
    );
    assert!(router.log().contains("REGISTER answered 401"));
}

#[test]
fn sipp_with_a_wrong_password_is_refused() {
    let _g = serial();
    let p = ports();
    let router = Router::start(p, LEGACY_PHONES, PLAN);
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
    let router = Router::start(p, LEGACY_PHONES, PLAN);
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
    router.wait_for_log("dial plan reloaded", std::time::Duration::from_secs(5));
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
