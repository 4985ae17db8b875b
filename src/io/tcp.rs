//! SIP over TCP (RFC 3261 §18): one reader task per connection framing messages by
//! Content-Length, one writer task fed by a channel, so the core never awaits a socket.
//!
//! Every connection has limits, so signalling connections can never take the file
//! descriptors calls need (issue 11 item 3):
//!
//! ```text
//!   accept ──over tcp_max_connections / tcp_max_per_source──► closed at once
//!     │
//!     ▼              first byte of a message            message complete
//!   Fresh ──────────────────────────────► Partial ─────────────────────► Known
//!     │ tcp_idle_secs                       │ tcp_message_secs              │ tcp_keepalive_secs
//!     ▼                                     ▼ (a body that never comes)     ▼ without traffic
//!   closed                                closed                          closed
//! ```
//!
//! A connection that has carried a complete message (a phone that registered, a
//! trunk) may stay idle for `tcp_keepalive_secs`, refreshed by its RFC 5626 CRLF
//! keepalives, which are answered with a CRLF pong. A stranger that opens a connection
//! and sends nothing, or headers whose Content-Length promises a body that never comes,
//! is closed after `tcp_idle_secs` / `tcp_message_secs`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::admin::metrics;
use crate::config::ServerConfig;
use crate::sip::frame::StreamFramer;

/// What connection tasks tell the core loop.
#[derive(Debug)]
pub enum TcpEvent {
    Connected {
        addr: SocketAddr,
        writer: mpsc::UnboundedSender<Bytes>,
    },
    Message {
        addr: SocketAddr,
        bytes: Bytes,
    },
    Closed {
        addr: SocketAddr,
    },
}

/// The connection limits (`[server] tcp_*`, `sip_max_message_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    pub idle: Duration,
    pub keepalive: Duration,
    pub message: Duration,
    pub max_total: usize,
    pub max_per_source: usize,
    pub max_message: usize,
}

impl TcpLimits {
    pub fn from_server(s: &ServerConfig) -> Self {
        Self {
            idle: Duration::from_secs(s.tcp_idle_secs.max(1)),
            keepalive: Duration::from_secs(s.tcp_keepalive_secs.max(1)),
            message: Duration::from_secs(s.tcp_message_secs.max(1)),
            max_total: s.tcp_max_connections.max(1),
            max_per_source: s.tcp_max_per_source.max(1),
            max_message: s.sip_max_message_bytes.max(1024),
        }
    }
}

/// Open connections, in total and per source address.
#[derive(Debug, Default)]
struct Counts {
    total: AtomicUsize,
    per_source: Mutex<HashMap<IpAddr, usize>>,
}

/// Releases a connection's place in [`Counts`] when its task ends, however it ends.
struct Place {
    counts: Arc<Counts>,
    ip: IpAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        let left = self.counts.total.fetch_sub(1, Ordering::Relaxed) - 1;
        if let Ok(mut m) = self.counts.per_source.lock()
            && let Some(n) = m.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
        metrics::set_tcp_connections(left);
    }
}

impl Counts {
    /// Takes a place for a connection from `ip`, or says which limit refuses it.
    fn admit(self: &Arc<Self>, ip: IpAddr, limits: &TcpLimits) -> Result<Place, &'static str> {
        let mut m = self.per_source.lock().map_err(|_| "total_limit")?;
        if self.total.load(Ordering::Relaxed) >= limits.max_total {
            return Err("total_limit");
        }
        let n = m.entry(ip).or_insert(0);
        if *n >= limits.max_per_source {
            return Err("per_source_limit");
        }
        *n += 1;
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::set_tcp_connections(total);
        Ok(Place {
            counts: self.clone(),
            ip,
        })
    }
}

