//! Running sipp scenarios against the router: the system's SIPp (bookworm's 3.6, UDP
//! and TCP) and `sipp-tls` (3.8 with TLS and SRTP, from `.ci/sipp-tls`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Ports, Router, repo, require};

pub struct SippResult {
    pub success: bool,
    pub output: String,
}

impl SippResult {
    /// The scenario completed; on failure show sipp's screen and the router's log.
    #[track_caller]
    pub fn assert_ok(&self, router: &Router) {
        assert!(
            self.success,
            "sipp failed:\n{}\nrouter log:\n{}",
            self.output,
            router.log()
        );
    }
}

/// Run a scenario from tests/sipp against the router, one call, with a time limit.
/// `transport` is "u1" (UDP) or "t1" (TCP).
pub fn sipp(ports: Ports, scenario: &str, transport: &str, extra: &[&str]) -> SippResult {
    sipp_as(ports, "5551234", scenario, transport, extra)
}

/// Like [`sipp`], calling from `caller` (the From user).
pub fn sipp_as(
    ports: Ports,
    caller: &str,
    scenario: &str,
    transport: &str,
    extra: &[&str],
) -> SippResult {
    run_sipp(
        &require("sipp", "sip-tester"),
        ports,
        ports.sip,
        caller,
        scenario,
        transport,
        extra,
    )
}

/// Like [`sipp`], with a SIPp that speaks TLS (`-t l1`) to the router's TLS port
/// `tls_port`, presenting `cert`/`key` as its own certificate. Debian bookworm's SIPp
/// has no TLS, so this is unstable's 3.8, unpacked by `.ci/sipp-tls`.
pub fn sipp_tls(
    ports: Ports,
    tls_port: u16,
    scenario: &str,
    cert: &Path,
    key: &Path,
    extra: &[&str],
) -> SippResult {
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let mut args: Vec<&str> = vec!["-tls_cert", cert.as_str(), "-tls_key", key.as_str()];
    args.extend(extra);
    run_sipp(
        &sipp_tls_program(),
        ports,
        tls_port,
        "5551234",
        scenario,
        "l1",
        &args,
    )
}

/// The SIPp with TLS and SRTP, or a failure that says how to install it.
pub fn sipp_tls_program() -> PathBuf {
    let path = PathBuf::from("/usr/local/bin/sipp-tls");
    assert!(
        path.exists(),
        "sipp-tls (SIPp 3.8 with TLS and SRTP) is required: run `bash .ci/sipp-tls` as root \
         (the .ci/run script does this)"
    );
    path
}

fn run_sipp(
    sipp: &Path,
    ports: Ports,
    to_port: u16,
    caller: &str,
    scenario: &str,
    transport: &str,
    extra: &[&str],
) -> SippResult {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("callers.csv");
    std::fs::write(&csv, format!("SEQUENTIAL\n{caller};1\n")).unwrap();
    // A scenario that must last longer says so with its own `-timeout NNs`.
    let limit = extra
        .iter()
        .position(|a| *a == "-timeout")
        .and_then(|i| extra.get(i + 1))
        .and_then(|t| t.trim_end_matches('s').parse::<u64>().ok())
        .unwrap_or(35);
    let out = Command::new("timeout")
        .arg((limit + 5).to_string())
        .arg(sipp)
        .arg(format!("127.0.0.1:{to_port}"))
        .arg("-sf")
        .arg(repo().join("tests/sipp").join(scenario))
        .args(["-t", transport, "-i", "127.0.0.1", "-p"])
        .arg(ports.sipp_sip.to_string())
        .args(["-mi", "127.0.0.1", "-mp"])
        .arg(ports.sipp_media.to_string())
        .args([
            "-s", "1000", "-m", "1", "-nostdin", "-timeout", "35s", "-inf",
        ])
        .arg(&csv)
        .args(["-trace_err", "-error_file"])
        .arg(dir.path().join("err.log"))
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let mut output = String::from_utf8_lossy(&out.stdout).to_string();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    output.push_str(&std::fs::read_to_string(dir.path().join("err.log")).unwrap_or_default());
    SippResult {
        success: out.status.success(),
        output,
    }
}
