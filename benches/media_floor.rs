//! The media plane's floor, and a receiver that reads (issue 16).
//!
//! Every media figure in `docs/performance.md` is a ratio to what the kernel costs when
//! a program does *only* what Switchboard's media plane must do, with the best syscall
//! strategy we know, measured in the same run. This program is that floor, and the
//! receiver the load benchmarks use to see how the packets actually arrived (sipp never
//! reads the RTP it is sent, so without it delivery timing is unmeasured).
//!
//! ```text
//! cargo bench --bench media_floor -- ivr     --streams 500 --secs 20
//! cargo bench --bench media_floor -- ivr     --streams 500 --secs 20 --tick 5 --epoll
//! cargo bench --bench media_floor -- ivr     --streams 500 --secs 20 --to 127.0.0.1:41001
//! cargo bench --bench media_floor -- bridge  --calls 500   --secs 20
//! cargo bench --bench media_floor -- bridge  --calls 500   --secs 20 --no-read --spread --uring
//! cargo bench --bench media_floor -- receive --listen 127.0.0.1:41000 --secs 30
//! ```
//!
//! * `ivr`: one thread sends 50 packets/s of 172-byte RTP (12-byte header + 160 bytes of
//!   PCMU) on each of N sockets, deadline-scheduled (`start + n·20 ms`) like the
//!   router's pacer: every 20 ms it hands all N sends to the kernel in one io_uring
//!   submission (the cheapest strategy measured, `docs/performance.md`; where io_uring
//!   is refused, one `send` per packet on `connect()`ed sockets). A second thread reads
//!   everything. The sender thread's CPU (its own `CLOCK_THREAD_CPUTIME_ID`) is the IVR
//!   floor. Diagnostic variants: `--plain` (one `send` per packet on connected sockets,
//!   the floor until 2026-12-05), `--sendto` (one `send_to` per packet on unconnected
//!   sockets), `--tick MS` (wake every MS ms and send the streams due then), `--epoll`
//!   (every sending socket also in an epoll set a thread waits in, as the router's).
//!   `--to ADDR`: send to a `receive` process at ADDR instead of the reader thread, so
//!   the floor's reader is the router's and can be placed on the same CPU (a loopback
//!   sender pays the reader's wake-ups, and a reader sleeping on another CPU costs the
//!   sender twice as much: `docs/performance.md`, "Where the reader sleeps").
//! * `bridge`: per call a "caller" and a "manager" socket each send 50 packets/s to the
//!   relay's two sockets; the relay thread waits in one `epoll_wait` over all of them,
//!   drains each readable socket with `recvmmsg` and forwards the batch with one
//!   `sendmmsg` on the paired, `connect()`ed socket — 100 packets/s in and 100 out per
//!   call. The relay thread's CPU is the bridge floor. `--no-read`: the peers never read
//!   what is relayed to them (their buffers fill and the kernel drops the rest), as sipp
//!   does in `benches/bridge_load.py`; the floor to compare that benchmark with, since
//!   waking a reader is part of what a relay's `sendmmsg` pays on loopback.
//!   Diagnostic variants (`media_floor/bridge.rs`, priced in `docs/performance.md`;
//!   none beat the floor): `--spread` (each call's peers send at their own phase of
//!   the 20 ms, as sipp's calls do, instead of all in one burst), `--relay-tick MS`
//!   (the relay wakes on a fixed grid instead of at each arrival), `--uring` (a
//!   multishot `recvmsg` per socket and the sends in one io_uring: no `epoll`, no
//!   read or send system call per socket), `--uring-send` (a wake-up's sends in one
//!   io_uring submission).
//! * `receive`: only the reader, on one socket (the IVR benchmark points every caller's
//!   SDP at it, so all of the router's prompt streams arrive there, told apart by SSRC).
//!
//! The reader records each packet's arrival (taken right after the `recvmmsg` that
//! returned it) per SSRC and reports loss (gaps in the sequence numbers), reordering
//! (a sequence number below the highest seen) and the p50/p99/max gap between
//! consecutive packets of the same stream, and how often it woke to packets.
//!
//! Loopback caveat, the same for the floor and the router: the sender's `send` also pays
//! for delivering the packet into the receiving socket (the loopback "softirq" runs in
//! the sender's context). On a real NIC that half is not ours.
//!
//! `unsafe` is confined to the raw `recvmmsg`/`sendmmsg`/`epoll` calls, which std does
//! not offer; this is a benchmark, not part of the router.

