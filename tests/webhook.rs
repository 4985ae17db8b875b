//! Webhook notifications (issue 5 item 4): the router posts the store's outbox to
//! `[server] webhook_url`, retries with backoff, and nothing is lost across a restart.
//!
//! The outbox is seeded through the store's real path (`StoreWrite::Callback` with
//! `notify`), then the `switchboard` binary is started against a tiny HTTP receiver.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Router, ports};
use hmac::{KeyInit, Mac};
use jiff::Timestamp;
use switchboard::config;
use switchboard::store::{
    CallbackReason, NewCallback, SqliteStore, Store, StoreWrite, WebhookEvent, apply_write,
};

const SECRET: &str = "whsec-test-0123456789";

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    request_line: String,
    /// Header names lowercased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A loopback HTTP/1.1 receiver answering each request with the next status of
/// `statuses` (the last one repeats), closing the connection after each answer.
struct Receiver {
    port: u16,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(statuses: &[u16]) -> Receiver {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), statuses)
    }

    fn start_on(listener: TcpListener, statuses: &[u16]) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let statuses = statuses.to_vec();
        let record = Arc::clone(&seen);
        std::thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                let Ok(conn) = conn else { return };
                let status = *statuses.get(n).or(statuses.last()).unwrap();
                if let Some(req) = serve_one(conn, status) {
                    record.lock().unwrap().push(req);
                }
            }
        });
        Receiver { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived.
    fn wait_for(&self, n: usize, router: &Router) -> Vec<Received> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            let seen = self.seen();
            if seen.len() >= n {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "the receiver got {} of {n} requests; router log:\n{}",
            self.seen().len(),
            router.log()
        );
    }
}

fn serve_one(conn: TcpStream, status: u16) -> Option<Received> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let reason = if status == 200 { "OK" } else { "Oops" };
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: 13\r\nConnection: close\r\n\r\nreceiver says"
    );
    let mut conn = conn;
    conn.write_all(answer.as_bytes()).ok()?;
    Some(Received {
        at: Instant::now(),
        request_line: request_line.trim_end().to_string(),
        headers,
        body,
    })
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("data").join("switchboard.db")
}

/// A data directory whose outbox holds one `callback.created` event, written the way
/// the core writes it. Returns the directory and the event.
fn seeded_dir() -> (tempfile::TempDir, WebhookEvent) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let mut store = SqliteStore::open(db_path(dir.path())).unwrap();
    let request = NewCallback {
        department: "support".into(),
        caller: "+15550001234".into(),
        dialled: "+15550009999".into(),
        source: "google".into(),
        at: Timestamp::now(),
        menu_path: Vec::new(),
        reason: CallbackReason::AfterHours,
        recording_path: None,
        recording_secs: None,
        recording_flag: None,
    };
    apply_write(
        &mut store,
        &StoreWrite::Callback {
            request,
            notify: true,
        },
    )
    .unwrap();
    let due = store.due_webhooks(Timestamp::MAX, 10).unwrap();
    assert_eq!(due.len(), 1, "the callback queued one event");
    let event = due.into_iter().next().unwrap();
    (dir, event)
}

fn outbox(dir: &Path) -> Vec<WebhookEvent> {
    SqliteStore::open(db_path(dir))
        .unwrap()
        .due_webhooks(Timestamp::MAX, 10)
        .unwrap()
}

/// Waits until the outbox is empty (the router deleted the delivered event).
fn wait_delivered(router: &Router) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if outbox(router.dir.path()).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "the event is still in the outbox: {:?}\nrouter log:\n{}",
        outbox(router.dir.path()),
        router.log()
    );
}

fn server_extra(url: &str) -> String {
    format!(
        "webhook_url = \"{url}\"\nwebhook_secret = \"{SECRET}\"\nwebhook_timeout_secs = 2\nwebhook_retry_base_secs = 1\n"
    )
}

