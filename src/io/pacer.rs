//! The pacer thread: every prompt frame of every call, on time, from one thread.
//!
//! It wakes every [`PACER_TICK`] and visits the calls whose next frame is due within
//! half a tick. Each tick has two phases:
//!
//! ```text
//!   wake ──► 1. write: lock each due session in turn, let it write its frames into
//!               the outbox (packed end to end, reused from tick to tick), unlock
//!          ──► 2. send: every frame of the outbox, back to back, no lock held
//!          ──► publish the tick's counters, sleep until the next tick
//! ```
//!
//! Why two phases: on a machine where the peer's socket is local (loopback, the
//! benchmarks, a PBX or SBC on the same host), each `send_to` that finds the reader
//! asleep wakes it, and a wake-up across CPUs is costly (an IPI, a VM exit on a
//! virtual machine). Interleaving sends with per-call work (lock, prompt frame, RTP
//! header) paced the sends slowly enough for the reader to drain and sleep between
//! them, so nearly every send paid a wake-up; sent back to back, a tick's frames wake
//! it about once. Measured in `docs/performance.md` (issue 16). It also keeps every
//! session lock out of the syscalls, and hands phase 2 a whole tick's frames, which
//! [`super::uring`] submits to the kernel in one call where io_uring is available.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::call::CallKey;

use super::slot::{
    RTP_FOREIGN, RTP_LATE, RTP_LOST, RTP_RECEIVED, RTP_RELATCHED, RTP_RELAYED, SRTP_AUTH,
    SRTP_MALFORMED, SRTP_REPLAY, Sinks, Slot, flush, relay_digits,
};
use super::uring::Uring;

/// How often the pacer wakes. 5 ms keeps jitter well inside any jitter buffer while
/// costing 200 wake-ups/s in total, whatever the number of calls.
pub const PACER_TICK: Duration = Duration::from_millis(5);

/// How often foreign packets are summarised in the log (one WARN line, never one per
/// packet: a port sweep is thousands).
const FOREIGN_SUMMARY: Duration = Duration::from_secs(10);

/// What the core task tells the pacer thread.
pub(super) enum PacerMsg {
    Add(CallKey, Arc<Slot>),
    Remove(CallKey),
    /// The session's deadline moved earlier (it left bridged mode): visit it now
    /// rather than at the cached, up to a second away, deadline.
    Wake(CallKey),
}

/// Room for one frame in the outbox: an Ethernet MTU holds any packet we send (a
/// 20 ms G.711 frame is 172 bytes, 182 with an SRTP tag).
const FRAME_ROOM: usize = 1500;

/// One call in the pacer's list: its next deadline is cached here so a tick only
/// locks the sessions that are actually due (a quarter of them at a 5 ms tick).
struct Paced {
    due: Instant,
    call: CallKey,
    /// The slot's socket, kept here so phase 2 does not touch the slot again (`slot`
    /// keeps the socket open as long as this entry lives).
    fd: RawFd,
    slot: Arc<Slot>,
}

/// The frames written in phase 1 of a tick, sent in phase 2. Its memory is kept
/// from tick to tick, so a steady load allocates nothing; frames are packed end to
/// end (a G.711 frame takes its 172 bytes, not a whole [`FRAME_ROOM`]).
///
/// After a stall (the machine busy elsewhere for 100 ms) every session is behind and
/// one tick writes several frames per call: thousands at once. The outbox then gives
/// back what the ticks after it no longer use (see [`Outbox::trim`]), so such a moment
/// does not keep megabytes for the rest of the router's life (it did: the soak's
/// heap stepped by 3 MiB after each stall, found with a heap profile, issue 16).
#[derive(Default)]
struct Outbox {
    /// The frames' bytes, end to end.
    bytes: Vec<u8>,
    /// Where the next frame goes in `bytes`.
    used: usize,
    frames: Vec<Frame>,
    /// One submission per tick where the kernel allows io_uring; `send_to` otherwise.
    uring: Option<Uring>,
}

/// One frame of the outbox.
struct Frame {
    /// Its call's index in the pacer's list (whose socket sends it).
    call_index: usize,
    dest: SocketAddr,
    /// Where it is in [`Outbox::bytes`].
    start: usize,
    len: usize,
}

/// A 20 ms G.711 frame with its RTP header: what most outbox frames are.
const G711_FRAME: usize = 172;

/// What the outbox keeps at least: a tick's frames for about 2,000 prompt streams.
const OUTBOX_KEEP_BYTES: usize = 128 * 1024;

impl Outbox {
    /// Room for the next frame.
    fn room(&mut self) -> &mut [u8] {
        let end = self.used + FRAME_ROOM;
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.bytes.get_mut(self.used..end).unwrap_or_default()
    }