#[path = "media_floor/bridge.rs"]
mod bridge;
#[path = "media_floor/uring_relay.rs"]
mod uring_relay;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const PACKET: usize = 172;
const PTIME: Duration = Duration::from_millis(20);
const BATCH: usize = 32;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| -> Option<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let num = |name: &str, default: u64| -> u64 {
        opt(name).and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let secs = Duration::from_secs(num("--secs", 20));
    match args.first().map(String::as_str) {
        Some("ivr") => ivr_floor(
            num("--streams", 500) as usize,
            secs,
            args.iter().any(|a| a == "--sendto"),
            // `--plain`/`--sendto`: one system call per packet (the floor until
            // 2026-12-05). `--uring`, the default since, is still accepted.
            !args.iter().any(|a| a == "--plain" || a == "--sendto"),
            Duration::from_millis(num("--tick", 20).clamp(1, 20)),
            args.iter().any(|a| a == "--epoll"),
            opt("--to").map(|a| a.parse().expect("--to ADDR:PORT")),
        ),
        Some("bridge") => bridge::bridge_floor(&bridge::Options {
            calls: num("--calls", 500) as usize,
            secs,
            read: !args.iter().any(|a| a == "--no-read"),
            relay: if args.iter().any(|a| a == "--uring") {
                bridge::Relay::Multishot
            } else if args.iter().any(|a| a == "--uring-send") {
                bridge::Relay::UringSend
            } else if let Some(ms) = opt("--relay-tick").and_then(|v| v.parse().ok()) {
                bridge::Relay::Tick(ms)
            } else {
                bridge::Relay::Epoll
            },
            spread: args.iter().any(|a| a == "--spread"),
        }),
        Some("receive") => {
            let listen = opt("--listen").unwrap_or_else(|| "127.0.0.1:41000".into());
            receive_only(&listen, secs);
        }
        // `cargo test --all-targets` and a bare `cargo bench` run this binary too:
        // print the usage and succeed, so neither starts a 20-second benchmark.
        _ => eprintln!(
            "usage: cargo bench --bench media_floor -- ivr --streams N --secs S [--plain|--sendto] [--tick MS] [--epoll] [--to ADDR]\n\
             \x20      cargo bench --bench media_floor -- bridge --calls N --secs S [--no-read] [--spread] [--relay-tick MS|--uring|--uring-send]\n\
             \x20      cargo bench --bench media_floor -- receive --listen ADDR --secs S"
        ),
    }
}

