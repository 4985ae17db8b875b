//! Small HTTP servers inside tests: a webhook receiver that records what it gets, an
//! SSE client, and a CRM stand-in answering lookups.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as a server saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub request_line: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// How a server answers one request: status, body, and a delay before answering.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

impl Answer {
    pub fn ok(body: &str) -> Answer {
        Answer {
            status: 200,
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
}

/// A loopback HTTP/1.1 server answering every request with `answer(&request)`, closing
/// the connection after each answer.
pub struct Server {
    pub port: u16,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    pub fn start(answer: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (record, answer) = (Arc::clone(&record), Arc::clone(&answer));
                // One thread per connection: a slow answer must not hold up others.
                std::thread::spawn(move || {
                    if let Some(req) = read_request(&conn) {
                        record.lock().unwrap().push(req.clone());
                        let a = answer(&req);
                        std::thread::sleep(a.delay);
                        let mut conn = conn;
                        let _ = write!(
                            conn,
                            "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                            a.status,
                            a.body.len(),
                            a.body
                        );
                    }
                });
            }
        });
        Server { port, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `want` holds for what arrived (20 s at most).
    pub fn wait_until(
        &self,
        want: impl Fn(&[Received]) -> bool,
        log: impl Fn() -> String,
    ) -> Vec<Received> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            let seen = self.seen();
            if want(&seen) {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server got {:?}\nrouter log:\n{}", self.seen(), log());
    }
}

fn read_request(conn: &TcpStream) -> Option<Received> {
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
    Some(Received {
        at: Instant::now(),
        request_line: request_line.trim_end().to_string(),
        headers,
        body,
    })
}

/// One Server-Sent Event as received.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub id: String,
    pub data: String,
}

/// Reads `GET path` on `port` as an event stream (HTTP/1.0: no chunking) in the
/// background, until the server closes the connection.
pub struct SseClient {
    events: Arc<Mutex<Vec<SseEvent>>>,
}

impl SseClient {
    pub fn connect(port: u16, path: &str) -> SseClient {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let out = Arc::clone(&events);
        std::thread::spawn(move || {
            let reader = BufReader::new(s);
            let mut current = SseEvent {
                event: String::new(),
                id: String::new(),
                data: String::new(),
            };
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if line.is_empty() {
                    if !current.data.is_empty() {
                        out.lock().unwrap().push(current.clone());
                    }
                    current = SseEvent {
                        event: String::new(),
                        id: String::new(),
                        data: String::new(),
                    };
                } else if let Some(v) = line.strip_prefix("event: ").or(line.strip_prefix("event:"))
                {
                    current.event = v.to_string();
                } else if let Some(v) = line.strip_prefix("id: ").or(line.strip_prefix("id:")) {
                    current.id = v.to_string();
                } else if let Some(v) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
                    current.data.push_str(v);
                }
            }
        });
        // Let the subscription happen before calls start.
        std::thread::sleep(Duration::from_millis(300));
        SseClient { events }
    }

    pub fn events(&self) -> Vec<SseEvent> {
        self.events.lock().unwrap().clone()
    }
}