pub async fn accept_loop(
    listener: TcpListener,
    events: mpsc::UnboundedSender<TcpEvent>,
    limits: TcpLimits,
) {
    let counts = Arc::new(Counts::default());
    let mut refused_logged = Instant::now() - Duration::from_secs(60);
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let place = match counts.admit(addr.ip(), &limits) {
                    Ok(p) => p,
                    Err(reason) => {
                        metrics::count_tcp_closed(reason);
                        if refused_logged.elapsed() >= Duration::from_secs(10) {
                            refused_logged = Instant::now();
                            tracing::warn!(
                                %addr,
                                "refusing SIP/TCP connections: {reason} reached \
                                 ([server] tcp_max_connections / tcp_max_per_source); \
                                 logged once per 10 s"
                            );
                        }
                        drop(stream);
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, addr, events.clone(), limits, place));
            }
            Err(e) => {
                // Out of descriptors (EMFILE) or similar: back off instead of spinning.
                tracing::warn!("TCP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    events: mpsc::UnboundedSender<TcpEvent>,
    limits: TcpLimits,
    _place: Place,
) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    if events
        .send(TcpEvent::Connected {
            addr,
            writer: tx.clone(),
        })
        .is_err()
    {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    let mut framer = StreamFramer::with_max_size(limits.max_message);
    let mut buf = vec![0u8; 16 * 1024];
    let opened = Instant::now();
    let mut known = false;
    let mut last_activity = opened;
    // When the message now being received started (None: between messages).
    let mut partial_since: Option<Instant> = None;
    let reason = 'read: loop {
        let (deadline, reason) = match partial_since {
            Some(t) => (t + limits.message, "message_timeout"),
            None if known => (last_activity + limits.keepalive, "idle"),
            None => (opened + limits.idle, "idle"),
        };
        let n = match tokio::time::timeout_at(deadline, rd.read(&mut buf)).await {
            Err(_elapsed) => break reason,
            Ok(Ok(0) | Err(_)) => break "",
            Ok(Ok(n)) => n,
        };
        let now = Instant::now();
        framer.push(buf.get(..n).unwrap_or_default());
        while let Some(msg) = framer.next_message() {
            match msg {
                Ok(bytes) => {
                    known = true;
                    if events.send(TcpEvent::Message { addr, bytes }).is_err() {
                        break 'read "";
                    }
                }
                Err(e) => {
                    // A stream we cannot frame cannot be resynchronised: close it.
                    tracing::warn!(%addr, "closing SIP/TCP connection: {e}");
                    break 'read if matches!(e, crate::sip::frame::FrameError::TooLarge { .. }) {
                        "too_large"
                    } else {
                        "bad_framing"
                    };
                }
            }
        }
        let pings = framer.take_pings();
        if pings > 0 {
            // RFC 5626 §4.4.1: answer each double-CRLF ping with a CRLF pong.
            tracing::debug!(%addr, pings, "CRLF keepalive ping(s) answered with a pong");
            for _ in 0..pings {
                let _ = tx.send(Bytes::from_static(b"\r\n"));
            }
        }
        last_activity = now;
        partial_since = match (framer.buffered(), partial_since) {
            (0, _) => None,
            (_, Some(t)) => Some(t),
            (_, None) => Some(now),
        };
    };
    if !reason.is_empty() {
        metrics::count_tcp_closed(reason);
        tracing::debug!(%addr, reason, "closing SIP/TCP connection");
    }
    writer.abort();
    let _ = events.send(TcpEvent::Closed { addr });
}

/// Raises this process's open-file limit to its hard limit and returns how many SIP/TCP
/// connections fit while keeping `reserve` descriptors for RTP sockets, the database,
/// recordings and the admin API: signalling can then never stop calls being answered.
pub fn descriptor_budget(reserve: usize, wanted: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    if !got {
        return wanted;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::info!(
                from = lim.rlim_cur,
                to = lim.rlim_max,
                "raised the open-file limit (RLIMIT_NOFILE) to its hard limit"
            );
            lim.rlim_cur = lim.rlim_max;
        }
    }
    let available = usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX);
    let budget = available.saturating_sub(reserve).max(16);
    if budget < wanted {
        tracing::warn!(
            limit = available,
            reserve,
            "only {budget} SIP/TCP connections fit in the open-file limit after keeping \
             {reserve} for RTP and files (tcp_max_connections = {wanted}); raise the hard \
             limit (LimitNOFILE= in the systemd unit) for more"
        );
    }
    budget.min(wanted)
}
