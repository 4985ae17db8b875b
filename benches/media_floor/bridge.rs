//! The bridge floor (`bridge`), and the relay strategies priced against it.

use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::uring_relay;
use super::{BATCH, Batch, Epoll, PACKET, PTIME, Window, rtp, sleep_until, spawn_reader, udp};

/// How the relay thread waits, reads and sends.
#[derive(Clone, Copy, PartialEq)]
pub enum Relay {
    /// The floor: `epoll_wait`, `recvmmsg` per ready socket, `sendmmsg` on its pair.
    Epoll,
    /// `--relay-tick MS`: as `Epoll`, but woken on a fixed MS-ms grid (interrupt
    /// moderation) instead of at each packet's arrival.
    Tick(u64),
    /// `--uring`: a multishot `recvmsg` per socket and sends in one io_uring.
    Multishot,
    /// `--uring-send`: reads as `Epoll`, a wake-up's sends in one io_uring submission.
    UringSend,
}

/// What `bridge` was asked for.
pub struct Options {
    pub calls: usize,
    pub secs: Duration,
    /// The peers read what is relayed to them (`--no-read`: they do not, as sipp).
    pub read: bool,
    pub relay: Relay,
    /// `--spread`: each call's peers send at their own phase of the 20 ms, from 1 ms
    /// ticks (as calls that started at different moments do), not all in one burst.
    pub spread: bool,
}

/// Bridge floor: per call two peers send 50 packets/s each into the relay, which
/// forwards with recvmmsg + sendmmsg on connected sockets, driven by one epoll.
pub fn bridge_floor(opts: &Options) {
    let Options {
        calls,
        secs,
        read,
        relay: way,
        spread,
    } = *opts;
    let mut peers = Vec::new(); // (caller, manager) sockets, both send and receive
    let mut relay = Vec::new(); // (toward caller, toward manager)
    for _ in 0..calls {
        let c = udp("127.0.0.1:0");
        let m = udp("127.0.0.1:0");
        let rc = udp("127.0.0.1:0");
        let rm = udp("127.0.0.1:0");
        let addr = |s: &UdpSocket| s.local_addr().expect("local address");
        // As a latched leg in the router: each relay socket is connected to its peer.
        rc.connect(addr(&c)).expect("connect");
        rm.connect(addr(&m)).expect("connect");
        c.connect(addr(&rc)).expect("connect");
        m.connect(addr(&rm)).expect("connect");
        peers.push((c, m));
        relay.push((rc, rm));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let reader_socks = peers
        .iter()
        .flat_map(|(c, m)| [c.try_clone().expect("dup"), m.try_clone().expect("dup")])
        .collect();
    let reader = read.then(|| spawn_reader(reader_socks, stop.clone()));
    let relay_stop = stop.clone();
    let relay_thread = thread::spawn(move || relay_loop(relay, secs, relay_stop, way));
    let start = Instant::now();
    let mut buf = [0u8; PACKET];
    let mut n: u32 = 0;
    let ticks: u32 = if spread { 20 } else { 1 };
    let mut tick: u32 = 0;
    while !stop.load(Ordering::Relaxed) && start.elapsed() < secs + Duration::from_secs(2) {
        for (i, (c, m)) in peers.iter().enumerate() {
            if (i as u32 % ticks) != tick {
                continue;
            }
            rtp(&mut buf, 2 * i as u32 + 1, n as u16, n.wrapping_mul(160));
            let _ = c.send(&buf);
            rtp(&mut buf, 2 * i as u32 + 2, n as u16, n.wrapping_mul(160));
            let _ = m.send(&buf);
        }
        tick += 1;
        if tick == ticks {
            tick = 0;
            n += 1;
        }
        sleep_until(start + PTIME * n + PTIME / ticks * tick);
    }
    let (pct, relayed) = relay_thread.join().expect("relay thread");
    stop.store(true, Ordering::Relaxed);
    let stats = reader.map(|r| r.join().expect("reader thread"));
    println!(
        "floor bridge: {calls} calls × 200 packets/s through the relay, relay {pct:.2} % of one \
         core over {} s ({:.4} % per call), {relayed} packets relayed{}",
        secs.as_secs(),
        pct / calls as f64,
        if read { "" } else { " (peers not reading)" }
    );
    if let Some(stats) = stats {
        stats.print();
    }
}

fn relay_loop(
    pairs: Vec<(UdpSocket, UdpSocket)>,
    secs: Duration,
    stop: Arc<AtomicBool>,
    way: Relay,
) -> (f64, u64) {
    // fds[2i] = toward caller i, fds[2i+1] = toward manager i; a packet read on one is
    // sent on the other.
    let fds: Vec<RawFd> = pairs
        .iter()
        .flat_map(|(a, b)| [a.as_raw_fd(), b.as_raw_fd()])
        .collect();
    let mut window = Window::new(secs);
    if way == Relay::Multishot {
        let got = uring_relay::relay_loop(&fds, &mut window, &stop);
        drop(pairs);
        return got;
    }
    let mut ep = Epoll::new(&fds);
    let mut rx = Batch::new();
    let mut send_ring = (way == Relay::UringSend).then(uring_relay::SendRing::new);
    let mut relayed = 0u64;
    let started = Instant::now();
    let mut ticks = 0u32;
    loop {
        let ready = if let Relay::Tick(ms) = way {
            ticks += 1;
            sleep_until(started + Duration::from_millis(ms) * ticks);
            ep.wait(0)
        } else {
            ep.wait(100)
        };
        for r in 0..ready {
            let idx = ep.ready(r);
            let from = fds[idx];
            let to = fds[idx ^ 1];
            loop {
                let got = rx.recv(from);
                if got == 0 {
                    break;
                }
                match send_ring.as_mut() {
                    Some(ring) => {
                        for i in 0..got {
                            if !ring.queue(to, rx.packet(i)) {
                                relayed += ring.flush();
                                ring.queue(to, rx.packet(i));
                            }
                        }
                    }
                    None => relayed += rx.send(to, got) as u64,
                }
                if got < BATCH {
                    break;
                }
            }
        }
        if let Some(ring) = send_ring.as_mut() {
            relayed += ring.flush();
        }
        if let Some(pct) = window.tick(Instant::now()) {
            stop.store(true, Ordering::Relaxed);
            drop(pairs);
            return (pct, relayed);
        }
        if stop.load(Ordering::Relaxed) {
            return (0.0, relayed);
        }
    }
}
