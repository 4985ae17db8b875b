//! A call leg's RTP port: the socket the receive threads read, and a send-only twin
//! bound to the same port that the pacer and the relay send from.
//!
//! Why two sockets: the kernel gives a UDP packet's memory back to its socket once the
//! packet is delivered, and then wakes whoever waits on the socket for write space
//! (`sock_wfree` → `sock_def_write_space_wfree`). A socket in an epoll set always has a
//! waiter, the epoll entry, so every sent packet paid a wake-up call through the epoll
//! set's lock (on loopback, in the sending thread): 7.6 % of the pacer's samples at 500
//! prompt streams (`docs/performance.md`, issue 16). A socket that nobody waits on pays
//! nothing; so we send from one that is in no epoll set.
//!
//! How the twin shares the port without sharing what arrives (IPv4):
//!
//! ```text
//!   1. twin: bind ADDR:PORT                      (fails if anyone holds PORT, as before)
//!   2. twin: SO_REUSEPORT on
//!   3. receive socket: SO_REUSEPORT on, bind ADDR:PORT            (joins PORT)
//!   4. both: SO_REUSEPORT off                    (nobody else can join now)
//! ```
//!
//! An IPv4 packet to PORT goes to the first best-scoring socket in the kernel's
//! address-and-port hash chain (`udp4_lib_lookup2` in `net/ipv4/udp.c`), and an IPv4
//! socket is added at the chain's head when it binds, so the receive socket, bound
//! last, is met first and wins every tie; the twin never receives, so nothing (its
//! `sk_incoming_cpu`) ever scores it higher. With SO_REUSEPORT off on both no
//! reuseport group decides instead, and any later bind of PORT (by us or another
//! process) fails with EADDRINUSE as it does today. The twin sends with PORT as the
//! source, so peers and their latches see one port, as RFC 4961 (symmetric RTP) asks.
//!
//! That order is the kernel's, not a promise, so the first pair a process makes is
//! checked: a datagram sent to it must arrive at the receive socket (loopback delivers
//! within `send_to`, so the check needs no wait). If it does not, every leg sends from
//! its receive socket for the rest of the process's life, with a WARN. The unit tests
//! check the same, and that nobody else can bind the port.
//!
//! (An AF_INET6 twin on the IPv4-mapped address would be outscored for IPv4 by
//! construction, but every send then passes through `udpv6_sendmsg` first, which cost
//! as much as the wake-up saved: `docs/performance.md`.)
//!
//! Where the twin cannot be had (an IPv6 media address, where the kernel adds
//! reuseport sockets at the chain's tail; or the check above failing), the leg sends
//! from its receive socket as before: the same packets, one wake-up dearer.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, Socket, Type};

/// A leg's RTP port (see the module's documentation).
pub(super) struct RtpSocket {
    /// Read by the receive threads (in their epoll set); every packet to the port
    /// arrives here.
    recv: UdpSocket,
    /// Sends from the same port, in no epoll set. `None` where it cannot be had.
    twin: Option<UdpSocket>,
}

impl RtpSocket {
    /// Binds `addr` (its port must be free, as for one socket) and, where possible,
    /// the twin on the same port. Both are non-blocking.
    pub(super) fn bind(addr: SocketAddr) -> std::io::Result<RtpSocket> {
        if addr.is_ipv4() && twins_work() {
            let twin = UdpSocket::bind(addr)?;
            match receive_beside(&twin) {
                Ok(recv) => {
                    twin.set_nonblocking(true)?;
                    return Ok(RtpSocket {
                        recv,
                        twin: Some(twin),
                    });
                }
                Err(e) => {
                    note_no_twin(&e);
                    drop(twin);
                }
            }
        }
        let recv = UdpSocket::bind(addr)?;
        recv.set_nonblocking(true)?;
        Ok(RtpSocket { recv, twin: None })
    }

    /// The socket to read, for the receive threads' epoll set.
    pub(super) fn recv_fd(&self) -> RawFd {
        self.recv.as_raw_fd()
    }

    /// The socket to send from: the twin where there is one.
    pub(super) fn sender(&self) -> &UdpSocket {
        self.twin.as_ref().unwrap_or(&self.recv)
    }

    /// The sender's descriptor, for the pacer's io_uring submissions.
    pub(super) fn send_fd(&self) -> RawFd {
        self.sender().as_raw_fd()
    }

    pub(super) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.recv.local_addr()
    }

    /// Whether this leg sends from a twin (for the tests).
    #[cfg(test)]
    pub(super) fn has_twin(&self) -> bool {
        self.twin.is_some()
    }
}

