//! The receive threads: every call's RTP socket, read by one of a few threads that each
//! wait in one `epoll_wait` over their share of the sockets.
//!
//! ```text
//!   core task ── register the socket (epoll_ctl, edge-triggered) ──► the shard's epoll
//!             └─ Add(call, slot) / Remove(call) ──► the shard's inbox (read at each wake-up)
//!
//!   shard thread: epoll_wait ──► for each readable socket: recvmmsg (all it holds)
//!       ──► each packet through the session (latching, SRTP, DTMF, recording)
//!       ──► relayed out of the partner leg's socket while bridged
//! ```
//!
//! Why threads of their own rather than a runtime task per socket: a task per socket
//! cost a spawn and a cross-thread wake-up at every call's start and a task wake-up
//! for every packet, and read each packet with two system calls (the second to learn
//! the socket was empty). Here a packet costs its share of one `epoll_wait` and one
//! `recvmmsg` ([`super::mmsg`]), as in the floor of `benches/media_floor.rs`
//! (issue 16, `docs/performance.md`).
//!
//! Registration is done by the core task itself (`epoll_ctl` is safe from any thread),
//! after the `Add` is queued: when the socket's first readiness wakes the shard, its
//! `Add` is already in the inbox. So starting or ending a call never wakes a shard.
//!
//! Fairness: a socket is read at most [`ROUNDS`] batches per wake-up; one that still
//! has packets waits behind the others for the next turn (edge-triggered readiness
//! will not report it again, so the shard remembers it).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use crate::call::CallKey;
use crate::media::session::Forward;

use super::mmsg::{BATCH, PACKET_ROOM, RecvBatch};
use super::slot::{
    RTP_FOREIGN, RTP_LATE, RTP_LOST, RTP_RECEIVED, RTP_RELATCHED, RTP_RELAYED, SRTP_AUTH,
    SRTP_MALFORMED, SRTP_REPLAY, Sinks, Slot, flush, relay_digits,
};

/// The waker's token; calls use their key's number.
const WAKE: Token = Token(usize::MAX);

/// A call's token in its shard's epoll: its key's number (never [`WAKE`]).
fn token(call: CallKey) -> Token {
    Token(usize::try_from(call.0).unwrap_or(usize::MAX - 1))
}

/// Batches read from one socket per wake-up before the others get their turn.
const ROUNDS: usize = 4;

/// How long a shard sleeps with nothing to read. A removed call's slot (and so its
/// socket and port) is let go at the shard's next wake-up, so this bounds how long a
/// quiet shard keeps an ended call's port bound: short enough that a port pool near
/// exhaustion does not draw a port still held, long enough to cost nothing (20
/// wake-ups/s; the core never wakes a shard for a call's start or end).
const IDLE: Duration = Duration::from_millis(50);

enum Msg {
    Add(CallKey, Arc<Slot>),
    Remove(CallKey),
}

/// One receive thread, as the core task sees it.
struct Shard {
    inbox: mpsc::Sender<Msg>,
    registry: Registry,
    waker: Waker,
}

/// The receive threads of one media plane.
pub(super) struct Receivers {
    shards: Vec<Shard>,
    stop: Arc<AtomicBool>,
}

