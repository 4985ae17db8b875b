//! One `io_uring_enter` for all of a pacer tick's frames, where the kernel allows it.
//!
//! A prompt stream's socket has one frame per tick, so `sendmmsg` (one socket, many
//! datagrams) has nothing to batch; an io_uring takes sends on many sockets in one
//! submission. Each send still runs the kernel's whole UDP path, inline in
//! `io_uring_enter` (`MSG_DONTWAIT`: nothing is parked for later), but the tick pays one
//! system-call entry and exit instead of one per frame, and no per-call `fdget`.
//! Priced on the floor first, then in the pacer (`docs/performance.md`, issue 16).
//!
//! Where io_uring is refused (`kernel.io_uring_disabled`, a container's seccomp
//! profile, an old kernel) [`Uring::new`] returns `None` and the pacer keeps `send_to`.
//!
//! Memory safety: a submitted send reads its frame and its address until it completes,
//! so [`Uring::send`] waits for every completion before it returns; the addresses live
//! in a vector that is never reallocated while sends are in flight, and the frames are
//! borrowed for the call. If the ring fails with sends still in flight, the caller must
//! leak this `Uring` and the frames' buffer rather than free or reuse them (the pacer
//! then sends with `send_to` for good).

use std::net::SocketAddr;
use std::os::fd::RawFd;

use io_uring::{IoUring, opcode, types};

use super::mmsg::raw_sockaddr;

/// Submission queue size: a tick with more frames goes in several submissions.
const ENTRIES: u32 = 256;

/// One frame to send: out of which socket, its bytes, to whom.
pub(super) type Outgoing<'a> = (RawFd, &'a [u8], SocketAddr);

/// The pacer's ring.
pub(super) struct Uring {
    ring: IoUring,
    /// The addresses of the sends in flight. Its capacity is [`ENTRIES`] from the start
    /// and a submission holds at most that many, so it never moves while the kernel
    /// reads it.
    addrs: Vec<(libc::sockaddr_storage, libc::socklen_t)>,
}

impl Uring {
    /// `None` where the kernel refuses io_uring.
    pub(super) fn new() -> Option<Uring> {
        let ring = IoUring::new(ENTRIES).ok()?;
        Some(Uring {
            ring,
            addrs: Vec::with_capacity(ENTRIES as usize),
        })
    }

    /// Sends every frame, [`ENTRIES`] per submission, and waits for each completion;
    /// returns how many the kernel took (a full socket buffer or an unreachable peer
    /// fails that frame only, as with `send_to`). `Err` means the ring broke with sends
    /// in flight: see the module's docs.
    pub(super) fn send<'a>(
        &mut self,
        frames: impl Iterator<Item = Outgoing<'a>>,
    ) -> std::io::Result<u64> {
        let mut sent = 0;
        let mut frames = frames.peekable();
        while frames.peek().is_some() {
            self.addrs.clear();
            while self.addrs.len() < ENTRIES as usize {
                let Some((fd, frame, dest)) = frames.next() else {
                    break;
                };
                self.addrs.push(raw_sockaddr(dest));
                let Some((addr, addr_len)) = self.addrs.last() else {
                    break;
                };
                let entry = opcode::Send::new(
                    types::Fd(fd),
                    frame.as_ptr(),
                    u32::try_from(frame.len()).unwrap_or(0),
                )
                // A full socket buffer fails the send at once (the frame is dropped, as
                // with send_to) instead of parking it until there is room.
                .flags(libc::MSG_DONTWAIT)
                .dest_addr(std::ptr::from_ref(addr).cast())
                .dest_addr_len(*addr_len)
                .build();
                // SAFETY: the frame is borrowed for this call and the address sits in
                // `addrs`, which does not move (see its docs); this call waits below
                // until every submitted send has completed, or reports an error, after
                // which the caller never frees or reuses either.
                if unsafe { self.ring.submission().push(&entry) }.is_err() {
                    // Cannot happen: a submission is at most the queue's size and the
                    // queue is empty when it starts.
                    self.addrs.pop();
                    break;
                }
            }
            let pushed = self.addrs.len();
            let mut done = 0usize;
            while done < pushed {
                match self.ring.submit_and_wait(pushed - done) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
                for cqe in self.ring.completion() {
                    done += 1;
                    if cqe.result() >= 0 {
                        sent += 1;
                    }
                }
            }
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    /// Frames from many sockets to many peers, more than one submission's worth, arrive
    /// whole and from the right socket; a send to nobody fails alone.
    #[test]
    fn a_ticks_frames_arrive_from_their_sockets() {
        let Some(mut ring) = Uring::new() else {
            eprintln!("io_uring refused here: nothing to test");
            return;
        };
        let peers: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let senders: Vec<UdpSocket> = (0..300)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let frames: Vec<[u8; 4]> = (0..300u32).map(u32::to_be_bytes).collect();
        let outgoing = senders.iter().zip(&frames).enumerate().map(|(i, (s, f))| {
            let dest = peers[i % 3].local_addr().unwrap();
            (s.as_raw_fd(), &f[..], dest)
        });
        assert_eq!(ring.send(outgoing).unwrap(), 300);
        let mut buf = [0u8; 16];
        for (p, peer) in peers.iter().enumerate() {
            peer.set_nonblocking(true).unwrap();
            let mut n = 0;
            while let Ok((len, from)) = peer.recv_from(&mut buf) {
                assert_eq!(len, 4);
                let i = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                assert_eq!(i % 3, p);
                assert_eq!(from, senders[i].local_addr().unwrap());
                n += 1;
            }
            assert_eq!(n, 100);
        }
        // A v6 destination from a v4 socket fails that frame only.
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        let dest = peers[0].local_addr().unwrap();
        let mixed = [
            (senders[0].as_raw_fd(), &frames[0][..], v6),
            (senders[1].as_raw_fd(), &frames[1][..], dest),
        ];
        assert_eq!(ring.send(mixed.into_iter()).unwrap(), 1);
    }
}
