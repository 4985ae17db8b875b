//! Issue 11 item 3 against the running router: thousands of idle SIP/TCP connections
//! (from many loopback addresses) are closed by the idle timeout, a message whose body
//! never arrives is closed by the message timeout, one address cannot hold more than
//! `tcp_max_per_source`, and a real sipp call over TCP completes meanwhile.
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

async fn connect_from(src: &str, dst: SocketAddr) -> Option<TcpStream> {
    let sock = TcpSocket::new_v4().ok()?;
    sock.bind(format!("{src}:0").parse().ok()?).ok()?;
    sock.connect(dst).await.ok()
}

/// Whether the router closed the connection within `within` (EOF or reset).
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(within, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue, // a pong or a response: keep reading
        }
    }
}

fn metric(metrics: &str, needle: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(needle))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[test]
fn idle_connections_are_closed_and_a_real_call_completes() {
    let _g = serial();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(idle_connections_scenario());
}

async fn idle_connections_scenario() {
    let p = ports();
    let router = Router::start(
        p,
        "tcp_idle_secs = 4\ntcp_message_secs = 2\ntcp_max_per_source = 30",
        "",
    );
    let dst: SocketAddr = format!("127.0.0.1:{}", p.sip).parse().unwrap();
    // 2,100 idle connections from 70 addresses (30 each, the per-source limit).
    let mut idle = Vec::new();
    for i in 0..2100u32 {
        let src = format!("127.0.{}.{}", 10 + i / 30 / 250, 1 + (i / 30) % 250);
        let s = connect_from(&src, dst).await.expect("connect");
        idle.push(s);
        if i == 29 {
            // One more from the address just filled: closed at once. Asked here, not
            // after all 2,100, because on a slow machine opening the rest can take
            // longer than `tcp_idle_secs`, and the idle timeout would have freed the
            // address's 30 places by then (CI saw exactly that).
            let mut over = connect_from("127.0.10.1", dst).await.expect("connect");
            assert!(
                closed_within(&mut over, Duration::from_secs(2)).await,
                "the 31st connection from one address was kept"
            );
        }
    }
    // Headers promising a body that never comes: closed after tcp_message_secs.
    let mut slow = connect_from("127.0.20.1", dst).await.unwrap();
    slow.write_all(
        b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.20.1:5060;branch=z9hG4bKs\r\n\
          From: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: slow\r\nCSeq: 1 OPTIONS\r\n\
          Content-Length: 1000\r\n\r\nonly a little",
    )
    .await
    .unwrap();
    // A real call over TCP while all of them are open.
    let res = tokio::task::spawn_blocking(move || sipp(p, "uac_listen.xml", "t1", &["-d", "1000"]))
        .await
        .unwrap();
    res.assert_ok(&router);
    assert!(
        closed_within(&mut slow, Duration::from_secs(4)).await,
        "a message whose body never came kept its connection"
    );
    // Every idle connection is closed by the router (4 s idle timeout, checked 8 s).
    let mut still_open = 0;
    for s in &mut idle {
        if !closed_within(s, Duration::from_millis(8000)).await {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "idle connections left open");
    let metrics = http_get(p, "/metrics");
    assert!(
        metric(&metrics, "switchboard_tcp_closed_total{reason=\"idle\"}") >= 2100,
        "{metrics}"
    );
    assert!(
        metric(
            &metrics,
            "switchboard_tcp_closed_total{reason=\"per_source_limit\"}"
        ) >= 1
    );
    assert!(
        metric(
            &metrics,
            "switchboard_tcp_closed_total{reason=\"message_timeout\"}"
        ) >= 1
    );
}