    /// The frame just written into [`Outbox::room`] is to be sent.
    fn push(&mut self, call_index: usize, dest: SocketAddr, len: usize) {
        let len = len.min(FRAME_ROOM);
        self.frames.push(Frame {
            call_index,
            dest,
            start: self.used,
            len,
        });
        self.used += len;
    }

    /// An outbox that sends through io_uring where the kernel allows it.
    fn new() -> Outbox {
        let uring = Uring::new();
        match uring {
            Some(_) => {
                tracing::debug!("prompt frames are sent with one io_uring submission per tick")
            }
            None => tracing::info!(
                "io_uring is not available (kernel.io_uring_disabled, or a seccomp profile): \
                 prompt frames are sent with one send_to each"
            ),
        }
        Outbox {
            uring,
            ..Outbox::default()
        }
    }

    /// Sends every frame out of its call's socket and empties the outbox; returns how
    /// many the kernel took. A full socket buffer drops a frame: RTP tolerates loss,
    /// and blocking here would delay every other call.
    fn send(&mut self, list: &[Paced]) -> u64 {
        let Outbox {
            bytes,
            frames,
            uring,
            ..
        } = self;
        let outgoing = frames.iter().filter_map(|f| {
            let p = list.get(f.call_index)?;
            let pkt = bytes.get(f.start..f.start + f.len)?;
            Some((p, pkt, f.dest))
        });
        let sent = match uring.as_mut() {
            Some(ring) => {
                let result = ring.send(outgoing.map(|(p, pkt, dest)| (p.fd, pkt, dest)));
                match result {
                    Ok(sent) => sent,
                    Err(e) => {
                        // Sends may still be in flight: leak what they read rather than
                        // free or reuse it, and use send_to from now on (super::uring).
                        tracing::warn!(
                            error = %e,
                            "io_uring failed: prompt frames are sent with send_to from now on"
                        );
                        std::mem::forget(uring.take());
                        std::mem::forget(std::mem::take(bytes));
                        0
                    }
                }
            }
            None => send_each(outgoing.map(|(p, pkt, dest)| (p.slot.socket.sender(), pkt, dest))),
        };
        self.trim();
        self.frames.clear();
        self.used = 0;
        sent
    }

    /// Gives memory back once a tick used less than a quarter of it: down to twice
    /// what this tick used (never below [`OUTBOX_KEEP_BYTES`]). The hysteresis keeps a
    /// steady load from shrinking and growing the outbox tick after tick.
    fn trim(&mut self) {
        let keep = (2 * (self.used + FRAME_ROOM)).max(OUTBOX_KEEP_BYTES);
        if self.bytes.capacity() > 2 * keep {
            self.bytes.truncate(keep);
            self.bytes.shrink_to(keep);
        }
        let keep_frames = (2 * self.frames.len()).max(OUTBOX_KEEP_BYTES / G711_FRAME);
        if self.frames.capacity() > 2 * keep_frames {
            self.frames.shrink_to(keep_frames);
        }
    }
}

/// One `send_to` per frame, where the kernel refuses io_uring; returns how many the
/// kernel took.
fn send_each<'a>(frames: impl Iterator<Item = (&'a UdpSocket, &'a [u8], SocketAddr)>) -> u64 {
    frames
        .filter(|(socket, pkt, dest)| socket.send_to(pkt, *dest).is_ok())
        .count() as u64
}

/// The latest deadline a tick sends: half a tick past the tick's *scheduled* instant.
///
/// Why the schedule and not the clock: a stream's deadlines are `start + n·20 ms` and the
/// ticks `t0 + k·5 ms`, both exact, so measured from the schedule each stream's frames
/// always fall in the same phase of the tick and leave exactly 20 ms apart. Measured
/// from the wake-up instant, which wanders by tens of microseconds, a stream whose
/// deadline lies near a tick's boundary went out one tick early or late at random: gaps
/// of 15 and 25 ms at the receiver, about one stream in ten at 1,000 streams (the p99
/// gap was 22–24 ms; issue 16, `docs/performance.md`). A tick that wakes late still
/// sends everything due: the ticks it overslept follow at once, without sleeping.
fn horizon(tick: Instant) -> Instant {
    tick + PACER_TICK / 2
}