/// The signature a receiver computes: HMAC-SHA256 of the raw body under the secret.
fn expected_signature(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[test]
fn failed_delivery_is_retried_with_backoff_then_removed_from_the_outbox() {
    let (dir, event) = seeded_dir();
    let receiver = Receiver::start(&[500, 200]);
    let router = Router::start_in(dir, ports(), &server_extra(&receiver.url()), "");

    let seen = receiver.wait_for(2, &router);
    wait_delivered(&router);
    assert_eq!(seen.len(), 2, "delivered, so no third attempt: {seen:?}");

    let id = event.id.to_string();
    for (n, req) in seen.iter().enumerate() {
        assert_eq!(req.request_line, "POST /hook HTTP/1.1");
        assert_eq!(
            req.body,
            event.payload_json.as_bytes(),
            "body is the payload"
        );
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert!(
            req.header("user-agent")
                .is_some_and(|ua| ua.starts_with("Switchboard/")),
            "{req:?}"
        );
        assert_eq!(req.header("x-switchboard-event-id"), Some(id.as_str()));
        assert_eq!(
            req.header("x-switchboard-attempt"),
            Some((n + 1).to_string().as_str())
        );
        assert_eq!(
            req.header("x-switchboard-signature"),
            Some(expected_signature(&req.body).as_str())
        );
    }
    let body: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(body["event"], "callback.created");
    assert_eq!(body["callback"]["caller"], "+15550001234");

    // Retried after the base backoff (1 s here), not at once.
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(900), "retried after {gap:?}");
    let log = router.log();
    assert!(
        log.contains("the receiver answered 500: receiver says; retrying in 1s"),
        "{log}"
    );
    assert!(log.contains("delivered after 1 failed attempt(s)"), "{log}");
    // The secret path of a webhook URL never reaches the log.
    assert!(!log.contains("/hook"), "{log}");
}

#[test]
fn undelivered_event_survives_a_restart() {
    let (dir, event) = seeded_dir();
    // A port with nothing listening: every attempt is refused.
    let reserved = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = reserved.local_addr().unwrap().port();
    drop(reserved);
    let url = format!("http://127.0.0.1:{port}/hook");

    let mut router = Router::start_in(dir, ports(), &server_extra(&url), "");
    // Wait for the second failure: by then the router has long installed its SIGTERM
    // handler (a SIGTERM right after start-up kills it before it can flush the store).
    router.wait_for_log("retrying in 2s", Duration::from_secs(10));
    assert!(
        router.log().contains("Connection refused"),
        "{}",
        router.log()
    );
    router.stop();
    let left = outbox(router.dir.path());
    assert_eq!(left.len(), 1, "still waiting after the stop");
    let attempts = left[0].attempts;
    assert!(attempts >= 2, "the failures were recorded: {left:?}");

    // Bring the receiver up on that port and restart the router on the same data.
    let receiver = Receiver::start_on(TcpListener::bind(("127.0.0.1", port)).unwrap(), &[200]);
    let dir = std::mem::replace(&mut router.dir, tempfile::tempdir().unwrap());
    drop(router);
    let router = Router::start_in(dir, ports(), &server_extra(&url), "");
    let seen = receiver.wait_for(1, &router);
    wait_delivered(&router);
    assert_eq!(seen[0].body, event.payload_json.as_bytes());
    assert_eq!(
        seen[0].header("x-switchboard-event-id"),
        Some(event.id.to_string().as_str())
    );
    assert_eq!(
        seen[0].header("x-switchboard-attempt"),
        Some((attempts + 1).to_string().as_str())
    );
}

fn server(text: &str) -> Result<config::ServerConfig, String> {
    config::load_str(text, Path::new("test.toml"), None)
        .map(|l| l.server)
        .map_err(|e| e.to_string())
}

#[test]
fn webhook_config_defaults_and_errors() {
    let s = server("[server]\n").unwrap();
    assert_eq!(s.webhook_url, None);
    assert_eq!(s.webhook_secret, None);
    assert_eq!(s.webhook_timeout_secs, 10);
    assert_eq!(s.webhook_retry_base_secs, 10);

    let s = server(
        "[server]\nwebhook_url = \"https://hooks.example.com/x?token=1\"\nwebhook_secret = \"k\"\n",
    )
    .unwrap();
    assert_eq!(
        s.webhook_url.as_deref(),
        Some("https://hooks.example.com/x?token=1")
    );
    assert_eq!(s.webhook_secret.as_deref(), Some("k"));
    assert_eq!(
        server("[server]\nwebhook_url = \"\"\n")
            .unwrap()
            .webhook_url,
        None
    );

    for (value, needle) in [
        ("ftp://example.com/x", "only http:// and https://"),
        ("hooks.example.com/x", "must start with http:// or https://"),
        ("http://", "is not a valid URL"),
        ("https://user:pw@example.com/", "user:password@"),
        ("http://exa mple.com/", "is not a valid URL"),
    ] {
        let e = server(&format!("[server]\nwebhook_url = \"{value}\"\n")).unwrap_err();
        assert!(e.contains(needle), "{value}: {e}");
        assert!(e.contains("webhook_url"), "{value}: {e}");
    }
    let e = server("[server]\nwebhook_secret = \"\"\n").unwrap_err();
    assert!(e.contains("webhook_secret is empty"), "{e}");
    let e = server("[server]\nwebhook_retry_base_secs = 0\n").unwrap_err();
    assert!(e.contains("between 1 and 3600"), "{e}");
    let e = server("[server]\nwebhook_timeout_secs = 0\n").unwrap_err();
    assert!(e.contains("between 1 and 300"), "{e}");
}