/// One RTP packet: version 2, PCMU, the stream's SSRC, sequence and timestamp.
fn rtp(buf: &mut [u8; PACKET], ssrc: u32, seq: u16, ts: u32) {
    buf[0] = 0x80;
    buf[1] = 0;
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

fn udp(addr: &str) -> UdpSocket {
    let s = UdpSocket::bind(addr).expect("bind a loopback UDP socket");
    set_buf(s.as_raw_fd(), libc::SO_RCVBUF, 4 << 20);
    s
}

fn set_buf(fd: RawFd, opt: libc::c_int, bytes: libc::c_int) {
    // SAFETY: fd is an open socket owned by the caller; the option value is a c_int.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// This thread's CPU time so far (user + system).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A measured thread's CPU over the steady window (the first and last second are left out).
struct Window {
    started: Instant,
    secs: Duration,
    cpu0: Option<(Instant, Duration)>,
}

impl Window {
    fn new(secs: Duration) -> Window {
        Window {
            started: Instant::now(),
            secs,
            cpu0: None,
        }
    }
    /// Called from the measured thread; returns the % of one core once the window ends.
    fn tick(&mut self, now: Instant) -> Option<f64> {
        let t = now - self.started;
        if self.cpu0.is_none() && t >= Duration::from_secs(1) {
            self.cpu0 = Some((now, thread_cpu()));
        }
        if t >= self.secs + Duration::from_secs(1) {
            let (w0, c0) = self.cpu0?;
            let pct = (thread_cpu() - c0).as_secs_f64() / (now - w0).as_secs_f64() * 100.0;
            return Some(pct);
        }
        None
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        thread::sleep(t - now);
    }
}

/// IVR floor: N connected sockets, one packet each per 20 ms, one thread.
///
/// Two diagnostic variants, to attribute the router's distance from the floor (they
/// are not the floor): `sendto` leaves the sockets unconnected and names the peer in
/// every `send_to`, as a socket that must still see every source does; a `tick` below
/// 20 ms wakes that often and sends the streams whose slot falls in it (each stream
/// keeps its own 20 ms grid), as the router's pacer does with calls that started at
/// different moments; `uring` submits each tick's sends (unconnected, the peer named
/// in each) to an io_uring in one `io_uring_enter`, to price batching across sockets.
fn ivr_floor(
    streams: usize,
    secs: Duration,
    sendto: bool,
    uring: bool,
    tick: Duration,
    watched: bool,
    to: Option<SocketAddr>,
) {
    let mut ring = if uring { Ring::new(streams) } else { None };
    let uring = ring.is_some();
    let sendto = sendto || uring;
    let stop = Arc::new(AtomicBool::new(false));
    // `--to`: a `receive` process of its own reads (the router's benchmarks' reader, with
    // the same placement on the CPUs); otherwise a thread of this process does.
    let (sink_addr, reader) = match to {
        Some(addr) => (addr, None),
        None => {
            let sink = udp("127.0.0.1:0");
            let addr = sink.local_addr().expect("local address");
            (addr, Some(spawn_reader(vec![sink], stop.clone())))
        }
    };
    let socks: Vec<UdpSocket> = (0..streams)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
            if !sendto {
                s.connect(sink_addr).expect("connect");
            }
            s
        })
        .collect();
    // `--epoll`: every sending socket also sits in an epoll set that a thread waits in,
    // as the router's RTP sockets sit in its receive threads' sets (a diagnostic
    // variant: what that costs each send).
    let watcher = watched.then(|| {
        let fds: Vec<RawFd> = socks.iter().map(AsRawFd::as_raw_fd).collect();
        let mut epoll = Epoll::new(&fds);
        let stop = stop.clone();
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                epoll.wait(100);
            }
        })
    });
    let phases = (PTIME.as_millis() / tick.as_millis()).max(1) as usize;
    let sink_sa = sockaddr_in(sink_addr);
    let mut window = Window::new(secs);
    let start = Instant::now();
    let mut buf = [0u8; PACKET];
    let mut k: u32 = 0; // ticks so far
    let pct = loop {
        let phase = k as usize % phases;
        let n = k / phases as u32; // the frame number of this tick's streams
        if let Some(ring) = ring.as_mut() {
            ring.send_all(&socks, phase, phases, n, &sink_sa);
        } else {
            for (i, s) in socks.iter().enumerate().skip(phase).step_by(phases) {
                rtp(&mut buf, i as u32 + 1, n as u16, n.wrapping_mul(160));
                let _ = if sendto {
                    s.send_to(&buf, sink_addr)
                } else {
                    s.send(&buf)
                };
            }
        }
        k += 1;
        if let Some(pct) = window.tick(Instant::now()) {
            break pct;
        }
        sleep_until(start + tick * k);
    };
    stop.store(true, Ordering::Relaxed);
    let stats = reader.map(|r| r.join().expect("reader thread"));
    if let Some(w) = watcher {
        w.join().expect("epoll thread");
    }
    println!(
        "floor ivr{}{}: {streams} streams × 50 packets/s, sender {pct:.2} % of one core over {} s \
         ({:.4} % per stream)",
        match (uring, sendto, phases) {
            (true, _, 1) => String::new(),
            (true, _, _) => format!(" (variant: {} ms tick)", tick.as_millis()),
            (false, false, 1) => " (variant: one send per packet)".into(),
            (false, true, 1) => " (variant: send_to)".into(),
            (false, false, _) => format!(
                " (variant: one send per packet, {} ms tick)",
                tick.as_millis()
            ),
            (false, true, _) => format!(" (variant: send_to, {} ms tick)", tick.as_millis()),
        },
        if watched {
            " (sockets in an epoll set)"
        } else {
            ""
        },
        secs.as_secs(),
        pct / streams as f64
    );
    if let Some(stats) = stats {
        stats.print();
    }
}

