//! The RTP port range, checked once at start against the rest of the machine.
//!
//! The core hands each call leg a port of `rtp_ports` and the media plane binds it
//! when the call opens its media, after the SDP naming it is written. A port another
//! program holds fails that bind, and with it the call (`media failed: cannot use RTP
//! port N`; the port is then retired). Two checks at start keep that from happening:
//!
//! - every port of the range is bound once, as a call would bind it, and the ones
//!   that refuse are retired before any call can draw them (a 10,000-port range takes
//!   a few milliseconds);
//! - a range that overlaps the kernel's ephemeral ports (`net.ipv4.ip_local_port_range`,
//!   the source ports of every program's outgoing UDP and TCP) is reported: a port
//!   free at start can then be taken at any moment by a DNS lookup or an outgoing
//!   connection, which no check at start can foresee.
//!
//! What is taken after the start still costs at most one call per port, as before.

use std::net::{IpAddr, SocketAddr, UdpSocket};

use crate::media::ports::PortRange;

/// The ports of `range` the pool hands out ([`PortRange::even_ports`]) that cannot be
/// bound on `ip` right now, as a call leg would bind them.
pub(super) fn held_ports(ip: IpAddr, range: PortRange) -> Vec<u16> {
    range
        .even_ports()
        .filter(|port| UdpSocket::bind(SocketAddr::new(ip, *port)).is_err())
        .collect()
}

/// The kernel's ephemeral port range, where Linux tells it (`"32768\t60999"`).
pub(super) fn ephemeral_ports() -> Option<PortRange> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    parse_ephemeral(&text)
}

fn parse_ephemeral(text: &str) -> Option<PortRange> {
    let mut numbers = text.split_whitespace().map(str::parse::<u16>);
    let low = numbers.next()?.ok()?;
    let high = numbers.next()?.ok()?;
    (low <= high).then_some(PortRange { low, high })
}

/// The ports `a` and `b` share, if any.
pub(super) fn overlap(a: PortRange, b: PortRange) -> Option<PortRange> {
    let low = a.low.max(b.low);
    let high = a.high.min(b.high);
    (low <= high).then_some(PortRange { low, high })
}

/// What the router says at start (and `switchboard check` prints) when `range`
/// overlaps this machine's ephemeral ports; `None` when it does not, or where the
/// kernel does not say.
pub fn ephemeral_warning(range: PortRange) -> Option<String> {
    let eph = ephemeral_ports()?;
    let shared = overlap(range, eph)?;
    Some(format!(
        "rtp_ports {}-{} overlaps the kernel's ephemeral ports {}-{} (ports {}-{}): any \
         program's outgoing connection may take one of them, and the call given it then \
         fails. Use a range below {} (or above {}), or narrow \
         net.ipv4.ip_local_port_range",
        range.low, range.high, eph.low, eph.high, shared.low, shared.high, eph.low, eph.high
    ))
}

/// Both checks, logged for the admin; returns the ports no call may be given.
pub(super) fn check(ip: IpAddr, range: PortRange) -> Vec<u16> {
    if let Some(warning) = ephemeral_warning(range) {
        tracing::warn!("{warning}");
    }
    let held = held_ports(ip, range);
    if !held.is_empty() {
        let shown: Vec<String> = held.iter().take(10).map(u16::to_string).collect();
        tracing::warn!(
            count = held.len(),
            "{} RTP port(s) of rtp_ports are held by another program and will not be \
             given to calls: {}{} (`ss -uanp` shows who holds them; keep other programs' \
             ports out of the range)",
            held.len(),
            shown.join(", "),
            if held.len() > shown.len() {
                ", …"
            } else {
                ""
            }
        );
    }
    held
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port held by someone else is found; the range's odd ports are never probed.
    #[test]
    fn a_held_port_is_found() {
        // An even port that is free now, then held (by this test) for the probe.
        let holder = (0..50)
            .filter_map(|_| UdpSocket::bind("127.0.0.1:0").ok())
            .find(|s| {
                s.local_addr()
                    .is_ok_and(|a| a.port() % 2 == 0 && a.port() < 65534)
            })
            .expect("an even ephemeral port");
        let port = holder.local_addr().unwrap().port();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let held = held_ports(
            ip,
            PortRange {
                low: port - 1,
                high: port + 1,
            },
        );
        assert_eq!(held, vec![port]);
        drop(holder);
        assert!(
            held_ports(
                ip,
                PortRange {
                    low: port,
                    high: port
                }
            )
            .is_empty()
        );
    }

    #[test]
    fn ephemeral_range_and_overlap() {
        assert_eq!(
            parse_ephemeral("32768\t60999\n"),
            Some(PortRange {
                low: 32768,
                high: 60999
            })
        );
        assert_eq!(parse_ephemeral("garbage"), None);
        assert_eq!(parse_ephemeral("5000 4000"), None);
        let eph = PortRange {
            low: 32768,
            high: 60999,
        };
        let rtp = |low, high| PortRange { low, high };
        assert_eq!(overlap(rtp(20000, 29999), eph), None);
        assert_eq!(overlap(rtp(30000, 39999), eph), Some(rtp(32768, 39999)));
        assert_eq!(overlap(rtp(40000, 41000), eph), Some(rtp(40000, 41000)));
    }
}