pub(super) fn pacer_loop(
    inbox: std::sync::mpsc::Receiver<PacerMsg>,
    sinks: Sinks,
    stop: Arc<AtomicBool>,
) {
    let mut digit_buf = [0u8; FRAME_ROOM];
    let mut outbox = Outbox::new();
    let mut list: Vec<Paced> = Vec::new();
    // Indices into `list` of calls whose visit panicked this tick (almost always empty).
    let mut broken: Vec<usize> = Vec::new();
    let mut next_tick = Instant::now();
    let mut foreign_window = (0u64, next_tick + FOREIGN_SUMMARY);
    let mut srtp_window = [0u64; 3];
    while !stop.load(Ordering::Relaxed) {
        next_tick += PACER_TICK;
        let now = Instant::now();
        if next_tick > now {
            std::thread::sleep(next_tick - now);
        } else if now - next_tick > Duration::from_millis(100) {
            next_tick = now; // we were descheduled for long: don't spin to catch up
        }
        while let Ok(msg) = inbox.try_recv() {
            match msg {
                PacerMsg::Add(call, slot) => list.push(Paced {
                    due: now,
                    call,
                    fd: slot.socket.send_fd(),
                    slot,
                }),
                PacerMsg::Remove(call) => {
                    if let Some(i) = list.iter().position(|p| p.call == call) {
                        list.swap_remove(i);
                    }
                }
                PacerMsg::Wake(call) => {
                    if let Some(p) = list.iter_mut().find(|p| p.call == call) {
                        p.due = now;
                    }
                }
            }
        }
        // Phase 1: write everything due within half a tick of this tick, so frames
        // are on average on time.
        let horizon = horizon(next_tick);
        for (index, p) in list.iter_mut().enumerate() {
            if p.due > horizon {
                continue;
            }
            // One thread paces every call: a bug that panics on one call's frame must
            // cost that call its prompts, not every call its audio for the rest of the
            // process's life. Frames already in the outbox are whole (a frame is pushed
            // after it is written), so the tick's other calls still go out.
            let visited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                visit(index, p, horizon, &mut outbox, &sinks, &mut digit_buf)
            }));
            if visited.is_err() {
                tracing::error!(
                    call = p.call.0,
                    "prompt playback failed (a bug, reported above); this call's media \
                     is no longer paced"
                );
                broken.push(index);
            }
        }
        // Phase 2: send them back to back.
        let mut sent = outbox.send(&list);
        forget_broken(&mut list, &mut broken);
        sent += RTP_RELAYED.swap(0, Ordering::Relaxed);
        let received = RTP_RECEIVED.swap(0, Ordering::Relaxed);
        let late = RTP_LATE.swap(0, Ordering::Relaxed);
        let lost = RTP_LOST.swap(0, Ordering::Relaxed);
        if sent > 0 || received > 0 || late > 0 || lost > 0 {
            crate::admin::metrics::add_rtp_packets(sent, received, late, lost);
        }
        let foreign = RTP_FOREIGN.swap(0, Ordering::Relaxed);
        let relatched = RTP_RELATCHED.swap(0, Ordering::Relaxed);
        if foreign > 0 || relatched > 0 {
            crate::admin::metrics::add_rtp_latch(foreign, relatched);
        }
        foreign_window.0 += foreign;
        let srtp = [
            SRTP_AUTH.swap(0, Ordering::Relaxed),
            SRTP_REPLAY.swap(0, Ordering::Relaxed),
            SRTP_MALFORMED.swap(0, Ordering::Relaxed),
        ];
        if srtp.iter().any(|n| *n > 0) {
            crate::admin::metrics::add_srtp_dropped(srtp[0], srtp[1], srtp[2]);
            for (w, n) in srtp_window.iter_mut().zip(srtp) {
                *w += n;
            }
        }
        if now >= foreign_window.1 {
            if srtp_window.iter().any(|n| *n > 0) {
                let [auth, replay, malformed] = srtp_window;
                tracing::warn!(
                    auth,
                    replay,
                    malformed,
                    "dropped {} SRTP packets in the last {}s: failed authentication (tampered \
                     with, or sent with another key), replayed, or not SRTP",
                    auth + replay + malformed,
                    FOREIGN_SUMMARY.as_secs()
                );
                srtp_window = [0; 3];
            }
            if foreign_window.0 > 0 {
                tracing::warn!(
                    "dropped {} RTP packets in the last {}s from addresses that are not \
                     the calls' peers (strict latching: injected or stray media)",
                    foreign_window.0,
                    FOREIGN_SUMMARY.as_secs()
                );
            }
            foreign_window = (0, now + FOREIGN_SUMMARY);
        }
    }
}

/// One due call in phase 1 of a tick: its frames into the outbox, its events to the
/// core, its held digits that timed out to its partner.
fn visit(
    index: usize,
    p: &mut Paced,
    horizon: Instant,
    outbox: &mut Outbox,
    sinks: &Sinks,
    digit_buf: &mut [u8],
) {
    let Ok(mut s) = p.slot.session.lock() else {
        return;
    };
    while let Some((dest, len)) = s.poll_transmit(horizon, outbox.room()) {
        outbox.push(index, dest, len);
    }
    p.due = s.next_deadline();
    flush(p.call, &mut s, sinks);
    // Held digits whose time ran out: to the partner, with our lock released.
    let released: Vec<char> = std::iter::from_fn(|| s.poll_released_digit()).collect();
    drop(s);
    if !released.is_empty() {
        relay_digits(&p.slot, &released, digit_buf);
    }
}