/// Steps 2–4 of the module's diagram: the receive socket, joined to the twin's port.
fn receive_beside(twin: &UdpSocket) -> std::io::Result<UdpSocket> {
    let local = twin.local_addr()?;
    let twin_ref = socket2::SockRef::from(twin);
    twin_ref.set_reuse_port(true)?;
    let joined = (|| {
        let recv = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
        recv.set_reuse_port(true)?;
        recv.set_nonblocking(true)?;
        recv.bind(&local.into())?;
        recv.set_reuse_port(false)?;
        Ok::<_, std::io::Error>(UdpSocket::from(recv))
    })();
    // Off again whatever happened: with it on, another socket of our user could join
    // the port.
    twin_ref.set_reuse_port(false)?;
    joined
}

/// Whether this kernel delivers a pair's packets to its receive socket: checked once
/// per process, on a pair of its own (see the module's documentation).
fn twins_work() -> bool {
    static WORK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WORK.get_or_init(|| match check_pair() {
        Ok(true) => true,
        Ok(false) => {
            tracing::warn!(
                "this kernel delivers RTP to the wrong one of two sockets on a port: each \
                 leg sends from its receive socket instead (correct, a little dearer)"
            );
            false
        }
        Err(e) => {
            note_no_twin(&e);
            false
        }
    })
}

fn check_pair() -> std::io::Result<bool> {
    let twin = UdpSocket::bind("127.0.0.1:0")?;
    let recv = receive_beside(&twin)?;
    twin.set_nonblocking(true)?;
    let probe = UdpSocket::bind("127.0.0.1:0")?;
    let mut buf = [0u8; 16];
    for _ in 0..4 {
        probe.send_to(b"switchboard", recv.local_addr()?)?;
        if twin.recv_from(&mut buf).is_ok() {
            return Ok(false);
        }
        if recv.recv_from(&mut buf).is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Says once per process why legs send from their receive socket.
fn note_no_twin(e: &std::io::Error) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        tracing::info!(
            error = %e,
            "RTP is sent from each leg's receive socket (no send-only twin on the same \
             port); each sent packet costs a little more"
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV6;
    use std::time::Duration;

    fn pair() -> RtpSocket {
        let rtp = RtpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        assert!(rtp.has_twin(), "this kernel gives IPv4 legs a twin");
        rtp
    }

    /// Every packet to the port reaches the receive socket, whatever its source; the
    /// twin gets none (the receive socket, bound last, is met first in the kernel's
    /// lookup and wins every tie).
    #[test]
    fn every_packet_arrives_at_the_receive_socket_never_the_twin() {
        let rtp = pair();
        let to = rtp.local_addr().unwrap();
        let peers: Vec<UdpSocket> = (0..64)
            .map(|i| UdpSocket::bind(format!("127.0.0.{}:0", 1 + i % 3)).unwrap())
            .collect();
        for (i, p) in peers.iter().enumerate() {
            for _ in 0..4 {
                p.send_to(&[i as u8; 12], to).unwrap();
            }
        }
        rtp.recv
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        rtp.recv.set_nonblocking(false).unwrap();
        let mut buf = [0u8; 64];
        for _ in 0..peers.len() * 4 {
            rtp.recv.recv_from(&mut buf).unwrap();
        }
        let twin = rtp.twin.as_ref().unwrap();
        let err = twin.recv_from(&mut buf).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    }

    /// The twin sends from the leg's port, so the peer sees one address both ways.
    #[test]
    fn the_twin_sends_from_the_legs_port() {
        let rtp = pair();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        rtp.sender()
            .send_to(b"frame", peer.local_addr().unwrap())
            .unwrap();
        let mut buf = [0u8; 16];
        let (len, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(
            (&buf[..len], from),
            (&b"frame"[..], rtp.local_addr().unwrap())
        );
        assert_ne!(rtp.send_fd(), rtp.recv_fd());
    }

    /// Nobody else can bind the port while the leg holds it, with or without
    /// SO_REUSEPORT and SO_REUSEADDR, through IPv4 or the mapped IPv6 address; once the
    /// leg is gone the port is free again.
    #[test]
    fn nobody_else_can_bind_the_legs_port() {
        let rtp = pair();
        let addr = rtp.local_addr().unwrap();
        let SocketAddr::V4(v4) = addr else {
            unreachable!()
        };
        let mapped: SocketAddr =
            SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0).into();
        for (domain, at) in [(Domain::IPV4, addr), (Domain::IPV6, mapped)] {
            for reuse in [false, true] {
                let s = Socket::new(domain, Type::DGRAM, None).unwrap();
                s.set_reuse_port(reuse).unwrap();
                s.set_reuse_address(reuse).unwrap();
                let err = s.bind(&at.into()).unwrap_err();
                assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{at} {reuse}");
            }
        }
        drop(rtp);
        UdpSocket::bind(addr).unwrap();
    }

    /// An IPv6 leg has no twin and sends from its receive socket.
    #[test]
    fn an_ipv6_leg_sends_from_its_receive_socket() {
        let rtp = RtpSocket::bind("[::1]:0".parse().unwrap()).unwrap();
        assert!(!rtp.has_twin());
        assert_eq!(rtp.send_fd(), rtp.recv_fd());
    }
}
