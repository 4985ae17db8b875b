//! `bridge --uring`: the relay with no readiness step and no system call per socket.
//!
//! Every relay socket has one multishot `recvmsg` armed in one io_uring (kernel ≥ 6.0):
//! the kernel receives each packet into a buffer it takes from a registered buffer
//! ring and posts a completion; the relay answers each completion with a `send` of that
//! buffer on the paired socket, and gives the buffer back to the ring (a store in shared
//! memory, no system call) once the send completed. One `io_uring_enter` both submits
//! the moment's sends and waits for the next packets: no `epoll_wait`, no `recvmmsg`,
//! no `sendmmsg` per socket. The source address comes with each packet (`msg_name`), as
//! the router's strict latching needs.

use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::Instant;

use io_uring::{IoUring, cqueue, opcode, types};

/// One buffer: io_uring's recvmsg header (16 bytes), the source address (room for
/// IPv6), then the datagram.
const BUF: usize = 2048;
/// Buffers in the ring (a power of two, at most 32768).
const NBUFS: u16 = 4096;
const BGID: u16 = 1;
const RECV: u64 = 1 << 62;
const SEND: u64 = 2 << 62;

/// The kernel's `struct io_uring_buf`: one entry of a provided-buffer ring.
#[repr(C)]
struct RingBuf {
    addr: u64,
    len: u32,
    bid: u16,
    /// In entry 0 this field is the ring's tail, written by us, read by the kernel.
    resv: u16,
}

/// The buffer ring and the buffers it hands out, allocated page-aligned once.
struct Buffers {
    ring: *mut RingBuf,
    ring_layout: std::alloc::Layout,
    pool: *mut u8,
    pool_layout: std::alloc::Layout,
    tail: u16,
}

impl Buffers {
    fn new() -> Buffers {
        let ring_layout = std::alloc::Layout::from_size_align(
            std::mem::size_of::<RingBuf>() * NBUFS as usize,
            4096,
        )
        .expect("layout");
        let pool_layout =
            std::alloc::Layout::from_size_align(BUF * NBUFS as usize, 4096).expect("layout");
        // SAFETY: non-zero sizes; zeroed memory is a valid empty ring.
        let (ring, pool) = unsafe {
            (
                std::alloc::alloc_zeroed(ring_layout).cast::<RingBuf>(),
                std::alloc::alloc_zeroed(pool_layout),
            )
        };
        assert!(!ring.is_null() && !pool.is_null(), "allocation");
        Buffers {
            ring,
            ring_layout,
            pool,
            pool_layout,
            tail: 0,
        }
    }