/// The peer's address as the kernel takes it (the floor is IPv4 loopback).
fn sockaddr_in(addr: SocketAddr) -> libc::sockaddr_in {
    let SocketAddr::V4(v4) = addr else {
        panic!("the floor runs on IPv4 loopback")
    };
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// One io_uring and a packet buffer per stream: a tick's sends go in one submission.
struct Ring {
    ring: io_uring::IoUring,
    bufs: Vec<[u8; PACKET]>,
}

impl Ring {
    /// `None` where the kernel refuses io_uring: the floor then sends one packet per
    /// system call, and says so.
    fn new(streams: usize) -> Option<Ring> {
        match io_uring::IoUring::new(1024) {
            Ok(ring) => Some(Ring {
                ring,
                bufs: vec![[0u8; PACKET]; streams],
            }),
            Err(e) => {
                eprintln!("io_uring refused ({e}): the floor sends one packet per system call");
                None
            }
        }
    }

    fn send_all(
        &mut self,
        socks: &[UdpSocket],
        phase: usize,
        phases: usize,
        n: u32,
        dest: &libc::sockaddr_in,
    ) {
        let idx: Vec<usize> = (phase..socks.len()).step_by(phases).collect();
        for chunk in idx.chunks(1024) {
            for &i in chunk {
                rtp(
                    &mut self.bufs[i],
                    i as u32 + 1,
                    n as u16,
                    n.wrapping_mul(160),
                );
                let e = io_uring::opcode::Send::new(
                    io_uring::types::Fd(socks[i].as_raw_fd()),
                    self.bufs[i].as_ptr(),
                    PACKET as u32,
                )
                .flags(libc::MSG_DONTWAIT)
                .dest_addr(std::ptr::from_ref(dest).cast())
                .dest_addr_len(std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
                .build();
                // SAFETY: the buffer and the address outlive the operation: we wait for
                // every completion below before either is touched again.
                unsafe { self.ring.submission().push(&e) }.expect("room in the ring");
            }
            self.ring
                .submit_and_wait(chunk.len())
                .expect("io_uring_enter");
            self.ring.completion().for_each(drop);
        }
    }
}

/// Level-triggered epoll over a set of sockets; `wait` returns the ready indexes.
struct Epoll {
    fd: RawFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    fn new(fds: &[RawFd]) -> Epoll {
        // SAFETY: plain syscalls on descriptors we own; the event struct is initialised.
        let fd = unsafe { libc::epoll_create1(0) };
        assert!(fd >= 0, "epoll_create1");
        for (i, &s) in fds.iter().enumerate() {
            set_nonblocking(s);
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: i as u64,
            };
            unsafe { libc::epoll_ctl(fd, libc::EPOLL_CTL_ADD, s, &mut ev) };
        }
        Epoll {
            fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 1024],
        }
    }
    /// Waits for readiness; the ready sockets' indexes are then `self.ready(i)` for
    /// `i < n`. No allocation per wake-up.
    fn wait(&mut self, timeout_ms: i32) -> usize {
        // SAFETY: events has room for its length.
        let n = unsafe {
            libc::epoll_wait(
                self.fd,
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                timeout_ms,
            )
        };
        n.max(0) as usize
    }
    fn ready(&self, i: usize) -> usize {
        self.events[i].u64 as usize
    }
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on an open descriptor.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

/// Buffers for one recvmmsg/sendmmsg of up to BATCH packets, allocated once.
struct Batch {
    bufs: Box<[[u8; 2048]; BATCH]>,
    iov: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

impl Batch {
    fn new() -> Batch {
        let mut bufs = Box::new([[0u8; 2048]; BATCH]);
        let iov: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        let mut batch = Batch {
            bufs,
            iov,
            msgs: Vec::with_capacity(BATCH),
        };
        for i in 0..BATCH {
            // SAFETY: an all-zero mmsghdr is a valid empty header.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = &mut batch.iov[i];
            m.msg_hdr.msg_iovlen = 1;
            batch.msgs.push(m);
        }
        batch
    }

    /// Reads up to BATCH packets without blocking; returns how many.
    fn recv(&mut self, fd: RawFd) -> usize {
        for (m, iov) in self.msgs.iter_mut().zip(self.iov.iter_mut()) {
            iov.iov_len = 2048;
            m.msg_len = 0;
        }
        // SAFETY: msgs point at iov entries that point at bufs, all alive and sized.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        n.max(0) as usize
    }

    /// Sends the first `n` packets just read on a connected socket.
    fn send(&mut self, fd: RawFd, n: usize) -> usize {
        for (m, iov) in self.msgs.iter_mut().zip(self.iov.iter_mut()).take(n) {
            iov.iov_len = m.msg_len as usize;
        }
        // SAFETY: as in recv; msg_name is null, so the connected peer is used.
        let sent = unsafe { libc::sendmmsg(fd, self.msgs.as_mut_ptr(), n as u32, 0) };
        sent.max(0) as usize
    }

    fn packet(&self, i: usize) -> &[u8] {
        &self.bufs[i][..self.msgs[i].msg_len as usize]
    }
}

/// What the reader saw of one stream (SSRC).
struct Stream {
    first: i64,
    highest: i64,
    received: u64,
    reordered: u64,
    last_arrival: Instant,
}

/// Everything the reader saw.
#[derive(Default)]
struct Stats {
    streams: HashMap<u32, Stream>,
    /// Gaps between consecutive packets of one stream, in microseconds.
    gaps_us: Vec<u32>,
    packets: u64,
    /// Times the reader woke to packets (an `epoll_wait` that returned some), and the
    /// first and last packet's arrival: a loopback sender pays each of these wake-ups
    /// (an inter-processor interrupt when the reader sleeps on another CPU).
    wakes: u64,
    span: Option<(Instant, Instant)>,
}

impl Stats {
    /// Counts a return of the reader's `epoll_wait` with `ready` sockets; passes `ready` on.
    fn woke(&mut self, ready: usize) -> usize {
        if ready > 0 {
            self.wakes += 1;
        }
        ready
    }

    fn add(&mut self, pkt: &[u8], at: Instant) {
        if pkt.len() < 12 || pkt[0] >> 6 != 2 {
            return;
        }
        self.packets += 1;
        let span = self.span.get_or_insert((at, at));
        span.1 = at;
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        match self.streams.get_mut(&ssrc) {
            None => {
                self.streams.insert(
                    ssrc,
                    Stream {
                        first: seq as i64,
                        highest: seq as i64,
                        received: 1,
                        reordered: 0,
                        last_arrival: at,
                    },
                );
            }
            Some(s) => {
                // Extend the 16-bit sequence number around the highest seen (RFC 3550 A.1).
                let base = s.highest & !0xffff;
                let mut ext = base | seq as i64;
                if ext < s.highest - 0x8000 {
                    ext += 0x10000;
                } else if ext > s.highest + 0x8000 {
                    ext -= 0x10000;
                }
                if ext < s.highest {
                    s.reordered += 1;
                } else {
                    s.highest = ext;
                }
                s.received += 1;
                let gap = at.duration_since(s.last_arrival).as_micros();
                self.gaps_us.push(gap.min(u32::MAX as u128) as u32);
                s.last_arrival = at;
            }
        }
    }

    fn print(mut self) {
        let expected: i64 = self.streams.values().map(|s| s.highest - s.first + 1).sum();
        let received: u64 = self.streams.values().map(|s| s.received).sum();
        let reordered: u64 = self.streams.values().map(|s| s.reordered).sum();
        let lost = (expected - received as i64).max(0);
        self.gaps_us.sort_unstable();
        let pct = |p: f64| -> f64 {
            if self.gaps_us.is_empty() {
                return 0.0;
            }
            let i = ((self.gaps_us.len() - 1) as f64 * p).round() as usize;
            self.gaps_us[i] as f64 / 1000.0
        };
        let late = self.gaps_us.iter().filter(|&&g| g > 40_000).count();
        println!(
            "receiver: {} streams, {} packets, lost {} ({:.4} %), reordered {}, \
             inter-packet gap p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, gaps over 40 ms {}, \
             woken {:.0} times/s",
            self.streams.len(),
            self.packets,
            lost,
            lost as f64 / expected.max(1) as f64 * 100.0,
            reordered,
            pct(0.5),
            pct(0.99),
            pct(1.0),
            late,
            self.span.map_or(0.0, |(a, b)| {
                self.wakes as f64 / (b - a).as_secs_f64().max(1e-3)
            }),
        );
    }
}

fn spawn_reader(socks: Vec<UdpSocket>, stop: Arc<AtomicBool>) -> thread::JoinHandle<Stats> {
    thread::spawn(move || {
        let fds: Vec<RawFd> = socks.iter().map(|s| s.as_raw_fd()).collect();
        let mut ep = Epoll::new(&fds);
        let mut rx = Batch::new();
        let mut stats = Stats::default();
        while !stop.load(Ordering::Relaxed) {
            let ready = stats.woke(ep.wait(100));
            for r in 0..ready {
                let idx = ep.ready(r);
                loop {
                    let got = rx.recv(fds[idx]);
                    let at = Instant::now();
                    for i in 0..got {
                        stats.add(rx.packet(i), at);
                    }
                    if got < BATCH {
                        break;
                    }
                }
            }
        }
        drop(socks);
        stats
    })
}

/// Only the reader: for the router's load benchmarks. Stops `secs` after the first
/// packet, or 3 s after the last.
fn receive_only(listen: &str, secs: Duration) {
    let addr: SocketAddr = listen.parse().expect("--listen ADDR:PORT");
    let sock = udp(&addr.to_string());
    set_buf(sock.as_raw_fd(), libc::SO_RCVBUF, 32 << 20);
    let fd = sock.as_raw_fd();
    let mut ep = Epoll::new(&[fd]);
    let mut rx = Batch::new();
    let mut stats = Stats::default();
    println!("receiver listening on {addr}");
    loop {
        let ready = stats.woke(ep.wait(200));
        for _ in 0..ready {
            loop {
                let got = rx.recv(fd);
                let at = Instant::now();
                for i in 0..got {
                    stats.add(rx.packet(i), at);
                }
                if got < BATCH {
                    break;
                }
            }
        }
        let now = Instant::now();
        match stats.span {
            Some((first, last)) if now - first >= secs || now - last >= Duration::from_secs(3) => {
                break;
            }
            _ => {}
        }
    }
    stats.print();
}