impl Receivers {
    /// Starts `threads` receive threads (at least one).
    pub(super) fn start(threads: usize, sinks: &Sinks) -> std::io::Result<Receivers> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut shards = Vec::new();
        for n in 0..threads.max(1) {
            let poll = Poll::new()?;
            let registry = poll.registry().try_clone()?;
            let waker = Waker::new(poll.registry(), WAKE)?;
            let (inbox, rx) = mpsc::channel();
            let (sinks, stop) = (sinks.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("rtp-recv-{n}"))
                .spawn(move || run(poll, &rx, &sinks, &stop))?;
            shards.push(Shard {
                inbox,
                registry,
                waker,
            });
        }
        Ok(Receivers { shards, stop })
    }

    fn shard(&self, call: CallKey) -> Option<&Shard> {
        let n = usize::try_from(call.0).unwrap_or(0) % self.shards.len().max(1);
        self.shards.get(n)
    }

    /// From now on `slot`'s packets are read and handled (and relayed while bridged).
    pub(super) fn add(&self, call: CallKey, slot: Arc<Slot>) -> std::io::Result<()> {
        let shard = self.shard(call).ok_or(std::io::ErrorKind::NotFound)?;
        let fd = slot.socket.recv_fd();
        // Queued first: the shard may see the socket readable the moment it is
        // registered, and must know whose it is by then.
        shard
            .inbox
            .send(Msg::Add(call, slot))
            .map_err(|_| std::io::ErrorKind::BrokenPipe)?;
        let registered =
            shard
                .registry
                .register(&mut SourceFd(&fd), token(call), Interest::READABLE);
        if registered.is_err() {
            let _ = shard.inbox.send(Msg::Remove(call));
        }
        registered
    }

    /// Stops reading `call`'s socket. No packet of it is handled after this returns;
    /// the shard lets go of the slot (and so of the socket) at its next wake-up.
    pub(super) fn remove(&self, call: CallKey, slot: &Slot) {
        let Some(shard) = self.shard(call) else {
            return;
        };
        let _ = shard
            .registry
            .deregister(&mut SourceFd(&slot.socket.recv_fd()));
        let _ = shard.inbox.send(Msg::Remove(call));
    }
}

impl Drop for Receivers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for shard in &self.shards {
            let _ = shard.waker.wake();
        }
    }
}

/// A shard's thread.
fn run(mut poll: Poll, inbox: &mpsc::Receiver<Msg>, sinks: &Sinks, stop: &AtomicBool) {
    let mut events = Events::with_capacity(1024);
    let mut legs: HashMap<Token, (CallKey, Arc<Slot>)> = HashMap::new();
    let mut batch = RecvBatch::new();
    // A relayed packet is at most as long as a received one, plus an SRTP tag.
    let mut out = [0u8; PACKET_ROOM + 64];
    // Sockets that still held packets when their turn ended.
    let mut behind: Vec<Token> = Vec::new();
    let mut ready: Vec<Token> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let timeout = if behind.is_empty() {
            IDLE
        } else {
            Duration::ZERO
        };
        if let Err(e) = poll.poll(&mut events, Some(timeout))
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            tracing::error!("RTP receive thread cannot wait for packets: {e}");
            std::thread::sleep(IDLE);
        }
        while let Ok(msg) = inbox.try_recv() {
            match msg {
                Msg::Add(call, slot) => {
                    legs.insert(token(call), (call, slot));
                }
                Msg::Remove(call) => {
                    legs.remove(&token(call));
                }
            }
        }
        ready.clear();
        ready.append(&mut behind);
        ready.extend(
            events
                .iter()
                .map(mio::event::Event::token)
                .filter(|t| *t != WAKE),
        );
        for token in &ready {
            let Some((call, slot)) = legs.get(token) else {
                continue; // removed since it turned readable
            };
            // One thread serves hundreds of calls: a bug that panics on one call's
            // packet must cost that call its media, not every call on the thread.
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                read_socket(*call, slot, sinks, &mut batch, &mut out)
            }));
            match read {
                Ok(true) => behind.push(*token),
                Ok(false) => {}
                Err(_) => {
                    tracing::error!(
                        call = call.0,
                        "RTP handling failed (a bug, reported above); this call's media \
                         is no longer read"
                    );
                    let _ = poll
                        .registry()
                        .deregister(&mut SourceFd(&slot.socket.recv_fd()));
                    legs.remove(token);
                }
            }
        }
    }
}