/// Drops the calls whose visit panicked from the pacer's list. Highest index first, so
/// each `swap_remove` only moves an entry that is not itself still to be removed.
fn forget_broken<T>(list: &mut Vec<T>, broken: &mut Vec<usize>) {
    broken.sort_unstable_by(|a, b| b.cmp(a));
    for index in broken.drain(..) {
        if index < list.len() {
            list.swap_remove(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every frame of a stream goes out in the same phase of the pacer's ticks, whatever
    /// the stream's start: 20 ms apart at the sender, however late each tick wakes.
    #[test]
    fn a_streams_frames_keep_their_tick_phase() {
        let t0 = Instant::now();
        let frame = Duration::from_millis(20);
        for start_us in [0u64, 1, 2_499, 2_500, 2_501, 4_999, 7_777, 12_345] {
            let start = t0 + Duration::from_millis(10) + Duration::from_micros(start_us);
            let mut tick = t0;
            let mut sent_at = Vec::new();
            let mut n = 0u32;
            for _ in 0..4_000 {
                tick += PACER_TICK;
                while start + frame * n <= horizon(tick) {
                    sent_at.push(tick);
                    n += 1;
                }
            }
            let gaps: Vec<Duration> = sent_at.windows(2).map(|w| w[1] - w[0]).collect();
            assert!(gaps.len() > 900, "{start_us}: {}", gaps.len());
            assert!(
                gaps.iter().all(|g| *g == frame),
                "start +{start_us} µs: {gaps:?}"
            );
        }
    }

    /// The calls that panicked leave the list, whatever their positions; the rest stay.
    #[test]
    fn broken_calls_leave_the_list_and_the_others_stay() {
        let mut list: Vec<u32> = (0..6).collect();
        let mut broken = vec![1, 5, 4];
        forget_broken(&mut list, &mut broken);
        list.sort_unstable();
        assert_eq!(list, vec![0, 2, 3]);
        assert!(broken.is_empty());
    }

    /// Without io_uring each frame goes out of its own socket with send_to; a frame the
    /// kernel refuses (here: to an IPv6 peer from an IPv4 socket) is not counted.
    #[test]
    fn without_io_uring_each_frame_leaves_its_own_socket() {
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = peer.local_addr().unwrap();
        let socks: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        let frames = [
            (&socks[0], &b"zero"[..], to),
            (&socks[1], &b"one"[..], v6),
            (&socks[2], &b"two"[..], to),
        ];
        assert_eq!(send_each(frames.into_iter()), 2);
        let mut buf = [0u8; 8];
        for (sock, want) in [(&socks[0], &b"zero"[..]), (&socks[2], &b"two"[..])] {
            let (len, from) = peer.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..len], from), (want, sock.local_addr().unwrap()));
        }
    }

    fn write(outbox: &mut Outbox, frames: usize) {
        let dest: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        for i in 0..frames {
            let room = outbox.room();
            room[..172].fill(i as u8);
            outbox.push(i, dest, 172);
        }
    }

    /// Frames are packed end to end, and a stall's burst of frames is not kept: the
    /// first quiet tick gives the memory back, a steady load keeps what it uses.
    #[test]
    fn outbox_packs_frames_and_gives_back_a_bursts_memory() {
        let mut outbox = Outbox::default();
        write(&mut outbox, 3);
        assert_eq!(outbox.frames[2].start, 2 * 172, "packed");
        assert_eq!(&outbox.bytes[172..344], &[1u8; 172][..]);
        outbox.send(&[]);

        // A stall: 5 frames for each of 2,000 calls in one tick.
        write(&mut outbox, 10_000);
        assert!(outbox.bytes.capacity() >= 10_000 * 172);
        outbox.send(&[]);
        // The next tick is an ordinary one (500 streams at a 5 ms tick: 125 frames).
        write(&mut outbox, 125);
        outbox.send(&[]);
        assert!(
            outbox.bytes.capacity() <= 2 * OUTBOX_KEEP_BYTES,
            "{}",
            outbox.bytes.capacity()
        );
        assert!(outbox.frames.capacity() <= 2 * OUTBOX_KEEP_BYTES / 172);

        // A steady load above the floor keeps its memory from tick to tick.
        write(&mut outbox, 4_000);
        outbox.send(&[]);
        let kept = outbox.bytes.capacity();
        for _ in 0..3 {
            write(&mut outbox, 4_000);
            outbox.send(&[]);
            assert_eq!(outbox.bytes.capacity(), kept);
        }
    }
}
