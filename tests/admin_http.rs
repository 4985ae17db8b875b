//! The admin HTTP API in-process on 127.0.0.1:0, over a real SQLite file behind a
//! store worker, spoken to with plain HTTP/1.1 over TCP.

#[path = "reports_fixture/mod.rs"]
mod fixture;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::tz::TimeZone;
use switchboard::admin::{self, AdminError, AdminState};
use switchboard::reports::{self, Period};
use switchboard::store::{CallbackReason, NewCallback, SqliteStore, Store, StoreWorker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One request on a fresh connection (`Connection: close`), response read to EOF.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&data[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

struct Server {
    addr: SocketAddr,
    /// Root of the temp tree: `data/` is the data dir, files beside it are "outside".
    root: tempfile::TempDir,
    callbacks: fixture::Callbacks,
    /// Extra requests whose recordings point at bad places.
    traversal_ids: Vec<i64>,
    no_recording_id: i64,
    _worker: StoreWorker,
}

impl Server {
    fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }
}

fn with_recording(caller: &str, path: &str) -> NewCallback {
    NewCallback {
        department: "support".into(),
        caller: caller.into(),
        dialled: "5551000".into(),
        source: "google".into(),
        at: fixture::at(6, "12:00:00"),
        menu_path: vec![],
        reason: CallbackReason::AfterHours,
        recording_path: Some(path.into()),
        recording_secs: Some(1.0),
        recording_flag: None,
    }
}

fn write_wav(path: &Path) -> Vec<u8> {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..800i32 {
        w.write_sample(((i % 40) * 500 - 10_000) as i16).unwrap();
    }
    w.finalize().unwrap();
    std::fs::read(path).unwrap()
}

async fn start(token: Option<&str>, live: Option<admin::LiveFn>) -> Server {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut store = SqliteStore::open(data.join("switchboard.db")).unwrap();
    let callbacks = fixture::seed(&mut store);
    let outside = root.path().join("outside.wav");
    write_wav(&outside);
    std::os::unix::fs::symlink(&outside, data.join("link.wav")).unwrap();
    let mut traversal_ids = Vec::new();
    for (caller, path) in [
        ("+5001", "../outside.wav".to_owned()),
        ("+5002", outside.display().to_string()),
        ("+5003", "link.wav".to_owned()),
        ("+5004", "recordings/../../outside.wav".to_owned()),
    ] {
        let (id, _) = store
            .add_or_update_callback(&with_recording(caller, &path))
            .unwrap();
        traversal_ids.push(id);
    }
    let mut plain = with_recording("+5005", "x");
    plain.recording_path = None;
    let (no_recording_id, _) = store.add_or_update_callback(&plain).unwrap();

    let worker = StoreWorker::spawn(Box::new(store)).unwrap();
    let mut state = AdminState::new(worker.handle(), &data)
        .with_token(token.map(str::to_owned))
        .with_time_zone(TimeZone::UTC);
    if let Some(live) = live {
        state = state.with_live(live);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(admin::serve(listener, state));
    Server {
        addr,
        root,
        callbacks,
        traversal_ids,
        no_recording_id,
        _worker: worker,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_claims_one_winner() {
    let srv = start(None, None).await;
    let id = srv.callbacks.open_397;
    let path = format!("/api/callbacks/{id}/claim");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let path = path.clone();
            let addr = srv.addr;
            tokio::spawn(async move {
                let body = format!("{{\"manager\": \"m{i}\"}}");
                http(addr, "POST", &path, None, Some(&body)).await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    let winners: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "exactly one claim wins");
    let winner = winners[0].json();
    assert_eq!(winner["status"], "claimed");
    assert_eq!(winner["id"], id);
    let name = winner["claimed_by"].as_str().unwrap().to_owned();
    let losers: Vec<&Reply> = replies.iter().filter(|r| r.status == 409).collect();
    assert_eq!(losers.len(), 19);
    for l in losers {
        assert_eq!(l.json()["error"], format!("already claimed by {name}"));
    }
    // The stored state agrees.
    let r = http(srv.addr, "GET", &format!("/api/callbacks/{id}"), None, None).await;
    assert_eq!(r.json()["claimed_by"], name.as_str());

    // done by someone else: 409; by the winner: 200; again: 409 already done.
    let body = r#"{"manager": "intruder", "outcome": "reached"}"#;
    let r = http(
        srv.addr,
        "POST",
        &format!("/api/callbacks/{id}/done"),
        None,
        Some(body),
    )
    .await;
    assert_eq!(r.status, 409);
    let body = format!(r#"{{"manager": "{name}", "outcome": "reached"}}"#);
    let r = http(
        srv.addr,
        "POST",
        &format!("/api/callbacks/{id}/done"),
        None,
        Some(&body),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "done");
    assert_eq!(r.json()["outcome"], "reached");
    let r = http(
        srv.addr,
        "POST",
        &format!("/api/callbacks/{id}/done"),
        None,
        Some(&body),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.json()["error"],
        format!("already done (closed by {name})")
    );
}

#[tokio::test]
async fn claim_errors() {
    let srv = start(None, None).await;
    let r = http(
        srv.addr,
        "POST",
        "/api/callbacks/999/claim",
        None,
        Some(r#"{"manager":"a"}"#),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "no such request: 999");
    let id = srv.callbacks.open_397;
    let r = http(
        srv.addr,
        "POST",
        &format!("/api/callbacks/{id}/claim"),
        None,
        Some(r#"{"manager":" "}"#),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = http(
        srv.addr,
        "POST",
        &format!("/api/callbacks/{id}/claim"),
        None,
        Some("{oops"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].is_string());
    let r = http(
        srv.addr,
        "POST",
        &format!("/api/callbacks/{id}/claim"),
        None,
        Some(r#"{"who":"a"}"#),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = http(srv.addr, "GET", "/api/callbacks/999", None, None).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn token_is_required_when_configured() {
    let srv = start(Some("s3cret"), None).await;
    for path in [
        "/api/callbacks",
        "/api/live",
        "/api/reports?week=1",
        "/metrics",
    ] {
        let r = http(srv.addr, "GET", path, None, None).await;
        assert_eq!(r.status, 401, "{path} without a token");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        let r = http(srv.addr, "GET", path, Some("wrong"), None).await;
        assert_eq!(r.status, 401, "{path} with a wrong token");
        let r = http(srv.addr, "GET", path, Some("s3cret"), None).await;
        assert_eq!(r.status, 200, "{path} with the token");
    }
    let id = srv.callbacks.open_397;
    let r = http(
        srv.addr,
        "POST",
        &format!("/api/callbacks/{id}/claim"),
        None,
        Some(r#"{"manager":"a"}"#),
    )
    .await;
    assert_eq!(r.status, 401, "a claim without the token must not happen");
    let r = http(
        srv.addr,
        "GET",
        &format!("/api/callbacks/{id}"),
        Some("s3cret"),
        None,
    )
    .await;
    assert_eq!(r.json()["status"], "open");
    let r = http(srv.addr, "GET", "/healthz", None, None).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn serve_refuses_a_public_address_without_a_token() {
    let worker = StoreWorker::spawn(Box::new(SqliteStore::open_in_memory().unwrap())).unwrap();
    let state = AdminState::new(worker.handle(), "/nonexistent");
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let err = admin::serve(listener, state.clone()).await.unwrap_err();
    assert!(matches!(err, AdminError::Unprotected { .. }), "{err}");
    assert!(err.to_string().contains("set admin_token"), "{err}");
    let err = admin::bind("0.0.0.0:0".parse().unwrap(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AdminError::Unprotected { .. }));
    assert!(
        admin::bind("0.0.0.0:0".parse().unwrap(), Some("t"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn recording_download_and_path_traversal() {
    let srv = start(None, None).await;
    let wav = write_wav(&srv.data_dir().join("recordings/cb-397.wav"));
    let id = srv.callbacks.open_397;
    let r = http(
        srv.addr,
        "GET",
        &format!("/api/callbacks/{id}/recording"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("audio/wav"));
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename=\"callback-{id}.wav\"").as_str())
    );
    assert_eq!(r.body, wav);

    for bad in &srv.traversal_ids {
        let r = http(
            srv.addr,
            "GET",
            &format!("/api/callbacks/{bad}/recording"),
            None,
            None,
        )
        .await;
        assert_eq!(
            r.status,
            403,
            "request {bad}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(!r.body.starts_with(b"RIFF"));
    }
    let r = http(
        srv.addr,
        "GET",
        &format!("/api/callbacks/{}/recording", srv.no_recording_id),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["error"],
        format!("request {} has no recording", srv.no_recording_id)
    );
    // Recording on file but missing on disk.
    std::fs::remove_file(srv.data_dir().join("recordings/cb-397.wav")).unwrap();
    let r = http(
        srv.addr,
        "GET",
        &format!("/api/callbacks/{id}/recording"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    let r = http(srv.addr, "GET", "/api/callbacks/999/recording", None, None).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn reports_calls_callbacks_and_live() {
    let live: admin::LiveFn =
        Arc::new(|| serde_json::json!([{"call_id": "x", "state": "ringing"}]));
    let srv = start(None, Some(live)).await;

    let r = http(
        srv.addr,
        "GET",
        "/api/reports?from=2026-03-02&to=2026-03-08",
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let got: reports::Report = serde_json::from_slice(&r.body).unwrap();
    let store = SqliteStore::open(srv.data_dir().join("switchboard.db")).unwrap();
    let period = Period::parse_dates(fixture::FROM, fixture::TO, TimeZone::UTC).unwrap();
    let want = reports::generate(&store, &period, jiff::Timestamp::now()).unwrap();
    assert_eq!(got, want);
    assert_eq!(got.per_manager[0].answer_ms_p90, Some(40_000));

    let r = http(srv.addr, "GET", "/api/reports?week=1", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["per_day"].as_array().unwrap().len(), 7);
    let r = http(
        srv.addr,
        "GET",
        "/api/reports?from=2026-03-09&to=2026-03-02",
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("swap"));
    let r = http(srv.addr, "GET", "/api/reports?from=2026-03-02", None, None).await;
    assert_eq!(r.status, 400);

    let r = http(
        srv.addr,
        "GET",
        "/api/calls?from=2026-03-02&to=2026-03-02",
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let calls = r.json();
    let ids: Vec<&str> = calls
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c1", "c2"]);
    assert_eq!(calls[1]["answered_by"], "elena");
    assert_eq!(calls[1]["rings"].as_array().unwrap().len(), 2);
    assert_eq!(calls[1]["rings"][0]["outcome"], "no_answer");

    let r = http(
        srv.addr,
        "GET",
        "/api/callbacks?department=sales&status=claimed",
        None,
        None,
    )
    .await;
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["caller"], "+398");
    let r = http(srv.addr, "GET", "/api/callbacks?status=nope", None, None).await;
    assert_eq!(r.status, 400);
    let r = http(srv.addr, "GET", "/api/callbacks", None, None).await;
    assert_eq!(r.json().as_array().unwrap().len(), 4 + 5);

    let r = http(srv.addr, "GET", "/api/live", None, None).await;
    assert_eq!(r.json()[0]["state"], "ringing");
}

#[tokio::test]
async fn metrics_exposes_call_outcomes() {
    let srv = start(None, None).await;
    admin::metrics::record_call_outcome(switchboard::store::CallOutcome::Answered);
    admin::metrics::record_call_outcome(switchboard::store::CallOutcome::Answered);
    admin::metrics::set_active_calls(3);
    admin::metrics::observe_answer_time(4.0);
    let r = http(srv.addr, "GET", "/metrics", None, None).await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    assert!(
        text.contains("switchboard_calls_total{outcome=\"answered\"} 2"),
        "{text}"
    );
    assert!(text.contains("switchboard_active_calls 3"), "{text}");
    assert!(
        text.contains("switchboard_answer_seconds_bucket{le=\"5\"} 1"),
        "{text}"
    );
}

/// An admin API over the fixture, with `tweak` applied to its state; returns the
/// address and the state (its semaphore can be held by the test).
async fn start_tweaked(
    tweak: impl FnOnce(AdminState) -> AdminState,
) -> (SocketAddr, AdminState, StoreWorker, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(root.path().join("switchboard.db")).unwrap();
    fixture::seed(&mut store);
    let worker = StoreWorker::spawn(Box::new(store)).unwrap();
    let state = tweak(AdminState::new(worker.handle(), root.path()).with_time_zone(TimeZone::UTC));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(admin::serve(listener, state.clone()));
    (addr, state, worker, root)
}

/// `GET path` with a chosen Host header.
async fn get_with_host(addr: SocketAddr, path: &str, host: &str) -> Reply {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    parse_reply(&raw)
}

/// Issue 11 item 8: without a token, a request naming another host (DNS rebinding
/// from a browser on this machine) is refused; loopback names and configured names
/// are served; with a token the Host does not matter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_only_loopback_or_configured_hosts_are_served() {
    let (addr, _state, _w, _d) =
        start_tweaked(|s| s.with_hosts(vec!["switchboard.lan".into()])).await;
    for host in ["evil.example", "evil.example:8080", "192.0.2.1", ""] {
        let r = get_with_host(addr, "/api/callbacks", host).await;
        assert_eq!(r.status, 403, "Host {host:?}");
    }
    for host in [
        "localhost",
        &format!("127.0.0.1:{}", addr.port()),
        "[::1]:8080",
        "app.localhost",
        "SWITCHBOARD.lan:8080",
    ] {
        let r = get_with_host(addr, "/api/callbacks", host).await;
        assert_eq!(r.status, 200, "Host {host:?}");
    }
    let srv = start(Some("s3cret"), None).await;
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(
        b"GET /api/callbacks HTTP/1.1\r\nHost: anything.example\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    assert_eq!(parse_reply(&raw).status, 200);
}

/// Issue 11 item 8: a report over thousands of years is refused, a year is served,
/// and heavy requests beyond the permits get 503 instead of piling up in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_ranges_are_bounded_and_heavy_requests_limited() {
    let (addr, state, _w, _d) = start_tweaked(|s| s).await;
    let host = addr.to_string();
    let r = get_with_host(addr, "/api/reports?from=0001-01-01&to=9998-12-31", &host).await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"].as_str().unwrap().contains("at most 366"),
        "{:?}",
        r.json()
    );
    let r = get_with_host(addr, "/api/calls?from=2020-01-01&to=2026-01-01", &host).await;
    assert_eq!(r.status, 400);
    let r = get_with_host(addr, "/api/reports?from=2026-01-01&to=2026-12-31", &host).await;
    assert_eq!(r.status, 200);
    // Every permit taken (two long reports running): the next waits its turn with 503.
    let held = state
        .heavy
        .clone()
        .acquire_many_owned(admin::HEAVY_AT_ONCE as u32)
        .await
        .unwrap();
    let r = get_with_host(addr, "/api/reports?week=1", &host).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        get_with_host(addr, "/api/dashboard", &host).await.status,
        503
    );
    drop(held);
    assert_eq!(
        get_with_host(addr, "/api/reports?week=1", &host)
            .await
            .status,
        200
    );
}

/// A plan whose managers are andrew and elena.
fn two_managers() -> switchboard::config::DialPlan {
    switchboard::config::load_str(
        "[managers.andrew]\ncontact = \"sip:101@127.0.0.1:5999\"\n\
         [managers.elena]\ncontact = \"sip:102@127.0.0.1:5998\"\n",
        std::path::Path::new("plan.toml"),
        None,
    )
    .unwrap()
    .plan
}

/// Issue 11 item 8: claim and done refuse a manager who is not in the plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_by_unknown_managers_are_refused() {
    let (addr, _state, _w, _d) =
        start_tweaked(|s| s.with_plan(Arc::new(arc_swap::ArcSwap::from_pointee(two_managers()))))
            .await;
    let list = get_with_host(addr, "/api/callbacks?status=open", &addr.to_string()).await;
    let id = list.json()[0]["id"].as_i64().unwrap();
    let r = http(
        addr,
        "POST",
        &format!("/api/callbacks/{id}/claim"),
        None,
        Some(r#"{"manager": "mallory"}"#),
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("no manager \"mallory\"")
    );
    let r = http(
        addr,
        "POST",
        &format!("/api/callbacks/{id}/done"),
        None,
        Some(r#"{"manager": "mallory", "outcome": "reached"}"#),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = http(
        addr,
        "POST",
        &format!("/api/callbacks/{id}/claim"),
        None,
        Some(r#"{"manager": "andrew"}"#),
    )
    .await;
    assert_eq!(r.status, 200);
}