/// Reads and handles what `slot`'s socket holds, up to [`ROUNDS`] batches; true when it
/// may hold more.
fn read_socket(
    call: CallKey,
    slot: &Slot,
    sinks: &Sinks,
    batch: &mut RecvBatch,
    out: &mut [u8],
) -> bool {
    let fd = slot.socket.recv_fd();
    let mut errors = 0;
    for _ in 0..ROUNDS {
        if slot.closed.load(Ordering::Relaxed) {
            return false;
        }
        let got = match batch.recv(fd) {
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            // e.g. an ICMP port unreachable reported as an error: it is consumed by
            // this read; the packets behind it are still there. A second error in a row
            // is not retried (it might never clear): the next packet's edge brings the
            // socket back.
            Err(_) => {
                errors += 1;
                if errors > 1 {
                    return false;
                }
                continue;
            }
        };
        for i in 0..got {
            if let Some((from, packet)) = batch.packet(i) {
                handle_packet(call, slot, sinks, from, packet, out);
            }
        }
        if got < BATCH {
            return false; // read dry
        }
    }
    true
}

/// One received packet: through the session (latching, SRTP, DTMF, recording), then
/// relayed to the partner leg while bridged.
fn handle_packet(
    call: CallKey,
    slot: &Slot,
    sinks: &Sinks,
    from: std::net::SocketAddr,
    packet: &mut [u8],
    out: &mut [u8],
) {
    RTP_RECEIVED.fetch_add(1, Ordering::Relaxed);
    let (forward, released) = match slot.session.lock() {
        Ok(mut s) => {
            let forward = s.handle_rtp(Instant::now(), from, packet);
            let (late, lost) = s.take_rx_stats();
            if late + lost > 0 {
                RTP_LATE.fetch_add(late, Ordering::Relaxed);
                RTP_LOST.fetch_add(lost, Ordering::Relaxed);
            }
            let (foreign, relatched) = s.take_latch_stats();
            if foreign + relatched > 0 {
                RTP_FOREIGN.fetch_add(foreign, Ordering::Relaxed);
                RTP_RELATCHED.fetch_add(relatched, Ordering::Relaxed);
            }
            let srtp = s.take_srtp_drops();
            if srtp.total() > 0 {
                SRTP_AUTH.fetch_add(srtp.auth, Ordering::Relaxed);
                SRTP_REPLAY.fetch_add(srtp.replay, Ordering::Relaxed);
                SRTP_MALFORMED.fetch_add(srtp.malformed, Ordering::Relaxed);
            }
            flush(call, &mut s, sinks);
            // Empty (no allocation) unless the feature gate released digits.
            let released: Vec<char> = std::iter::from_fn(|| s.poll_released_digit()).collect();
            (forward, released)
        }
        Err(_) => (None, Vec::new()),
    };
    // Our session lock is released here: the partner's packets may be handled on
    // another shard, holding its own lock while it waits for ours. Released digits go
    // first: they were pressed before this packet.
    if !released.is_empty() {
        relay_digits(slot, &released, out);
    }
    if let Some(forward) = forward {
        relay(slot, &forward, out);
        // Recording comes after the send: it never delays the relay.
        if let Some(tap) = slot.tap.load().as_deref() {
            tap.feed(&forward, Instant::now());
        }
    }
}

/// Sends `forward` out of the partner leg, if there is one.
fn relay(slot: &Slot, forward: &Forward<'_>, out: &mut [u8]) {
    let partner = slot.partner.load();
    let Some(partner) = partner.as_deref() else {
        return; // unbridged while this packet was in flight
    };
    if partner.closed.load(Ordering::Relaxed) {
        return;
    }
    let rewritten = match partner.session.lock() {
        Ok(mut s) => s.relay_out(forward, out),
        Err(_) => None,
    };
    if let Some((dest, len)) = rewritten
        && let Some(pkt) = out.get(..len)
        // As in the pacer: a full socket buffer drops the packet rather than waiting.
        && partner.socket.sender().send_to(pkt, dest).is_ok()
    {
        RTP_RELAYED.fetch_add(1, Ordering::Relaxed);
    }
}
