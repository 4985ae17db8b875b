//! SIP over TCP (RFC 3261 §18): one reader task per connection framing messages by
//! Content-Length, one writer task fed by a channel, so the core never awaits a socket.
//! Double-CRLF keepalive pings are answered here with a CRLF pong (RFC 5626 §4.4.1).

use std::net::SocketAddr;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

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

pub async fn accept_loop(listener: TcpListener, events: mpsc::UnboundedSender<TcpEvent>) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, addr, events.clone()));
            }
            Err(e) => {
                tracing::warn!("TCP accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(stream: TcpStream, addr: SocketAddr, events: mpsc::UnboundedSender<TcpEvent>) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let pong = tx.clone();
    if events
        .send(TcpEvent::Connected { addr, writer: tx })
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
    let mut framer = StreamFramer::new();
    let mut buf = vec![0u8; 16 * 1024];
    'read: loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        framer.push(buf.get(..n).unwrap_or_default());
        while let Some(msg) = framer.next_message() {
            match msg {
                Ok(bytes) => {
                    if events.send(TcpEvent::Message { addr, bytes }).is_err() {
                        break 'read;
                    }
                }
                Err(e) => {
                    // A stream we cannot frame cannot be resynchronised: close it.
                    tracing::warn!(%addr, "closing SIP/TCP connection: {e}");
                    break 'read;
                }
            }
        }
        // RFC 5626 §4.4.1: each double-CRLF ping is answered with a single CRLF pong,
        // in order with the messages on the same writer.
        for _ in 0..framer.take_pings() {
            tracing::debug!(%addr, "CRLF keepalive: pong");
            if pong.send(Bytes::from_static(b"\r\n")).is_err() {
                break 'read;
            }
        }
    }
    writer.abort();
    let _ = events.send(TcpEvent::Closed { addr });
}
