//! Email notifications (issue 14 item 4): a real mail server (Python's aiosmtpd, STARTTLS
//! and AUTH required, a certificate from a private CA given by `ca_file`) receives a
//! mail for a new voicemail left by a sipp caller, with the message's WAV attached and
//! sent to the department's own recipients, and a mail for a callback request without
//! a message, sent to the `[email] to` default. The server is down for the first
//! attempt: the failure is logged and the mail retried from the persistent outbox.
//! The same voicemail reaches a Slack-format webhook as `voicemail.created`.
mod common;
#[path = "support/receiver.rs"]
mod receiver;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use receiver::{Answer, Server};
use switchboard::store::{CallbackStatus, SqliteStore, Store};

/// Fails (never skips) when aiosmtpd is missing, with the install command.
fn require_aiosmtpd() {
    let ok = Command::new(require("python3", "python3"))
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "Python's aiosmtpd is required for the email test: apt-get install -y \
         python3-aiosmtpd, or pip install aiosmtpd (the .ci/run script does this)"
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(require("openssl", "openssl"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private CA and a certificate for 127.0.0.1 signed by it: (ca.pem, cert, key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=Switchboard test CA",
    ];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-subj", "/CN=127.0.0.1"];
    csr.extend(ec);
    csr.extend(["-keyout", "smtp.key", "-out", "smtp.csr"]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n\
         extendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "smtp.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "smtp.pem",
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("smtp.pem"),
        dir.join("smtp.key"),
    )
}

/// The mail server, killed when dropped.
struct Smtp {
    child: Child,
    out: PathBuf,
}

impl Smtp {
    fn start(port: u16, cert: &Path, key: &Path, out: &Path) -> Smtp {
        use std::io::BufRead;
        std::fs::create_dir_all(out).unwrap();
        let mut child = Command::new("python3")
            .arg(repo().join("tests/support/smtp_sink.py"))
            .arg(port.to_string())
            .args([cert, key])
            .arg("switchboard")
            .arg(out)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the mail server did not start");
        Smtp {
            child,
            out: out.to_path_buf(),
        }
    }

    /// The mails received so far (the summaries smtp_sink.py writes).
    fn mails(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.out)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback TCP port (the mail server starts on it later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A 1 kHz tone, μ-law, for the caller's message.
fn tone(dir: &Path) -> PathBuf {
    let wav = dir.join("tone.wav");
    let ulaw = dir.join("tone.ulaw");
    for args in [
        vec![
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            wav.to_str().unwrap(),
        ]
        .into_iter()
        .chain(["synth", "30", "sine", "1000", "vol", "0.25"])
        .collect::<Vec<_>>(),
        vec![wav.to_str().unwrap(), "-t", "raw", "-r", "8000", "-c", "1"]
            .into_iter()
            .chain(["-e", "mu-law", ulaw.to_str().unwrap()])
            .collect(),
    ] {
        let ok = Command::new(require("sox", "sox"))
            .args(&args)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    ulaw
}

fn plan(smtp_port: u16, ca: &Path) -> String {
    format!(
        r#"
[[numbers]]
number = "3000"
source = "night-line"
action = "department:sales"

[[numbers]]
number = "3001"
source = "web"
action = "department:support"

[departments.sales]
members = ["andrew"]
hours = "never"
after_hours = "voicemail:sales"
email = ["Sales Team <sales@example.com>", "andrew@example.com"]

[departments.support]
members = ["andrew"]
hours = "never"
after_hours = "voicemail:support"

[hours.never]
timezone = "UTC"

[managers.andrew]
extension = "101"
contact = "sip:101@127.0.0.1:5999"

[voicemail.sales]
greeting = "voicemail_greeting"
max_secs = 60

[voicemail.support]
greeting = "voicemail_greeting"

[email]
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
tls = "starttls"
username = "switchboard"
password = "mail-password"
from = "Switchboard <pbx@example.com>"
to = ["office@example.com"]
ca_file = "{}"
retry_base_secs = 1
"#,
        ca.display()
    )
}

#[test]
fn voicemail_and_callback_mails_reach_a_starttls_server_with_the_wav_attached() {
    require_aiosmtpd();
    let _g = serial();
    let p = ports();
    let tmp = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(tmp.path());
    let audio = tone(tmp.path());
    let smtp_port = free_port();
    let hook = Server::start(|_| Answer::ok("ok"));
    let server = format!(
        "webhook_url = \"{}\"\nwebhook_events = [\"voicemail.created\"]\n\
         webhook_format = \"slack\"\n",
        hook.url("/slack")
    );
    let mut router = Router::start(p, &server, &plan(smtp_port, &ca));

    // A message for sales while the mail server is down: the first attempt fails.
    let res = sipp(
        p,
        "uac_voicemail.xml",
        "u1",
        &[
            "-s",
            "3000",
            "-d",
            "13500",
            "-key",
            "caller_audio",
            &format!("{},-1,0", audio.display()),
            "-key",
            "dtmf_pcap",
            repo()
                .join("tests/data/dtmf_2833_pound.pcap")
                .to_str()
                .unwrap(),
        ],
    );
    res.assert_ok(&router);
    router.wait_for_log("email notification failed", Duration::from_secs(10));

    // The server comes up; the retry delivers. A caller of support hangs up during
    // the greeting: a callback request without a message, mailed to `[email] to`.
    let smtp = Smtp::start(smtp_port, &cert, &key, &tmp.path().join("mail"));
    let res = sipp(p, "uac_listen.xml", "u1", &["-s", "3001", "-d", "2000"]);
    res.assert_ok(&router);
    let start = Instant::now();
    while smtp.mails().len() < 2 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let slack = hook.wait_until(|s| !s.is_empty(), || router.log());
    std::thread::sleep(Duration::from_millis(300));
    let metrics = http_get(p, "/metrics");
    router.stop();
    let mails = smtp.mails();
    let log = router.log();
    assert_eq!(mails.len(), 2, "{mails:#?}\n{log}");

    let store = SqliteStore::open(router.db()).unwrap();
    let cbs = store.list_callbacks(None, None).unwrap();
    let sales = cbs.iter().find(|c| c.department == "sales").unwrap();
    let support = cbs.iter().find(|c| c.department == "support").unwrap();
    assert_eq!(sales.status, CallbackStatus::Open);

    // The voicemail: to the department's own list, over STARTTLS, authenticated, the
    // stored WAV attached byte for byte.
    let vm = mails
        .iter()
        .find(|m| m["subject"].as_str().unwrap().starts_with("New voicemail"))
        .unwrap_or_else(|| panic!("{mails:#?}"));
    assert_eq!(vm["subject"], "New voicemail from 5551234 for sales");
    assert_eq!(
        vm["rcpt_tos"],
        serde_json::json!(["sales@example.com", "andrew@example.com"])
    );
    assert_eq!(vm["mail_from"], "pbx@example.com");
    assert_eq!(vm["tls"], true, "STARTTLS was used");
    assert_eq!(vm["authenticated"], true);
    let parts = vm["parts"].as_array().unwrap();
    let text = std::fs::read_to_string(parts[0]["file"].as_str().unwrap()).unwrap();
    assert_eq!(parts[0]["content_type"], "text/plain");
    assert!(text.contains("Caller: 5551234"), "{text}");
    assert!(text.contains("Dialled: 3000 (night-line)"), "{text}");
    assert!(text.contains(&format!("Request: #{}", sales.id)), "{text}");
    let wav = parts
        .iter()
        .find(|p| p["content_type"] == "audio/wav")
        .unwrap_or_else(|| panic!("no WAV attached: {parts:#?}"));
    assert_eq!(wav["filename"], format!("voicemail-{}.wav", sales.id));
    let attached = std::fs::read(wav["file"].as_str().unwrap()).unwrap();
    let stored = std::fs::read(sales.recording_path.as_ref().unwrap()).unwrap();
    assert!(attached.len() > 8000 * 2 * 3, "{} bytes", attached.len());
    assert!(attached == stored, "the attachment is the stored recording");

    // The callback request: to the default recipients, nothing attached.
    let cb = mails
        .iter()
        .find(|m| {
            m["subject"]
                .as_str()
                .unwrap()
                .starts_with("Please call back")
        })
        .unwrap_or_else(|| panic!("{mails:#?}"));
    assert_eq!(cb["subject"], "Please call back 5551234 (support)");
    assert_eq!(cb["rcpt_tos"], serde_json::json!(["office@example.com"]));
    assert_eq!(cb["parts"].as_array().unwrap().len(), 1, "{cb:#?}");
    assert_eq!(support.recording_path, None);

    // Told in the log and the metrics; nothing left in the outbox.
    assert!(
        log.contains(
            "email notification sent to Sales Team <sales@example.com>, andrew@example.com"
        ),
        "{log}"
    );
    assert!(
        log.contains("email notification delivered after"),
        "the retry is logged: {log}"
    );
    assert!(
        metrics.contains(r#"switchboard_emails_total{result="sent"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"switchboard_emails_total{result="failed"}"#),
        "{metrics}"
    );
    // The webhook: only the selected voicemail.created, in Slack's format.
    assert_eq!(hook.seen().len(), 1, "{:?}", hook.seen());
    let text = slack[0].json()["text"].as_str().unwrap().to_string();
    assert!(
        text.starts_with("*New voicemail from 5551234 for sales*\nCaller: 5551234"),
        "{text}"
    );
    assert!(text.contains(&format!("Request: #{}", sales.id)), "{text}");

    let left = store.due_webhooks(jiff::Timestamp::MAX, 10).unwrap();
    assert!(left.is_empty(), "{left:?}");
}
