//! The route set of a dialog (RFC 3261 §12.1.1, §12.1.2) and how an in-dialog request
//! is addressed with it (§12.2.1.1): loose routing when the first hop says `lr`,
//! strict-route conversion when it does not (§16.12.1.1, for RFC 2543 proxies that are
//! still deployed).
//!
//! ```text
//!   route set empty          Request-URI = remote target, no Route
//!   first route has ;lr      Request-URI = remote target, Route = route set
//!   first route without lr   Request-URI = first route's URI (method param and headers
//!                            stripped), Route = rest of the route set + <remote target>
//! ```
//!
//! Entries are kept as the header *values* exactly as received (display names, URI
//! parameters and header parameters untouched): §12.1.1 wants them copied verbatim.

use crate::sip::uri::{Destination, uri_destination};

/// A dialog's route set, in the order requests use it (first entry = first hop).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteSet {
    entries: Vec<String>,
}

/// The Request-URI and Route header values of one in-dialog request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressing {
    pub request_uri: String,
    pub routes: Vec<String>,
}

impl RouteSet {
    /// From Record-Route values as a UAS received them in the request (§12.1.1: same order).
    pub fn from_uas(record_route: Vec<String>) -> Self {
        Self {
            entries: record_route,
        }
    }

    /// From Record-Route values of the response a UAC received (§12.1.2: reversed).
    pub fn from_uac(mut record_route: Vec<String>) -> Self {
        record_route.reverse();
        Self {
            entries: record_route,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// How a request to `remote_target` is addressed (§12.2.1.1).
    pub fn address(&self, remote_target: &str) -> Addressing {
        let Some(first) = self.entries.first() else {
            return Addressing {
                request_uri: remote_target.to_string(),
                routes: Vec::new(),
            };
        };
        let first_uri = crate::dialog::contact_uri(first).unwrap_or_else(|| first.clone());
        if is_loose(&first_uri) {
            return Addressing {
                request_uri: remote_target.to_string(),
                routes: self.entries.clone(),
            };
        }
        // Strict routing: the next hop is the Request-URI, and the real target travels
        // as the last Route so the strict router's successors can restore it.
        let mut routes: Vec<String> = self.entries.iter().skip(1).cloned().collect();
        routes.push(format!("<{remote_target}>"));
        Addressing {
            request_uri: strip_for_request_uri(&first_uri),
            routes,
        }
    }

    /// Where the first hop is, when it names a literal address (the sans-IO core does
    /// no DNS): the first route's host and port, else `None`.
    pub fn first_hop(&self) -> Option<Destination> {
        let first = self.entries.first()?;
        let uri = crate::dialog::contact_uri(first)?;
        uri_destination(&uri)
    }
}

/// The URI carries the `lr` parameter (RFC 3261 §19.1.1), in any case, with or without
/// a value (`lr=on` from old Kamailio/OpenSER configurations).
pub fn is_loose(uri: &str) -> bool {
    let without_headers = uri.split('?').next().unwrap_or(uri);
    without_headers.split(';').skip(1).any(|p| {
        let name = p.split('=').next().unwrap_or(p).trim();
        name.eq_ignore_ascii_case("lr")
    })
}

/// A route URI made fit for a Request-URI (§12.2.1.1, table 1 of §19.1.1): no
/// `method` parameter and no header component.
fn strip_for_request_uri(uri: &str) -> String {
    let without_headers = uri.split('?').next().unwrap_or(uri);
    let mut parts = without_headers.split(';');
    let mut out = parts.next().unwrap_or_default().to_string();
    for p in parts {
        let name = p.split('=').next().unwrap_or(p).trim();
        if !name.eq_ignore_ascii_case("method") {
            out.push(';');
            out.push_str(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_route_set_targets_the_contact() {
        let a = RouteSet::default().address("sip:alice@10.0.0.1:5070");
        assert_eq!(a.request_uri, "sip:alice@10.0.0.1:5070");
        assert!(a.routes.is_empty());
    }

    #[test]
    fn loose_routing_keeps_the_target_and_every_route_verbatim() {
        let rs = RouteSet::from_uas(vec![
            "<sip:p1.example.com;lr;ftag=abc>".into(),
            "\"Edge\" <sip:10.0.0.9:5080;LR=on>;x=1".into(),
        ]);
        let a = rs.address("sip:alice@10.0.0.1");
        assert_eq!(a.request_uri, "sip:alice@10.0.0.1");
        assert_eq!(a.routes, rs.entries());
    }

    #[test]
    fn strict_first_hop_becomes_the_request_uri() {
        // RFC 3261 §16.12.1.1 (traversing a strict-routing proxy).
        let rs = RouteSet::from_uac(vec![
            "<sip:p2.example.com;lr>".into(),
            "<sip:p1.example.com;method=INVITE;transport=udp?x=y>".into(),
        ]);
        let a = rs.address("sip:bob@192.0.2.4");
        assert_eq!(a.request_uri, "sip:p1.example.com;transport=udp");
        assert_eq!(
            a.routes,
            vec!["<sip:p2.example.com;lr>", "<sip:bob@192.0.2.4>"]
        );
    }

    #[test]
    fn uac_route_set_is_the_reverse_of_record_route() {
        let rs = RouteSet::from_uac(vec!["<sip:a;lr>".into(), "<sip:b;lr>".into()]);
        assert_eq!(rs.entries(), ["<sip:b;lr>", "<sip:a;lr>"]);
    }

    #[test]
    fn lr_detection() {
        assert!(is_loose("sip:p;lr"));
        assert!(is_loose("sip:p;transport=tcp;lr=true"));
        assert!(!is_loose("sip:p;transport=tcp"));
        assert!(!is_loose("sip:lr@p"));
        assert!(!is_loose("sip:p?lr"));
    }

    #[test]
    fn first_hop_only_for_literal_addresses() {
        let rs = RouteSet::from_uas(vec!["<sip:10.1.2.3:5080;lr;transport=tcp>".into()]);
        let d = rs.first_hop().unwrap();
        assert_eq!(d.peer.addr, "10.1.2.3:5080".parse().unwrap());
        assert_eq!(d.peer.transport, crate::sip::Transport::Tcp);
        let rs = RouteSet::from_uas(vec!["<sip:proxy.example.com;lr>".into()]);
        assert!(rs.first_hop().is_none());
    }
}
