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
///
/// `transport=tcp` / `transport=tls` choose the stream transports; a `sips:` URI is
/// always TLS (RFC 3261 §19.1.2, RFC 5630 §3.1.3). Without a port, TLS goes to 5061
/// and the others to 5060 (RFC 3263 §4.2).
pub fn uri_destination(uri: &str) -> Option<Destination> {
    let trimmed = uri.trim();
    let (scheme, rest) = trimmed.split_once(':')?;
    let sips = if scheme.eq_ignore_ascii_case("sips") {
        true
    } else if scheme.eq_ignore_ascii_case("sip") {
        false
    } else {
        return None;
    };
    let hostport_and_params = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let mut parts = hostport_and_params.split(';');
    let hostport = parts.next()?.trim();
    let named = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("transport")
                .then(|| Transport::from_param(v))
                .flatten()
        })
        .next_back();
    let transport = if sips {
        Transport::Tls
    } else {
        named.unwrap_or(Transport::Udp)
    };
    let default_port = if transport == Transport::Tls {
        5061
    } else {
        5060
    };
    let addr = hostport.parse::<SocketAddr>().ok().or_else(|| {
        let ip = hostport.trim_start_matches('[').trim_end_matches(']');
        ip.parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, default_port))
    })?;
    Some(Destination {
        uri: trimmed.to_string(),
        peer: Peer { transport, addr },
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
        let d = uri_destination("sip:201@10.0.0.5;transport=TLS").unwrap();
        assert_eq!(d.peer.addr, "10.0.0.5:5061".parse().unwrap());
        assert_eq!(d.peer.transport, Transport::Tls);
        let d = uri_destination("sips:201@10.0.0.5:5071").unwrap();
        assert_eq!(d.peer.addr, "10.0.0.5:5071".parse().unwrap());
        assert_eq!(d.peer.transport, Transport::Tls);
        // sips: is TLS whatever the parameter says (RFC 5630 §3.1.3).
        let d = uri_destination("SIPS:10.0.0.5;transport=tcp").unwrap();
        assert_eq!(d.peer.transport, Transport::Tls);
        assert_eq!(uri_destination("sipx:10.0.0.5"), None);
        assert_eq!(uri_destination("tel:+15551234"), None);
    }
}
