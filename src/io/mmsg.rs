//! `recvmmsg(2)`: every datagram a UDP socket has queued, in one system call.
//!
//! Why not `recv_from` in a loop: reading a socket dry with `recv_from` costs one call
//! per packet plus one more that returns `EAGAIN`; in a bridge, where a socket mostly
//! holds one packet when it turns readable, that is three system calls per relayed
//! packet instead of two. `recvmmsg` returns as many packets as are queued (up to
//! [`BATCH`]) and, by returning fewer, says the socket is empty. std does not offer it,
//! and the maintained wrappers (`nix`) would add a crate for this one call; the
//! `unsafe` is confined to this file (docs/decisions.md).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams read per call. A bridged leg's socket rarely holds more than a few.
pub(super) const BATCH: usize = 16;

/// The largest datagram kept whole; anything longer is not RTP we handle (an Ethernet
/// frame holds 1,500 bytes) and arrives truncated, to be rejected by the parser.
pub(super) const PACKET_ROOM: usize = 2048;

/// Buffers for one `recvmmsg` of up to [`BATCH`] datagrams, allocated once per thread.
pub(super) struct RecvBatch {
    bufs: Box<[[u8; PACKET_ROOM]; BATCH]>,
    addrs: [libc::sockaddr_storage; BATCH],
    lens: [usize; BATCH],
}

impl RecvBatch {
    pub(super) fn new() -> RecvBatch {
        // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
        let empty: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        RecvBatch {
            bufs: Box::new([[0; PACKET_ROOM]; BATCH]),
            addrs: [empty; BATCH],
            lens: [0; BATCH],
        }
    }

    /// Reads what `fd` has queued without waiting; returns how many datagrams (at least
    /// one), or `WouldBlock` when there are none.
    pub(super) fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let mut iovs: [libc::iovec; BATCH] = std::array::from_fn(|_| libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        });
        // SAFETY: mmsghdr is plain old data; all zeroes is a valid (empty) value.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for ((iov, hdr), (buf, addr)) in iovs
            .iter_mut()
            .zip(hdrs.iter_mut())
            .zip(self.bufs.iter_mut().zip(self.addrs.iter_mut()))
        {
            iov.iov_base = buf.as_mut_ptr().cast();
            iov.iov_len = buf.len();
            hdr.msg_hdr.msg_name = std::ptr::from_mut(addr).cast();
            hdr.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_hdr.msg_iov = std::ptr::from_mut(iov);
            hdr.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at a buffer, an iovec and an address slot that
        // live until this call returns (`self` and the local arrays), with their true
        // lengths; the kernel writes at most that much into each.
        let got = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let Ok(got) = usize::try_from(got) else {
            return Err(io::Error::last_os_error());
        };
        for (len, hdr) in self.lens.iter_mut().zip(hdrs.iter()).take(got) {
            *len = (hdr.msg_len as usize).min(PACKET_ROOM);
        }
        Ok(got.min(BATCH))
    }

    /// Datagram `i` of the last [`RecvBatch::recv`], with its sender; `None` past the
    /// end or when the sender is not an IP address.
    pub(super) fn packet(&mut self, i: usize) -> Option<(SocketAddr, &mut [u8])> {
        let from = sockaddr(self.addrs.get(i)?)?;
        let len = *self.lens.get(i)?;
        let buf = self.bufs.get_mut(i)?.get_mut(..len)?;
        Some((from, buf))
    }
}

/// The sender's address as the kernel wrote it.
fn sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is
            // large and aligned enough for.
            let a: &libc::sockaddr_in = unsafe { &*std::ptr::from_ref(storage).cast() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*std::ptr::from_ref(storage).cast() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// An address as the kernel takes it, for a send that names its destination (the
/// inverse of [`sockaddr`]).
pub(super) fn raw_sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let v4 = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr.
            unsafe {
                std::ptr::from_mut(&mut storage)
                    .cast::<libc::sockaddr_in>()
                    .write(v4)
            };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let v6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe {
                std::ptr::from_mut(&mut storage)
                    .cast::<libc::sockaddr_in6>()
                    .write(v6)
            };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn reads_every_queued_datagram_with_its_sender_then_would_block() {
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(rx) = UdpSocket::bind(bind) else {
                continue; // no IPv6 on this machine
            };
            let tx = UdpSocket::bind(bind).unwrap();
            let to = rx.local_addr().unwrap();
            for i in 0..(BATCH + 3) {
                tx.send_to(&[i as u8; 10], to).unwrap();
            }
            let mut batch = RecvBatch::new();
            let fd = rx.as_raw_fd();
            assert_eq!(batch.recv(fd).unwrap(), BATCH, "{bind}: a full batch first");
            let (from, pkt) = batch.packet(1).unwrap();
            assert_eq!(from, tx.local_addr().unwrap());
            assert_eq!(pkt, &[1u8; 10]);
            assert!(batch.packet(BATCH).is_none());
            assert_eq!(batch.recv(fd).unwrap(), 3, "{bind}: then the rest");
            assert_eq!(batch.packet(2).unwrap().1, &[(BATCH + 2) as u8; 10]);
            let dry = batch.recv(fd).unwrap_err();
            assert_eq!(dry.kind(), io::ErrorKind::WouldBlock);
        }
    }

    /// What we hand the kernel reads back as the same address.
    #[test]
    fn addresses_survive_the_round_trip_through_the_kernels_format() {
        for a in [
            "127.0.0.1:5004",
            "203.0.113.9:65535",
            "[::1]:40000",
            "[fe80::1%3]:9",
        ] {
            let addr: SocketAddr = a.parse().unwrap();
            let (raw, len) = raw_sockaddr(addr);
            assert_eq!(sockaddr(&raw), Some(addr), "{a}");
            let want = if addr.is_ipv4() { 16 } else { 28 };
            assert_eq!(len, want, "{a}");
        }
    }

    #[test]
    fn an_oversized_datagram_is_cut_to_the_room() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(&[7u8; PACKET_ROOM + 500], rx.local_addr().unwrap())
            .unwrap();
        let mut batch = RecvBatch::new();
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 1);
        assert_eq!(batch.packet(0).unwrap().1.len(), PACKET_ROOM);
    }
}
