//! SIP URIs we send requests to: a manager's static contact or registered binding.

use std::net::{IpAddr, SocketAddr};

use super::{Peer, Transport};

/// Where an outbound INVITE goes: the Request-URI and the transport peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub uri: String,
    pub peer: Peer,
    /// Route header values to preload (RFC 3261 §8.1.2; a phone's RFC 3327 Path):
    /// `peer` is then the first of them.
    pub route: Vec<String>,
}

/// `sip:201@127.0.0.1:5071;transport=udp` → the address and transport to send to.
/// Only literal IP addresses: the sans-IO core does no DNS, and the plan's validation
/// says so to the admin.
pub fn uri_destination(uri: &str) -> Option<Destination> {
    let rest = uri
        .trim()
        .strip_prefix("sip:")
        .or_else(|| uri.trim().strip_prefix("SIP:"))?;
    let hostport_and_params = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let mut parts = hostport_and_params.split(';');
    let hostport = parts.next()?.trim();
    let tcp = parts.any(|p| p.trim().eq_ignore_ascii_case("transport=tcp"));
    let addr = hostport.parse::<SocketAddr>().ok().or_else(|| {
        let ip = hostport.trim_start_matches('[').trim_end_matches(']');
        ip.parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 5060))
    })?;
    Some(Destination {
        uri: uri.trim().to_string(),
        peer: Peer {
            transport: if tcp { Transport::Tcp } else { Transport::Udp },
            addr,
        },
        route: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_from_uris() {
        let d = uri_destination("sip:201@127.0.0.1:5071").unwrap();
        assert_eq!(d.peer.addr, "127.0.0.1:5071".parse().unwrap());
        assert_eq!(d.peer.transport, Transport::Udp);
        let d = uri_destination("sip:201@10.0.0.5;transport=tcp").unwrap();
        assert_eq!(d.peer.addr, "10.0.0.5:5060".parse().unwrap());
        assert_eq!(d.peer.transport, Transport::Tcp);
        let d = uri_destination("sip:[::1]:5080").unwrap();
        assert_eq!(d.peer.addr, "[::1]:5080".parse().unwrap());
        assert_eq!(uri_destination("sip:201@phone.example.com"), None);
        assert_eq!(uri_destination("tel:+15551234"), None);
    }
}
