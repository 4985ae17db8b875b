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
//!   connection, which no check at start can foresee. Ports the admin reserved
//!   (`net.ipv4.ip_local_reserved_ports`) are never handed out as ephemeral ports, so
//!   an overlap they cover is not reported: reserving the range is the fix where it
//!   cannot be moved (it does not stop our own explicit binds).
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

/// The ports the kernel never hands out as ephemeral ports, where Linux tells it
/// (`net.ipv4.ip_local_reserved_ports`: `""`, or `"8080,9148-9150"`).
fn reserved_ports() -> (String, Vec<PortRange>) {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_reserved_ports")
        .unwrap_or_default()
        .trim()
        .to_string();
    let parsed = parse_reserved(&text);
    (text, parsed)
}

/// A reserved-ports list; an item that does not parse is left out (the kernel never
/// writes one, and leaving it out can only make the check warn, never stay quiet).
fn parse_reserved(text: &str) -> Vec<PortRange> {
    text.split(',')
        .filter_map(|item| {
            let item = item.trim();
            let (low, high) = item.split_once('-').unwrap_or((item, item));
            let low = low.trim().parse().ok()?;
            let high = high.trim().parse().ok()?;
            (low <= high).then_some(PortRange { low, high })
        })
        .collect()
}

/// The parts of `shared` that no range of `reserved` covers, in order.
fn unreserved(shared: PortRange, reserved: &[PortRange]) -> Vec<PortRange> {
    let mut reserved: Vec<PortRange> = reserved.to_vec();
    reserved.sort_by_key(|r| r.low);
    let mut out = Vec::new();
    // u32: the ports after a range ending at 65535 start at 65536.
    let mut next = u32::from(shared.low);
    let high = u32::from(shared.high);
    for r in reserved {
        if next > high {
            break;
        }
        let (low, end) = (u32::from(r.low), u32::from(r.high));
        if end < next || low > high {
            continue;
        }
        if low > next {
            out.push((next, low - 1));
        }
        next = next.max(end + 1);
    }
    if next <= high {
        out.push((next, high));
    }
    out.into_iter()
        .filter_map(|(low, high)| {
            Some(PortRange {
                low: u16::try_from(low).ok()?,
                high: u16::try_from(high).ok()?,
            })
        })
        .collect()
}

/// What the router says at start (and `switchboard check` prints) when `range`
/// overlaps this machine's ephemeral ports where they are not reserved; `None` when it
/// does not, or where the kernel does not say.
pub fn ephemeral_warning(range: PortRange) -> Option<String> {
    let (reserved_text, reserved) = reserved_ports();
    overlap_warning(range, ephemeral_ports()?, &reserved_text, &reserved)
}

fn overlap_warning(
    range: PortRange,
    eph: PortRange,
    reserved_text: &str,
    reserved: &[PortRange],
) -> Option<String> {
    let shared = overlap(range, eph)?;
    let open = unreserved(shared, reserved);
    let first = open.first()?;
    let shown: Vec<String> = open
        .iter()
        .take(3)
        .map(|r| format!("{}-{}", r.low, r.high))
        .collect();
    let more = if open.len() > shown.len() {
        ", …"
    } else {
        ""
    };
    let partly = if open.len() == 1 && *first == shared {
        ""
    } else {
        ", the rest reserved"
    };
    // Writing the setting replaces the list: keep what is reserved already.
    let reserve = if reserved_text.is_empty() {
        format!("{}-{}", range.low, range.high)
    } else {
        format!("{reserved_text},{}-{}", range.low, range.high)
    };
    Some(format!(
        "rtp_ports {}-{} overlaps the kernel's ephemeral ports {}-{} (ports {}{more} not \
         reserved{partly}): any program's outgoing connection may take one of them, and \
         the call given it then fails. Use a range below {} (or above {}), narrow \
         net.ipv4.ip_local_port_range, or reserve the range: sysctl -w \
         net.ipv4.ip_local_reserved_ports={reserve} (and in /etc/sysctl.d/ to keep it)",
        range.low,
        range.high,
        eph.low,
        eph.high,
        shown.join(", "),
        eph.low,
        eph.high,
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

    /// Reserved ephemeral ports are never taken by other programs: an overlap they
    /// cover is not reported, one they cover in part names what is left.
    #[test]
    fn reserved_ports_quiet_the_overlap_they_cover() {
        let rtp = |low, high| PortRange { low, high };
        assert_eq!(parse_reserved(""), vec![]);
        assert_eq!(
            parse_reserved("8080,9148-9150, x,9-3\n"),
            vec![rtp(8080, 8080), rtp(9148, 9150)]
        );
        let shared = rtp(40000, 40099);
        assert_eq!(unreserved(shared, &[]), vec![shared]);
        assert_eq!(unreserved(shared, &[rtp(39000, 41000)]), vec![]);
        assert_eq!(
            unreserved(shared, &[rtp(40050, 40059), rtp(40000, 40009), rtp(1, 2)]),
            vec![rtp(40010, 40049), rtp(40060, 40099)]
        );
        assert_eq!(
            unreserved(rtp(65530, 65535), &[rtp(65535, 65535)]),
            vec![rtp(65530, 65534)]
        );
        let eph = rtp(32768, 60999);
        let range = rtp(40000, 40099);
        let whole = overlap_warning(range, eph, "", &[]).unwrap();
        assert!(
            whole.contains("(ports 40000-40099 not reserved)"),
            "{whole}"
        );
        assert!(
            whole.contains("net.ipv4.ip_local_reserved_ports=40000-40099 "),
            "{whole}"
        );
        assert_eq!(
            overlap_warning(range, eph, "40000-40099", &[rtp(40000, 40099)]),
            None
        );
        let part = overlap_warning(
            range,
            eph,
            "8080,40000-40049",
            &[rtp(8080, 8080), rtp(40000, 40049)],
        )
        .unwrap();
        assert!(
            part.contains("(ports 40050-40099 not reserved, the rest reserved)"),
            "{part}"
        );
        assert!(
            part.contains("ip_local_reserved_ports=8080,40000-40049,40000-40099 "),
            "{part}"
        );
    }
}
