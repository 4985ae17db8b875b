//! SIP over stream transports (RFC 3261 §18: TCP; §26 and RFC 5630: TLS over TCP):
//! one reader task per connection framing messages by Content-Length, one writer task
//! fed by a channel, so the core never awaits a socket. TCP (`tcp.rs`) and TLS
//! (`tls.rs`) differ only in how a connection is opened; from then on both run
//! [`connection`] here, under the same limits.
//!
//! Every connection has limits, so signalling connections can never take the file
//! descriptors calls need (issue 11 item 3; TLS adds the handshake, issue 17):
//!
//! ```text
//!   accept ──over tcp_max_connections / tcp_max_per_source──► closed at once
//!     │ (TLS) handshake within tls_handshake_secs, else closed
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
//! is closed after `tcp_idle_secs` / `tcp_message_secs`. Connections we open ourselves
//! (to a phone's static contact, a trunk) start as Known.
//!
//! The TCP and TLS listeners and our own outbound connections share one count, in
//! total and per source address: the descriptor budget is one budget.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::admin::metrics;
use crate::config::ServerConfig;
use crate::sip::Peer;
use crate::sip::frame::StreamFramer;

/// What connection tasks tell the core loop.
#[derive(Debug)]
pub enum StreamEvent {
    Connected {
        peer: Peer,
        writer: mpsc::UnboundedSender<Bytes>,
    },
    Message {
        peer: Peer,
        bytes: Bytes,
    },
    Closed {
        peer: Peer,
    },
    /// A connection we opened could not be made (refused, timed out, a certificate
    /// that failed verification): what was queued for it is lost, and the requests
    /// waiting on it fail (RFC 3261 §17.1.4).
    ConnectFailed {
        peer: Peer,
        reason: String,
    },
}

/// The connection limits (`[server] tcp_*`, `tls_handshake_secs`,
/// `sip_max_message_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    pub idle: Duration,
    pub keepalive: Duration,
    pub message: Duration,
    pub handshake: Duration,
    pub max_total: usize,
    pub max_per_source: usize,
    pub max_message: usize,
}

impl StreamLimits {
    pub fn from_server(s: &ServerConfig) -> Self {
        Self {
            idle: Duration::from_secs(s.tcp_idle_secs.max(1)),
            keepalive: Duration::from_secs(s.tcp_keepalive_secs.max(1)),
            message: Duration::from_secs(s.tcp_message_secs.max(1)),
            handshake: Duration::from_secs(s.tls_handshake_secs.max(1)),
            max_total: s.tcp_max_connections.max(1),
            max_per_source: s.tcp_max_per_source.max(1),
            max_message: s.sip_max_message_bytes.max(1024),
        }
    }
}

/// Open connections, in total and per source address.
#[derive(Debug, Default)]
pub struct Counts {
    total: AtomicUsize,
    per_source: Mutex<HashMap<IpAddr, usize>>,
}

/// Releases a connection's place in [`Counts`] when its task ends, however it ends.
pub struct Place {
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
    pub fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        limits: &StreamLimits,
    ) -> Result<Place, &'static str> {
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

/// Logs refused connections at most once per 10 s (a flood is thousands).
pub struct RefusalLog {
    last: Instant,
}

impl Default for RefusalLog {
    fn default() -> Self {
        Self {
            last: Instant::now() - Duration::from_secs(60),
        }
    }
}

impl RefusalLog {
    pub fn refused(&mut self, peer: Peer, reason: &'static str) {
        metrics::count_tcp_closed(reason);
        if self.last.elapsed() >= Duration::from_secs(10) {
            self.last = Instant::now();
            tracing::warn!(
                addr = %peer.addr,
                "refusing SIP/{} connections: {reason} reached \
                 ([server] tcp_max_connections / tcp_max_per_source); logged once per 10 s",
                peer.transport.via_token()
            );
        }
    }
}

/// The writer channel of a connection: created before the connection exists for the
/// ones we open, so messages queue while it connects.
pub type Channel = (mpsc::UnboundedSender<Bytes>, mpsc::UnboundedReceiver<Bytes>);

/// How a connection came to be: whether to announce its writer to the core (accepted
/// ones; an outbound one's writer is registered when the connect starts) and its
/// starting state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Accepted,
    Opened,
}

/// Runs one connection until it closes: reads and frames messages for the core,
/// writes what the core sends, enforces the limits.
pub async fn connection<S>(
    stream: S,
    peer: Peer,
    events: mpsc::UnboundedSender<StreamEvent>,
    limits: StreamLimits,
    _place: Place,
    (tx, mut rx): Channel,
    origin: Origin,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    if events
        .send(StreamEvent::Connected {
            peer,
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
            // TLS buffers records until flushed.
            if wr.flush().await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut framer = StreamFramer::with_max_size(limits.max_message);
    let mut buf = vec![0u8; 16 * 1024];
    let opened = Instant::now();
    let mut known = origin == Origin::Opened;
    let mut last_activity = opened;
    // When the message now being received started (None: between messages).
    let mut partial_since: Option<Instant> = None;
    let addr = peer.addr;
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
                    if events.send(StreamEvent::Message { peer, bytes }).is_err() {
                        break 'read "";
                    }
                }
                Err(e) => {
                    // A stream we cannot frame cannot be resynchronised: close it.
                    tracing::warn!(%addr, "closing SIP/{} connection: {e}", peer.transport.via_token());
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
            tracing::debug!(addr = %peer.addr, pings, "CRLF keepalive ping(s) answered with a pong");
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
        tracing::debug!(%addr, reason, "closing SIP/{} connection", peer.transport.via_token());
    }
    writer.abort();
    let _ = events.send(StreamEvent::Closed { peer });
}