    /// Puts buffer `bid` at the ring's tail; `publish` makes the kernel see it.
    fn give(&mut self, bid: u16) {
        let i = (self.tail & (NBUFS - 1)) as usize;
        // SAFETY: i < NBUFS; the entry is ours until the tail passes it. Entry 0's
        // `resv` is the tail itself, so only the three buffer fields are written.
        unsafe {
            let e = self.ring.add(i);
            (*e).addr = self.pool.add(bid as usize * BUF) as u64;
            (*e).len = BUF as u32;
            (*e).bid = bid;
        }
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail is a u16 at offset 14 of entry 0, aligned; the kernel reads
        // it with acquire semantics.
        let tail = unsafe { &*std::ptr::addr_of!((*self.ring).resv).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }

    fn buffer(&self, bid: u16, len: usize) -> &[u8] {
        // SAFETY: bid < NBUFS, len ≤ BUF (the kernel never writes past a buffer).
        unsafe { std::slice::from_raw_parts(self.pool.add(bid as usize * BUF), len.min(BUF)) }
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with these layouts; the ring is gone first.
        unsafe {
            std::alloc::dealloc(self.ring.cast(), self.ring_layout);
            std::alloc::dealloc(self.pool, self.pool_layout);
        }
    }
}

/// The relay loop; `fds[2i]` and `fds[2i+1]` are a call's two legs. Returns the relay
/// thread's CPU share over the window and the packets relayed, like `relay_loop`.
pub fn relay_loop(fds: &[RawFd], window: &mut super::Window, stop: &Arc<AtomicBool>) -> (f64, u64) {
    let mut ring: IoUring = IoUring::builder()
        .setup_cqsize(32768)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(4096)
        .expect("io_uring (kernel ≥ 6.1 for DEFER_TASKRUN)");
    let mut bufs = Buffers::new();
    // SAFETY: the ring memory lives in `bufs`, which outlives `ring`: every return
    // below drops `ring` first.
    unsafe {
        ring.submitter()
            .register_buf_ring_with_flags(bufs.ring as u64, NBUFS, BGID, 0)
            .expect("register the buffer ring");
    }
    for bid in 0..NBUFS {
        bufs.give(bid);
    }
    bufs.publish();
    // Shared by every multishot recvmsg: only its name and control lengths matter.
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as u32;
    let arm = |ring: &mut IoUring, i: usize, msg: &libc::msghdr| {
        let e = opcode::RecvMsgMulti::new(types::Fd(fds[i]), msg, BGID)
            .build()
            .user_data(RECV | i as u64);
        // SAFETY: msg outlives the ring's use of it (it is read at submission).
        while unsafe { ring.submission().push(&e) }.is_err() {
            ring.submit().expect("io_uring_enter");
        }
    };
    for i in 0..fds.len() {
        arm(&mut ring, i, &msg);
    }
    ring.submit().expect("io_uring_enter");
    let mut relayed = 0u64;
    let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(32768);
    let ts = types::Timespec::new().nsec(100_000_000);
    loop {
        let args = types::SubmitArgs::new().timespec(&ts);
        match ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => panic!("io_uring_enter: {e}"),
        }
        cqes.clear();
        cqes.extend(
            ring.completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        let mut gave = false;
        for &(ud, res, flags) in &cqes {
            if ud & RECV != 0 && ud & SEND == 0 {
                let i = (ud & !RECV) as usize;
                if res > 0
                    && let Some(bid) = cqueue::buffer_select(flags)
                {
                    let buf = bufs.buffer(bid, res as usize);
                    match types::RecvMsgOut::parse(buf, &msg) {
                        Ok(out) => {
                            let p = out.payload_data();
                            let e = opcode::Send::new(
                                types::Fd(fds[i ^ 1]),
                                p.as_ptr(),
                                p.len() as u32,
                            )
                            .build()
                            .user_data(SEND | bid as u64);
                            // SAFETY: the buffer stays out of the ring until this send
                            // completes.
                            while unsafe { ring.submission().push(&e) }.is_err() {
                                ring.submit().expect("io_uring_enter");
                            }
                        }
                        Err(()) => {
                            bufs.give(bid);
                            gave = true;
                        }
                    }
                }
                if !cqueue::more(flags) {
                    arm(&mut ring, i, &msg);
                }
            } else if ud & SEND != 0 && ud & RECV == 0 {
                if res > 0 {
                    relayed += 1;
                }
                bufs.give((ud & 0xffff) as u16);
                gave = true;
            }
        }
        if gave {
            bufs.publish();
        }
        if let Some(pct) = window.tick(Instant::now()) {
            stop.store(true, Ordering::Relaxed);
            drop(ring);
            return (pct, relayed);
        }
        if stop.load(Ordering::Relaxed) {
            drop(ring);
            return (0.0, relayed);
        }
    }
}

/// `bridge --uring-send`: readiness and reads as the plain floor (`epoll_wait`, then
/// `recvmmsg` per ready socket), but every packet of one wake-up is sent in one
/// io_uring submission instead of one `sendmmsg` per socket.
pub struct SendRing {
    ring: IoUring,
    bytes: Vec<u8>,
    queued: Vec<(RawFd, usize, usize)>,
}

impl SendRing {
    pub fn new() -> SendRing {
        SendRing {
            ring: IoUring::new(4096).expect("io_uring"),
            bytes: vec![0u8; 4096 * 256],
            queued: Vec::with_capacity(4096),
        }
    }

    /// Queues `pkt` for `fd` (connected); false when the outbox is full.
    pub fn queue(&mut self, fd: RawFd, pkt: &[u8]) -> bool {
        let at = self.queued.len() * 256;
        if self.queued.len() == 4096 || pkt.len() > 256 {
            return false;
        }
        self.bytes[at..at + pkt.len()].copy_from_slice(pkt);
        self.queued.push((fd, at, pkt.len()));
        true
    }

    /// Sends everything queued in one `io_uring_enter`; returns how many went out.
    pub fn flush(&mut self) -> u64 {
        if self.queued.is_empty() {
            return 0;
        }
        for &(fd, at, len) in &self.queued {
            let e = opcode::Send::new(types::Fd(fd), self.bytes[at..].as_ptr(), len as u32)
                .flags(libc::MSG_DONTWAIT)
                .build();
            // SAFETY: the bytes stay put until every completion is in, below.
            unsafe { self.ring.submission().push(&e) }.expect("room");
        }
        self.ring
            .submit_and_wait(self.queued.len())
            .expect("io_uring_enter");
        let sent = self.ring.completion().filter(|c| c.result() > 0).count() as u64;
        self.queued.clear();
        sent
    }
}
